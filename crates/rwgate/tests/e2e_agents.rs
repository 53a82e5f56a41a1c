//! Real agents through rwgate into real receivers: Debian's Prometheus 2.42 in agent
//! mode (tenant-a, bearer token, `cluster: cluster-02`, write relabel `tenant:
//! tenant-a`) and vmagent (tenant-b via `X-Scope-OrgID`, `cluster=cluster-04`); five
//! victoria-metrics receivers; hashring `tenant-a` (ketama over three) and a default
//! one (two); RF 2.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use e2e::*;
use rwgate_testkit::ring::lookup_indexes;

/// tenant-a's relabeling: a label added and one copied, so every tenant-a series
/// arrives with labels its agent did not send, and is placed by them.
const RELABEL: &str = "tenants:\n  tenant-a:\n    relabel_configs:\n      - {target_label: relabeled, replacement: \"yes\"}\n      - {source_labels: [job], target_label: scrape_job}\n";

const TOKEN: &str = "e2e-token-tenant-a-000000";
type LabelSet = Vec<(String, String)>;
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn agents_series_land_on_exactly_the_ring_lookup_receivers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempDir::new("agents");
    let vms: Vec<Vm> = (0..5).map(|i| Vm::start(&tmp, &format!("vm{i}"))).collect();
    let urls: Vec<String> = vms.iter().map(Vm::write_url).collect();
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(
        &rings,
        &[
            ("tenant-a", &["tenant-a"], "ketama", urls[0..3].to_vec()),
            ("default", &[], "hashmod", urls[3..5].to_vec()),
        ],
    );
    let gw = Gateway::start(
        &tmp,
        &format!(
            "hashrings: {}\nreplication_factor: 2\ntenancy:\n  tokens:\n    {TOKEN}: tenant-a\n{RELABEL}",
            rings.display()
        ),
    );
    let target = SeqTarget::start(100);
    let mut prom = PromAgent::start(&tmp, &gw.url(), TOKEN, &[target.addr()]);
    let mut vma = VmAgent::start(&tmp, &gw.url(), &[target.addr()]);

    // Both agents have written the target's series.
    let arrived = wait_until(Duration::from_secs(60), || {
        target.served() >= 12
            && vms[..3]
                .iter()
                .map(|v| v.export("e2e_seq").len())
                .sum::<usize>()
                >= 200
            && vms[3..]
                .iter()
                .map(|v| v.export("e2e_seq").len())
                .sum::<usize>()
                >= 200
    });
    assert!(
        arrived,
        "agents did not deliver\n{}\n{}",
        gw.log_tail(),
        prom.log_tail()
    );
    let prom_failed = prom.metric("prometheus_remote_storage_samples_failed_total");
    let prom_sent = prom.metric("prometheus_remote_storage_samples_total");
    let vm_metrics = vma.metrics();
    prom.stop();
    vma.stop();
    // Nothing is still being written while the receivers are read.
    let failed = gw.endpoints_with_failed_writes();

    assert_eq!(prom_failed, 0.0, "Prometheus saw failed samples");
    assert!(prom_sent > 0.0);
    assert_eq!(
        metric_sum(&vm_metrics, "vmagent_remotewrite_packets_dropped_total"),
        0.0
    );
    assert!(
        metric_sum(&vm_metrics, "vmagent_remotewrite_requests_total") > 0.0,
        "vmagent sent"
    );
    assert!(gw.requests_with_code("200") > 0.0);
    // The agents send the same series every scrape: after the first, tenant-a's
    // relabeling comes from the cache, and the placement checks below cover it.
    let hits: f64 = gw
        .metrics()
        .lines()
        .filter(|l| l.starts_with(r#"rwgate_relabel_cache_lookups_total{result="hit"}"#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(hits > 0.0, "no relabel cache hit");
    for code in ["400", "401", "403", "409", "429", "503"] {
        assert_eq!(gw.requests_with_code(code), 0.0, "rwgate answered {code}");
    }

    // Every series on every receiver, keyed by its label set.
    let mut holders: HashMap<LabelSet, (e2e::Series, BTreeSet<usize>)> = HashMap::new();
    for (i, vm) in vms.iter().enumerate() {
        for s in vm.export("{__name__!=\"\"}") {
            let key: Vec<(String, String)> = s.labels.clone().into_iter().collect();
            holders
                .entry(key)
                .or_insert_with(|| (s.clone(), BTreeSet::new()))
                .1
                .insert(i);
        }
    }
    let (mut a, mut b) = (0, 0);
    for (s, on) in holders.values() {
        let tenant = if s.labels.get("tenant").map(String::as_str) == Some("tenant-a") {
            a += 1;
            assert_eq!(
                s.labels.get("cluster").map(String::as_str),
                Some("cluster-02"),
                "{s:?}"
            );
            assert_eq!(
                s.labels.get("relabeled").map(String::as_str),
                Some("yes"),
                "{s:?}"
            );
            assert_eq!(s.labels.get("scrape_job"), s.labels.get("job"), "{s:?}");
            "tenant-a"
        } else {
            b += 1;
            assert_eq!(
                s.labels.get("cluster").map(String::as_str),
                Some("cluster-04"),
                "{s:?}"
            );
            assert!(
                !s.labels.contains_key("relabeled"),
                "tenant-a's rules only: {s:?}"
            );
            "tenant-b"
        };
        let algorithm = rwgate_ring::Algorithm::Hashmod;
        let want = lookup_indexes(&rings, tenant, &s.label_pairs(), 2, algorithm, &urls);
        assert_eq!(
            on,
            &want,
            "{tenant} series {} is on {on:?}, ring lookup says {want:?}",
            s.selector()
        );
        if tenant == "tenant-a" {
            assert!(on.iter().all(|&i| i < 3), "tenant-a only on its hashring");
        } else {
            assert!(
                on.iter().all(|&i| i >= 3),
                "tenant-b only on the default hashring"
            );
        }
    }
    // The 100 target series of each tenant, plus the agent's own series for tenant-a.
    assert!(a > 100, "tenant-a series: {a}");
    assert!(b >= 100, "tenant-b series: {b}");
    // Replicas are identical unless rwgate counted a failed replica write (RF 2 has a
    // write quorum of 1, so a request may succeed with one replica written): a replica
    // that lacks samples another one holds must be on an endpoint with such a failure.
    let mut differing = 0;
    for (s, on) in holders
        .values()
        .filter(|(s, _)| s.labels["__name__"] == "e2e_seq")
    {
        let key = s.selector();
        let samples: Vec<(usize, BTreeSet<(i64, String)>)> = on
            .iter()
            .map(|&i| {
                let got = vms[i]
                    .export(&key)
                    .into_iter()
                    .next()
                    .map(|x| x.samples)
                    .unwrap_or_default();
                (
                    i,
                    got.into_iter().map(|(t, v)| (t, v.to_string())).collect(),
                )
            })
            .collect();
        let all: BTreeSet<(i64, String)> = samples.iter().flat_map(|(_, s)| s.clone()).collect();
        let stamps: BTreeSet<i64> = all.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            stamps.len(),
            all.len(),
            "replicas of {key} disagree on a value"
        );
        for (i, got) in &samples {
            if got != &all {
                differing += 1;
                assert!(
                    failed.contains(&urls[*i]),
                    "replica of {key} on {} lacks {} samples, and rwgate counted no failed write there (failed: {failed:?})",
                    urls[*i],
                    all.len().saturating_sub(got.len())
                );
            }
        }
    }
    println!("replicas differing: {differing}; endpoints with failed writes: {failed:?}");
}
