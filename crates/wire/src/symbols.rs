//! Building remote write 2.0 symbol tables (for senders: the load generator, the demo,
//! tests and fixtures).

use std::collections::HashMap;

/// Interns strings into a v2 symbol table; `symbols[0]` is the empty string.
#[derive(Debug, Clone)]
pub struct SymbolTable {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        SymbolTable {
            symbols: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl SymbolTable {
    /// A table holding only `""`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reference of `s`, adding it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.symbols.len() as u32;
        self.symbols.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// `labels_refs` for `(name, value)` pairs.
    pub fn refs<'a>(&mut self, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u32> {
        labels
            .into_iter()
            .flat_map(|(n, v)| [self.intern(n), self.intern(v)])
            .collect()
    }

    /// The table, for `Request::symbols`.
    pub fn into_symbols(self) -> Vec<String> {
        self.symbols
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interning_reuses_references() {
        let mut t = super::SymbolTable::new();
        assert_eq!(
            t.refs([("__name__", "up"), ("job", "up")]),
            vec![1, 2, 3, 2]
        );
        assert_eq!(t.intern(""), 0);
        assert_eq!(t.into_symbols(), vec!["", "__name__", "up", "job"]);
    }
}
