//! Thanos' own placement vectors and config rules, through the public API.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use rwgate_ring::url::Protocol;
use rwgate_ring::{Algorithm, BuildOptions, Hashrings, series_hash, write_quorum};

fn opts(rf: usize, sections: usize) -> BuildOptions {
    BuildOptions {
        replication_factor: rf,
        default_algorithm: Algorithm::Hashmod,
        sections_per_node: sections,
        ..BuildOptions::default()
    }
}

fn ketama(endpoints: &[&str], rf: usize) -> Hashrings {
    let json = serde_json::json!([{ "endpoints": endpoints, "algorithm": "ketama" }]);
    Hashrings::from_json(json.to_string().as_bytes(), &opts(rf, 10)).expect("valid ring")
}

fn replica(rings: &Hashrings, tenant: &str, labels: &[(&str, &str)], n: usize) -> String {
    let ring = rings.for_tenant(tenant).expect("a hashring");
    let mut buf = Vec::new();
    let hash = series_hash(
        tenant.as_bytes(),
        labels.iter().map(|(a, b)| (a.as_bytes(), b.as_bytes())),
        &mut buf,
    );
    ring.endpoints()[ring.replica(hash, n)].address.clone()
}

const NGINX: &[(&str, &str)] = &[("pod", "nginx")];
const THANOS: &[(&str, &str)] = &[("pod", "thanos")];

#[test]
fn ketama_nginx_replicas_follow_thanos() {
    let want = ["node-2", "node-1", "node-3"];
    for (n, want) in want.iter().enumerate() {
        let rings = ketama(&["node-1", "node-2", "node-3"], n + 1);
        assert_eq!(replica(&rings, "tenant", NGINX, n), *want, "replica {n}");
    }
}

#[test]
fn ketama_thanos_pod_goes_to_node_3() {
    let rings = ketama(&["node-1", "node-2", "node-3"], 1);
    assert_eq!(replica(&rings, "tenant", THANOS, 0), "node-3");
}

#[test]
fn ketama_adding_a_node_keeps_nginx_on_node_2() {
    for endpoints in [
        &["node-0", "node-1", "node-2", "node-3"][..],
        &["node-1", "node-2", "node-3", "node-4"][..],
    ] {
        let rings = ketama(endpoints, 1);
        assert_eq!(
            replica(&rings, "tenant", NGINX, 0),
            "node-2",
            "{endpoints:?}"
        );
    }
}

#[test]
fn ketama_endpoint_order_does_not_matter() {
    let a = ketama(&["node-1", "node-2", "node-3"], 3);
    let b = ketama(&["node-3", "node-1", "node-2"], 3);
    for n in 0..3 {
        assert_eq!(
            replica(&a, "tenant", NGINX, n),
            replica(&b, "tenant", NGINX, n)
        );
        assert_eq!(
            replica(&a, "tenant", THANOS, n),
            replica(&b, "tenant", THANOS, n)
        );
    }
}

#[test]
fn hashmod_sorts_endpoints_and_adds_replica_index() {
    let json = br#"[{"endpoints": ["c:1", "a:1", "b:1"]}]"#;
    let rings = Hashrings::from_json(json, &opts(3, 1000)).unwrap();
    let mut buf = Vec::new();
    let hash = series_hash(b"tenant", [(&b"pod"[..], &b"nginx"[..])], &mut buf);
    let sorted = ["a:1", "b:1", "c:1"];
    for n in 0..3 {
        let want = sorted[(hash.wrapping_add(n as u64) % 3) as usize];
        assert_eq!(replica(&rings, "tenant", NGINX, n), want);
    }
}

#[test]
fn first_matching_hashring_wins_and_catch_all_takes_the_rest() {
    let json = br#"[
        {"hashring": "a", "tenants": ["tenant-a"], "endpoints": ["a1:1"]},
        {"hashring": "globbed", "tenants": ["team-*", "x?"], "tenant_matcher_type": "glob", "endpoints": ["g1:1"]},
        {"hashring": "also-a", "tenants": ["tenant-a", "tenant-c"], "endpoints": ["c1:1"]},
        {"hashring": "default", "endpoints": ["d1:1"]}
    ]"#;
    let rings = Hashrings::from_json(json, &opts(1, 1000)).unwrap();
    let name = |t: &str| rings.for_tenant(t).map(|r| r.name().to_string());
    assert_eq!(name("tenant-a").as_deref(), Some("a"));
    assert_eq!(name("team-blue").as_deref(), Some("globbed"));
    assert_eq!(name("xy").as_deref(), Some("globbed"));
    assert_eq!(name("xyz").as_deref(), Some("default"));
    assert_eq!(name("tenant-c").as_deref(), Some("also-a"));
    assert_eq!(name("tenant-b").as_deref(), Some("default"));
    // Cached answers are the same.
    assert_eq!(name("tenant-a").as_deref(), Some("a"));
}

