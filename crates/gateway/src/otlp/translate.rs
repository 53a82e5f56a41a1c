//! OTLP metrics to a remote-write 1.0 request, as Prometheus' OTLP receiver translates
//! them (prometheus `storage/remote/otlptranslator/prometheusremotewrite`):
//!
//! - labels: point attributes (sanitized, colliding names merged with `;` in key
//!   order), promoted resource attributes, `job` from `service.namespace/service.name`,
//!   `instance` from `service.instance.id`;
//! - a `target_info` series per resource with its other attributes;
//! - gauge and cumulative sum to samples (`_total` for monotonic sums), explicit
//!   histogram to `_bucket`/`_sum`/`_count`, exponential histogram to a native histogram
//!   (schema 8 at most), summary to quantile series plus `_sum`/`_count`;
//! - exemplars with `trace_id` and `span_id`;
//! - the no-recorded-value flag to a stale marker.
//!
//! Points Prometheus refuses are refused here too, each counted with a reason: delta
//! or unspecified temporality, an exponential scale below -4, a NaN counter value, a
//! metric whose name translates to nothing; and a number point whose attribute fields,
//! decoded only here (see [`cache`]), are malformed.

pub mod cache;
mod output;

use std::borrow::Cow;
use std::collections::BTreeMap;

use prost::Message as _;

use self::output::{BucketSpan, Label, Labels, NativeHistogram, Output, PromExemplar};
use super::model::{self, AnyValue, Data, Exemplar, KeyValue, NumberValue, Value};
use super::names::{self, Kind, TranslationStrategy};

/// The bit pattern of Prometheus' stale marker.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Prometheus' zero threshold for translated exponential histograms.
const ZERO_THRESHOLD: f64 = 1e-128;
/// Most characters of exemplar labels before the filtered attributes are left out
/// (OpenMetrics' limit).
const MAX_EXEMPLAR_RUNES: usize = 128;
/// `target_info` gets a sample this often between a resource's first and last point
/// (half Prometheus' default lookback delta, as Prometheus does).
const TARGET_INFO_STEP_MS: i64 = 150_000;

/// What the translation takes from configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Name translation.
    pub strategy: TranslationStrategy,
    /// Resource attributes copied onto every series of the resource.
    pub promote: Vec<String>,
    /// Memory for the translation cache over all threads; 0 turns it off.
    pub cache_bytes: usize,
}

impl Settings {
    /// What the cache's scope takes from the settings: anything that changes a
    /// translation.
    fn fingerprint(&self) -> u64 {
        let text = format!("{:?}\u{0}{}", self.strategy, self.promote.join("\u{0}"));
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }
}

/// Why a data point was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// Delta temporality (Prometheus stores cumulative values only).
    DeltaTemporality,
    /// No temporality set on a sum or histogram.
    UnspecifiedTemporality,
    /// A counter (monotonic sum) whose value is NaN.
    NanCount,
    /// An exponential histogram scale below -4.
    InvalidScale,
    /// A metric name that translates to nothing, or a metric without points' kind.
    InvalidMetric,
    /// Point attributes that are not valid protobuf or UTF-8.
    MalformedAttributes,
}

impl Refusal {
    /// Every refusal.
    pub fn all() -> impl Iterator<Item = Refusal> {
        [
            Refusal::DeltaTemporality,
            Refusal::UnspecifiedTemporality,
            Refusal::NanCount,
            Refusal::InvalidScale,
            Refusal::InvalidMetric,
            Refusal::MalformedAttributes,
        ]
        .into_iter()
    }

    /// The reason as counted in `rwgate_samples_discarded_total`.
    pub fn id(self) -> &'static str {
        match self {
            Refusal::DeltaTemporality => "otlp_delta_temporality",
            Refusal::UnspecifiedTemporality => "otlp_unspecified_temporality",
            Refusal::NanCount => "otlp_nan_count",
            Refusal::InvalidScale => "otlp_invalid_scale",
            Refusal::InvalidMetric => "otlp_invalid_metric",
            Refusal::MalformedAttributes => "otlp_malformed_attributes",
        }
    }
}

