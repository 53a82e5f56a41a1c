//! Relabeling with Prometheus' syntax and semantics (`relabel_configs`,
//! model/relabel/relabel.go): `replace`, `keep`, `drop`, `keepequal`, `dropequal`,
//! `hashmod`, `labelmap`, `labeldrop`, `labelkeep`, `lowercase`, `uppercase`, with
//! `source_labels` joined by `separator`, a fully anchored RE2 `regex`, `$1` and
//! `${name}` in `replacement` and `target_label`, and Prometheus' defaults (`replace`,
//! `;`, `(.*)`, `$1`).
//!
//! Rules are compiled once, when the config loads ([`RuleSet::compile`]); applying
//! them ([`RuleSet::apply`]) compiles nothing.

use md5::{Digest, Md5};
use regex::Regex;
use serde::Deserialize;

/// Why a rule does not load: its position and what is wrong, in Prometheus' words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}[{index}]: {message}")]
pub struct RelabelError {
    /// The config key of the list, e.g. `tenants.tenant-a.relabel_configs`.
    pub path: String,
    /// The rule's index in the list.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Regex replacement into `target_label`.
    Replace,
    /// Drop the series unless the joined source values match.
    Keep,
    /// Drop the series when the joined source values match.
    Drop,
    /// Drop the series unless the joined source values equal `target_label`'s value.
    #[serde(rename = "keepequal")]
    KeepEqual,
    /// Drop the series when the joined source values equal `target_label`'s value.
    #[serde(rename = "dropequal")]
    DropEqual,
    /// Set `target_label` to the MD5 of the joined values modulo `modulus`.
    #[serde(rename = "hashmod")]
    HashMod,
    /// Copy labels whose names match to the name `replacement` gives.
    #[serde(rename = "labelmap")]
    LabelMap,
    /// Remove labels whose names match.
    #[serde(rename = "labeldrop")]
    LabelDrop,
    /// Remove labels whose names do not match.
    #[serde(rename = "labelkeep")]
    LabelKeep,
    /// Set `target_label` to the joined values in lower case.
    Lowercase,
    /// Set `target_label` to the joined values in upper case.
    Uppercase,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

/// One rule as written in YAML (Prometheus' keys; unset keys take its defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Labels whose values are joined with `separator`.
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    /// Default `;`.
    pub separator: Option<String>,
    /// RE2, anchored at both ends; default `(.*)`.
    pub regex: Option<String>,
    /// For `hashmod`.
    pub modulus: Option<u64>,
    /// The label written (`replace` may use `$1`, `${name}`).
    pub target_label: Option<String>,
    /// Default `$1`.
    pub replacement: Option<String>,
    /// Default `replace`.
    pub action: Option<Action>,
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    /// The regex as written, for display.
    regex_text: String,
    default_regex: bool,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
}

/// Prometheus' legacy label name charset (what `model.LabelName.IsValid` checks).
fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Prometheus' `relabelTarget`: `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`.
fn is_valid_target_template(s: &str) -> bool {
    static TARGET: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    TARGET
        .get_or_init(|| Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

impl RuleConfig {
    /// Compiles and validates the rule as Prometheus' `Config.Validate` does.
    pub fn compile(&self) -> Result<Rule, String> {
        let action = self.action.unwrap_or(Action::Replace);
        let a = action.as_str();
        let separator = self.separator.clone().unwrap_or(DEFAULT_SEPARATOR.into());
        let regex_text = self.regex.clone().unwrap_or(DEFAULT_REGEX.into());
        let replacement = self
            .replacement
            .clone()
            .unwrap_or(DEFAULT_REPLACEMENT.into());
        let target_label = self.target_label.clone().unwrap_or_default();
        let modulus = self.modulus.unwrap_or(0);
        let regex = Regex::new(&format!("^(?:{regex_text})$"))
            .map_err(|e| format!("regex {regex_text:?} does not compile: {e}"))?;
        if modulus == 0 && action == Action::HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target_label.is_empty() {
            return Err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        let templated = target_label.contains('$');
        let invalid_target = match action {
            Action::Replace if templated => !is_valid_target_template(&target_label),
            Action::Replace => !is_valid_name(&target_label),
            Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
            | Action::HashMod => !is_valid_name(&target_label),
            _ => false,
        };
        if invalid_target {
            return Err(format!(
                "{target_label:?} is invalid 'target_label' for {a} action"
            ));
        }
        let equal_or_case = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if equal_or_case && replacement != DEFAULT_REPLACEMENT {
            return Err(format!("'replacement' can not be set for {a} action"));
        }
        if action == Action::LabelMap && !is_valid_target_template(&replacement) {
            return Err(format!(
                "{replacement:?} is invalid 'replacement' for {a} action"
            ));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (regex_text != DEFAULT_REGEX
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (self.source_labels.is_some()
                || !target_label.is_empty()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(Rule {
            source_labels: self.source_labels.clone().unwrap_or_default(),
            separator,
            default_regex: regex_text == DEFAULT_REGEX,
            regex,
            regex_text,
            modulus,
            target_label,
            replacement,
            action,
        })
    }
}

/// A series' labels while rules run: sorted by name, unique names, no empty values.
/// Remembers whether a rule changed them (equality compares the labels only).
#[derive(Debug, Clone, Default)]
pub struct Labels(Vec<(String, String)>, bool);

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        self.0 == other.0
    }
}

impl Eq for Labels {}

impl Labels {
    /// From any `(name, value)` pairs (sorted here; empty values dropped).
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut l = Labels::default();
        for (n, v) in pairs {
            l.set(&n.into(), v.into());
        }
        l.1 = false;
        l
    }

    /// Whether a rule changed them since [`Labels::new`].
    pub fn changed(&self) -> bool {
        self.1
    }

    /// The value of `name`, or "" when absent (Prometheus' `Builder.Get`).
    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => &self.0[i].1,
            Err(_) => "",
        }
    }

    /// Sets `name`; an empty value removes it (Prometheus' `Builder.Set`).
    pub fn set(&mut self, name: &str, value: String) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
                self.1 = true;
            }
            Ok(i) => {
                if self.0[i].1 != value {
                    self.0[i].1 = value;
                    self.1 = true;
                }
            }
            Err(_) if value.is_empty() => {}
            Err(i) => {
                self.0.insert(i, (name.to_string(), value));
                self.1 = true;
            }
        }
    }

    /// Removes `name`.
    pub fn del(&mut self, name: &str) {
        self.set(name, String::new());
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The pairs as `&str`, sorted by name (what validation and encoding take).
    pub fn as_strs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// True without labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the rules decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Kept (perhaps changed).
    Keep,
    /// Dropped by the rule at this index.
    DroppedBy(usize),
}

