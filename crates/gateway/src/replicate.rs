//! Placing every series on its replicas, one request per receiver, and deciding per
//! series whether it reached its write quorum.

use std::time::Instant;

use rwgate_ring::{Hashring, series_hash, write_quorum};
use rwgate_wire::{Counts, Encoder, WriteBatch};

use crate::forward::{Forwarder, Outcome};

thread_local! {
    /// One encoder per runtime thread: its buffers are reused by every request the
    /// thread encodes (no fresh allocation, page faults or zeroing per request).
    static ENCODER: std::cell::RefCell<Encoder> = std::cell::RefCell::new(Encoder::new());
}

/// Encoder buffers larger than this are dropped after use instead of kept.
const ENCODER_KEEP_BYTES: usize = 16 << 20;

/// What happened to a batch's series.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replicated {
    /// What reached a write quorum.
    pub written: Counts,
    /// Series written on a quorum.
    pub written_series: u64,
    /// Series refused for good by a quorum of receivers (409 and other final 4xx).
    pub conflict_series: u64,
    /// Series that missed quorum for reasons that may pass (retry).
    pub unavailable_series: u64,
    /// The first conflict a receiver reported.
    pub conflict_detail: Option<String>,
    /// The first failure that made a series miss quorum.
    pub unavailable_detail: Option<String>,
}

/// The endpoint index of every replica of the given series, in their order (`rf`
/// entries per series). Labels are hashed in wire order, as Thanos does.
pub fn place(tenant: &str, batch: &WriteBatch, series: &[u32], ring: &Hashring) -> Vec<u32> {
    let rf = ring.replication_factor();
    let mut placement = Vec::with_capacity(series.len() * rf);
    let mut buf = Vec::with_capacity(512);
    for &i in series {
        let s = batch.series(i as usize);
        // Relabeling remembers the hash of the labels it wrote.
        let h = s
            .hash_memo()
            .unwrap_or_else(|| series_hash(tenant.as_bytes(), s.labels(), &mut buf));
        for n in 0..rf {
            placement.push(ring.replica(h, n) as u32);
        }
    }
    placement
}

/// Sends each receiver its share of `series` (indices into `batch`, all of `tenant`)
/// in parallel and tallies quorum per series.
pub async fn replicate(
    forwarder: &Forwarder,
    tenant: &str,
    batch: &WriteBatch,
    series: &[u32],
    ring: &Hashring,
    deadline: Instant,
) -> Replicated {
    let rf = ring.replication_factor();
    let quorum = write_quorum(rf);
    let placement = place(tenant, batch, series, ring);
    let endpoints = ring.endpoints();
    // Per endpoint: positions in `series`.
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); endpoints.len()];
    for (pos, replicas) in placement.chunks_exact(rf).enumerate() {
        for &ep in replicas {
            groups[ep as usize].push(pos as u32);
        }
    }

    let mut tasks = Vec::new();
    ENCODER.with_borrow_mut(|encoder| {
        for (ep, members) in groups.iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let endpoint = &endpoints[ep];
            let body = match encoder.encode(batch, series_of(series, members)) {
                Ok(b) => b,
                Err(e) => {
                    tasks.push((ep, None, Some(Outcome::Unavailable(e.to_string()))));
                    continue;
                }
            };

            let (fw, address, url, tenant) = (
                forwarder.clone(),
                endpoint.address.clone(),
                endpoint.url.clone(),
                tenant.to_string(),
            );
            let sent = members.len() as u64;
            // Spawned, so the sends run in parallel on all cores and finish even if the
            // client goes away: a forward never stops half-way.
            let handle = tokio::spawn(async move {
                fw.send(&address, &url, &tenant, body, sent, deadline).await
            });
            tasks.push((ep, Some(handle), None));
        }
        // Keep the buffers for the next request on this thread, unless an unusually large
        // request grew them.
        if encoder.capacity() > ENCODER_KEEP_BYTES {
            *encoder = Encoder::new();
        }
    });

    let mut ok = vec![0u8; series.len()];
    let mut refused = vec![0u8; series.len()];
    let mut out = Replicated::default();
    for (ep, handle, ready) in tasks {
        let outcome = match (handle, ready) {
            (Some(h), _) => h
                .await
                .unwrap_or_else(|e| Outcome::Unavailable(format!("forward task failed: {e}"))),
            (None, Some(o)) => o,
            (None, None) => continue,
        };
        let tally = match &outcome {
            Outcome::Written => &mut ok,
            Outcome::Conflict(d) | Outcome::Rejected(_, d) => {
                out.conflict_detail.get_or_insert_with(|| d.clone());
                &mut refused
            }
            Outcome::Unavailable(d) => {
                out.unavailable_detail.get_or_insert_with(|| d.clone());
                continue;
            }
        };
        for &i in &groups[ep] {
            tally[i as usize] += 1;
        }
    }
    for (i, &index) in series.iter().enumerate() {
        if usize::from(ok[i]) >= quorum {
            out.written.add(batch.series(index as usize).counts());
            out.written_series += 1;
        } else if usize::from(refused[i]) >= quorum {
            out.conflict_series += 1;
        } else {
            out.unavailable_series += 1;
        }
    }
    out
}

/// Batch indices of the series at `positions` of `series`.
fn series_of<'a>(
    series: &'a [u32],
    positions: &'a [u32],
) -> impl Iterator<Item = usize> + Clone + 'a {
    positions.iter().map(move |&p| series[p as usize] as usize)
}

impl Replicated {
    /// Adds another tenant group's outcome.
    pub fn merge(&mut self, other: Replicated) {
        self.written.add(other.written);
        self.written_series += other.written_series;
        self.conflict_series += other.conflict_series;
        self.unavailable_series += other.unavailable_series;
        if self.conflict_detail.is_none() {
            self.conflict_detail = other.conflict_detail;
        }
        if self.unavailable_detail.is_none() {
            self.unavailable_detail = other.unavailable_detail;
        }
    }
}
