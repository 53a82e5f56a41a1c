//! What to send: tenants, series, labels, batching, rate; and the pre-built bodies.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use rwgate_proto::otlp;
use rwgate_proto::{prometheus as v1, v2};
use serde::Deserialize;

/// Remote-write protocol of the generated requests.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Remote write 1.0.
    #[default]
    V1,
    /// Remote write 2.0.
    V2,
    /// OTLP/HTTP metrics, protobuf, gzip (as the OpenTelemetry Collector sends by
    /// default): each series a gauge data point whose attributes are the series'
    /// labels, so rwgate's translation yields the same series as `v1`. Push it to
    /// `/v1/metrics`.
    Otlp,
}

/// A workload. Every field is also a `push` flag and a scenario-file key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Workload {
    /// Tenants, each with the same series set.
    pub tenants: Vec<String>,
    /// Header naming the tenant.
    pub tenant_header: String,
    /// Bearer tokens, `tenant=token` (the tenant header is then not sent).
    pub tokens: Vec<String>,
    /// Distinct series per tenant.
    pub series: usize,
    /// Labels per series, `__name__` included (at least 3).
    pub labels: usize,
    /// Samples per series in each request.
    pub samples_per_series: usize,
    /// Series per request.
    pub batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Target samples per second; 0 sends as fast as possible.
    pub rate: f64,
    /// How long to send.
    #[serde(with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// How many requests to send (whichever of duration and requests ends first).
    pub requests: Option<u64>,
    /// Protocol.
    pub protocol: Proto,
    /// Share of series replaced by new ones on each pass over the series set (0 to 1).
    pub churn: f64,
    /// Seed of label values.
    pub seed: u64,
    /// Label values padded to at least this many bytes (0: as generated), for
    /// kube-state-metrics-like series with long values.
    pub value_length: usize,
    /// Classic histogram buckets per metric (0: none): series become
    /// `<name>_bucket{le=...}` series that differ only in `le`.
    pub histogram_buckets: usize,
    /// Distinct metric names (default 100).
    pub metrics: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            tenants: vec!["tenant-a".into()],
            tenant_header: "THANOS-TENANT".into(),
            tokens: vec![],
            series: 5000,
            labels: 10,
            samples_per_series: 2,
            batch: 5000,
            concurrency: 4,
            rate: 0.0,
            duration: Some(Duration::from_secs(10)),
            requests: None,
            protocol: Proto::V1,
            churn: 0.0,
            seed: 1,
            value_length: 0,
            histogram_buckets: 0,
            metrics: 100,
        }
    }
}

/// Reading a scenario failed.
#[derive(Debug, thiserror::Error)]
#[error("scenario {path}: {message}")]
pub struct ScenarioError {
    path: String,
    message: String,
}

impl Workload {
    /// Reads one of the scenarios shipped in `loadtest/scenarios/` by name (for the
    /// benches, which run from the source tree).
    pub fn shipped(name: &str) -> Result<Workload, ScenarioError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(format!("{name}.yaml"));
        Workload::from_file(&path)
    }

    /// Reads a scenario file (YAML with the keys of [`Workload`]).
    pub fn from_file(path: &Path) -> Result<Workload, ScenarioError> {
        let err = |message: String| ScenarioError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_yaml_ng::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// The token of `tenant`, if any.
    pub fn token_of(&self, tenant: &str) -> Option<&str> {
        self.tokens.iter().find_map(|t| {
            t.split_once('=')
                .filter(|(name, _)| *name == tenant)
                .map(|(_, tok)| tok)
        })
    }

    /// Passes over the series set that are built (several when series churn).
    pub fn passes(&self) -> usize {
        if self.churn > 0.0 { 10 } else { 1 }
    }

    /// Sorted labels of series `id` of a tenant.
    pub fn labels_of(&self, id: usize) -> Vec<(String, String)> {
        let pad = |mut v: String| {
            while v.len() < self.value_length {
                v.push('x');
            }
            v
        };
        let metrics = self.metrics.max(1);
        let (name, bucket, group) = match self.histogram_buckets {
            0 => (format!("rwgate_load_metric_{}", id % metrics), None, id),
            b => (
                format!("rwgate_load_histogram_{}_bucket", (id / b) % metrics),
                Some(id % b),
                id / b,
            ),
        };
        let mut l = vec![
            ("__name__".to_string(), name),
            (
                "instance".to_string(),
                pad(format!("host-{}:9100", group % 256)),
            ),
            ("series".to_string(), group.to_string()),
        ];
        if let Some(b) = bucket {
            let le = if b + 1 == self.histogram_buckets {
                "+Inf".to_string()
            } else {
                format!("{}", 0.005 * (1u64 << b.min(40)) as f64)
            };
            l.push(("le".to_string(), le));
        }
        let fixed = l.len();
        for j in 0..self.labels.saturating_sub(fixed) {
            let v = (group as u64)
                .wrapping_mul(31)
                .wrapping_add(j as u64 * 7)
                .wrapping_add(self.seed)
                % 97;
            l.push((format!("label_{j:02}"), pad(format!("value-{v}"))));
        }
        l.sort();
        l
    }

    /// The series ids of pass `p`: churned ones are new on every pass.
    pub fn ids_of_pass(&self, p: usize) -> Vec<usize> {
        let stable = (self.series as f64 * (1.0 - self.churn.clamp(0.0, 1.0))).round() as usize;
        (0..self.series)
            .map(|i| if i < stable { i } else { i + p * self.series })
            .collect()
    }
}

