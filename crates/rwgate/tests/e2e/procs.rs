//! The real processes: receivers, agents and the gateway.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{
    Series, TempDir, free_port, http_get, metric_sum, metrics_at, require, wait_ready, wait_until,
};

/// A child process stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    child: Option<Child>,
    name: String,
    log: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, name: &str, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            child: Some(child),
            name: name.to_string(),
            log,
        }
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit; returns the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let mut code = None;
        let exited = wait_until(timeout, || match child.try_wait() {
            Ok(Some(s)) => {
                code = s.code();
                true
            }
            _ => false,
        });
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
        }
        code
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process' log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} log ---\n{}",
            self.name,
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}

/// A `victoria-metrics` single-node receiver (remote write at `/api/v1/write`).
pub struct Vm {
    pub port: u16,
    dir: PathBuf,
    proc: Option<Proc>,
}

impl Vm {
    pub fn start(tmp: &TempDir, name: &str) -> Vm {
        let mut vm = Vm {
            port: free_port(),
            dir: tmp.join(name),
            proc: None,
        };
        vm.restart();
        vm
    }

    /// Starts (again) on the same port and data directory.
    pub fn restart(&mut self) {
        let bin = require("victoria-metrics", "victoria-metrics");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
            .arg(format!("-storageDataPath={}", self.dir.display()))
            .args([
                "-retentionPeriod=100y",
                "-search.disableCache",
                "-search.latencyOffset=0s",
                "-loggerLevel=ERROR",
            ]);
        let log = self.dir.with_extension("log");
        self.proc = Some(Proc::spawn(cmd, "victoria-metrics", log));
        wait_ready(
            &format!("http://127.0.0.1:{}/health", self.port),
            20,
            "victoria-metrics",
        );
    }

    /// SIGTERM: a receiver that goes away cleanly (victoria-metrics flushes what it
    /// acknowledged; after SIGKILL it loses its last seconds, which is the receiver's
    /// durability, not the gateway's).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(20));
        }
    }

    /// SIGKILL: a receiver that dies.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// The URL rwgate forwards to.
    pub fn write_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// Every series matching `selector`, with its samples.
    pub fn export(&self, selector: &str) -> Vec<Series> {
        let base = format!("http://127.0.0.1:{}", self.port);
        let _ = http_get(&format!("{base}/internal/force_flush"));
        let sel: String = selector
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let Some((200, body)) = http_get(&format!("{base}/api/v1/export?match[]={sel}&start=0"))
        else {
            return vec![];
        };
        body.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                let labels: BTreeMap<String, String> = v["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let ts = v["timestamps"].as_array().cloned().unwrap_or_default();
                let vals = v["values"].as_array().cloned().unwrap_or_default();
                let samples = ts
                    .iter()
                    .zip(vals.iter())
                    .filter_map(|(t, x)| Some((t.as_i64()?, x.as_f64()?)))
                    .collect();
                Series { labels, samples }
            })
            .collect()
    }
}

/// Debian's Prometheus as a remote-write receiver (`--web.enable-remote-write-receiver`),
/// scraping nothing; its HTTP API evaluates PromQL over what it received.
pub struct PromReceiver {
    pub port: u16,
    proc: Option<Proc>,
}

impl PromReceiver {
    pub fn start(tmp: &TempDir, name: &str) -> PromReceiver {
        let dir = tmp.join(name);
        let flags = [
            "--web.enable-remote-write-receiver".to_string(),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
        ];
        let config = "global:\n  scrape_interval: 1m\n";
        let port = free_port();
        let proc = spawn_prometheus(&dir, port, config, &flags, 30, "prometheus receiver");
        PromReceiver {
            port,
            proc: Some(proc),
        }
    }

    /// The URL rwgate forwards to.
    pub fn write_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// Its `/metrics` text.
    pub fn metrics(&self) -> String {
        metrics_at(self.port)
    }

    pub fn log_tail(&self) -> String {
        self.proc.as_ref().map(Proc::log_tail).unwrap_or_default()
    }
}

/// Debian's Prometheus as a scraper: scrapes `targets` every second and evaluates
/// `rules` (a rules file's text) every second; its HTTP API answers PromQL.
pub struct PromScraper {
    pub port: u16,
    proc: Option<Proc>,
}

impl PromScraper {
    pub fn start(tmp: &TempDir, targets: &[String], rules: &str) -> PromScraper {
        let dir = tmp.join("prom-scraper");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rules.yml"), rules).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: rwgate\n    static_configs:\n      - targets: [{}]\n",
            dir.join("rules.yml").display(),
            targets.join(", ")
        );
        let flags = [format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        )];
        let port = free_port();
        let proc = spawn_prometheus(&dir, port, &config, &flags, 30, "prometheus scraper");
        PromScraper {
            port,
            proc: Some(proc),
        }
    }

    /// `GET /api/v1/<path>` as JSON.
    pub fn api(&self, path_and_query: &str) -> serde_json::Value {
        let url = format!("http://127.0.0.1:{}/api/v1/{path_and_query}", self.port);
        let (code, body) = http_get(&url).unwrap_or((0, String::new()));
        assert_eq!(code, 200, "{url}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn log_tail(&self) -> String {
        self.proc.as_ref().map(Proc::log_tail).unwrap_or_default()
    }
}

