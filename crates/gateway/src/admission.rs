//! What a request may hold while it is handled: its body, read under a byte budget
//! charged as the bytes arrive and a minimum transfer rate; a request slot, taken only
//! once the body is in; and each tenant's fair share of the slots.
//!
//! A sender that trickles its body therefore holds no slot and only the bytes it has
//! sent, and is cut off after `limits.body_rate_grace` + received / `limits.body_min_rate`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Smallest buffer a body is read into; it doubles as bytes arrive, up to the announced
/// length, so a sender is charged for what it sent, not for what it announced.
const FIRST_BUFFER: usize = 64 << 10;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit.
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The byte budget (`overload.max_inflight_bytes`) is spent.
    #[error("overloaded: in-flight bytes at the limit")]
    Overloaded,
    /// Arrived slower than the minimum rate.
    #[error(
        "the request body arrived slower than {min_rate} bytes/s ({received} bytes in {elapsed:?})"
    )]
    TooSlow {
        /// `limits.body_min_rate`.
        min_rate: u64,
        /// Bytes received.
        received: usize,
        /// Time taken so far.
        elapsed: Duration,
    },
    /// Not complete within `limits.body_read_timeout`.
    #[error("the request body did not arrive within {0:?}")]
    Timeout(Duration),
    /// The transport failed.
    #[error("reading the request body: {0}")]
    Read(String),
}

/// The time rules a body is read under.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Whole-body limit.
    pub total: Duration,
    /// Time before the minimum rate applies.
    pub grace: Duration,
    /// Bytes per second (0: no minimum).
    pub min_rate: u64,
}

impl BodyPace {
    /// By when the body must have gone past `received` bytes, and whether that
    /// deadline is the whole-body limit.
    fn deadline(&self, start: Instant, received: usize) -> (Instant, bool) {
        let hard = start + self.total;
        if self.min_rate == 0 {
            return (hard, true);
        }
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        let by_rate = start + self.grace + earned;
        if by_rate < hard {
            (by_rate, false)
        } else {
            (hard, true)
        }
    }
}