/// The translated request and what was refused on the way.
#[derive(Debug, Default)]
pub struct Translated {
    /// A remote-write 1.0 `WriteRequest`, uncompressed.
    pub body: Vec<u8>,
    /// Data points in the OTLP request.
    pub points: u64,
    /// Refused data points by reason.
    pub refused: BTreeMap<Refusal, u64>,
    /// The first refusal, for the response's message (names escaped).
    pub first_refusal: Option<String>,
    /// Points sent as stale markers (the no-recorded-value flag).
    pub stale: u64,
    /// Points whose labels the translation cache knew, and did not.
    pub cache_hits: u64,
    /// See `cache_hits`.
    pub cache_misses: u64,
}

impl Translated {
    /// Refused data points in all.
    pub fn refused_points(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// The translation produced more than `limit` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The limit.
    pub limit: usize,
}

/// [`value_string`], borrowing strings.
fn value_str<'a>(v: Option<&AnyValue<'a>>) -> Cow<'a, str> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(Cow::Borrowed(s))) => Cow::Borrowed(s),
        _ => Cow::Owned(value_string(v)),
    }
}

/// [`names::label_name`] of an attribute key, borrowing what the key borrows.
fn key_name<'a>(key: &Cow<'a, str>, strategy: TranslationStrategy) -> Option<Cow<'a, str>> {
    match key {
        Cow::Borrowed(k) => names::label_name(k, strategy),
        Cow::Owned(k) => names::label_name(k, strategy).map(|n| Cow::Owned(n.into_owned())),
    }
}

/// `pcommon.Value.AsString`: strings as they are, numbers and bools in Go's text,
/// arrays and maps as JSON, bytes as base64.
fn value_string(v: Option<&AnyValue<'_>>) -> String {
    use base64::Engine as _;
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(f)) => go_float(*f),
        Some(Value::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(v @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => json_value(v).to_string(),
    }
}

/// A double as pdata writes it: JSON's shortest form, `NaN`, `+Inf`, `-Inf`.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            // Go's 'e' form: mantissa, then e+XX / e-XX with at least two digits.
            let s = format!("{f:e}");
            match s.split_once('e') {
                Some((m, e)) => {
                    let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => s,
            }
        } else {
            format!("{f}")
        }
    }
}

fn json_value(v: &Value<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::StringValue(s) => J::String(s.to_string()),
        Value::BoolValue(b) => J::Bool(*b),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::BytesValue(_) => J::String(value_string(Some(&AnyValue {
            value: Some(v.clone()),
        }))),
        Value::ArrayValue(a) => J::Array(
            a.iter()
                .map(|v| v.value.as_ref().map_or(J::Null, json_value))
                .collect(),
        ),
        Value::KvlistValue(m) => J::Object(
            m.iter()
                .map(|kv| {
                    let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                    (kv.key.to_string(), v.map_or(J::Null, json_value))
                })
                .collect(),
        ),
    }
}

fn attr<'a>(attrs: &'a [KeyValue<'a>], key: &str) -> Option<&'a KeyValue<'a>> {
    attrs.iter().find(|kv| kv.key == key)
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// What every series of one resource shares.
struct ResourceLabels<'a> {
    /// Promoted attributes, added where a point attribute does not set the name.
    promoted: Labels<'a>,
    /// `job` and `instance`, which override point attributes.
    identity: Labels<'a>,
    /// The translation cache's scope for this resource's points, when the cache is on.
    scope: Option<u64>,
}

impl<'a> ResourceLabels<'a> {
    /// `fingerprint`: the settings' [`Settings::fingerprint`] when the translation
    /// cache is on.
    fn new(attrs: &'a [KeyValue<'a>], s: &Settings, fingerprint: Option<u64>) -> Self {
        let mut promoted = Labels::new();
        for key in &s.promote {
            if let Some(kv) = attr(attrs, key)
                && let Some(name) = names::label_name(key, s.strategy)
            {
                promoted.push((Cow::Owned(name.into_owned()), value_str(kv.value.as_ref())));
            }
        }
        let mut identity = Labels::new();
        if let Some(name) = attr(attrs, SERVICE_NAME) {
            let mut job = value_str(name.value.as_ref());
            if let Some(ns) = attr(attrs, SERVICE_NAMESPACE) {
                job = Cow::Owned(format!("{}/{job}", value_str(ns.value.as_ref())));
            }
            identity.push((Cow::Borrowed("job"), job));
        }
        if let Some(id) = attr(attrs, SERVICE_INSTANCE_ID) {
            identity.push((Cow::Borrowed("instance"), value_str(id.value.as_ref())));
        }
        let scope = fingerprint.map(|f| {
            let mut encoded = Vec::new();
            for (n, v) in promoted.iter().chain(&identity) {
                encoded.push(0xff);
                output::push_label(&mut encoded, n, v);
            }
            cache::scope(f, &encoded)
        });
        ResourceLabels {
            promoted,
            identity,
            scope,
        }
    }
}

