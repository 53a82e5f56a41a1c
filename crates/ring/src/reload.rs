//! Hot reload: the current rings behind an atomic pointer, [`reload`] that swaps in a
//! new set from the file, and the reload metrics. The gateway's file watcher calls
//! [`reload`] when the file changes.
//!
//! A file that fails to read, parse or build keeps the old rings; the failure is logged
//! and counted and the process keeps serving (a Thanos router exits on a ring it cannot
//! build). Readers hold an `Arc` of one complete set for as long as they need it, so an
//! in-flight request never sees a half-built ring.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

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
    /// The last reload that loaded a file or failed, for the status page.
    last_reload: std::sync::Mutex<Option<ReloadRecord>>,
}

/// When a watched file was last loaded or failed to load, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadRecord {
    /// When.
    pub at: SystemTime,
    /// `None` when it loaded.
    pub error: Option<String>,
}

impl ReloadRecord {
    /// A record of now.
    pub fn now(error: Option<String>) -> ReloadRecord {
        ReloadRecord {
            at: SystemTime::now(),
            error,
        }
    }
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

    /// The last reload that loaded the file or failed (unchanged files are not
    /// recorded).
    pub fn last_reload(&self) -> Option<ReloadRecord> {
        self.last_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, error: Option<String>) {
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(ReloadRecord::now(error));
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
            handle.record(None);
            tracing::info!(path = %path.display(), "hashrings loaded");
            Ok(ReloadOutcome::Reloaded)
        }
        Err(e) => {
            handle.record(Some(e.to_string()));
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
