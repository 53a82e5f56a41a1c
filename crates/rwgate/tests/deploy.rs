//! The Kustomize tree: every overlay renders (`kubectl kustomize`) and validates
//! against the Kubernetes schemas (`kubernetes-validate --strict`); the agent configs
//! pass `promtool check config --agent` and the alert rules `promtool check rules`; the
//! central hashrings.json names exactly the ingestor StatefulSet's pods; every edge
//! agent's remote_write URL reaches the rwgate Service through the central Ingress; the
//! central rwgate config and hashrings load.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

const OVERLAYS: [&str; 5] = [
    "central",
    "edge",
    "cluster-03",
    "cluster-04",
    "edge-multitenant",
];
const EDGE: [&str; 4] = ["edge", "cluster-03", "cluster-04", "edge-multitenant"];

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn render(overlay: &str) -> (String, Vec<Value>) {
    let kubectl = e2e::require("kubectl", "kubectl (kubernetes-client)");
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(deploy().join("overlays").join(overlay))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{overlay}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect();
    (text, docs)
}

fn find<'a>(docs: &'a [Value], kind: &str, name_prefix: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_prefix))
        })
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[test]
fn overlays_render_and_validate_against_kubernetes_schemas() {
    let validator = e2e::require(
        "kubernetes-validate",
        "kubernetes-validate (pip install kubernetes-validate)",
    );
    let tmp = e2e::TempDir::new("deploy");
    for overlay in OVERLAYS {
        let (text, docs) = render(overlay);
        assert!(docs.len() >= 8, "{overlay}: {} objects", docs.len());
        let file = tmp.join(&format!("{overlay}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = Command::new(&validator)
            .args(["--strict", "--quiet", "-k", "1.31.0"])
            .arg(&file)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{overlay}:\n{report}");
        // CRDs are not in the schema set; everything else must be checked.
        for line in report
            .lines()
            .filter(|l| l.contains("Couldn't find schema"))
        {
            assert!(
                line.contains("ServiceMonitor") || line.contains("PrometheusRule"),
                "{overlay}: unexpected unchecked kind: {line}"
            );
        }
    }
}

#[test]
fn agent_configs_and_alert_rules_pass_promtool() {
    let promtool = e2e::require("promtool", "prometheus");
    let tmp = e2e::TempDir::new("promtool");
    let mut checked = 0;
    for overlay in EDGE {
        let (_, docs) = render(overlay);
        for cm in find(&docs, "ConfigMap", "prometheus-agent-config") {
            let file = tmp.join(&format!("{overlay}-{checked}.yml"));
            std::fs::write(&file, s(&cm["data"]["prometheus.yml"])).unwrap();
            let out = Command::new(&promtool)
                .args(["check", "config", "--agent"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{overlay}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked, 5,
        "edge, cluster-03, cluster-04 and two tenant agents"
    );
    let rules = deploy().join("base/rwgate/rwgate-alerts.yaml");
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS: 7 rules found"), "{text}");
    // Each alert fires on its failure after its `for:`, and not before.
    let tests = deploy().join("base/rwgate/rwgate-alerts.test.yaml");
    let out = Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&tests)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let tested: std::collections::BTreeSet<String> = std::fs::read_to_string(&tests)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("alertname: "))
        .map(|a| a.trim().to_string())
        .collect();
    assert_eq!(tested.len(), 7, "every alert has a unit test: {tested:?}");
}

/// kube-prometheus-stack's pieces in the central overlay: the alerts as a
/// PrometheusRule holding the same rules as the plain file, the dashboard as a
/// ConfigMap the Grafana sidecar picks up, and a ServiceMonitor on the admin port, the
/// last two labelled for the default `release` selector.
#[test]
fn central_overlay_carries_kube_prometheus_stack_objects() {
    let (_, docs) = render("central");
    let rule = find(&docs, "PrometheusRule", "rwgate");
    assert_eq!(rule.len(), 1, "one PrometheusRule");
    assert_eq!(
        rule[0]["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let plain: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(deploy().join("base/rwgate/rwgate-alerts.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        rule[0]["spec"]["groups"], plain["groups"],
        "the PrometheusRule and rwgate-alerts.yaml hold the same rules"
    );
    let dash = find(&docs, "ConfigMap", "rwgate-dashboard");
    assert_eq!(dash.len(), 1, "one dashboard ConfigMap");
    assert_eq!(dash[0]["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = s(&dash[0]["data"]["rwgate-dashboard.json"]);
    let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
    assert!(parsed["panels"].as_array().is_some_and(|p| !p.is_empty()));
    let sm = find(&docs, "ServiceMonitor", "rwgate");
    assert_eq!(sm.len(), 1);
    assert_eq!(
        sm[0]["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let port = s(&sm[0]["spec"]["endpoints"][0]["port"]);
    let svc = find(&docs, "Service", "rwgate")
        .into_iter()
        .find(|d| d["kind"] == "Service")
        .unwrap();
    let ports = svc["spec"]["ports"].as_sequence().unwrap();
    let admin = ports.iter().find(|p| p["name"] == port).unwrap();
    assert_eq!(
        admin["port"].as_u64(),
        Some(10902),
        "{port} is the admin port"
    );
}

#[test]
fn central_hashrings_name_exactly_the_ingestor_pods() {
    let (_, docs) = render("central");
    let sts = find(&docs, "StatefulSet", "thanos-receive")[0];
    let (name, ns) = (
        s(&sts["metadata"]["name"]),
        s(&sts["metadata"]["namespace"]),
    );
    let service = s(&sts["spec"]["serviceName"]);
    let replicas = sts["spec"]["replicas"].as_u64().unwrap();
    let args: Vec<&str> = sts["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert!(args.contains(&"--grpc-address=0.0.0.0:10901"));
    assert!(
        args.iter().any(|a| a.starts_with("--label=replica=")),
        "a distinct replica label per ingestor"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--receive.hashrings")),
        "ingestor mode: no hashring"
    );
    let want: Vec<String> = (0..replicas)
        .map(|i| format!("{name}-{i}.{service}.{ns}.svc.cluster.local:10901"))
        .collect();

    let cm = find(&docs, "ConfigMap", "rwgate-hashrings")[0];
    let rings: serde_json::Value = serde_json::from_str(s(&cm["data"]["hashrings.json"])).unwrap();
    let mut got: Vec<String> = rings
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
        })
        .collect();
    got.sort();
    assert_eq!(got, want);

    // Thanos Query deduplicates on that replica label.
    let q = find(&docs, "Deployment", "thanos-query")[0];
    let qargs = format!(
        "{:?}",
        q["spec"]["template"]["spec"]["containers"][0]["args"]
    );
    assert!(qargs.contains("--query.replica-label=replica"), "{qargs}");

    // The central rwgate config and that hashrings file load, at the configured RF.
    let cfg_cm = find(&docs, "ConfigMap", "rwgate-config")[0];
    let mut cfg = rwgate_gateway::Config::from_yaml(s(&cfg_cm["data"]["rwgate.yaml"])).unwrap();
    let tmp = e2e::TempDir::new("central");
    let path = tmp.join("hashrings.json");
    std::fs::write(&path, s(&cm["data"]["hashrings.json"])).unwrap();
    cfg.hashrings = Some(path.clone());
    let cfg = cfg.validate().unwrap();
    let rings = rwgate_ring::reload::load_file(&path, &cfg.ring_options()).unwrap();
    // A router's file, unchanged: rwgate dials each address over gRPC, exactly there,
    // and that is the port the ingestors' --grpc-address listens on.
    assert_eq!(
        rings.hashrings()[0].endpoints()[0].target,
        rwgate_ring::url::Target::Grpc(format!("{name}-0.{service}.{ns}.svc.cluster.local:10901"))
    );
    assert_eq!(cfg.forward_protocol(), rwgate_ring::url::Protocol::Grpc);
}

#[test]
fn edge_remote_write_urls_reach_the_rwgate_service() {
    let (_, central) = render("central");
    let ingress = find(&central, "Ingress", "rwgate")[0];
    let rule = &ingress["spec"]["rules"][0];
    let host = s(&rule["host"]);
    let path = &rule["http"]["paths"][0];
    let backend = &path["backend"]["service"];
    let svc = find(&central, "Service", s(&backend["name"]))
        .into_iter()
        .find(|d| d["metadata"]["name"] == backend["name"])
        .expect("the Ingress backend is a Service of the overlay");
    assert_eq!(s(&svc["metadata"]["name"]), "rwgate");
    let port = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == backend["port"]["name"])
        .expect("the backend port exists on the Service");
    assert_eq!(
        port["port"].as_u64(),
        Some(19291),
        "the Ingress reaches the remote-write port"
    );
    let deploy = find(&central, "Deployment", "rwgate")[0];
    let cport = deploy["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == port["targetPort"])
        .unwrap();
    assert_eq!(cport["containerPort"].as_u64(), Some(19291));
    let want = format!("https://{host}{}", s(&path["path"]));

    let mut agents = 0;
    for overlay in EDGE {
        let (_, docs) = render(overlay);
        for cm in find(&docs, "ConfigMap", "prometheus-agent-config") {
            let prom: Value = serde_yaml_ng::from_str(s(&cm["data"]["prometheus.yml"])).unwrap();
            let rw = &prom["remote_write"][0];
            assert_eq!(s(&rw["url"]), want, "{overlay}");
            assert_eq!(
                s(&rw["authorization"]["type"]),
                "Bearer",
                "{overlay}: a token, not a header"
            );
            let q = &rw["queue_config"];
            assert_eq!(
                (
                    q["capacity"].as_u64(),
                    q["max_samples_per_send"].as_u64(),
                    q["max_shards"].as_u64()
                ),
                (Some(20000), Some(10000), Some(100))
            );
            agents += 1;
        }
    }
    assert_eq!(agents, 5);
}

#[test]
fn multitenant_agents_are_separated_by_namespace_node_and_token() {
    let (_, docs) = render("edge-multitenant");
    for t in ["tenant-a", "tenant-b"] {
        let sts = find(&docs, "StatefulSet", &format!("prometheus-agent-{t}"))[0];
        assert_eq!(s(&sts["metadata"]["namespace"]), format!("monitoring-{t}"));
        let affinity = format!("{:?}", sts["spec"]["template"]["spec"]["affinity"]);
        assert!(
            affinity.contains(t),
            "{t} runs on its own nodes: {affinity}"
        );
        let cm = find(&docs, "ConfigMap", &format!("prometheus-agent-config-{t}"))[0];
        let prom: Value = serde_yaml_ng::from_str(s(&cm["data"]["prometheus.yml"])).unwrap();
        let relabel = &prom["remote_write"][0]["write_relabel_configs"][0];
        assert_eq!(
            (s(&relabel["target_label"]), s(&relabel["replacement"])),
            ("tenant", t)
        );
        assert_eq!(
            s(&prom["global"]["external_labels"]["cluster"]),
            "cluster-02"
        );
        let secret = find(&docs, "Secret", &format!("rwgate-token-{t}"))[0];
        assert_eq!(
            s(&secret["metadata"]["namespace"]),
            format!("monitoring-{t}")
        );
        let volumes = format!("{:?}", sts["spec"]["template"]["spec"]["volumes"]);
        assert!(
            volumes.contains(s(&secret["metadata"]["name"])),
            "{t}'s agent mounts its own token"
        );
    }
}

/// The central Ingress routes the three OTLP paths to the same port as remote write.
#[test]
fn the_central_ingress_routes_otlp_to_rwgate() {
    let (_, central) = render("central");
    let ingress = find(&central, "Ingress", "rwgate")[0];
    let paths: Vec<(String, String)> = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                s(&p["path"]).to_string(),
                s(&p["backend"]["service"]["port"]["name"]).to_string(),
            )
        })
        .collect();
    for want in [
        "/api/v1/receive",
        "/otlp/v1/metrics",
        "/v1/metrics",
        "/api/v1/otlp/v1/metrics",
    ] {
        assert!(
            paths.contains(&(want.to_string(), "remote-write".to_string())),
            "{want} not routed to the remote-write port: {paths:?}"
        );
    }
}