/// One pre-built request.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Index into [`Workload::tenants`].
    pub tenant: usize,
    /// The body as sent: snappy-compressed (remote write) or gzip-compressed (OTLP).
    pub body: Bytes,
    /// Samples it carries.
    pub samples: u64,
    /// Series ids it carries.
    pub ids: Vec<usize>,
}

const BASE_TS: i64 = 1_700_000_000_000;

/// Builds every request body of the workload, interleaving tenants.
pub fn build(w: &Workload) -> Vec<Payload> {
    let mut out = Vec::new();
    let batch = w.batch.max(1);
    for pass in 0..w.passes() {
        let ids = w.ids_of_pass(pass);
        let chunks: Vec<&[usize]> = ids.chunks(batch).collect();
        for chunk in &chunks {
            for tenant in 0..w.tenants.len() {
                let ts = BASE_TS + (pass * w.samples_per_series) as i64 * 1000;
                let body = match w.protocol {
                    Proto::V1 => snappy(&v1_body(w, chunk, ts)),
                    Proto::V2 => snappy(&v2_body(w, chunk, ts)),
                    Proto::Otlp => gzip(&otlp_body(w, chunk, ts).encode_to_vec()),
                };
                out.push(Payload {
                    tenant,
                    body,
                    samples: (chunk.len() * w.samples_per_series) as u64,
                    ids: chunk.to_vec(),
                });
            }
        }
    }
    out
}

fn snappy(raw: &[u8]) -> Bytes {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .map(Bytes::from)
        .unwrap_or_default()
}

fn gzip(raw: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    match enc.write_all(raw).and_then(|()| enc.finish()) {
        Ok(v) => Bytes::from(v),
        Err(_) => Bytes::new(),
    }
}

fn samples(w: &Workload, ts: i64, id: usize) -> impl Iterator<Item = (f64, i64)> {
    (0..w.samples_per_series).map(move |k| ((id + k) as f64, ts + k as i64 * 1000))
}

