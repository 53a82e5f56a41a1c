//! Metric and label names from OTLP names, by the rules of Prometheus' translator
//! (prometheus/otlptranslator: `MetricNamer`, `LabelNamer`, `buildUnitSuffixes`).

use std::borrow::Cow;

use serde::Deserialize;

/// How OTLP names become Prometheus names (`otlp.translation_strategy`), as in
/// Prometheus' `otlp.translation_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TranslationStrategy {
    /// Characters outside the classic charset become `_`; unit and type suffixes
    /// (`_seconds`, `_total`, `_ratio`) are added.
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Names keep their UTF-8; suffixes are added.
    NoUTF8EscapingWithSuffixes,
    /// Names pass unchanged.
    NoTranslation,
}

impl TranslationStrategy {
    fn escapes(self) -> bool {
        self == TranslationStrategy::UnderscoreEscapingWithSuffixes
    }

    fn suffixes(self) -> bool {
        self != TranslationStrategy::NoTranslation
    }
}

/// What a metric is, for its name's suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Gauge (gets `_ratio` for unit `1`).
    Gauge,
    /// Monotonic cumulative sum (gets `_total`).
    Counter,
    /// Non-monotonic sum, histogram, summary: no type suffix.
    Other,
}

fn main_unit(u: &str) -> &str {
    match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        u => u,
    }
}

fn per_unit(u: &str) -> &str {
    match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        u => u,
    }
}

/// The main and `per_` suffixes of a UCUM unit; annotations (`{request}`) add none.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        main_unit(main).to_string()
    };
    let per = match parts.next().map(str::trim) {
        Some(p) if !p.is_empty() && !p.contains(['{', '}']) => format!("per_{}", per_unit(p)),
        _ => String::new(),
    };
    (main, per)
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Invalid characters to `_`, runs of `_` to one, no leading `_`.
fn clean_unit(unit: &str) -> String {
    let mapped: String = unit
        .chars()
        .map(|c| if is_metric_char(c) { c } else { '_' })
        .collect();
    let mut out = String::with_capacity(mapped.len());
    for c in mapped.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_start_matches('_').to_string()
}

/// The Prometheus name of an OTLP metric, or `None` when nothing of it survives.
pub fn metric_name(
    name: &str,
    unit: &str,
    kind: Kind,
    strategy: TranslationStrategy,
) -> Option<String> {
    let out = if !strategy.suffixes() {
        name.to_string()
    } else if strategy.escapes() {
        escaped_with_suffixes(name, unit, kind)
    } else {
        utf8_with_suffixes(name, unit, kind)
    };
    let empty = out.is_empty() || (out != name && out.bytes().all(|b| b == b'_'));
    (!empty).then_some(out)
}

fn escaped_with_suffixes(name: &str, unit: &str, kind: Kind) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !is_metric_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let (main, per) = unit_suffixes(unit);
    let (mut main, per) = (clean_unit(&main), clean_unit(&per));
    if tokens.contains(&main) {
        main.clear();
    }
    let per = if per == "per_" {
        String::new()
    } else {
        let p = per.strip_suffix('_').unwrap_or(&per).to_string();
        if tokens.contains(&p) {
            String::new()
        } else {
            p
        }
    };
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    let mut push_last = |word: &str| {
        tokens.retain(|t| t != word);
        tokens.push(word.to_string());
    };
    if kind == Kind::Counter {
        push_last("total");
    }
    if unit == "1" && kind == Kind::Gauge {
        push_last("ratio");
    }
    let joined = tokens.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// Trims `suffix` and the delimiter before it, if something remains.
fn trim_suffix(name: &str, suffix: &str) -> String {
    if name.ends_with(suffix) && name.len() > suffix.len() + 1 {
        name[..name.len() - suffix.len() - 1].to_string()
    } else {
        name.to_string()
    }
}

fn utf8_with_suffixes(name: &str, unit: &str, kind: Kind) -> String {
    let mut name = name.to_string();
    let mut tail = Vec::new();
    if unit == "1" && kind == Kind::Gauge {
        name = trim_suffix(&name, "ratio");
        tail.push("_ratio".to_string());
    }
    if kind == Kind::Counter {
        name = trim_suffix(&name, "total");
        tail.push("_total".to_string());
    }
    let (main, per) = unit_suffixes(unit);
    if !per.is_empty() {
        name = trim_suffix(&name, &per);
        tail.push(format!("_{per}"));
    }
    if !main.is_empty() && !name.ends_with(&main) {
        name = format!("{name}_{main}");
    }
    // Suffixes were pushed outermost first.
    for t in tail.iter().rev() {
        name.push_str(t);
    }
    name
}