/// `createAttributes`: the labels of a point without `__name__`, sorted by name, into
/// `out` (reused from point to point).
fn base_labels<'a>(
    attrs: &[KeyValue<'a>],
    resource: &ResourceLabels<'a>,
    ignore: &[&str],
    strategy: TranslationStrategy,
    out: &mut Labels<'a>,
) {
    out.clear();
    let mut renamed = false;
    for kv in attrs {
        if !ignore.contains(&kv.key.as_ref())
            && let Some(name) = key_name(&kv.key, strategy)
        {
            renamed |= matches!(name, Cow::Owned(_));
            out.push((name, value_str(kv.value.as_ref())));
        }
    }
    // Keys strictly ascending and kept as they are: the labels are sorted and unique
    // already, the usual case (senders sort attribute keys).
    if renamed || !attrs.is_sorted_by(|a, b| a.key < b.key) {
        // Colliding names merge in attribute-key order.
        if !attrs.is_sorted_by(|a, b| a.key <= b.key) {
            let mut by_key: Vec<&KeyValue<'a>> = attrs
                .iter()
                .filter(|kv| !ignore.contains(&kv.key.as_ref()))
                .collect();
            by_key.sort_by(|a, b| a.key.cmp(&b.key));
            out.clear();
            for kv in by_key {
                if let Some(name) = key_name(&kv.key, strategy) {
                    out.push((name, value_str(kv.value.as_ref())));
                }
            }
        }
        // Stable: equal names stay in key order, then merge with `;`.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|later, kept| {
            if later.0 != kept.0 {
                return false;
            }
            let v = kept.1.to_mut();
            v.push(';');
            v.push_str(&later.1);
            true
        });
    }
    for (name, value) in &resource.promoted {
        if let Err(at) = out.binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref())) {
            out.insert(at, (name.clone(), value.clone()));
        }
    }
    for (name, value) in &resource.identity {
        match out.binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref())) {
            Ok(at) => out[at].1 = value.clone(),
            Err(at) => out.insert(at, (name.clone(), value.clone())),
        }
    }
}

fn ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

fn stale_or(stale: bool, v: f64) -> f64 {
    if stale { f64::from_bits(STALE_NAN) } else { v }
}