fn v1_body(w: &Workload, ids: &[usize], ts: i64) -> Vec<u8> {
    v1::WriteRequest {
        timeseries: ids
            .iter()
            .map(|&id| v1::TimeSeries {
                labels: w
                    .labels_of(id)
                    .into_iter()
                    .map(|(name, value)| v1::Label { name, value })
                    .collect(),
                samples: samples(w, ts, id)
                    .map(|(value, timestamp)| v1::Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    }
    .encode_to_vec()
}

/// The OTLP request for series `ids`: one gauge per metric name, a data point per
/// sample, the other labels as point attributes; no resource attributes, so no `job`,
/// `instance` from the resource or `target_info` is added.
pub fn otlp_body(w: &Workload, ids: &[usize], ts: i64) -> otlp::ExportMetricsServiceRequest {
    let mut metrics: Vec<otlp::Metric> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for &id in ids {
        let labels = w.labels_of(id);
        let mut name = String::new();
        let mut attributes = Vec::with_capacity(labels.len());
        for (n, v) in labels {
            if n == "__name__" {
                name = v;
            } else {
                attributes.push(otlp::KeyValue {
                    key: n,
                    value: Some(otlp::AnyValue {
                        value: Some(otlp::Value::StringValue(v)),
                    }),
                });
            }
        }
        let at = *index.entry(name.clone()).or_insert_with(|| {
            metrics.push(otlp::Metric {
                name,
                unit: String::new(),
                data: Some(otlp::Data::Gauge(otlp::Gauge::default())),
            });
            metrics.len() - 1
        });
        if let Some(otlp::Data::Gauge(g)) = &mut metrics[at].data {
            for (value, ms) in samples(w, ts, id) {
                g.data_points.push(otlp::NumberDataPoint {
                    attributes: attributes.clone(),
                    time_unix_nano: u64::try_from(ms).unwrap_or(0) * 1_000_000,
                    value: Some(otlp::NumberValue::AsDouble(value)),
                    ..Default::default()
                });
            }
        }
    }
    otlp::ExportMetricsServiceRequest {
        resource_metrics: vec![otlp::ResourceMetrics {
            resource: None,
            scope_metrics: vec![otlp::ScopeMetrics { metrics }],
        }],
    }
}

fn v2_body(w: &Workload, ids: &[usize], ts: i64) -> Vec<u8> {
    let mut table = rwgate_wire::SymbolTable::new();
    let timeseries = ids
        .iter()
        .map(|&id| v2::TimeSeries {
            labels_refs: table.refs(
                w.labels_of(id)
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            ),
            samples: samples(w, ts, id)
                .map(|(value, timestamp)| v2::Sample {
                    value,
                    timestamp,
                    start_timestamp: 0,
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    v2::Request {
        symbols: table.into_symbols(),
        timeseries,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_to_the_promised_counts() {
        for protocol in [Proto::V1, Proto::V2] {
            let w = Workload {
                tenants: vec!["a".into(), "b".into()],
                series: 250,
                batch: 100,
                labels: 6,
                protocol,
                ..Workload::default()
            };
            let payloads = build(&w);
            assert_eq!(payloads.len(), 6, "3 batches x 2 tenants");
            let ct = match protocol {
                Proto::V2 => rwgate_wire::Protocol::V2,
                _ => rwgate_wire::Protocol::V1,
            }
            .content_type();
            for p in &payloads {
                let b = rwgate_wire::decode_request(
                    Some(ct.as_bytes()),
                    Some(b"snappy"),
                    &p.body,
                    &rwgate_wire::Limits::default(),
                    0,
                )
                .unwrap();
                assert_eq!(b.accepted().samples, p.samples);
                assert_eq!(b.len(), p.ids.len());
                assert!(b.rejected().is_empty());
                assert_eq!(b.series(0).labels().len(), 6);
            }
        }
    }

    #[test]
    fn churn_replaces_a_share_of_series_per_pass() {
        let w = Workload {
            series: 100,
            churn: 0.2,
            ..Workload::default()
        };
        let p0 = w.ids_of_pass(0);
        let p1 = w.ids_of_pass(1);
        assert_eq!(p0.iter().filter(|i| p1.contains(i)).count(), 80);
        assert_eq!(w.passes(), 10);
    }

    /// The OTLP payload translates to exactly the series and samples of the v1 one.
    #[test]
    fn otlp_bodies_translate_to_the_v1_series() {
        let base = Workload {
            series: 300,
            batch: 300,
            labels: 7,
            samples_per_series: 2,
            ..Workload::default()
        };
        let decode_v1 = |raw: &[u8]| {
            let batch = rwgate_wire::decode(
                rwgate_wire::Protocol::V1,
                Bytes::copy_from_slice(raw),
                &rwgate_wire::Limits::default(),
                0,
            )
            .expect("valid");
            let mut out: Vec<(Vec<(String, String)>, u64)> = batch
                .iter()
                .map(|s| {
                    let labels = s
                        .labels()
                        .map(|(n, v)| {
                            (
                                String::from_utf8_lossy(n).into_owned(),
                                String::from_utf8_lossy(v).into_owned(),
                            )
                        })
                        .collect();
                    (labels, s.counts().samples)
                })
                .collect();
            out.sort();
            out
        };
        let ids: Vec<usize> = (0..300).collect();
        let v1 = decode_v1(&v1_body(&base, &ids, BASE_TS));
        let raw = otlp_body(&base, &ids, BASE_TS).encode_to_vec();
        let parsed = rwgate_gateway::otlp::parse(rwgate_gateway::otlp::Encoding::Protobuf, &raw)
            .expect("parses");
        let translated = rwgate_gateway::otlp::translate(
            &parsed,
            &rwgate_gateway::otlp::Settings::default(),
            64 << 20,
        )
        .expect("within the limit");
        assert_eq!(translated.points, 600);
        assert_eq!(decode_v1(&translated.body), v1);
    }
}
