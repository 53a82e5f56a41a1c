//! `rwgate doctor` against live local receivers: all good → exit 0; one endpoint down,
//! RF above the endpoints, a tenant no hashring serves, a shuffle-sharding shard size
//! a zone cannot hold → exit 1 naming each problem. gRPC endpoints are asked through
//! the gRPC health service.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use rwgate_testkit::net::free_port;
use rwgate_testkit::receiver::DevReceiver;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(tag: &str) -> Case {
        let dir = tempfile::Builder::new()
            .prefix(&format!("rwgate-doctor-{tag}-"))
            .tempdir()
            .unwrap();
        Case { dir }
    }

    /// Runs `rwgate doctor` with `rings` and extra YAML; exit code and stdout.
    fn run(&self, rings: serde_json::Value, rf: usize, yaml: &str) -> (i32, String) {
        let h = self.dir.path().join("hashrings.json");
        std::fs::write(&h, rings.to_string()).unwrap();
        let c = self.dir.path().join("rwgate.yaml");
        std::fs::write(
            &c,
            format!(
                "hashrings: {}\nreplication_factor: {rf}\n{yaml}",
                h.display()
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rwgate"))
            .arg("doctor")
            .arg("--config")
            .arg(&c)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

async fn receivers(n: usize) -> Vec<DevReceiver> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(
            DevReceiver::start(([127, 0, 0, 1], 0).into())
                .await
                .unwrap(),
        );
    }
    v
}

fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_good_is_exit_0() {
    let r = receivers(3).await;
    let urls: Vec<String> = r.iter().map(|x| x.url()).collect();
    let case = Case::new("good");
    let rings = serde_json::json!([
        {"hashring": "tenant-a", "tenants": ["tenant-a"], "algorithm": "ketama", "endpoints": urls},
        {"hashring": "default", "endpoints": urls[1..]},
    ]);
    let (code, out) =
        run_blocking(move || case.run(rings, 2, "tenants:\n  tenant-a: {}\n  tenant-c: {}\n"))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no problems found"), "{out}");
    assert_eq!(
        out.matches("ready (").count(),
        3,
        "every endpoint probed once: {out}"
    );
    assert!(
        out.contains("tenant tenant-a -> hashring tenant-a"),
        "{out}"
    );
    assert!(
        out.contains("tenants on the default hashring: default-tenant, tenant-c"),
        "{out}"
    );
    assert!(
        out.contains("[info] names: any UTF-8 is accepted (limits.name_validation: utf8"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_is_named() {
    let r = receivers(2).await;
    let mut urls: Vec<String> = r.iter().map(|x| x.url()).collect();
    let dead = format!("127.0.0.1:{}", free_port().unwrap());
    urls.push(format!("http://{dead}/api/v1/receive"));
    let case = Case::new("down");
    let rings = serde_json::json!([{"endpoints": urls}]);
    let (code, out) = run_blocking(move || case.run(rings, 2, "")).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "[FAIL] endpoint http://{dead}/api/v1/receive unreachable"
        )),
        "{out}"
    );
    assert!(out.contains("fix: check that the pod exists"), "{out}");
    assert!(out.contains("1 problem(s) found"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rf_above_endpoints_is_named() {
    let r = receivers(2).await;
    let urls: Vec<String> = r.iter().map(|x| x.url()).collect();
    let case = Case::new("rf");
    let rings = serde_json::json!([{"hashring": "small", "endpoints": urls}]);
    let (code, out) = run_blocking(move || case.run(rings, 3, "")).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("hashring small: replication factor 3 needs 3 endpoints, it has 2"),
        "{out}"
    );
    assert!(
        out.contains("fix: add 1 endpoint(s) or lower replication_factor to 2"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_tenant_is_named() {
    let r = receivers(1).await;
    let urls: Vec<String> = r.iter().map(|x| x.url()).collect();
    let case = Case::new("tenant");
    let rings = serde_json::json!([{"hashring": "a", "tenants": ["tenant-a", "default-tenant"], "endpoints": urls}]);
    let (code, out) = run_blocking(move || {
        case.run(
            rings,
            1,
            "tenancy:\n  tokens:\n    tenant-b-token-0000000001: tenant-b\n",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[FAIL] tenant tenant-b matches no hashring"),
        "{out}"
    );
    assert!(
        !out.contains("tenant-b-token"),
        "tokens are never printed: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_endpoints_answer_the_health_check_and_a_dead_one_is_named() {
    let r = receivers(2).await;
    let mut addresses: Vec<String> = r.iter().map(|x| x.grpc_address()).collect();
    let dead = format!("127.0.0.1:{}", free_port().unwrap());
    addresses.push(dead.clone());
    let case = Case::new("grpc");
    let rings = serde_json::json!([{"endpoints": addresses}]);
    let (code, out) = run_blocking(move || case.run(rings, 2, "")).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.matches("serves gRPC (health check SERVING)").count(),
        2,
        "{out}"
    );
    assert!(
        out.contains(&format!("[FAIL] endpoint {dead}: gRPC health check failed")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_size_a_zone_cannot_hold_is_named() {
    let r = receivers(4).await;
    let endpoints: Vec<serde_json::Value> = r
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let az = if i % 2 == 0 { "a" } else { "b" };
            serde_json::json!({"address": x.url(), "az": az})
        })
        .collect();
    let case = Case::new("shard");
    // Two zones of two: a shard of 6 takes 3 from each (cannot be placed), a shard of
    // 3 takes 2 from each (placed, but larger than a zone).
    let rings = serde_json::json!([{
        "hashring": "sharded", "algorithm": "ketama", "endpoints": endpoints,
        "shuffle_sharding_config": {"shard_size": 2, "overrides": [
            {"shard_size": 6, "tenants": ["big"]},
            {"shard_size": 3, "tenants": ["mid"]},
        ]},
    }]);
    let (code, out) = run_blocking(move || case.run(rings, 1, "")).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[FAIL] hashring sharded: tenants with shard size 6 cannot be placed and their writes fail"),
        "{out}"
    );
    assert!(
        out.contains(
            "[FAIL] hashring sharded: shard size 3 is larger than a zone (2 endpoints at most)"
        ),
        "{out}"
    );
    assert!(out.contains("2 problem(s) found"), "{out}");
}
