//! A scrape target whose series count every scrape: `e2e_seq{series="k"} N` where N is
//! the number of scrapes served so far. A receiver that holds every N from 1 to the
//! last for a series lost nothing of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The running target.
pub struct SeqTarget {
    pub port: u16,
    served: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SeqTarget {
    /// Starts serving `series` series on its own thread.
    pub fn start(series: usize) -> SeqTarget {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let counter = served.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                        async move {
                            let mut out = String::from("# TYPE e2e_seq gauge\n");
                            for k in 0..series {
                                out.push_str(&format!("e2e_seq{{series=\"{k}\"}} {n}\n"));
                            }
                            out
                        }
                    }),
                );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        SeqTarget {
            port,
            served,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Scrapes served so far (the last value any series has had).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for SeqTarget {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
