//! Hot reload: the current rings behind an atomic pointer, a file watcher that swaps in
//! a new set when the file changes, and the reload metrics.
//!
//! A file that fails to read, parse or build keeps the old rings; the failure is logged
//! and counted and the process keeps serving (a Thanos router exits on a ring it cannot
//! build). Readers hold an `Arc` of one complete set for as long as they need it, so an
//! in-flight request never sees a half-built ring.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use notify::Watcher;

use crate::config::ConfigError;
use crate::hashrings::{BuildOptions, Hashrings};
use crate::metrics as m;

/// The rings in force; `None` until a file has loaded.
#[derive(Debug, Default)]
pub struct RingHandle {
    current: ArcSwapOption<Hashrings>,
    /// The failure last logged, so that a bad file is logged and counted once per
    /// change rather than on every tick.
    last_failure: std::sync::Mutex<Option<String>>,
    failures_logged: std::sync::atomic::AtomicU64,
}

impl RingHandle {
    /// An empty handle (not ready).
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle holding `rings`.
    pub fn with(rings: Hashrings) -> Self {
        let h = Self::new();
        h.store(rings);
        h
    }

    /// The rings in force, if any.
    pub fn load(&self) -> Option<Arc<Hashrings>> {
        self.current.load_full()
    }

    /// Replaces the rings atomically.
    pub fn store(&self, rings: Hashrings) {
        self.current.store(Some(Arc::new(rings)));
    }

    /// True once rings are loaded.
    pub fn is_loaded(&self) -> bool {
        self.current.load().is_some()
    }

    /// Records `failure`; true unless it is the failure already recorded.
    fn is_new_failure(&self, failure: String) -> bool {
        let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() == Some(failure.as_str()) {
            return false;
        }
        *last = Some(failure);
        self.failures_logged
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// Reload failures logged (and counted in
    /// `rwgate_hashring_config_reload_errors_total`): one per bad version of the file.
    pub fn failures_logged(&self) -> u64 {
        self.failures_logged
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn forget_failure(&self) {
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Why a reload did not take.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The file's hash equals the loaded one; nothing was rebuilt.
    Unchanged,
    /// New rings are in force.
    Reloaded,
}

/// Reads and builds a hashrings file.
pub fn load_file(path: &Path, opts: &BuildOptions) -> Result<Hashrings, ReloadError> {
    let json = std::fs::read(path).map_err(|source| ReloadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Hashrings::from_json(&json, opts)?)
}

/// Re-reads `path` into `handle` unless unchanged, recording the reload metrics.
pub fn reload(
    path: &Path,
    opts: &BuildOptions,
    handle: &RingHandle,
) -> Result<ReloadOutcome, ReloadError> {
    let result = std::fs::read(path)
        .map_err(|source| ReloadError::Io {
            path: path.to_path_buf(),
            source,
        })
        .and_then(|json| {
            let hash = crate::hash::xxhash64(&json);
            if handle.load().is_some_and(|r| r.config_hash() == hash) {
                return Ok(None);
            }
            Ok(Some(Hashrings::from_json(&json, opts)?))
        });
    match result {
        Ok(None) => {
            handle.forget_failure();
            Ok(ReloadOutcome::Unchanged)
        }
        Ok(Some(rings)) => {
            handle.forget_failure();
            record_success(&rings);
            for w in rings.warnings() {
                tracing::warn!(path = %path.display(), warning = %w, "hashrings configuration");
            }
            handle.store(rings);
            tracing::info!(path = %path.display(), "hashrings loaded");
            Ok(ReloadOutcome::Reloaded)
        }
        Err(e) => {
            metrics::gauge!(m::CONFIG_LAST_RELOAD_SUCCESSFUL).set(0.0);
            if handle.is_new_failure(e.to_string()) {
                metrics::counter!(m::CONFIG_RELOAD_ERRORS).increment(1);
                tracing::error!(path = %path.display(), error = %e, kept_previous = handle.is_loaded(), "hashrings reload failed");
            }
            Err(e)
        }
    }
}

fn record_success(rings: &Hashrings) {
    metrics::gauge!(m::CONFIG_HASH).set(rings.config_hash() as f64);
    metrics::gauge!(m::CONFIG_LAST_RELOAD_SUCCESSFUL).set(1.0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    metrics::gauge!(m::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP).set(now.as_secs_f64());
    for ring in rings.hashrings() {
        let name = ring.name().to_string();
        metrics::gauge!(m::NODES, "hashring" => name.clone()).set(ring.endpoints().len() as f64);
        metrics::gauge!(m::TENANTS, "hashring" => name).set(ring.tenants().len() as f64);
    }
}

enum Msg {
    Changed,
    Stop,
}

/// Keeps the watcher thread alive; dropping it stops the thread.
pub struct WatchGuard {
    _watcher: Option<notify::RecommendedWatcher>,
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchGuard")
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// Watches `path` (its directory, so Kubernetes' symlink swaps are seen) and reloads on
/// every change and every `interval`. Bursts of events are debounced by `debounce`.
pub fn watch(
    path: PathBuf,
    opts: BuildOptions,
    handle: Arc<RingHandle>,
    interval: Duration,
    debounce: Duration,
) -> WatchGuard {
    let dirs = vec![path.clone()];
    watch_paths(dirs, interval, debounce, move || {
        let _ = reload(&path, &opts, &handle);
    })
}

/// Whether `event` may have changed the content of a file named in `names`: a create,
/// write, close after writing, rename or delete of that file, or of Kubernetes'
/// `..data` link, which a ConfigMap or Secret update swaps in one rename. Opens, reads,
/// closes without writing and metadata changes are not (reading the file on reload
/// would otherwise trigger the next reload), nor is any event of another file.
pub fn is_change_of(event: &notify::Event, names: &[std::ffi::OsString]) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    let kind = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    );
    kind && event.paths.iter().any(|p| {
        p.file_name()
            .is_some_and(|n| n == "..data" || names.iter().any(|w| w == n))
    })
}

/// Calls `on_change` (on a thread of its own) whenever one of `paths` changes (see
/// [`is_change_of`]), debounced, and at least every `interval`. Used for the
/// hashrings file and for the gateway's config and tokens files.
pub fn watch_paths(
    paths: Vec<PathBuf>,
    interval: Duration,
    debounce: Duration,
    mut on_change: impl FnMut() + Send + 'static,
) -> WatchGuard {
    let (tx, rx) = mpsc::channel::<Msg>();
    let events = tx.clone();
    let names: Vec<std::ffi::OsString> = paths
        .iter()
        .filter_map(|p| p.file_name().map(ToOwned::to_owned))
        .collect();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res
            && is_change_of(&event, &names)
        {
            let _ = events.send(Msg::Changed);
        }
    })
    .and_then(|mut w| {
        let mut dirs: Vec<&Path> = paths
            .iter()
            .map(|p| {
                p.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            w.watch(dir, notify::RecursiveMode::NonRecursive)?;
        }
        Ok(w)
    });
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "file watch unavailable; reloading on the interval only");
            None
        }
    };
    let spawned = std::thread::Builder::new()
        .name("rwgate-reload".into())
        .spawn(move || {
            loop {
                match rx.recv_timeout(interval) {
                    Ok(Msg::Changed) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
                std::thread::sleep(debounce);
                for msg in rx.try_iter() {
                    if matches!(msg, Msg::Stop) {
                        return;
                    }
                }
                on_change();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the reload thread");
    }
    WatchGuard {
        _watcher: watcher,
        tx,
    }
}
