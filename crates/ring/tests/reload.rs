//! Reload: broken files keep the old rings, good files are picked up (also by the
//! watcher), and readers never see a half-built set.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// Loads `path` and watches it (50ms debounce, no interval reload within a test).
fn load_and_watch(path: &std::path::Path) -> (Arc<RingHandle>, reload::WatchGuard) {
    let opts = BuildOptions::default();
    let handle = Arc::new(RingHandle::new());
    reload::reload(path, &opts, &handle).unwrap();
    let guard = reload::watch(
        path.to_path_buf(),
        opts,
        handle.clone(),
        Duration::from_secs(300),
        Duration::from_millis(50),
    );
    (handle, guard)
}

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
fn watcher_picks_up_a_rewritten_file() {
    let (_tmp, dir) = tempdir("watch");
    let path = dir.join("hashrings.json");
    std::fs::write(&path, THREE).unwrap();
    let (handle, _guard) = load_and_watch(&path);
    // Kubernetes-style: write a new file and rename it over the old one.
    let tmp = dir.join(".hashrings.json.new");
    std::fs::write(&tmp, FOUR).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoints_now(&handle) != 4 {
        assert!(
            Instant::now() < deadline,
            "watcher did not reload within 10s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counts `on_change` calls of a watcher on `path` whose callback reads the file, as
/// the real ones do (a read used to trigger the next reload).
fn counting_watch(path: &std::path::Path) -> (Arc<AtomicUsize>, reload::WatchGuard) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen, read) = (calls.clone(), path.to_path_buf());
    let guard = reload::watch_paths(
        vec![path.to_path_buf()],
        Duration::from_secs(300),
        Duration::from_millis(50),
        move || {
            let _ = std::fs::read(&read);
            seen.fetch_add(1, Ordering::SeqCst);
        },
    );
    (calls, guard)
}

fn wait_for_calls(calls: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "no reload within 10s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long the tests watch for reloads that should not happen: 5 debounce periods
/// of the old self-triggering loop.
const QUIET: Duration = Duration::from_millis(1000);

#[test]
fn watcher_ignores_other_files_and_its_own_reads() {
    let (_tmp, dir) = tempdir("quiet");
    let path = dir.join("rwgate.yaml");
    std::fs::write(&path, "a: 1\n").unwrap();
    let (calls, _guard) = counting_watch(&path);
    // An unrelated file: created, written, touched, read, removed.
    let other = dir.join("unrelated.log");
    std::fs::write(&other, "x").unwrap();
    let _ = std::fs::read(&other);
    std::fs::remove_file(&other).unwrap();
    // The watched file read (opened and closed without writing).
    let _ = std::fs::read(&path);
    std::thread::sleep(QUIET);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "reloads without a change");

    // One real change: exactly one reload, and the reload's own read does not loop.
    std::fs::write(&path, "a: 2\n").unwrap();
    wait_for_calls(&calls, 1);
    std::thread::sleep(QUIET);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the reload re-triggered itself"
    );
}

#[test]
fn watcher_follows_a_kubernetes_configmap_swap() {
    // The kubelet's layout: the file is a link through `..data` to a timestamped
    // directory, and an update renames a new `..data_tmp` link over `..data`.
    let (_tmp, dir) = tempdir("configmap");
    let v1 = dir.join("..2026_01_01_v1");
    let v2 = dir.join("..2026_01_02_v2");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v1.join("hashrings.json"), THREE).unwrap();
    std::fs::write(v2.join("hashrings.json"), FOUR).unwrap();
    std::os::unix::fs::symlink("..2026_01_01_v1", dir.join("..data")).unwrap();
    let path = dir.join("hashrings.json");
    std::os::unix::fs::symlink("..data/hashrings.json", &path).unwrap();
    let (handle, _guard) = load_and_watch(&path);
    assert_eq!(endpoints_now(&handle), 3);
    std::os::unix::fs::symlink("..2026_01_02_v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoints_now(&handle) != 4 {
        assert!(Instant::now() < deadline, "the ..data swap was not seen");
        std::thread::sleep(Duration::from_millis(20));
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
