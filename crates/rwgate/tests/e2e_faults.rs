//! Receiver and gateway faults under a real Prometheus agent: nothing the agent sent is
//! lost. The agent scrapes a target whose 30 series count scrapes (1, 2, 3, ...), so a
//! sample is lost exactly when a value is missing from a quorum of receivers.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::*;

const TOKEN: &str = "e2e-token-tenant-a-000000";
const SERIES: usize = 30;
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Setup {
    vms: Vec<Vm>,
    gw: Gateway,
    target: SeqTarget,
    prom: PromAgent,
    rings: std::path::PathBuf,
    tmp: TempDir,
}

fn setup(tag: &str, receivers: usize, rf: usize, algorithm: &str) -> Setup {
    let tmp = TempDir::new(tag);
    let vms: Vec<Vm> = (0..receivers)
        .map(|i| Vm::start(&tmp, &format!("vm{i}")))
        .collect();
    let rings = tmp.join("hashrings.json");
    let urls: Vec<String> = vms.iter().map(Vm::write_url).collect();
    procs::write_hashrings(&rings, &[("all", &[], algorithm, urls)]);
    let gw = Gateway::start(
        &tmp,
        &format!(
            "hashrings: {}\nreplication_factor: {rf}\ntenancy:\n  tokens:\n    {TOKEN}: tenant-a\n",
            rings.display()
        ),
    );
    let target = SeqTarget::start(SERIES);
    let prom = PromAgent::start(&tmp, &gw.url(), TOKEN, &[target.addr()]);
    Setup {
        vms,
        gw,
        target,
        prom,
        rings,
        tmp,
    }
}

