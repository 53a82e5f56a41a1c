//! Series validation: label set rules shared by v1 and v2.

use crate::error::Reason;
use crate::limits::{Limits, NameValidation};
use crate::span::{LabelRef, Span};

/// Why one series is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub reason: Reason,
    pub detail: Option<&'static str>,
}

impl From<Reason> for Invalid {
    fn from(reason: Reason) -> Self {
        Invalid {
            reason,
            detail: None,
        }
    }
}

/// Validates one series' labels (`seen` is how many the wire held; only the first
/// `max_label_names + 1` are kept); `ascii` says every byte of them is known to be
/// ASCII, which makes them valid UTF-8. On success the result says whether the wire order
/// was already sorted; when it was not, `order` holds the label indices in byte-wise
/// name order.
pub(crate) fn labels(
    body: &[u8],
    labels: &[LabelRef],
    seen: usize,
    limits: &Limits,
    ascii: bool,
    order: &mut Vec<u32>,
) -> Result<bool, Invalid> {
    if seen == 0 {
        return Err(Reason::EmptyLabelSet.into());
    }
    if seen > limits.max_label_names {
        return Err(Reason::MaxLabelNamesPerSeries.into());
    }
    let get = |s: Span| &body[s.start as usize..(s.start + s.len) as usize];
    let mut has_name = false;
    let mut sorted = true;
    let mut prev: &[u8] = &[];
    for (i, l) in labels.iter().enumerate() {
        let (name, value) = (get(l.name), get(l.value));
        if name.is_empty() {
            return Err(Reason::EmptyLabelName.into());
        }
        if value.is_empty() {
            return Err(Reason::EmptyLabelValue.into());
        }
        if name.len() > limits.max_label_name_len {
            return Err(Reason::LabelNameTooLong.into());
        }
        if value.len() > limits.max_label_value_len {
            return Err(Reason::LabelValueTooLong.into());
        }
        let is_metric_name = is_metric_name_label(name);
        match limits.name_validation {
            NameValidation::Legacy => {
                if !is_legacy_label_name(name) {
                    return Err(Reason::InvalidLabelName.into());
                }
                if is_metric_name && !is_legacy_metric_name(value) {
                    return Err(Reason::InvalidMetricName.into());
                }
            }
            NameValidation::Utf8 => {
                // ASCII first: one word-at-a-time scan; the full check only for the rare
                // non-ASCII name (a call into `from_utf8` per name cost 29% of decode).
                if !ascii && !name.is_ascii() && std::str::from_utf8(name).is_err() {
                    return Err(Reason::InvalidUtf8.into());
                }
            }
        }
        if !ascii && !value.is_ascii() && std::str::from_utf8(value).is_err() {
            return Err(Reason::InvalidUtf8.into());
        }
        has_name |= is_metric_name;
        if i > 0 {
            match cmp_names(name, prev) {
                std::cmp::Ordering::Equal => return Err(Reason::DuplicateLabelNames.into()),
                std::cmp::Ordering::Less => sorted = false,
                std::cmp::Ordering::Greater => {}
            }
        }
        prev = name;
    }
    if !has_name {
        return Err(Reason::MissingMetricName.into());
    }
    if !sorted {
        order.clear();
        order.extend(0..labels.len() as u32);
        order.sort_unstable_by(|&a, &b| {
            get(labels[a as usize].name).cmp(get(labels[b as usize].name))
        });
        for w in order.windows(2) {
            if get(labels[w[0] as usize].name) == get(labels[w[1] as usize].name) {
                return Err(Reason::DuplicateLabelNames.into());
            }
        }
    }
    Ok(sorted)
}

/// Validates a label set given as `(name, value)` pairs (labels made by relabeling):
/// the rules decoding applies to a series from the wire.
pub fn label_set(pairs: &[(&str, &str)], limits: &Limits) -> Result<(), Reason> {
    let mut body = Vec::new();
    let mut refs = Vec::with_capacity(pairs.len());
    for (n, v) in pairs {
        let name = Span::of(body.len()..body.len() + n.len());
        body.extend_from_slice(n.as_bytes());
        let value = Span::of(body.len()..body.len() + v.len());
        body.extend_from_slice(v.as_bytes());
        refs.push(LabelRef { name, value });
    }
    let mut order = Vec::new();
    labels(&body, &refs, refs.len(), limits, false, &mut order)
        .map(|_| ())
        .map_err(|i| i.reason)
}

/// True when every byte is ASCII, eight bytes at a time. `<[u8]>::is_ascii` finishes
/// with a byte-at-a-time loop that cost more than its wide part on a series' label
/// fields (100 to 300 bytes; `perf annotate` of the decoder).
pub(crate) fn is_ascii(b: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(HIGH, u64::from_ne_bytes);
    let chunks = b.chunks_exact(8);
    let tail = chunks.remainder();
    let mut acc = chunks.fold(0u64, |acc, c| acc | word(c));
    if !tail.is_empty() {
        acc |= match b.len().checked_sub(8) {
            // The last eight bytes, overlapping the chunks already read.
            Some(start) => word(&b[start..]),
            None => tail.iter().fold(0u64, |acc, &x| acc | u64::from(x)),
        };
    }
    acc & HIGH == 0
}

