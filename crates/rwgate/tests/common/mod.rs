//! A harness that starts embedded receivers and a gateway on loopback, and a client to
//! send it remote write. Reads like the scenario: `Harness::builder().receivers(3).rf(3)`.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use rwgate_gateway::{Config, Gateway};
use rwgate_proto::prometheus as v1;
use rwgate_ring::RingHandle;
use rwgate_testkit::receiver::{DevReceiver, series_key};

pub const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

type RingsFn = Box<dyn Fn(&[String]) -> serde_json::Value>;

pub struct Builder {
    receivers: usize,
    rf: usize,
    algorithm: &'static str,
    cfg: Config,
    load_ring: bool,
    hashrings: Option<RingsFn>,
    reload_config: bool,
    grpc: bool,
}

pub struct Harness {
    pub receivers: Vec<DevReceiver>,
    /// The receivers as the hashrings file names them (URLs, or gRPC addresses).
    pub endpoints: Vec<String>,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub hashrings: PathBuf,
    pub rings: Arc<RingHandle>,
    pub ring_opts: rwgate_ring::BuildOptions,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// Holds the hashrings file; removed when the harness drops.
    _dir: tempfile::TempDir,
}

impl Builder {
    pub fn receivers(mut self, n: usize) -> Self {
        self.receivers = n;
        self
    }
    pub fn rf(mut self, rf: usize) -> Self {
        self.rf = rf;
        self
    }
    pub fn ketama(mut self) -> Self {
        self.algorithm = "ketama";
        self
    }
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.cfg);
        self
    }
    /// The hashrings file, from the receivers' URLs.
    pub fn hashrings(mut self, f: impl Fn(&[String]) -> serde_json::Value + 'static) -> Self {
        self.hashrings = Some(Box::new(f));
        self
    }
    /// Reload tenancy settings and tokens when the tokens file changes.
    pub fn reload_config(mut self) -> Self {
        self.reload_config = true;
        self
    }
    /// Name the receivers by their bare gRPC addresses, as a router's hashrings.json
    /// does (so rwgate forwards over gRPC).
    pub fn grpc(mut self) -> Self {
        self.grpc = true;
        self
    }
    /// Start without a loaded ring (not ready).
    pub fn without_ring(mut self) -> Self {
        self.load_ring = false;
        self
    }

    pub async fn start(self) -> Harness {
        let mut receivers = Vec::new();
        for _ in 0..self.receivers {
            receivers.push(DevReceiver::start(LOOPBACK.into()).await.unwrap());
        }
        let urls: Vec<String> = if self.grpc {
            receivers.iter().map(|r| r.grpc_address()).collect()
        } else {
            receivers.iter().map(|r| r.url()).collect()
        };
        let tmp = tempfile::Builder::new()
            .prefix("rwgate-it-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let hashrings = dir.join("hashrings.json");
        let rings_json = match &self.hashrings {
            Some(f) => f(&urls),
            None => serde_json::json!([{ "endpoints": urls, "algorithm": self.algorithm }]),
        };
        std::fs::write(&hashrings, rings_json.to_string()).unwrap();
        let mut cfg = self.cfg;
        cfg.hashrings = Some(hashrings.clone());
        cfg.replication_factor = self.rf;
        let cfg = cfg.validate().unwrap();
        let ring_opts = cfg.ring_options();
        let rings = Arc::new(RingHandle::new());
        if self.load_ring {
            rwgate_ring::reload::reload(&hashrings, &ring_opts, &rings).unwrap();
        }
        let mut gateway = Gateway::with_rings(cfg, rings.clone(), None).unwrap();
        if self.reload_config {
            gateway = gateway.reload_config_from(rwgate_gateway::server::ConfigSource {
                path: None,
                overrides: Arc::new(|_| {}),
            });
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(LOOPBACK))
            .await
            .unwrap();
        let admin = std::net::TcpListener::bind(SocketAddr::from(LOOPBACK)).unwrap();
        let addr = listener.local_addr().unwrap();
        let admin_addr = admin.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            gateway
                .serve(listener, admin, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Harness {
            receivers,
            endpoints: urls,
            addr,
            admin: admin_addr,
            hashrings,
            rings,
            ring_opts,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
            _dir: tmp,
        }
    }
}

pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Harness {
    pub fn builder() -> Builder {
        let mut cfg = Config::default();
        cfg.forward.deadline = Duration::from_millis(1500);
        cfg.forward.attempt_timeout = Duration::from_millis(500);
        cfg.forward.backoff_initial = Duration::from_millis(10);
        cfg.forward.backoff_max = Duration::from_millis(50);
        Builder {
            receivers: 3,
            rf: 1,
            algorithm: "hashmod",
            cfg,
            load_ring: true,
            hashrings: None,
            reload_config: false,
            grpc: false,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v1/receive", self.addr)
    }

    pub async fn send_raw(&self, tenant: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let resp = self
            .client
            .post(self.url())
            .header("Content-Type", content_type)
            .header("Content-Encoding", "snappy")
            .header("THANOS-TENANT", tenant)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let retry_after = headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body = resp.text().await.unwrap();
        Answer {
            status,
            retry_after,
            body,
            headers,
        }
    }

    /// Sends with the given headers (no tenant header unless given).
    pub async fn send_with(&self, headers: &[(&str, &str)], req: &v1::WriteRequest) -> Answer {
        let mut r = self
            .client
            .post(self.url())
            .header("Content-Encoding", "snappy")
            .body(snappy(&req.encode_to_vec()));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let retry_after = headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        Answer {
            status,
            retry_after,
            body: resp.text().await.unwrap(),
            headers,
        }
    }

    /// Requests that reached any receiver.
    pub fn receiver_attempts(&self) -> u64 {
        self.receivers.iter().map(|r| r.attempts()).sum()
    }

    pub async fn send(&self, tenant: &str, req: &v1::WriteRequest) -> Answer {
        self.send_raw(
            tenant,
            "application/x-protobuf",
            snappy(&req.encode_to_vec()),
        )
        .await
    }

    /// Receivers (by index) that hold `samples` samples of a series; asserts the others
    /// hold none.
    pub fn holders(&self, tenant: &str, labels: &[(&str, &str)]) -> Vec<usize> {
        let key = series_key(tenant, labels);
        self.receivers
            .iter()
            .enumerate()
            .filter(|(_, r)| r.series_samples(key) > 0)
            .map(|(i, _)| i)
            .collect()
    }

    /// The receivers (by index) `rwgate ring lookup` names for `labels` of `tenant` at
    /// replication factor `rf` (hashmod), sorted.
    pub fn lookup(&self, tenant: &str, labels: &[(&str, &str)], rf: usize) -> Vec<usize> {
        let algorithm = rwgate_ring::Algorithm::Hashmod;
        rwgate_testkit::ring::lookup_indexes(
            &self.hashrings,
            tenant,
            labels,
            rf,
            algorithm,
            &self.endpoints,
        )
        .into_iter()
        .collect()
    }

    pub fn index_of_url(&self, url: &str) -> usize {
        self.endpoints.iter().position(|e| e == url).unwrap()
    }

    pub async fn get(&self, addr: SocketAddr, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Begins shutdown and waits for the server to return.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }

    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.take().unwrap()
    }
}

/// The operator-surface scenario: three receivers at RF 2, the third answering 503 (and
/// backed off after 2 failed attempts, for `cooldown`), tenant-a limited to `rate`
/// samples/s with a burst of 100, tenant-b unlimited; forwards give up after
/// `deadline`. Returns the harness and the failing receiver's URL.
pub async fn one_receiver_failing_one_tenant_limited(
    rate: f64,
    deadline: Duration,
    cooldown: Duration,
) -> (Harness, String) {
    let h = Harness::builder()
        .receivers(3)
        .rf(2)
        .config(move |c| {
            c.forward.deadline = deadline;
            c.forward.breaker_failures = 2;
            c.forward.breaker_cooldown = cooldown;
            c.tenants.insert(
                "tenant-a".into(),
                serde_yaml_ng::from_str(&format!(
                    "limits:\n  ingestion_rate: {rate}\n  ingestion_burst: 100\n"
                ))
                .unwrap(),
            );
            c.tenants.insert("tenant-b".into(), Default::default());
        })
        .start()
        .await;
    h.receivers[2].set_mode(rwgate_testkit::receiver::Mode {
        status: 503,
        ..Default::default()
    });
    let failing = h.receivers[2].url();
    (h, failing)
}

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

/// Labels of synthetic series `i`, sorted.
pub fn labels(i: usize) -> Vec<(String, String)> {
    vec![
        ("__name__".into(), "test_metric".into()),
        ("instance".into(), format!("host-{}", i % 7)),
        ("series".into(), i.to_string()),
    ]
}

pub fn as_refs(l: &[(String, String)]) -> Vec<(&str, &str)> {
    l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

pub fn request(n: usize, samples_each: usize) -> v1::WriteRequest {
    v1::WriteRequest {
        timeseries: (0..n)
            .map(|i| v1::TimeSeries {
                labels: labels(i)
                    .into_iter()
                    .map(|(name, value)| v1::Label { name, value })
                    .collect(),
                samples: (0..samples_each)
                    .map(|k| v1::Sample {
                        value: k as f64,
                        timestamp: 1_700_000_000_000 + k as i64 * 1000,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    }
}

/// A request of one series per label set, one sample each.
pub fn request_of(series: &[&[(&str, &str)]]) -> v1::WriteRequest {
    v1::WriteRequest {
        timeseries: series
            .iter()
            .map(|labels| v1::TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| v1::Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: vec![v1::Sample {
                    value: 1.0,
                    timestamp: 1_700_000_000_000,
                }],
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    }
}