#[test]
fn no_match_without_catch_all() {
    let json = br#"[{"tenants": ["tenant-a"], "endpoints": ["a1:1"]}]"#;
    let rings = Hashrings::from_json(json, &opts(1, 1000)).unwrap();
    assert!(rings.for_tenant("tenant-b").is_none());
}

#[test]
fn config_errors_are_collected_together() {
    let json = br#"[
        {"hashring": "empty", "endpoints": []},
        {"hashring": "small", "tenants": ["s"], "endpoints": ["a:1", "b:1"]},
        {"hashring": "az", "tenants": ["z"], "endpoints": [{"address": "a:1", "az": "z1"}, "b:1", "c:1", "d:1"]},
        {"hashring": "lopsided", "tenants": ["l"], "algorithm": "ketama",
         "endpoints": [{"address": "a:1", "az": "z1"}, {"address": "b:1", "az": "z1"}, {"address": "c:1", "az": "z1"}, {"address": "d:1", "az": "z2"}]},
        {"hashring": "glob", "tenants": ["[a"], "tenant_matcher_type": "glob", "endpoints": ["a:1", "b:1", "c:1", "d:1"]}
    ]"#;
    // z1 has 3 endpoints, z2 one: the walk takes z1, z2, z1 and then may only take z2.
    let err = Hashrings::from_json(json, &opts(4, 10)).unwrap_err();
    let text = err.to_string();
    let expect = [
        "hashring empty: no endpoints",
        "hashring small: replication factor 4 needs at least 4 endpoints",
        "hashring az: Hashmod algorithm does not support AZ aware hashring configuration",
        "hashring lopsided: availability zones",
        "hashring glob: bad glob",
    ];
    for e in expect {
        assert!(text.contains(e), "missing {e:?} in:\n{text}");
    }
    assert_eq!(err.problems.len(), expect.len(), "{text}");
}

#[test]
fn lopsided_az_that_fits_is_accepted() {
    let json = br#"[{"algorithm": "ketama", "endpoints": [
        {"address": "a:1", "az": "z1"}, {"address": "b:1", "az": "z1"}, {"address": "c:1", "az": "z1"}, {"address": "d:1", "az": "z2"}]}]"#;
    assert!(Hashrings::from_json(json, &opts(3, 10)).is_ok());
}

#[test]
fn empty_file_and_empty_array_are_errors() {
    assert!(Hashrings::from_json(b"", &opts(1, 10)).is_err());
    let err = Hashrings::from_json(b"[]", &opts(1, 10)).unwrap_err();
    assert!(err.to_string().contains("no hashring"), "{err}");
}

#[test]
fn catch_all_before_others_is_a_warning() {
    let json = br#"[{"endpoints": ["a:1"]}, {"tenants": ["t"], "endpoints": ["b:1"]}]"#;
    let rings = Hashrings::from_json(json, &opts(1, 10)).unwrap();
    assert_eq!(rings.warnings().len(), 1);
}

#[test]
fn quorum_matches_thanos() {
    let got: Vec<usize> = (1..=5).map(write_quorum).collect();
    assert_eq!(got, vec![1, 1, 2, 3, 3]);
}

#[test]
fn endpoint_targets_follow_the_protocol() {
    let json =
        br#"[{"endpoints": ["ingestor-0.receive:10901", "http://10.0.0.9:19291/api/v1/receive"]}]"#;
    let targets = |protocol| {
        let o = BuildOptions {
            protocol,
            ..opts(1, 10)
        };
        let rings = Hashrings::from_json(json, &o).unwrap();
        rings.hashrings()[0]
            .endpoints()
            .iter()
            .map(|e| e.target.to_string())
            .collect::<Vec<_>>()
    };
    // A router's file as it is: the bare address is dialed over gRPC, exactly there.
    assert_eq!(
        targets(Protocol::Grpc),
        [
            "grpc://ingestor-0.receive:10901",
            "http://10.0.0.9:19291/api/v1/receive"
        ]
    );
    assert_eq!(
        targets(Protocol::Http),
        [
            "http://ingestor-0.receive:19291/api/v1/receive",
            "http://10.0.0.9:19291/api/v1/receive"
        ]
    );
}
