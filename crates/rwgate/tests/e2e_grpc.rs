//! The `rwgate` binary in front of gRPC receivers written with grpcio (PyPI), with a
//! router's hashrings.json as it is (bare `host:port` addresses) and nothing else
//! configured: every series lands on exactly the receivers `rwgate ring lookup` names,
//! in a call whose tenant field is the tenant and whose replica field is its replica
//! number plus one; with one of four receivers killed at RF 3 nothing acknowledged is
//! lost, with two killed the push is 503; a quorum answering AlreadyExists is 409; an
//! ingestor that requires mutual TLS gets the series with `forward.tls` and refuses
//! rwgate without its client certificate.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::collections::BTreeMap;

use e2e::procs::GrpcReceiver;
use e2e::*;
use prost::Message;
use rwgate_proto::prometheus as pb;

const TENANT: &str = "tenant-a";

fn series(i: usize, round: usize) -> pb::TimeSeries {
    pb::TimeSeries {
        labels: vec![
            pb::Label {
                name: "__name__".into(),
                value: "e2e_grpc_metric".into(),
            },
            pb::Label {
                name: "series".into(),
                value: i.to_string(),
            },
        ],
        samples: vec![pb::Sample {
            value: (i * 10 + round) as f64,
            timestamp: 1_700_000_000_000 + round as i64 * 1000,
        }],
        ..Default::default()
    }
}

fn push(gw: &Gateway, round: usize, n: usize) -> (u16, String) {
    let req = pb::WriteRequest {
        timeseries: (0..n).map(|i| series(i, round)).collect(),
        ..Default::default()
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap();
    post_remote_write(&gw.url(), TENANT, body)
}

/// Per receiver: series value → (replica field, samples) of every call that was OK.
fn received(receivers: &[GrpcReceiver]) -> Vec<BTreeMap<String, Vec<(i64, f64)>>> {
    receivers
        .iter()
        .map(|r| {
            let mut got: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            for call in r.calls() {
                assert_eq!(call["tenant"], TENANT, "{call}");
                for s in call["series"].as_array().unwrap() {
                    let id = s["labels"][1][1].as_str().unwrap().to_string();
                    let value = s["samples"][0][1].as_f64().unwrap();
                    got.entry(id)
                        .or_default()
                        .push((call["replica"].as_i64().unwrap(), value));
                }
            }
            got
        })
        .collect()
}

fn lookup(rings: &std::path::Path, i: usize, addresses: &[String]) -> Vec<usize> {
    let out = rwgate_gateway::cli::ring_lookup(&rwgate_gateway::cli::LookupArgs {
        hashrings: rings.to_path_buf(),
        tenant: TENANT.into(),
        series: format!("{{__name__=\"e2e_grpc_metric\",series=\"{i}\"}}"),
        wire_order: false,
        ring: rwgate_gateway::cli::RingOpts {
            replication_factor: 3,
            algorithm: rwgate_ring::Algorithm::Hashmod,
            sections_per_node: 1000,
        },
    })
    .unwrap();
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|a| addresses.iter().position(|x| x == a).unwrap())
        .collect()
}

#[test]
fn grpcio_receivers_get_each_series_where_ring_lookup_says_and_lose_nothing_with_one_killed() {
    let tmp = TempDir::new("grpc");
    let mut receivers: Vec<GrpcReceiver> = (0..4)
        .map(|i| GrpcReceiver::start(&tmp, &format!("ingestor-{i}"), "OK"))
        .collect();
    let addresses: Vec<String> = receivers.iter().map(GrpcReceiver::address).collect();
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(&rings, &[("default", &[], "hashmod", addresses.clone())]);
    let gw = Gateway::start(
        &tmp,
        &format!("hashrings: {}\nreplication_factor: 3\n", rings.display()),
    );
    let n = 40;

    // All four up: every series on exactly its three replicas, replica field n + 1.
    let (status, body) = push(&gw, 0, n);
    assert_eq!(status, 200, "{body}");
    let got = received(&receivers);
    for i in 0..n {
        let want = lookup(&rings, i, &addresses);
        for (r, on) in got.iter().enumerate() {
            let calls = on.get(&i.to_string()).cloned().unwrap_or_default();
            match want.iter().position(|&w| w == r) {
                Some(replica) => {
                    assert_eq!(
                        calls,
                        vec![(replica as i64 + 1, (i * 10) as f64)],
                        "series {i} on {r}"
                    )
                }
                None => assert!(calls.is_empty(), "series {i} is not for receiver {r}"),
            }
        }
    }

    // One killed: still 200, and every series is on each of its live replicas.
    receivers[1].kill();
    let (status, body) = push(&gw, 1, n);
    assert_eq!(status, 200, "{body}");
    let got = received(&receivers);
    for i in 0..n {
        for r in lookup(&rings, i, &addresses)
            .into_iter()
            .filter(|&r| r != 1)
        {
            let values: Vec<f64> = got[r][&i.to_string()].iter().map(|c| c.1).collect();
            assert!(
                values.contains(&((i * 10 + 1) as f64)),
                "series {i} on {r}: {values:?}"
            );
        }
    }

    // Two killed: series with two replicas down miss quorum, so the push is 503.
    receivers[2].kill();
    let (status, body) = push(&gw, 2, n);
    assert_eq!(status, 503, "{body}");
    let metrics = gw.metrics();
    assert!(
        metrics.contains(&format!(
            "rwgate_forward_requests_total{{endpoint=\"{}\",protocol=\"grpc\",result=\"unavailable\"}}",
            addresses[2]
        )),
        "{metrics}"
    );
}