/// Reads a body of at most `max` bytes (`announced` when the client sent a
/// `Content-Length`), charging `budget` for each buffer growth before it happens.
pub async fn read_body<'a>(
    body: &mut Body,
    max: usize,
    announced: Option<usize>,
    pace: BodyPace,
    budget: &'a Semaphore,
) -> Result<(Vec<u8>, Option<SemaphorePermit<'a>>), BodyError> {
    let start = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut charged: Option<SemaphorePermit<'a>> = None;
    loop {
        let (deadline, hard) = pace.deadline(start, buf.len());
        let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Err(_) if hard => return Err(BodyError::Timeout(pace.total)),
            Err(_) => {
                return Err(BodyError::TooSlow {
                    min_rate: pace.min_rate,
                    received: buf.len(),
                    elapsed: start.elapsed(),
                });
            }
            Ok(None) => return Ok((buf, charged)),
            Ok(Some(Err(e))) => return Err(BodyError::Read(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing we use
        };
        let need = buf.len() + data.len();
        if need > max {
            return Err(BodyError::TooLarge { limit: max });
        }
        if need > buf.capacity() {
            let ceiling = announced.filter(|&a| a >= need).unwrap_or(max);
            let target = need.max(buf.capacity() * 2).max(FIRST_BUFFER).min(ceiling);
            let more = u32::try_from(target - buf.capacity()).map_err(|_| BodyError::Overloaded)?;
            let permit = budget
                .try_acquire_many(more)
                .map_err(|_| BodyError::Overloaded)?;
            match &mut charged {
                Some(p) => p.merge(permit),
                None => charged = Some(permit),
            }
            buf.reserve_exact(target - buf.len());
        }
        buf.extend_from_slice(&data);
    }
}

/// Reads and discards what is left of a refused request's body, up to `max` bytes and
/// under `pace`, so that a sender still writing reads the answer instead of a reset.
pub async fn drain(body: &mut Body, max: usize, pace: BodyPace) {
    let start = Instant::now();
    let mut seen = 0usize;
    loop {
        let (deadline, _) = pace.deadline(start, seen);
        match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, |d| d.len());
                if seen > max {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// Request slots per tenant: at most `max` each, so one tenant cannot hold every slot
/// of `overload.max_inflight_requests`. Entries exist only while a tenant has a request
/// in flight, so the map is bounded by the global cap.
#[derive(Debug)]
pub struct TenantSlots {
    max: usize,
    held: Mutex<HashMap<String, usize>>,
}

impl TenantSlots {
    /// At most `max` requests per tenant.
    pub fn new(max: usize) -> Self {
        TenantSlots {
            max,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for `tenant`, or `None` when it holds its share.
    pub fn try_acquire(&self, tenant: &str) -> Option<TenantSlot<'_>> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.get_mut(tenant) {
            Some(n) if *n >= self.max => return None,
            Some(n) => *n += 1,
            None => {
                held.insert(tenant.to_string(), 1);
            }
        }
        Some(TenantSlot {
            slots: self,
            tenant: tenant.to_string(),
        })
    }

    /// Requests `tenant` has in flight.
    pub fn held(&self, tenant: &str) -> usize {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(tenant).copied().unwrap_or(0)
    }
}

/// One tenant's request slot; released on drop.
#[derive(Debug)]
pub struct TenantSlot<'a> {
    slots: &'a TenantSlots,
    tenant: String,
}

impl Drop for TenantSlot<'_> {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_slots_cap_one_tenant_and_free_on_drop() {
        let slots = TenantSlots::new(2);
        let a1 = slots.try_acquire("a").expect("first slot");
        let _a2 = slots.try_acquire("a").expect("second slot");
        assert!(slots.try_acquire("a").is_none(), "third slot of a");
        let _b = slots.try_acquire("b").expect("b has its own share");
        drop(a1);
        assert_eq!(slots.held("a"), 1);
        assert!(slots.try_acquire("a").is_some());
    }

    #[test]
    fn tenant_slots_forget_idle_tenants() {
        let slots = TenantSlots::new(1);
        for i in 0..1000 {
            drop(slots.try_acquire(&format!("t{i}")));
        }
        assert!(slots.held.lock().unwrap().is_empty());
    }

    #[test]
    fn pace_allows_grace_plus_bytes_over_rate_capped_by_total() {
        let pace = BodyPace {
            total: Duration::from_secs(30),
            grace: Duration::from_secs(5),
            min_rate: 1000,
        };
        let t0 = Instant::now();
        assert_eq!(pace.deadline(t0, 0), (t0 + Duration::from_secs(5), false));
        assert_eq!(
            pace.deadline(t0, 2000),
            (t0 + Duration::from_secs(7), false)
        );
        assert_eq!(
            pace.deadline(t0, 1_000_000),
            (t0 + Duration::from_secs(30), true)
        );
        let no_rate = BodyPace {
            min_rate: 0,
            ..pace
        };
        assert_eq!(
            no_rate.deadline(t0, 0),
            (t0 + Duration::from_secs(30), true)
        );
    }

    #[tokio::test]
    async fn body_is_charged_as_it_grows_not_as_announced() {
        let budget = Semaphore::new(1 << 20);
        let pace = BodyPace {
            total: Duration::from_secs(5),
            grace: Duration::from_secs(5),
            min_rate: 0,
        };
        let mut body = Body::from(vec![7u8; 1000]);
        let (buf, permit) = read_body(&mut body, 1 << 20, Some(900 << 10), pace, &budget)
            .await
            .unwrap();
        assert_eq!(buf.len(), 1000);
        assert_eq!(permit.as_ref().map(|p| p.num_permits()), Some(FIRST_BUFFER));
        assert_eq!(budget.available_permits(), (1 << 20) - FIRST_BUFFER);
        drop(permit);
        assert_eq!(budget.available_permits(), 1 << 20);
    }

    #[tokio::test]
    async fn body_over_the_budget_is_refused() {
        let budget = Semaphore::new(1000);
        let pace = BodyPace {
            total: Duration::from_secs(5),
            grace: Duration::from_secs(5),
            min_rate: 0,
        };
        let mut body = Body::from(vec![7u8; 5000]);
        let err = read_body(&mut body, 1 << 20, None, pace, &budget)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::Overloaded), "{err}");
        assert_eq!(budget.available_permits(), 1000);
    }
}
