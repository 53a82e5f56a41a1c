//! The file watcher: calls back when a watched file really changes (see
//! [`is_change_of`]), debounced, and on an interval. It reloads the hashrings file,
//! the config file and the tokens file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use notify::Watcher;
use rwgate_ring::BuildOptions;
use rwgate_ring::reload::{self, RingHandle};

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

/// Watches the hashrings file `path` (its directory, so Kubernetes' symlink swaps are
/// seen) and reloads the rings on every change and every `interval`. Bursts of events
/// are debounced by `debounce`.
pub fn watch_hashrings(
    path: PathBuf,
    opts: BuildOptions,
    handle: Arc<RingHandle>,
    interval: Duration,
    debounce: Duration,
) -> WatchGuard {
    let paths = vec![path.clone()];
    watch_paths(paths, interval, debounce, move || {
        let _ = reload::reload(&path, &opts, &handle);
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
