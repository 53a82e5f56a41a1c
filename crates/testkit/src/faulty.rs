//! A gRPC endpoint that misbehaves on purpose, below what a real gRPC server lets one
//! do: it resets streams, sends GOAWAY in the middle of a call, answers with bytes that
//! are not HTTP/2, answers with a message over rwgate's size limit, or never answers.
//! Built on the `h2` crate directly, so every frame is under the test's control.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Reads the call, then resets its stream (RST_STREAM, INTERNAL_ERROR).
    RstStream,
    /// Reads the call, then sends GOAWAY (INTERNAL_ERROR) and closes the connection.
    GoAway,
    /// Answers the connection preface with bytes that are no HTTP/2 frame.
    Garbage,
    /// Answers 200 with a 1 MiB message, then `grpc-status: 0`.
    Oversize,
    /// Reads the call and never answers it.
    Silent,
}

/// A running misbehaving endpoint; dropping it stops it.
#[derive(Debug)]
pub struct FaultyReceiver {
    addr: SocketAddr,
    calls: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyReceiver {
    /// Starts on a loopback port.
    pub async fn start(fault: Fault) -> std::io::Result<FaultyReceiver> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                conns.spawn(serve(stream, fault, counted.clone()));
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(FaultyReceiver { addr, calls, task })
    }

    /// `host:port`, as a hashrings.json names a gRPC endpoint.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Calls (or, for [`Fault::Garbage`], connections) it received.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Drop for FaultyReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: tokio::net::TcpStream, fault: Fault, calls: Arc<AtomicU64>) {
    if fault == Fault::Garbage {
        let mut preface = [0u8; 64];
        let _ = stream.read(&mut preface).await;
        calls.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"\x00\x00\x10\x2a\xffthis is not HTTP/2 at all\r\n\r\n")
            .await;
        let _ = stream.flush().await;
        // Hold the socket a moment so the client reads the garbage, not a reset.
        let _ = stream.read(&mut preface).await;
        return;
    }
    let Ok(mut conn) = h2::server::handshake(stream).await else {
        return;
    };
    let mut held = Vec::new();
    while let Some(Ok((req, mut respond))) = conn.accept().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let mut body = req.into_body();
        match fault {
            Fault::RstStream => {
                respond.send_reset(h2::Reason::INTERNAL_ERROR);
            }
            Fault::GoAway => {
                conn.abrupt_shutdown(h2::Reason::INTERNAL_ERROR);
                held.push((respond, body));
            }
            Fault::Oversize => {
                tokio::spawn(async move {
                    while let Some(Ok(chunk)) = body.data().await {
                        let _ = body.flow_control().release_capacity(chunk.len());
                    }
                    let head = http::Response::builder()
                        .status(200)
                        .header("content-type", "application/grpc")
                        .body(())
                        .unwrap_or_default();
                    let Ok(mut send) = respond.send_response(head, false) else {
                        return;
                    };
                    let mut message = vec![0u8; 5 + (1 << 20)];
                    message[1..5].copy_from_slice(&(1u32 << 20).to_be_bytes());
                    let _ = send.send_data(Bytes::from(message), false);
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                    let _ = send.send_trailers(trailers);
                });
            }
            Fault::Silent => held.push((respond, body)),
            Fault::Garbage => {}
        }
    }
    // Keep unanswered calls open until the client gives up on the connection.
    drop(held);
}