/// The Prometheus name of an attribute, or `None` when nothing of it survives;
/// borrowed when the key needs no change.
pub fn label_name(key: &str, strategy: TranslationStrategy) -> Option<Cow<'_, str>> {
    if key.is_empty() {
        return None;
    }
    let valid = |k: &str| {
        k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && (!k.starts_with('_') || k.starts_with("__"))
    };
    if !strategy.escapes() || valid(key) {
        return Some(Cow::Borrowed(key));
    }
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    if out.bytes().all(|b| b == b'_') {
        return None;
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::Kind::*;
    use super::TranslationStrategy::*;
    use super::*;

    #[track_caller]
    fn name(n: &str, unit: &str, kind: Kind) -> String {
        metric_name(n, unit, kind, UnderscoreEscapingWithSuffixes).unwrap_or_default()
    }

    /// Cases from otlptranslator's `metric_namer_test.go` and its doc comments.
    #[test]
    fn escaped_names_with_suffixes() {
        assert_eq!(
            name("http.server.duration", "s", Other),
            "http_server_duration_seconds"
        );
        assert_eq!(name("requests.count", "1", Counter), "requests_count_total");
        assert_eq!(name("memory.usage", "By", Gauge), "memory_usage_bytes");
        assert_eq!(
            name("system.cpu.utilization", "1", Gauge),
            "system_cpu_utilization_ratio"
        );
        assert_eq!(name("disk.io", "By/s", Other), "disk_io_bytes_per_second");
        assert_eq!(name("requests", "{request}", Counter), "requests_total");
        assert_eq!(name("requests_total", "", Counter), "requests_total");
        assert_eq!(name("total.requests", "", Counter), "requests_total");
        assert_eq!(name("latency_seconds", "s", Other), "latency_seconds");
        assert_eq!(name("2xx.responses", "", Gauge), "_2xx_responses");
        assert_eq!(name("a__b", "", Gauge), "a_b");
        assert_eq!(name("temp", "Cel", Gauge), "temp_celsius");
        assert_eq!(name("x", "m/s", Gauge), "x_meters_per_second");
        assert_eq!(
            name("throughput", "{packet}/s", Gauge),
            "throughput_per_second"
        );
        assert_eq!(name("uptime", "s", Counter), "uptime_seconds_total");
        assert_eq!(name("unicode.名前", "", Gauge), "unicode");
        assert_eq!(
            metric_name("...", "", Gauge, UnderscoreEscapingWithSuffixes),
            None
        );
    }

    #[test]
    fn utf8_names_with_suffixes() {
        let n = |s: &str, u: &str, k| metric_name(s, u, k, NoUTF8EscapingWithSuffixes).unwrap();
        assert_eq!(
            n("http.server.duration", "s", Other),
            "http.server.duration_seconds"
        );
        assert_eq!(n("requests.total", "", Counter), "requests_total");
        assert_eq!(n("cpu.utilization", "1", Gauge), "cpu.utilization_ratio");
        assert_eq!(
            n("disk.io", "By/s", Counter),
            "disk.io_bytes_per_second_total"
        );
        assert_eq!(n("名前", "", Gauge), "名前");
    }

    #[test]
    fn no_translation_keeps_names() {
        assert_eq!(
            metric_name("http.server.duration", "s", Counter, NoTranslation).unwrap(),
            "http.server.duration"
        );
        assert_eq!(
            label_name("k8s.pod.name", NoTranslation).unwrap(),
            "k8s.pod.name"
        );
    }

    /// Cases from otlptranslator's `label_namer_test.go`.
    #[test]
    fn label_names() {
        let l = |s: &str| label_name(s, UnderscoreEscapingWithSuffixes).map(Cow::into_owned);
        assert_eq!(l("http.method").unwrap(), "http_method");
        assert_eq!(l("123invalid").unwrap(), "key_123invalid");
        assert_eq!(l("_private").unwrap(), "key_private");
        assert_eq!(l("__reserved__").unwrap(), "__reserved__");
        assert_eq!(l("k8s.pod.name").unwrap(), "k8s_pod_name");
        assert_eq!(l("mañana").unwrap(), "ma_ana");
        assert_eq!(l("..."), None);
        assert_eq!(l(""), None);
    }
}