#[test]
fn a_quorum_of_grpcio_receivers_answering_already_exists_is_409() {
    let tmp = TempDir::new("grpc-conflict");
    let receivers: Vec<GrpcReceiver> = (0..3)
        .map(|i| {
            let status = if i < 2 { "ALREADY_EXISTS" } else { "OK" };
            GrpcReceiver::start(&tmp, &format!("ingestor-{i}"), status)
        })
        .collect();
    let addresses: Vec<String> = receivers.iter().map(GrpcReceiver::address).collect();
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(&rings, &[("default", &[], "hashmod", addresses)]);
    let gw = Gateway::start(
        &tmp,
        &format!("hashrings: {}\nreplication_factor: 3\n", rings.display()),
    );
    let (status, body) = push(&gw, 0, 5);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("AlreadyExists"), "{body}");
    // A conflict is final: each receiver got each replica's call once.
    for r in &receivers {
        let calls = r.calls();
        let mut replicas: Vec<i64> = calls
            .iter()
            .map(|c| c["replica"].as_i64().unwrap())
            .collect();
        replicas.sort();
        replicas.dedup();
        assert_eq!(replicas.len(), calls.len(), "no call repeated");
    }
}

#[test]
fn mutual_tls_to_a_grpcio_receiver_uses_forward_tls() {
    let tmp = TempDir::new("grpc-mtls");
    let p = rwgate_testkit::pki::pki("grpc");
    let (cert, key, _, _) = rwgate_testkit::pki::leaf(&p.server_ca, "rwgate", false);
    std::fs::write(p.dir.join("client.crt"), cert).unwrap();
    std::fs::write(p.dir.join("client.key"), key).unwrap();
    let receiver = GrpcReceiver::start_tls(&tmp, "ingestor-tls", &p.dir);
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(
        &rings,
        &[("default", &[], "hashmod", vec![receiver.address()])],
    );
    let base = format!(
        "hashrings: {}\nforward:\n  max_attempts: 1\n",
        rings.display()
    );
    let tls = |with_cert: bool| {
        let mut t = format!("  tls:\n    ca_file: {}\n", p.dir.join("ca.crt").display());
        if with_cert {
            t.push_str(&format!(
                "    cert_file: {}\n    key_file: {}\n",
                p.dir.join("client.crt").display(),
                p.dir.join("client.key").display()
            ));
        }
        t
    };

    let gw = Gateway::start(&tmp, &format!("{base}{}", tls(true)));
    let (status, body) = push(&gw, 0, 4);
    assert_eq!(status, 200, "{body}");
    let calls = receiver.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["series"].as_array().unwrap().len(), 4);
    drop(gw);

    // Trusting the CA but presenting no certificate: the receiver refuses the handshake.
    let gw = Gateway::start(&tmp, &format!("{base}{}", tls(false)));
    let (status, body) = push(&gw, 1, 4);
    assert_eq!(status, 503, "{body}");
    drop(gw);

    // No TLS at all toward a TLS receiver: refused too.
    let gw = Gateway::start(&tmp, &base);
    let (status, body) = push(&gw, 2, 4);
    assert_eq!(status, 503, "{body}");
    assert_eq!(receiver.calls().len(), 1, "only the first push reached it");
}
