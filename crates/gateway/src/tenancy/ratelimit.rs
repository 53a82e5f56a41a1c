//! Per-tenant ingestion rate limits: token buckets of samples.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most tenants with a bucket of their own; beyond it, new tenants share one bucket, so
/// a client inventing tenant names cannot grow memory.
const MAX_BUCKETS: usize = 10_000;
const SHARED: &str = "\u{0}overflow";

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// One tenant's demand: samples wanted at `(rate, burst)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Samples in this request.
    pub samples: u64,
    /// Samples per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: u64,
}

/// Token buckets per tenant.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter with no buckets yet (a new tenant starts with a full bucket).
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every demand's samples, all or nothing. On refusal returns the first
    /// limited tenant and how long until its bucket holds enough.
    pub fn take(&self, demands: &[Demand<'_>], now: Instant) -> Result<(), (String, Duration)> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for d in demands {
            let key = if buckets.contains_key(d.tenant) || buckets.len() < MAX_BUCKETS {
                d.tenant
            } else {
                SHARED
            };
            let b = buckets.entry(key.to_string()).or_insert(Bucket {
                tokens: d.burst as f64,
                last: now,
            });
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * d.rate).min(d.burst as f64);
            b.last = now;
            // A request larger than the burst passes only on a full bucket.
            let need = (d.samples as f64).min(d.burst as f64);
            if b.tokens < need {
                let wait = Duration::from_secs_f64((need - b.tokens) / d.rate);
                return Err((d.tenant.to_string(), wait));
            }
        }
        for d in demands {
            let key = if buckets.contains_key(d.tenant) {
                d.tenant
            } else {
                SHARED
            };
            if let Some(b) = buckets.get_mut(key) {
                b.tokens -= (d.samples as f64).min(d.burst as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(samples: u64) -> Demand<'static> {
        Demand {
            tenant: "t",
            samples,
            rate: 100.0,
            burst: 200,
        }
    }

    #[test]
    fn bucket_refills_at_the_rate() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        assert!(l.take(&[d(150)], t0).is_ok());
        let (tenant, wait) = l.take(&[d(100)], t0).unwrap_err();
        assert_eq!(tenant, "t");
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert!(l.take(&[d(100)], t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn all_or_nothing_across_tenants() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        let a = Demand {
            tenant: "a",
            ..d(100)
        };
        let b = Demand {
            tenant: "b",
            ..d(300)
        };
        assert!(l.take(std::slice::from_ref(&a), t0).is_ok());
        assert!(
            l.take(
                &[Demand {
                    tenant: "b",
                    ..d(200)
                }],
                t0
            )
            .is_ok()
        );
        // b is empty now; a must not be charged for the refused request.
        assert!(l.take(&[a.clone(), b], t0).is_err());
        assert!(l.take(&[a], t0).is_ok(), "a still has 100");
    }
}