/// For each target series, value → receivers holding it.
fn holdings(vms: &[Vm]) -> BTreeMap<String, BTreeMap<u64, usize>> {
    let mut out: BTreeMap<String, BTreeMap<u64, usize>> = BTreeMap::new();
    for vm in vms {
        for s in vm.export("e2e_seq") {
            let entry = out.entry(s.labels["series"].clone()).or_default();
            let values: std::collections::BTreeSet<u64> =
                s.samples.values().map(|v| *v as u64).collect();
            for v in values {
                *entry.entry(v).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Every value from 1 to the highest delivered is on at least `quorum` receivers, for
/// every series; the highest is within a few scrapes of what the target served.
///
/// victoria-metrics answers a write before the samples are searchable (it flushes its
/// in-memory part about once a second), so the newest values can show on one replica
/// before the other although both answered before rwgate did: this waits (up to 15s)
/// for that lag, and fails with what is still missing.
fn assert_nothing_lost(vms: &[Vm], quorum: usize, served: u64) {
    let mut missing = String::new();
    let settled = wait_until(Duration::from_secs(15), || {
        match lost(vms, quorum, served) {
            None => true,
            Some(m) => {
                missing = m;
                false
            }
        }
    });
    assert!(settled, "{missing}");
}

/// What [`assert_nothing_lost`] finds missing, if anything.
fn lost(vms: &[Vm], quorum: usize, served: u64) -> Option<String> {
    let h = holdings(vms);
    if h.len() != SERIES {
        return Some(format!("{} of {SERIES} series arrived", h.len()));
    }
    for (series, values) in &h {
        let max = values.keys().max().copied().unwrap_or(0);
        if max + 3 < served {
            return Some(format!(
                "series {series}: delivered up to {max}, target served {served}"
            ));
        }
        for v in 1..=max {
            let n = values.get(&v).copied().unwrap_or(0);
            if n < quorum {
                return Some(format!(
                    "series {series}: value {v} is on {n} receivers, quorum is {quorum}"
                ));
            }
        }
    }
    None
}

fn wait_served(s: &Setup, n: u64) {
    assert!(
        wait_until(Duration::from_secs(60), || s.target.served() >= n),
        "target not scraped"
    );
}

/// Waits until every series' latest value is on a quorum of receivers.
fn wait_caught_up(s: &Setup, quorum: usize) {
    let ok = wait_until(Duration::from_secs(90), || {
        let served = s.target.served();
        let h = holdings(&s.vms);
        h.len() == SERIES
            && h.values().all(|vals| {
                vals.iter()
                    .filter(|(_, n)| **n >= quorum)
                    .map(|(v, _)| *v)
                    .max()
                    .unwrap_or(0)
                    + 2
                    >= served
            })
    });
    assert!(
        ok,
        "receivers did not catch up\n{}\n{}",
        s.gw.log_tail(),
        s.prom.log_tail()
    );
}

#[test]
fn rf3_one_receiver_killed_mid_run_agents_see_no_errors() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("kill1", 3, 3, "hashmod");
    wait_served(&s, 4);
    s.vms[1].kill();
    let killed_at = s.target.served();
    wait_served(&s, killed_at + 6);
    wait_caught_up(&s, 2);
    let failed = s
        .prom
        .metric("prometheus_remote_storage_samples_failed_total");
    let retried = s
        .prom
        .metric("prometheus_remote_storage_samples_retried_total");
    s.prom.stop();
    let served = s.target.served();
    assert_eq!(failed, 0.0);
    assert_eq!(
        retried, 0.0,
        "rwgate answered 200 on quorum: the agent never had to retry"
    );
    assert_eq!(s.gw.requests_with_code("503"), 0.0);
    // The killed receiver (index 1) lost its unflushed rows; the other two must hold
    // everything.
    let survivors = [s.vms.remove(0), s.vms.remove(1)];
    assert_nothing_lost(&survivors, 2, served);
}

#[test]
fn two_receivers_killed_rwgate_answers_503_agent_retries_nothing_lost() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("kill2", 3, 3, "hashmod");
    wait_served(&s, 4);
    // Stopped cleanly: their data must count towards the quorum once they return.
    s.vms[0].stop();
    s.vms[1].stop();
    let down_at = s.target.served();
    assert!(
        wait_until(Duration::from_secs(30), || s.gw.requests_with_code("503")
            > 0.0),
        "rwgate did not answer 503 without a quorum"
    );
    wait_served(&s, down_at + 5);
    let retried = s
        .prom
        .metric("prometheus_remote_storage_samples_retried_total");
    assert!(retried > 0.0, "the agent retried");
    s.vms[0].restart();
    s.vms[1].restart();
    wait_caught_up(&s, 2);
    let failed = s
        .prom
        .metric("prometheus_remote_storage_samples_failed_total");
    s.prom.stop();
    assert_eq!(failed, 0.0, "503s are retried, never dropped");
    let served = s.target.served();
    assert_nothing_lost(&s.vms, 2, served);
}

#[test]
fn fourth_receiver_added_while_writing_no_failed_requests() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("grow", 3, 2, "ketama");
    wait_served(&s, 4);
    s.vms.push(Vm::start(&s.tmp, "vm3"));
    let urls: Vec<String> = s.vms.iter().map(Vm::write_url).collect();
    procs::write_hashrings(&s.rings, &[("all", &[], "ketama", urls)]);
    let changed_at = s.target.served();
    // The new receiver gets its share once the file is reloaded.
    assert!(
        wait_until(Duration::from_secs(30), || !s.vms[3]
            .export("e2e_seq")
            .is_empty()),
        "the fourth receiver got nothing\n{}",
        s.gw.log_tail()
    );
    wait_served(&s, changed_at + 5);
    wait_caught_up(&s, 1);
    let failed = s
        .prom
        .metric("prometheus_remote_storage_samples_failed_total");
    let retried = s
        .prom
        .metric("prometheus_remote_storage_samples_retried_total");
    s.prom.stop();
    assert_eq!(failed + retried, 0.0, "no failed or retried sample");
    let metrics = s.gw.metrics();
    let non_200: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("rwgate_requests_total{") && !l.contains("code=\"200\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(non_200, 0.0, "every request answered 200");
    let served = s.target.served();
    assert_nothing_lost(&s.vms, 2, served);
}

#[test]
fn sigterm_to_rwgate_while_writing_then_restart_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("restart", 3, 3, "hashmod");
    wait_served(&s, 4);
    assert_eq!(s.gw.sigterm(), Some(0), "clean exit on SIGTERM");
    let down_at = s.target.served();
    wait_served(&s, down_at + 3);
    s.gw.restart();
    wait_caught_up(&s, 2);
    let failed = s
        .prom
        .metric("prometheus_remote_storage_samples_failed_total");
    s.prom.stop();
    assert_eq!(failed, 0.0);
    let served = s.target.served();
    assert_nothing_lost(&s.vms, 2, served);
}
