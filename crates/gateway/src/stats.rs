//! What the status page shows that metrics alone cannot answer at a glance: counts over
//! the last minute, per tenant and per endpoint, the last error and when, and the last
//! reload of each watched file. Kept small and bounded: tenants are the metric labels
//! (configured names and `other`), endpoints those of the hashrings.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use rwgate_ring::ReloadRecord;

/// `t` as Unix seconds (0 before the epoch), as the status page shows times.
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds per slot of a [`Window`].
const SLOT_SECS: u64 = 10;
/// Slots of a [`Window`]: one minute.
const SLOTS: usize = 6;

/// A count over the last minute, in 10-second slots.
#[derive(Debug)]
pub struct Window {
    origin: Instant,
    slots: [u64; SLOTS],
    /// The slot number (since `origin`) the last add went to.
    last: u64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            origin: Instant::now(),
            slots: [0; SLOTS],
            last: 0,
        }
    }
}

impl Window {
    fn slot(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs() / SLOT_SECS
    }

    /// Clears the slots that fell out of the minute before `slot`.
    fn advance(&mut self, slot: u64) {
        if slot <= self.last {
            return;
        }
        let stale = (slot - self.last).min(SLOTS as u64);
        for k in 1..=stale {
            self.slots[((self.last + k) % SLOTS as u64) as usize] = 0;
        }
        self.last = slot;
    }

    /// Adds `n` now.
    pub fn add(&mut self, n: u64, now: Instant) {
        let slot = self.slot(now);
        self.advance(slot);
        let i = (slot % SLOTS as u64) as usize;
        self.slots[i] = self.slots[i].saturating_add(n);
    }

    /// The count over the last minute (up to 10 s more at a slot's edge).
    pub fn last_minute(&mut self, now: Instant) -> u64 {
        self.advance(self.slot(now));
        self.slots.iter().sum()
    }

    /// Per second over the last minute, or over the uptime when shorter.
    pub fn per_second(&mut self, now: Instant) -> f64 {
        let span = now
            .saturating_duration_since(self.origin)
            .as_secs_f64()
            .clamp(1.0, (SLOT_SECS * SLOTS as u64) as f64);
        self.last_minute(now) as f64 / span
    }
}

/// One tenant's recent traffic.
#[derive(Debug, Default)]
pub struct TenantCounters {
    /// Samples accepted (valid, allowed by the rules and the rate limit).
    pub accepted: Window,
    /// Samples refused since start, by reason id.
    pub refused: BTreeMap<&'static str, u64>,
}

/// The status page's counters, shared by the ingest path and the page.
#[derive(Debug)]
pub struct Stats {
    /// When the process started serving.
    pub started: Instant,
    /// Per tenant metric label.
    tenants: Mutex<BTreeMap<String, TenantCounters>>,
    /// The last config (and tokens) reload that loaded or failed.
    config_reload: Mutex<Option<ReloadRecord>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            tenants: Mutex::default(),
            config_reload: Mutex::default(),
        }
    }
}

impl Stats {
    /// Counts samples accepted for `tenant` (a metric label: bounded).
    pub fn accepted(&self, tenant: &str, samples: u64) {
        let mut t = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        t.entry(tenant.to_string())
            .or_default()
            .accepted
            .add(samples, Instant::now());
    }

    /// Counts samples refused for `tenant` (a metric label) with `reason`.
    pub fn refused(&self, tenant: &str, reason: &'static str, samples: u64) {
        let mut t = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        *t.entry(tenant.to_string())
            .or_default()
            .refused
            .entry(reason)
            .or_insert(0) += samples;
    }

    /// Per tenant: samples/s accepted over the last minute, and refusals by reason.
    pub fn tenants(&self) -> BTreeMap<String, (f64, BTreeMap<&'static str, u64>)> {
        let now = Instant::now();
        let mut t = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        t.iter_mut()
            .map(|(name, c)| {
                (
                    name.clone(),
                    (c.accepted.per_second(now), c.refused.clone()),
                )
            })
            .collect()
    }

    /// Records a config reload that loaded (`None`) or failed.
    pub fn config_reloaded(&self, error: Option<String>) {
        *self.config_reload.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(ReloadRecord::now(error));
    }

    /// The last config reload that loaded or failed.
    pub fn config_reload(&self) -> Option<ReloadRecord> {
        self.config_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// An endpoint's recent forwarding, for the status page.
#[derive(Debug, Default)]
pub struct EndpointCounters {
    /// Series sent in the last minute.
    pub series: Window,
    /// When it last answered with a final status.
    pub last_success: Option<SystemTime>,
    /// Its last failure and when.
    pub last_error: Option<(SystemTime, String)>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_window_counts_the_last_minute_and_forgets_older_slots() {
        let mut w = Window::default();
        let t0 = w.origin;
        w.add(5, t0);
        w.add(7, t0 + Duration::from_secs(25));
        assert_eq!(w.last_minute(t0 + Duration::from_secs(30)), 12);
        // 65 s on, the first slot (0-10 s) has left the minute.
        assert_eq!(w.last_minute(t0 + Duration::from_secs(65)), 7);
        // Long idle: everything is gone.
        assert_eq!(w.last_minute(t0 + Duration::from_secs(600)), 0);
        w.add(3, t0 + Duration::from_secs(601));
        assert_eq!(w.last_minute(t0 + Duration::from_secs(602)), 3);
    }

    #[test]
    fn per_second_uses_the_uptime_when_shorter_than_a_minute() {
        let mut w = Window::default();
        let t0 = w.origin;
        w.add(100, t0);
        assert!((w.per_second(t0 + Duration::from_secs(10)) - 10.0).abs() < 1e-9);
        assert!((w.per_second(t0 + Duration::from_secs(50)) - 2.0).abs() < 1e-9);
    }
}
