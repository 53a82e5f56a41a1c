//! Reload: broken files keep the old rings, good files are picked up, and readers never
//! see a half-built set. The file watcher is the gateway's (`crates/rwgate/tests/watch.rs`).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rwgate_ring::reload::{self, RingHandle};
use rwgate_ring::{BuildOptions, ReloadError, ReloadOutcome, series_hash};

/// A directory removed when the guard drops; keep the guard alive for the test.
fn tempdir(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("rwgate-ring-{name}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    (tmp, dir)
}

const THREE: &str = r#"[{"endpoints": ["a:1", "b:1", "c:1"]}]"#;
const FOUR: &str = r#"[{"endpoints": ["a:1", "b:1", "c:1", "d:1"]}]"#;

fn endpoints_now(handle: &RingHandle) -> usize {
    handle.load().unwrap().hashrings()[0].endpoints().len()
}

#[test]
fn broken_file_keeps_old_ring_and_good_file_replaces_it() {
    let (_tmp, dir) = tempdir("keep");
    let path = dir.join("hashrings.json");
    let opts = BuildOptions::default();
    let handle = RingHandle::new();
    assert!(!handle.is_loaded());

    std::fs::write(&path, THREE).unwrap();
    assert_eq!(
        reload::reload(&path, &opts, &handle).unwrap(),
        ReloadOutcome::Reloaded
    );
    assert_eq!(endpoints_now(&handle), 3);
    assert_eq!(
        reload::reload(&path, &opts, &handle).unwrap(),
        ReloadOutcome::Unchanged
    );

    std::fs::write(&path, "[{\"endpoints\": [").unwrap();
    assert!(matches!(
        reload::reload(&path, &opts, &handle),
        Err(ReloadError::Config(_))
    ));
    assert_eq!(endpoints_now(&handle), 3, "old ring still serves");

    std::fs::write(&path, r#"[{"endpoints": []}]"#).unwrap();
    assert!(reload::reload(&path, &opts, &handle).is_err());
    assert_eq!(endpoints_now(&handle), 3);

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        reload::reload(&path, &opts, &handle),
        Err(ReloadError::Io { .. })
    ));
    assert_eq!(endpoints_now(&handle), 3);

    std::fs::write(&path, FOUR).unwrap();
    assert_eq!(
        reload::reload(&path, &opts, &handle).unwrap(),
        ReloadOutcome::Reloaded
    );
    assert_eq!(endpoints_now(&handle), 4);
}

#[test]
fn readers_see_whole_rings_while_reloads_swap_them() {
    let (_tmp, dir) = tempdir("swap");
    let path = dir.join("hashrings.json");
    let opts = BuildOptions {
        replication_factor: 3,
        ..BuildOptions::default()
    };
    std::fs::write(&path, THREE).unwrap();
    let handle = Arc::new(RingHandle::new());
    reload::reload(&path, &opts, &handle).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (handle, stop) = (handle.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut lookups = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // One Arc for the whole "request": it must stay self-consistent.
                    let rings = handle.load().unwrap();
                    let ring = &rings.hashrings()[0];
                    let n = ring.endpoints().len();
                    assert!(n == 3 || n == 4);
                    let id = lookups.to_string();
                    let h = series_hash(
                        b"t",
                        [(&b"id"[..], id.as_bytes()), (b"r", &[r as u8][..])],
                        &mut buf,
                    );
                    let picked: std::collections::HashSet<usize> =
                        (0..3).map(|k| ring.replica(h, k)).collect();
                    assert_eq!(picked.len(), 3, "three distinct replicas");
                    assert!(picked.iter().all(|&i| i < n));
                    lookups += 1;
                }
                lookups
            })
        })
        .collect();
    for i in 0..200 {
        std::fs::write(&path, if i % 2 == 0 { FOUR } else { THREE }).unwrap();
        reload::reload(&path, &opts, &handle).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader did not panic") > 0);
    }
}

#[test]
fn a_bad_file_is_counted_once_per_change_not_per_reload() {
    let (_tmp, dir) = tempdir("badonce");
    let path = dir.join("hashrings.json");
    let opts = BuildOptions::default();
    let handle = RingHandle::new();
    std::fs::write(&path, "not json").unwrap();
    let errors = |h: &RingHandle| h.failures_logged();
    for _ in 0..5 {
        assert!(reload::reload(&path, &opts, &handle).is_err());
    }
    assert_eq!(errors(&handle), 1, "the same bad file was logged again");
    std::fs::write(&path, "still not json").unwrap();
    assert!(reload::reload(&path, &opts, &handle).is_err());
    assert_eq!(errors(&handle), 2, "a new bad version is logged");
}
