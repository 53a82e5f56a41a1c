//! Parses a series written as a PromQL-style selector with only equality matchers:
//! `up{job="x",instance="a:9100"}` or `{__name__="up",job="x"}`.

/// A parse failure, with the byte offset where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad series selector at byte {at}: {what}")]
pub struct SelectorError {
    /// Byte offset in the input.
    pub at: usize,
    /// What was expected.
    pub what: &'static str,
}

/// Labels in the order written (a metric name before the braces comes first as
/// `__name__`).
pub fn parse(input: &str) -> Result<Vec<(String, String)>, SelectorError> {
    let mut c = Cursor {
        b: input.trim().as_bytes(),
        i: 0,
    };
    let mut labels = Vec::new();
    let name = c.ident(true);
    if !name.is_empty() {
        labels.push(("__name__".to_string(), name));
    }
    if c.at_end() {
        return match labels.is_empty() {
            true => Err(c.error_at(0, "a metric name or '{'")),
            false => Ok(labels),
        };
    }
    c.expect(b'{', "'{'")?;
    loop {
        c.skip_ws();
        if c.eat(b'}') {
            break;
        }
        labels.push(c.matcher()?);
        c.skip_ws();
        match c.peek() {
            Some(b',') => c.i += 1,
            Some(b'}') => {}
            _ => return Err(c.error("',' or '}'")),
        }
    }
    if !c.at_end() {
        return Err(c.error("end of input"));
    }
    if labels.is_empty() {
        return Err(c.error_at(0, "at least one label"));
    }
    Ok(labels)
}

/// A position in the selector being parsed.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn error(&self, what: &'static str) -> SelectorError {
        self.error_at(self.i, what)
    }

    fn error_at(&self, at: usize, what: &'static str) -> SelectorError {
        SelectorError { at, what }
    }

    /// Consumes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.i += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), SelectorError> {
        self.eat(byte).then_some(()).ok_or_else(|| self.error(what))
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// A label name, or a metric name (which may also hold ':'); empty when none.
    fn ident(&mut self, metric: bool) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || (metric && c == b':'))
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.b[start..self.i]).into_owned()
    }

    /// `name="value"`.
    fn matcher(&mut self) -> Result<(String, String), SelectorError> {
        let name = self.ident(false);
        if name.is_empty() {
            return Err(self.error("a label name"));
        }
        self.skip_ws();
        self.expect(b'=', "'=' (only equality matchers name a series)")?;
        self.skip_ws();
        Ok((name, self.quoted()?))
    }

    /// A double-quoted value with PromQL's escapes.
    fn quoted(&mut self) -> Result<String, SelectorError> {
        self.expect(b'"', "a double-quoted value")?;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("a closing '\"'")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&value).into_owned());
                }
                Some(b'\\') => {
                    match self.b.get(self.i + 1) {
                        Some(b'n') => value.push(b'\n'),
                        Some(b't') => value.push(b'\t'),
                        Some(&c @ (b'\\' | b'"')) => value.push(c),
                        _ => return Err(self.error("a known escape (\\\\, \\\", \\n, \\t)")),
                    }
                    self.i += 2;
                }
                Some(c) => {
                    value.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn both_forms() {
        assert_eq!(
            parse(r#"up{job="x"}"#).unwrap(),
            l(&[("__name__", "up"), ("job", "x")])
        );
        assert_eq!(
            parse(r#"{__name__="up", job="x",}"#).unwrap(),
            l(&[("__name__", "up"), ("job", "x")])
        );
        assert_eq!(parse("up").unwrap(), l(&[("__name__", "up")]));
        assert_eq!(
            parse(r#"{pod="a\"b\\c"}"#).unwrap(),
            l(&[("pod", "a\"b\\c")])
        );
    }

    #[test]
    fn errors() {
        assert!(parse("").is_err());
        assert!(parse(r#"up{job!="x"}"#).is_err());
        assert!(parse(r#"up{job="x"#).is_err());
        assert!(parse(r#"up{job=x}"#).is_err());
        assert!(parse(r#"up{job="x"} extra"#).is_err());
    }
}