fn is_stale(flags: u32) -> bool {
    flags & model::NO_RECORDED_VALUE != 0
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` for `le` and `quantile`, with Prometheus'
/// spelling of infinities.
fn bound(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else if f.is_nan() {
        "NaN".into()
    } else {
        format!("{f}")
    }
}

fn exemplars(list: &[Exemplar<'_>]) -> Vec<PromExemplar> {
    list.iter()
        .map(|e| {
            let mut labels = Vec::new();
            let mut runes = 0;
            for (name, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
                if !id.is_empty() {
                    let value: String = id.iter().map(|b| format!("{b:02x}")).collect();
                    runes += name.len() + value.len();
                    labels.push(Label {
                        name: name.into(),
                        value,
                    });
                }
            }
            let attrs: Vec<Label> = e
                .filtered_attributes
                .iter()
                .map(|kv| Label {
                    name: kv.key.to_string(),
                    value: value_string(kv.value.as_ref()),
                })
                .collect();
            runes += attrs
                .iter()
                .map(|l| l.name.chars().count() + l.value.chars().count())
                .sum::<usize>();
            if runes <= MAX_EXEMPLAR_RUNES {
                labels.extend(attrs);
            }
            let value = e.value.map_or(0.0, NumberValue::as_f64);
            PromExemplar {
                labels,
                value,
                timestamp: ms(e.time_unix_nano),
            }
        })
        .collect()
}

/// Prometheus' `convertBucketsLayout` for exponential buckets: OTLP's dense counts at
/// `offset` to native-histogram spans and deltas, merging 2^`scale_down` buckets into
/// one, with bucket indexes moved up by one (OTLP's bucket 0 is (1, base], Prometheus'
/// is (1/base, 1]).
fn buckets_layout(counts: &[u64], offset: i32, scale_down: i32) -> (Vec<BucketSpan>, Vec<i64>) {
    if counts.is_empty() {
        return (Vec::new(), Vec::new());
    }
    // In i64, and the shift capped: offsets and scales are the sender's, and no
    // combination of them may overflow. A result out of Prometheus' range is refused
    // by the histogram checks after translation.
    let shift = scale_down.clamp(0, 63);
    let index = |i: i64| (i >> shift) + 1;
    let offset = i64::from(offset);
    let mut l = Layout {
        spans: vec![BucketSpan {
            offset: clamp_i32(index(offset)),
            length: 0,
        }],
        deltas: Vec::new(),
        prev: 0,
    };
    let mut bucket = index(offset);
    let mut count = 0i64;
    for (i, &c) in counts.iter().enumerate() {
        let next = index(i as i64 + offset);
        if bucket == next {
            count = count.wrapping_add(c as i64);
            continue;
        }
        if count == 0 {
            count = c as i64;
            continue;
        }
        l.close(next - bucket - 1, count);
        count = c as i64;
        bucket = next;
    }
    let last = index(counts.len() as i64 + offset - 1);
    l.close(last - bucket, count);
    (l.spans, l.deltas)
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Spans and deltas being built by [`buckets_layout`].
struct Layout {
    spans: Vec<BucketSpan>,
    deltas: Vec<i64>,
    prev: i64,
}

impl Layout {
    fn push(&mut self, count: i64) {
        if let Some(s) = self.spans.last_mut() {
            s.length += 1;
        }
        self.deltas.push(count.wrapping_sub(self.prev));
        self.prev = count;
    }

    /// Closes a bucket `gap` buckets after the last one: gaps of up to two buckets are
    /// filled with empty ones, longer ones start a new span (client_golang's rule).
    fn close(&mut self, gap: i64, count: i64) {
        if gap > 2 {
            self.spans.push(BucketSpan {
                offset: clamp_i32(gap),
                length: 0,
            });
        } else {
            for _ in 0..gap {
                self.push(0);
            }
        }
        self.push(count);
    }
}

/// Translates `req` into a remote-write 1.0 body of at most about `limit` bytes.
pub fn translate(
    req: &model::ExportMetricsServiceRequest<'_>,
    s: &Settings,
    limit: usize,
) -> Result<Translated, TooLarge> {
    let mut run = Run {
        out: Output::new(limit),
        cache_bytes: s.cache_bytes,
        t: Translated::default(),
        labels: Labels::new(),
        span: None,
    };
    // Computed once per request, and only when the cache will use it.
    let fingerprint = (s.cache_bytes > 0).then(|| s.fingerprint());
    for rm in &req.resource_metrics {
        let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let resource = ResourceLabels::new(attrs, s, fingerprint);
        run.span = None;
        for metric in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
            translate_metric(metric, &resource, s, &mut run)?;
        }
        if let Some(span) = run.span {
            target_info(attrs, &resource, s.strategy, span, &mut run.out)?;
        }
    }
    let Run { out, mut t, .. } = run;
    t.body = out.finish();
    Ok(t)
}

/// `addResourceTargetInfo`.
fn target_info<'a>(
    attrs: &'a [KeyValue<'a>],
    resource: &ResourceLabels<'a>,
    strategy: TranslationStrategy,
    (first, last): (i64, i64),
    out: &mut Output,
) -> Result<(), TooLarge> {
    let identifying = [SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID];
    if attrs
        .iter()
        .all(|kv| identifying.contains(&kv.key.as_ref()))
    {
        return Ok(());
    }
    if resource.identity.is_empty() {
        return Ok(());
    }
    let only_identity = ResourceLabels {
        promoted: Labels::new(),
        identity: resource.identity.clone(),
        scope: None,
    };
    let mut base = Labels::new();
    base_labels(attrs, &only_identity, &identifying, strategy, &mut base);
    let mut at = first;
    while at < last {
        out.sample(&base, "target_info", None, 1.0, at)?;
        at += TARGET_INFO_STEP_MS;
    }
    out.sample(&base, "target_info", None, 1.0, last)?;
    Ok(())
}

/// One metric: its names, and what its points share.
struct PointCtx<'a, 'r> {
    resource: &'r ResourceLabels<'a>,
    strategy: TranslationStrategy,
    name: &'r str,
    sum: String,
    count: String,
    bucket: String,
}

impl<'a> PointCtx<'a, '_> {
    fn base(&self, attrs: &'a [KeyValue<'a>], out: &mut Labels<'a>) {
        base_labels(attrs, self.resource, &[], self.strategy, out);
    }
}

fn refuse(t: &mut Translated, why: Refusal, metric: &str, points: u64) {
    if points == 0 {
        return;
    }
    *t.refused.entry(why).or_default() += points;
    if t.first_refusal.is_none() {
        let metric = crate::tenancy::escape(metric);
        t.first_refusal = Some(format!("{}: metric {metric}", why.id()));
    }
}

fn temporality_refusal(temporality: i32) -> Option<Refusal> {
    match temporality {
        model::CUMULATIVE => None,
        model::DELTA => Some(Refusal::DeltaTemporality),
        _ => Some(Refusal::UnspecifiedTemporality),
    }
}

/// What the translation of one request carries from metric to metric.
struct Run<'a> {
    out: Output,
    /// `Settings::cache_bytes`.
    cache_bytes: usize,
    t: Translated,
    /// The labels of the point at hand, reused.
    labels: Labels<'a>,
    /// The first and last timestamp of the resource at hand, for `target_info`.
    span: Option<(i64, i64)>,
}

impl Run<'_> {
    fn seen(&mut self, ns: u64) {
        let at = ms(ns);
        self.span = Some(self.span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
    }
}

fn translate_metric<'a>(
    metric: &'a model::Metric<'a>,
    resource: &ResourceLabels<'a>,
    s: &Settings,
    run: &mut Run<'a>,
) -> Result<(), TooLarge> {
    let Some(data) = &metric.data else {
        return Ok(());
    };
    let (points, kind, temporality) = match data {
        Data::Gauge(g) => (g.data_points.len(), Kind::Gauge, None),
        Data::Sum(m) => (
            m.data_points.len(),
            if m.is_monotonic {
                Kind::Counter
            } else {
                Kind::Other
            },
            Some(m.aggregation_temporality),
        ),
        Data::Histogram(h) => (
            h.data_points.len(),
            Kind::Other,
            Some(h.aggregation_temporality),
        ),
        Data::ExponentialHistogram(h) => (
            h.data_points.len(),
            Kind::Other,
            Some(h.aggregation_temporality),
        ),
        Data::Summary(m) => (m.data_points.len(), Kind::Other, None),
    };
    let points = points as u64;
    run.t.points += points;
    if let Some(why) = temporality.and_then(temporality_refusal) {
        refuse(&mut run.t, why, &metric.name, points);
        return Ok(());
    }
    let Some(name) = names::metric_name(&metric.name, &metric.unit, kind, s.strategy) else {
        refuse(&mut run.t, Refusal::InvalidMetric, &metric.name, points);
        return Ok(());
    };
    let (sum, count, bucket) = match data {
        Data::Histogram(_) | Data::Summary(_) => (
            format!("{name}_sum"),
            format!("{name}_count"),
            format!("{name}_bucket"),
        ),
        _ => Default::default(),
    };
    let cx = PointCtx {
        resource,
        strategy: s.strategy,
        name: &name,
        sum,
        count,
        bucket,
    };
    match data {
        Data::Gauge(g) => {
            for p in &g.data_points {
                run.seen(p.time_unix_nano);
                number_point(&cx, p, false, run)?;
            }
        }
        Data::Sum(m) => {
            for p in &m.data_points {
                run.seen(p.time_unix_nano);
                number_point(&cx, p, m.is_monotonic, run)?;
            }
        }
        Data::Histogram(h) => {
            for p in &h.data_points {
                run.seen(p.time_unix_nano);
                histogram_point(&cx, p, run)?;
            }
        }
        Data::ExponentialHistogram(h) => {
            for p in &h.data_points {
                run.seen(p.time_unix_nano);
                exponential_point(&cx, p, run)?;
            }
        }
        Data::Summary(m) => {
            for p in &m.data_points {
                run.seen(p.time_unix_nano);
                summary_point(&cx, p, run)?;
            }
        }
    }
    Ok(())
}

fn number_point<'a>(
    cx: &PointCtx<'a, '_>,
    p: &'a model::NumberDataPoint<'a>,
    counter: bool,
    run: &mut Run<'a>,
) -> Result<(), TooLarge> {
    let stale = is_stale(p.flags);
    let value = p.value.map_or(0.0, NumberValue::as_f64);
    if counter && !stale && value.is_nan() {
        refuse(&mut run.t, Refusal::NanCount, cx.name, 1);
        return Ok(());
    }
    let at = ms(p.time_unix_nano);
    let exemplars = exemplars(&p.exemplars);
    run.out.charge(exemplars.len() * 64)?;
    let series = if p.raw_attributes.is_empty() {
        cx.base(&p.attributes, &mut run.labels);
        run.out.series(&run.labels, cx.name, None)?
    } else {
        match raw_point_series(cx, p.raw_attributes, run)? {
            Some(i) => run.out.series_at(i),
            None => {
                refuse(&mut run.t, Refusal::MalformedAttributes, cx.name, 1);
                return Ok(());
            }
        }
    };
    series.samples.push(output::Sample {
        value: stale_or(stale, value),
        timestamp: at,
    });
    series.exemplars.extend(exemplars);
    run.out.charge(20)?;
    run.t.stale += u64::from(stale);
    Ok(())
}

/// The series of a number point whose attributes are undecoded fields: from the
/// translation cache when it knows them, else decoded, translated and remembered.
/// `None` when they do not decode.
fn raw_point_series<'a>(
    cx: &PointCtx<'a, '_>,
    raw: &'a [u8],
    run: &mut Run<'a>,
) -> Result<Option<usize>, TooLarge> {
    let bytes = run.cache_bytes;
    let key = cx.resource.scope.map(|scope| cache::key(scope, raw));
    if let Some(key) = key {
        let hit = cache::with(bytes, |c| {
            c.get(key)
                .map(|(labels, at)| run.out.series_split(labels, at, cx.name))
        });
        if let Some(found) = hit {
            run.t.cache_hits += 1;
            return found.map(Some);
        }
        run.t.cache_misses += 1;
    }
    let Ok(attrs) = super::pb::attributes(raw) else {
        return Ok(None);
    };
    let mut labels = Labels::new();
    base_labels(&attrs, cx.resource, &[], cx.strategy, &mut labels);
    // A point that names its own `__name__` is rare and not remembered.
    if let Some(key) = key
        && !labels.iter().any(|(n, _)| n == "__name__")
    {
        let mut encoded = Vec::new();
        let mut name_at = None;
        for (n, v) in &labels {
            if name_at.is_none() && n.as_ref() > "__name__" {
                name_at = Some(encoded.len());
            }
            output::push_label(&mut encoded, n, v);
        }
        let name_at = name_at.unwrap_or(encoded.len());
        cache::with(bytes, |c| c.insert(key, &encoded, name_at));
        return run.out.series_split(&encoded, name_at, cx.name).map(Some);
    }
    run.out.series_index(&labels, cx.name, None).map(Some)
}

/// The `_sum` (when recorded) and `_count` series of a histogram or summary point;
/// returns the count as written (a stale marker when `stale`).
fn sum_and_count(
    cx: &PointCtx<'_, '_>,
    base: &Labels<'_>,
    out: &mut Output,
    sum: Option<f64>,
    count: u64,
    stale: bool,
    at: i64,
) -> Result<f64, TooLarge> {
    if let Some(sum) = sum {
        out.sample(base, &cx.sum, None, stale_or(stale, sum), at)?;
    }
    let count = stale_or(stale, count as f64);
    out.sample(base, &cx.count, None, count, at)?;
    Ok(count)
}

fn histogram_point<'a>(
    cx: &PointCtx<'a, '_>,
    p: &'a model::HistogramDataPoint<'a>,
    run: &mut Run<'a>,
) -> Result<(), TooLarge> {
    let stale = is_stale(p.flags);
    run.t.stale += u64::from(stale);
    let at = ms(p.time_unix_nano);
    cx.base(&p.attributes, &mut run.labels);
    let (base, out) = (&run.labels, &mut run.out);
    let count = sum_and_count(cx, base, out, p.sum, p.count, stale, at)?;
    let mut cumulative = 0u64;
    let mut bounds = Vec::with_capacity(p.explicit_bounds.len() + 1);
    for (&le, &c) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
        cumulative = cumulative.saturating_add(c);
        let le_str = bound(le);
        let value = stale_or(stale, cumulative as f64);
        out.sample(base, &cx.bucket, Some(("le", &le_str)), value, at)?;
        bounds.push((le, le_str));
    }
    out.sample(base, &cx.bucket, Some(("le", "+Inf")), count, at)?;
    bounds.push((f64::INFINITY, "+Inf".to_string()));
    // Each exemplar goes to the first bucket whose bound holds its value.
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    for e in exemplars(&p.exemplars) {
        if let Some((_, le)) = bounds.iter().find(|(b, _)| e.value <= *b) {
            out.charge(64)?;
            out.series(base, &cx.bucket, Some(("le", le)))?
                .exemplars
                .push(e);
        }
    }
    Ok(())
}

fn exponential_point<'a>(
    cx: &PointCtx<'a, '_>,
    p: &'a model::ExponentialHistogramDataPoint<'a>,
    run: &mut Run<'a>,
) -> Result<(), TooLarge> {
    if p.scale < -4 {
        refuse(&mut run.t, Refusal::InvalidScale, cx.name, 1);
        return Ok(());
    }
    let (schema, scale_down) = if p.scale > 8 {
        (8, p.scale.saturating_sub(8))
    } else {
        (p.scale, 0)
    };
    let layout = |b: &Option<model::Buckets>| {
        b.as_ref().map_or((Vec::new(), Vec::new()), |b| {
            buckets_layout(&b.bucket_counts, b.offset, scale_down)
        })
    };
    let (positive_spans, positive_deltas) = layout(&p.positive);
    let (negative_spans, negative_deltas) = layout(&p.negative);
    let stale = is_stale(p.flags);
    run.t.stale += u64::from(stale);
    let (count_int, sum) = if stale {
        (STALE_NAN, f64::from_bits(STALE_NAN))
    } else {
        (p.count, p.sum.unwrap_or(0.0))
    };
    let h = NativeHistogram {
        count_int: Some(count_int),
        sum,
        schema,
        zero_threshold: ZERO_THRESHOLD,
        zero_count_int: Some(p.zero_count),
        positive_spans,
        positive_deltas,
        negative_spans,
        negative_deltas,
        reset_hint: 0,
        timestamp: ms(p.time_unix_nano),
    };
    run.out.charge(h.encoded_len())?;
    cx.base(&p.attributes, &mut run.labels);
    let series = run.out.series(&run.labels, cx.name, None)?;
    series.histograms.push(h);
    series.exemplars.extend(exemplars(&p.exemplars));
    Ok(())
}

fn summary_point<'a>(
    cx: &PointCtx<'a, '_>,
    p: &'a model::SummaryDataPoint<'a>,
    run: &mut Run<'a>,
) -> Result<(), TooLarge> {
    let stale = is_stale(p.flags);
    run.t.stale += u64::from(stale);
    let at = ms(p.time_unix_nano);
    cx.base(&p.attributes, &mut run.labels);
    let (base, out) = (&run.labels, &mut run.out);
    sum_and_count(cx, base, out, Some(p.sum), p.count, stale, at)?;
    for q in &p.quantile_values {
        let quantile = bound(q.quantile);
        let value = stale_or(stale, q.value);
        out.sample(base, cx.name, Some(("quantile", &quantile)), value, at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
