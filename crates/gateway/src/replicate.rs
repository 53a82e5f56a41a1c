//! Placing every series on its replicas, one request per receiver, and deciding per
//! series whether it reached its write quorum.

use std::time::Instant;

use rwgate_ring::{Hashring, ShardError, series_hash, write_quorum};
use rwgate_wire::{Counts, Encoder, WriteBatch};

use rwgate_ring::url::Target;

use crate::forward::{Forwarder, Outcome, grpc};

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
/// entries per series). Labels are hashed in wire order, as Thanos does. On a
/// shuffle-sharded ring the tenant's shard places them; it fails when the shard cannot
/// be built, as a router's write does.
pub fn place(
    tenant: &str,
    batch: &WriteBatch,
    series: &[u32],
    ring: &Hashring,
) -> Result<Vec<u32>, ShardError> {
    let rf = ring.replication_factor();
    let placement_of_tenant = ring.placement(tenant)?;
    let mut placement = Vec::with_capacity(series.len() * rf);
    let mut buf = Vec::with_capacity(512);
    let tenant_seed = rwgate_wire::seen::tenant_seed(tenant.as_bytes());
    for &i in series {
        let s = batch.series(i as usize);
        // Relabeling remembers the hash of the labels it wrote; label sets seen before
        // remember the hash last computed for them.
        let h = match (s.hash_memo(), s.seen()) {
            (Some(h), _) => h,
            (None, Some(seen)) if seen.tenant == tenant_seed => seen.hash,
            (None, seen) => {
                let h = series_hash(tenant.as_bytes(), s.labels(), &mut buf);
                if let Some(seen) = seen {
                    rwgate_wire::seen::set_hash(seen.key, tenant_seed, h);
                }
                h
            }
        };
        for n in 0..rf {
            placement.push(placement_of_tenant.replica(h, n) as u32);
        }
    }
    Ok(placement)
}

/// The series of one tenant in a batch.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    /// Their tenant.
    pub tenant: &'a str,
    /// Indices into the batch.
    pub series: &'a [u32],
    /// What they carry, summed.
    pub carried: Counts,
}

/// Sends each receiver its share of a group's series in parallel and tallies quorum
/// per series.
pub async fn replicate(
    forwarder: &Forwarder,
    batch: &WriteBatch,
    group: Group<'_>,
    ring: &Hashring,
    deadline: Instant,
) -> Replicated {
    let Group {
        tenant,
        series,
        carried,
    } = group;
    let rf = ring.replication_factor();
    let quorum = write_quorum(rf);
    let placement = match place(tenant, batch, series, ring) {
        Ok(p) => p,
        Err(e) => {
            return Replicated {
                unavailable_series: series.len() as u64,
                unavailable_detail: Some(format!("hashring {}: {e}", ring.name())),
                ..Replicated::default()
            };
        }
    };
    let endpoints = ring.endpoints();
    // Per endpoint and replica: positions in `series`. A gRPC endpoint gets one request
    // per replica number, as a Thanos router sends them (the number travels in the
    // request); an HTTP endpoint gets one request for all of its replicas.
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); endpoints.len() * rf];
    for (pos, replicas) in placement.chunks_exact(rf).enumerate() {
        for (n, &ep) in replicas.iter().enumerate() {
            let n = match endpoints[ep as usize].target {
                Target::Grpc(_) => n,
                Target::Http(_) => 0,
            };
            groups[ep as usize * rf + n].push(pos as u32);
        }
    }

    let mut tasks = Vec::new();
    let compression = forwarder.grpc_compression();
    ENCODER.with_borrow_mut(|encoder| {
        for (group, members) in groups.iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let (ep, n) = (group / rf, group % rf);
            let endpoint = &endpoints[ep];
            let members = series_of(series, members);
            let body = match &endpoint.target {
                Target::Http(_) => encoder.encode(batch, members).map_err(|e| e.to_string()),
                Target::Grpc(_) => {
                    let messages = forwarder.messages();
                    grpc::frame(encoder, messages, batch, members, tenant, n, compression)
                        .map_err(|e| format!("encoding the gRPC message: {e}"))
                }
            };
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    tasks.push((group, None, Some(Outcome::Unavailable(e))));
                    continue;
                }
            };

            let (fw, address, target, tenant) = (
                forwarder.clone(),
                endpoint.address.clone(),
                endpoint.target.clone(),
                tenant.to_string(),
            );
            let sent = groups[group].len() as u64;
            // Spawned, so the sends run in parallel on all cores and finish even if the
            // client goes away: a forward never stops half-way.
            let handle = tokio::spawn(async move {
                fw.send(&address, &target, &tenant, body, sent, deadline)
                    .await
            });
            tasks.push((group, Some(handle), None));
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
    for (group, handle, ready) in tasks {
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
        for &i in &groups[group] {
            tally[i as usize] += 1;
        }
    }
    // What was written is what the group carries less what missed quorum: nothing,
    // nearly always, so the series' counts are not read again.
    out.written = carried;
    for (i, &index) in series.iter().enumerate() {
        if usize::from(ok[i]) >= quorum {
            out.written_series += 1;
            continue;
        }
        out.written.remove(batch.series(index as usize).counts());
        if usize::from(refused[i]) >= quorum {
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