impl Rule {
    /// The source values joined; borrowed when there is one source label.
    fn joined<'l>(&self, l: &'l Labels) -> std::borrow::Cow<'l, str> {
        if let [one] = self.source_labels.as_slice() {
            return std::borrow::Cow::Borrowed(l.get(one));
        }
        let mut out = String::new();
        for (k, name) in self.source_labels.iter().enumerate() {
            if k > 0 {
                out.push_str(&self.separator);
            }
            out.push_str(l.get(name));
        }
        std::borrow::Cow::Owned(out)
    }

    /// Applies this rule; false when it drops the series.
    pub fn apply(&self, l: &mut Labels) -> bool {
        match self.action {
            Action::Drop => return !self.regex.is_match(&self.joined(l)),
            Action::Keep => return self.regex.is_match(&self.joined(l)),
            Action::DropEqual => return l.get(&self.target_label) != self.joined(l),
            Action::KeepEqual => return l.get(&self.target_label) == self.joined(l),
            Action::Replace => {
                if let Some((target, value)) = self.replacement_for(l) {
                    l.set(&target, value);
                }
            }
            Action::Lowercase => {
                let v = self.joined(l).to_lowercase();
                l.set(&self.target_label, v);
            }
            Action::Uppercase => {
                let v = self.joined(l).to_uppercase();
                l.set(&self.target_label, v);
            }
            Action::HashMod => {
                let hash = Md5::digest(self.joined(l).as_bytes());
                let mut last = [0u8; 8];
                last.copy_from_slice(&hash[8..16]);
                let m = u64::from_be_bytes(last) % self.modulus;
                l.set(&self.target_label, m.to_string());
            }
            Action::LabelMap => {
                for (name, value) in l.pairs().to_vec() {
                    if self.regex.is_match(&name) {
                        let to = self.regex.replace_all(&name, self.replacement.as_str());
                        l.set(&to, value);
                    }
                }
            }
            Action::LabelDrop | Action::LabelKeep => {
                let keep_matches = self.action == Action::LabelKeep;
                let before = l.0.len();
                l.0.retain(|(name, _)| self.regex.is_match(name) == keep_matches);
                l.1 |= l.0.len() != before;
            }
        }
        true
    }

    /// `replace`: the label to set and its value (empty: delete), or `None` when the
    /// rule does nothing.
    fn replacement_for(&self, l: &Labels) -> Option<(String, String)> {
        let val = self.joined(l);
        // Prometheus' fast path: add or remove a fixed label.
        if val.is_empty()
            && self.default_regex
            && !self.target_label.contains('$')
            && !self.replacement.contains('$')
        {
            return Some((self.target_label.clone(), self.replacement.clone()));
        }
        let caps = self.regex.captures(&val)?;
        let mut target = String::new();
        caps.expand(&self.target_label, &mut target);
        if !is_valid_name(&target) {
            return None;
        }
        let mut res = String::new();
        caps.expand(&self.replacement, &mut res);
        Some((target, res))
    }

    /// The rule, described for `rwgate relabel`.
    pub fn describe(&self) -> String {
        let mut s = format!("action: {}", self.action.as_str());
        if !self.source_labels.is_empty() {
            s.push_str(&format!(", source_labels: {:?}", self.source_labels));
        }
        if !self.default_regex {
            s.push_str(&format!(", regex: {:?}", self.regex_text));
        }
        if !self.target_label.is_empty() {
            s.push_str(&format!(", target_label: {:?}", self.target_label));
        }
        s
    }
}

/// Rules applied in order: the global ones, then the tenant's.
#[derive(Debug, Clone, Default)]
pub struct RuleSet(Vec<Rule>);

impl RuleSet {
    /// Compiles `rules` found at config key `path`; every bad rule is named.
    pub fn compile(path: &str, rules: &[RuleConfig]) -> Result<RuleSet, Vec<RelabelError>> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (index, r) in rules.iter().enumerate() {
            match r.compile() {
                Ok(rule) => out.push(rule),
                Err(message) => errors.push(RelabelError {
                    path: path.to_string(),
                    index,
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(RuleSet(out))
        } else {
            Err(errors)
        }
    }

    /// `self`'s rules, then `then`'s.
    pub fn then(&self, then: &RuleSet) -> RuleSet {
        RuleSet(self.0.iter().chain(&then.0).cloned().collect())
    }

    /// True when there are no rules (the hot path skips relabeling entirely).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.0
    }

    /// Applies every rule in order, stopping at the first that drops the series.
    pub fn apply(&self, l: &mut Labels) -> Outcome {
        for (i, rule) in self.0.iter().enumerate() {
            if !rule.apply(l) {
                return Outcome::DroppedBy(i);
            }
        }
        Outcome::Keep
    }
}

pub mod cache;

#[cfg(test)]
mod tests;