/// Starts Debian's `prometheus` in `dir` on loopback `port` with `config` as its
/// prometheus.yml and the `flags` that set its mode and storage; waits (up to
/// `ready_secs`) until it is ready.
fn spawn_prometheus(
    dir: &Path,
    port: u16,
    config: &str,
    flags: &[String],
    ready_secs: u64,
    what: &str,
) -> Proc {
    let bin = require("prometheus", "prometheus");
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(flags)
        .arg(format!("--config.file={}", file.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let proc = Proc::spawn(cmd, "prometheus", dir.join("log"));
    wait_ready(
        &format!("http://127.0.0.1:{port}/-/ready"),
        ready_secs,
        what,
    );
    proc
}

/// The `rwgate` binary under test.
pub struct Gateway {
    pub port: u16,
    pub admin: u16,
    config: PathBuf,
    proc: Option<Proc>,
}

impl Gateway {
    /// Starts `rwgate serve --config <yaml>` where the YAML is `config_yaml` plus the
    /// listeners.
    pub fn start(tmp: &TempDir, config_yaml: &str) -> Gateway {
        let (port, admin) = (free_port(), free_port());
        let config = tmp.join("rwgate.yaml");
        std::fs::write(
            &config,
            format!("listen: 127.0.0.1:{port}\nadmin_listen: 127.0.0.1:{admin}\nshutdown_grace: 10s\n{config_yaml}"),
        )
        .unwrap();
        let mut g = Gateway {
            port,
            admin,
            config,
            proc: None,
        };
        g.restart();
        g
    }

    pub fn restart(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rwgate"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info");
        let log = self
            .config
            .with_extension(format!("{}.log", std::process::id()));
        self.proc = Some(Proc::spawn(cmd, "rwgate", log));
        wait_ready(
            &format!("http://127.0.0.1:{}/-/ready", self.admin),
            15,
            "rwgate",
        );
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn sigterm(&mut self) -> Option<i32> {
        self.proc
            .take()
            .and_then(|mut p| p.terminate(Duration::from_secs(20)))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/receive", self.port)
    }

    /// `path` on the remote-write listener.
    pub fn url_of(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn metrics(&self) -> String {
        metrics_at(self.admin)
    }

    /// `rwgate_requests_total` answers with `code`.
    pub fn requests_with_code(&self, code: &str) -> f64 {
        self.metrics()
            .lines()
            .filter(|l| {
                l.starts_with("rwgate_requests_total{") && l.contains(&format!("code=\"{code}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn log_tail(&self) -> String {
        self.proc.as_ref().map(Proc::log_tail).unwrap_or_default()
    }

    /// Endpoints with a replica write that failed for good
    /// (`rwgate_forward_requests_total{result!="success"}`), once no forward is under
    /// way: a forward outlives the request of an agent that went away.
    pub fn endpoints_with_failed_writes(&self) -> BTreeSet<String> {
        let idle = wait_until(Duration::from_secs(30), || {
            metric_sum(&self.metrics(), "rwgate_forward_inflight_requests") == 0.0
        });
        assert!(idle, "forwards still under way after 30s");
        self.metrics()
            .lines()
            .filter(|l| l.starts_with("rwgate_forward_requests_total{"))
            .filter(|l| !l.contains("result=\"success\""))
            .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) > Some(0.0))
            .filter_map(|l| {
                let rest = &l[l.find("endpoint=\"")? + 10..];
                Some(rest[..rest.find('"')?].to_string())
            })
            .collect()
    }
}

/// Debian's Prometheus 2.42 in agent mode, writing to rwgate with a bearer token.
pub struct PromAgent {
    pub port: u16,
    proc: Option<Proc>,
}

impl PromAgent {
    /// Scrapes itself and `targets` every second; remote-writes to `url` as the
    /// users' queue_config says, with `tenant: tenant-a` added by write relabelling.
    pub fn start(tmp: &TempDir, url: &str, token: &str, targets: &[String]) -> PromAgent {
        let port = free_port();
        let dir = tmp.join("prom-agent");
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            r#"global:
  scrape_interval: 1s
  external_labels:
    cluster: cluster-02
scrape_configs:
  - job_name: agent
    static_configs:
      - targets: ["127.0.0.1:{port}"]
  - job_name: target
    static_configs:
      - targets: [{targets}]
remote_write:
  - url: {url}
    authorization:
      type: Bearer
      credentials: {token}
    write_relabel_configs:
      - target_label: tenant
        replacement: tenant-a
    queue_config:
      capacity: 20000
      max_samples_per_send: 10000
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#,
            targets = targets.join(", ")
        );
        let flags = [
            "--enable-feature=agent".to_string(),
            format!("--storage.agent.path={}", dir.join("wal").display()),
        ];
        let proc = spawn_prometheus(&dir, port, &config, &flags, 20, "prometheus agent");
        PromAgent {
            port,
            proc: Some(proc),
        }
    }

    pub fn metrics(&self) -> String {
        metrics_at(self.port)
    }

    pub fn metric(&self, name: &str) -> f64 {
        metric_sum(&self.metrics(), name)
    }

    /// Stops the agent; Prometheus flushes its remote-write queues on shutdown.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(30));
        }
    }

    pub fn log_tail(&self) -> String {
        self.proc.as_ref().map(Proc::log_tail).unwrap_or_default()
    }
}

/// vmagent as tenant-b's agent: `X-Scope-OrgID: tenant-b`, `cluster=cluster-04`.
pub struct VmAgent {
    pub port: u16,
    proc: Option<Proc>,
}

impl VmAgent {
    pub fn start(tmp: &TempDir, url: &str, targets: &[String]) -> VmAgent {
        let bin = require("vmagent", "victoria-metrics");
        let port = free_port();
        let dir = tmp.join("vmagent");
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let scrape = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.join("scrape.yml"), scrape).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!(
                "-promscrape.config={}",
                dir.join("scrape.yml").display()
            ))
            .arg(format!("-remoteWrite.url={url}"))
            .arg("-remoteWrite.headers=X-Scope-OrgID:tenant-b")
            .arg("-remoteWrite.label=cluster=cluster-04")
            .arg(format!(
                "-remoteWrite.tmpDataPath={}",
                dir.join("queue").display()
            ))
            .arg("-remoteWrite.flushInterval=1s")
            .arg("-loggerLevel=WARN");
        let proc = Proc::spawn(cmd, "vmagent", dir.join("log"));
        wait_ready(&format!("http://127.0.0.1:{port}/health"), 20, "vmagent");
        VmAgent {
            port,
            proc: Some(proc),
        }
    }

    pub fn metrics(&self) -> String {
        metrics_at(self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(20));
        }
    }
}

