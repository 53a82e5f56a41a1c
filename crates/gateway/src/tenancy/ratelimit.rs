//! Per-tenant ingestion rate limits: token buckets of samples.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often idle buckets are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: u64,
}

impl Bucket {
    /// Refills for the time since `last`.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst as f64);
        self.last = now;
    }

    /// Full by `now`: the same as no bucket (a new tenant starts full), so it can go.
    fn is_idle(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst as f64
    }
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

/// Token buckets per tenant. A bucket exists only while it is below full: once it has
/// refilled it is swept out (a tenant without a bucket starts full), so memory follows
/// the tenants writing near their limit, not every tenant name ever seen.
#[derive(Debug)]
pub struct RateLimiter {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    buckets: HashMap<String, Bucket>,
    swept: Option<Instant>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            inner: Mutex::new(Inner {
                buckets: HashMap::new(),
                swept: None,
            }),
        }
    }
}

impl RateLimiter {
    /// A limiter with no buckets yet (a new tenant starts with a full bucket).
    pub fn new() -> Self {
        Self::default()
    }

    /// Buckets held now (tenants below a full bucket).
    pub fn buckets(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }

    /// Takes every demand's samples, all or nothing. On refusal returns the first
    /// limited tenant and how long until its bucket holds enough.
    pub fn take(&self, demands: &[Demand<'_>], now: Instant) -> Result<(), (String, Duration)> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner
            .swept
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            inner.buckets.retain(|_, b| !b.is_idle(now));
            inner.swept = Some(now);
        }
        let buckets = &mut inner.buckets;
        for d in demands {
            let b = buckets.entry(d.tenant.to_string()).or_insert(Bucket {
                tokens: d.burst as f64,
                last: now,
                rate: d.rate,
                burst: d.burst,
            });
            // A reload may have changed the tenant's limit.
            b.rate = d.rate;
            b.burst = d.burst;
            b.refill(now);
            // A request larger than the burst passes only on a full bucket.
            let need = (d.samples as f64).min(d.burst as f64);
            if b.tokens < need {
                let wait = Duration::from_secs_f64((need - b.tokens) / d.rate);
                return Err((d.tenant.to_string(), wait));
            }
        }
        for d in demands {
            if let Some(b) = buckets.get_mut(d.tenant) {
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

    /// A stream of a million distinct tenant names, each writing once: buckets are
    /// swept once they have refilled, so the map stays at what refills within about a
    /// second, and every tenant gets its own bucket (no shared overflow bucket).
    #[test]
    fn a_million_tenants_keep_the_bucket_count_bounded() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        let mut peak = 0;
        for i in 0..1_000_000u64 {
            let tenant = format!("tenant-{i}");
            // 10,000 requests/s of 10 samples each at 100 samples/s: a bucket refills
            // in 0.1 s.
            let now = t0 + Duration::from_micros(i * 100);
            let demand = Demand {
                tenant: &tenant,
                samples: 10,
                rate: 100.0,
                burst: 200,
            };
            assert!(
                l.take(&[demand], now).is_ok(),
                "tenant {i} has its own bucket"
            );
            peak = peak.max(l.buckets());
        }
        // At most the tenants of one sweep interval (1 s = 10,000 requests) plus those
        // not yet refilled at the sweep (0.1 s = 1,000): a million names, 11,000 buckets.
        assert!(peak <= 11_000, "peak {peak} buckets");
        assert!(peak >= 10_000, "the bound is tight: peak {peak}");
    }
}
