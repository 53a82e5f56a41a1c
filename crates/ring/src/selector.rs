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
    let b = input.trim().as_bytes();
    let mut i = 0;
    let mut labels = Vec::new();
    let ident = |i: &mut usize, metric: bool| {
        let start = *i;
        while *i < b.len()
            && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_' || (metric && b[*i] == b':'))
        {
            *i += 1;
        }
        String::from_utf8_lossy(&b[start..*i]).into_owned()
    };
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let name = ident(&mut i, true);
    if !name.is_empty() {
        labels.push(("__name__".to_string(), name));
    }
    if i == b.len() {
        return if labels.is_empty() {
            Err(SelectorError {
                at: 0,
                what: "a metric name or '{'",
            })
        } else {
            Ok(labels)
        };
    }
    if b[i] != b'{' {
        return Err(SelectorError { at: i, what: "'{'" });
    }
    i += 1;
    loop {
        skip_ws(&mut i);
        if i < b.len() && b[i] == b'}' {
            i += 1;
            break;
        }
        let name = ident(&mut i, false);
        if name.is_empty() {
            return Err(SelectorError {
                at: i,
                what: "a label name",
            });
        }
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(SelectorError {
                at: i,
                what: "'=' (only equality matchers name a series)",
            });
        }
        i += 1;
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'"' {
            return Err(SelectorError {
                at: i,
                what: "a double-quoted value",
            });
        }
        i += 1;
        let mut value = Vec::new();
        loop {
            match b.get(i) {
                None => {
                    return Err(SelectorError {
                        at: i,
                        what: "a closing '\"'",
                    });
                }
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(b'\\') => {
                    match b.get(i + 1) {
                        Some(b'n') => value.push(b'\n'),
                        Some(b't') => value.push(b'\t'),
                        Some(&c @ (b'\\' | b'"')) => value.push(c),
                        _ => {
                            return Err(SelectorError {
                                at: i,
                                what: "a known escape (\\\\, \\\", \\n, \\t)",
                            });
                        }
                    }
                    i += 2;
                }
                Some(&c) => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        labels.push((name, String::from_utf8_lossy(&value).into_owned()));
        skip_ws(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => {
                return Err(SelectorError {
                    at: i,
                    what: "',' or '}'",
                });
            }
        }
    }
    if i != b.len() {
        return Err(SelectorError {
            at: i,
            what: "end of input",
        });
    }
    if labels.is_empty() {
        return Err(SelectorError {
            at: 0,
            what: "at least one label",
        });
    }
    Ok(labels)
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