const METRIC_NAME: &[u8; 8] = b"__name__";

/// `name == "__name__"` as one 8-byte comparison (no call into `memcmp`).
#[inline]
fn is_metric_name_label(name: &[u8]) -> bool {
    <[u8; 8]>::try_from(name).is_ok_and(|n| n == *METRIC_NAME)
}

/// Byte-wise order; sorted label names nearly always differ in their first byte, which
/// settles most comparisons without a call into `memcmp`. Names that share a first byte
/// (`label_00`, `label_01`, `kubernetes_...`) compare their first eight bytes as one
/// big-endian integer next. (Doing that for every pair, before the first-byte test, was
/// measured 15% slower on the agent fixture.)
#[inline]
fn cmp_names(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => {
            if let (Some(x), Some(y)) = (a.first_chunk::<8>(), b.first_chunk::<8>()) {
                let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
                if x != y {
                    return x.cmp(&y);
                }
            }
            if a.len() <= 32 && b.len() <= 32 {
                // Short names: a byte loop beats a call to memcmp.
                for (x, y) in a.iter().zip(b) {
                    if x != y {
                        return x.cmp(y);
                    }
                }
                a.len().cmp(&b.len())
            } else {
                a.cmp(b)
            }
        }
    }
}

/// Byte equality without a call into `memcmp` for short names.
#[inline]
pub(crate) fn eq_names(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && if a.len() > 32 {
            a == b
        } else {
            a.iter().zip(b).all(|(x, y)| x == y)
        }
}

/// Character classes of the legacy charsets, one table lookup per byte.
const LABEL_FIRST: u8 = 1;
const LABEL_REST: u8 = 2;
const METRIC_FIRST: u8 = 4;
const METRIC_REST: u8 = 8;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut v = 0;
        if alpha {
            v |= LABEL_FIRST | LABEL_REST | METRIC_FIRST | METRIC_REST;
        }
        if digit {
            v |= LABEL_REST | METRIC_REST;
        }
        if b == b':' {
            v |= METRIC_FIRST | METRIC_REST;
        }
        t[c] = v;
        c += 1;
    }
    t
};

/// Branch-free over the bytes: the classes are AND-ed together and tested once, which
/// measured faster than stopping at the first bad byte (names are short and nearly
/// always valid).
#[inline]
fn charset(name: &[u8], first: u8, rest: u8) -> bool {
    match name.split_first() {
        Some((f, tail)) => {
            let all = tail.iter().fold(rest, |acc, b| acc & CLASS[*b as usize]);
            CLASS[*f as usize] & first != 0 && all & rest != 0
        }
        None => false,
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_legacy_label_name(name: &[u8]) -> bool {
    charset(name, LABEL_FIRST, LABEL_REST)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_legacy_metric_name(name: &[u8]) -> bool {
    charset(name, METRIC_FIRST, METRIC_REST)
}

#[cfg(test)]
mod ascii_tests {
    #[test]
    fn is_ascii_agrees_with_the_standard_library_at_every_length_and_position() {
        for len in 0..40 {
            let mut b = vec![b'a'; len];
            assert!(super::is_ascii(&b), "{len}");
            for at in 0..len {
                b[at] = 0x80;
                assert!(!super::is_ascii(&b), "{len} {at}");
                b[at] = 0xff;
                assert_eq!(super::is_ascii(&b), b.is_ascii());
                b[at] = b'a';
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_order_matches_byte_order() {
        let names: [&[u8]; 16] = [
            b"label_0",
            b"label_00x",
            b"label_10",
            b"kubernetes_pod_name",
            b"",
            b"a",
            b"ab",
            b"ab\0",
            b"ab\0x",
            b"abc",
            b"label_00",
            b"label_01",
            b"label_001",
            b"__name__",
            b"instance",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        ];
        for a in names {
            for b in names {
                assert_eq!(cmp_names(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        assert!(is_metric_name_label(b"__name__"));
        assert!(!is_metric_name_label(b"instance"));
        assert!(!is_metric_name_label(b"__name"));
    }

    #[test]
    fn legacy_charsets() {
        assert!(is_legacy_label_name(b"job"));
        assert!(is_legacy_label_name(b"_x9"));
        assert!(!is_legacy_label_name(b"9x"));
        assert!(!is_legacy_label_name(b"a:b"));
        assert!(!is_legacy_label_name(b"a.b"));
        assert!(is_legacy_metric_name(b"a:b_total"));
        assert!(is_legacy_metric_name(b":x"));
        assert!(!is_legacy_metric_name(b"http.requests"));
        assert!(!is_legacy_metric_name(b""));
    }
}