/// The hashrings file for `rings`: `(name, tenants, algorithm, endpoint URLs)`.
pub fn write_hashrings(path: &Path, rings: &[(&str, &[&str], &str, Vec<String>)]) {
    let json: Vec<serde_json::Value> = rings
        .iter()
        .map(|(name, tenants, algo, eps)| {
            let mut v = serde_json::json!({"hashring": name, "algorithm": algo, "endpoints": eps});
            if !tenants.is_empty() {
                v["tenants"] = serde_json::json!(tenants);
            }
            v
        })
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::Value::Array(json).to_string()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// A gRPC write endpoint served by grpcio (`tests/e2e/grpc_receiver.py`), answering
/// every call with one gRPC status.
pub struct GrpcReceiver {
    pub port: u16,
    out: PathBuf,
    proc: Proc,
}

impl GrpcReceiver {
    /// Starts one answering `status` (a `grpc.StatusCode` name, e.g. `OK`).
    pub fn start(tmp: &TempDir, name: &str, status: &str) -> GrpcReceiver {
        Self::start_with(tmp, name, status, None)
    }

    /// Starts one serving TLS with `tls_dir`'s `server.crt` and `server.key`, requiring
    /// client certificates signed by its `ca.crt`.
    pub fn start_tls(tmp: &TempDir, name: &str, tls_dir: &Path) -> GrpcReceiver {
        Self::start_with(tmp, name, "OK", Some(tls_dir))
    }

    fn start_with(tmp: &TempDir, name: &str, status: &str, tls: Option<&Path>) -> GrpcReceiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/grpc_receiver.py");
        let out = tmp.join(&format!("{name}.jsonl"));
        let log = tmp.join(&format!("{name}.log"));
        let mut cmd = Command::new(super::otel_python());
        cmd.arg(&script).arg(&out).arg(status);
        if let Some(dir) = tls {
            cmd.arg(dir);
        }
        let proc = Proc::spawn(cmd, name, log.clone());
        let mut port = None;
        let listening = wait_until(Duration::from_secs(20), || {
            port = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("port ")?.trim().parse().ok());
            port.is_some()
        });
        assert!(listening, "{name} did not listen\n{}", proc.log_tail());
        GrpcReceiver {
            port: port.unwrap_or_default(),
            out,
            proc,
        }
    }

    /// `host:port`, as a router's hashrings.json names an ingestor.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every call so far, as the script recorded it (tenant, replica, series).
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}
