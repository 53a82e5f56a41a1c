//! The file watcher: a rewritten or Kubernetes-swapped hashrings file is reloaded, and
//! nothing but a real change of a watched file triggers a reload.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rwgate_gateway::watch::{self, WatchGuard};
use rwgate_ring::BuildOptions;
use rwgate_ring::reload::{self, RingHandle};

/// A directory removed when the guard drops; keep the guard alive for the test.
fn tempdir(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("rwgate-watch-{name}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    (tmp, dir)
}

const THREE: &str = r#"[{"endpoints": ["a:1", "b:1", "c:1"]}]"#;
const FOUR: &str = r#"[{"endpoints": ["a:1", "b:1", "c:1", "d:1"]}]"#;

/// Loads `path` and watches it (50ms debounce, no interval reload within a test).
fn load_and_watch(path: &std::path::Path) -> (Arc<RingHandle>, WatchGuard) {
    let opts = BuildOptions::default();
    let handle = Arc::new(RingHandle::new());
    reload::reload(path, &opts, &handle).unwrap();
    let guard = watch::watch_hashrings(
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
fn counting_watch(path: &std::path::Path) -> (Arc<AtomicUsize>, WatchGuard) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen, read) = (calls.clone(), path.to_path_buf());
    let guard = watch::watch_paths(
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
