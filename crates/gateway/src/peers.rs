//! How many rwgate replicas are live, for the `global` rate-limit strategy: the
//! distinct addresses a DNS name (the Deployment's headless Service) resolves to, or
//! that a hosts-format file lists for it. Counted again every `limits.peers_refresh`;
//! a failed count keeps the last good one, and the count starts at 1.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{LimitsConfig, RateLimitStrategy};
use crate::events;

/// The live replica count.
#[derive(Debug)]
pub struct Peers(AtomicU64);

impl Default for Peers {
    fn default() -> Self {
        Peers(AtomicU64::new(1))
    }
}

impl Peers {
    /// The last good count (at least 1).
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed).max(1)
    }

    fn set(&self, n: u64) {
        self.0.store(n.max(1), Ordering::Relaxed);
    }
}

/// The distinct addresses `name` has in a hosts-format file (`address name...`,
/// `#` comments); the host part of `name` when it carries a port.
pub fn count_in_hosts_file(path: &Path, name: &str) -> std::io::Result<u64> {
    let host = host_of(name);
    let text = std::fs::read_to_string(path)?;
    let addrs: BTreeSet<IpAddr> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let addr: IpAddr = fields.next()?.parse().ok()?;
            fields.any(|n| n == host).then_some(addr)
        })
        .collect();
    Ok(addrs.len() as u64)
}

fn host_of(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => name,
    }
}

/// Counts the replicas once with the settings in `limits`.
async fn count_once(limits: &LimitsConfig) -> Result<u64, String> {
    let name = limits.peers_dns.as_deref().ok_or("no limits.peers_dns")?;
    if let Some(file) = &limits.peers_hosts_file {
        return count_in_hosts_file(file, name).map_err(|e| format!("{}: {e}", file.display()));
    }
    let addrs: BTreeSet<IpAddr> = tokio::net::lookup_host((host_of(name), 0))
        .await
        .map_err(|e| format!("resolving {name}: {e}"))?
        .map(|a| a.ip())
        .collect();
    Ok(addrs.len() as u64)
}

/// Counts the replicas once, when the strategy is `global`, and records the count in
/// `peers` (a failure keeps the last good count). The server calls it every
/// `limits.peers_refresh`, with the reloadable settings of the moment.
pub async fn refresh(peers: &Peers, limits: &LimitsConfig) {
    if limits.rate_limit_strategy != RateLimitStrategy::Global {
        return;
    }
    match count_once(limits).await {
        Ok(0) => events::PeersUnknown("no address found").emit(),
        Ok(n) => {
            peers.set(n);
            events::Peers(n).emit();
        }
        Err(e) => events::PeersUnknown(&e).emit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_counts_distinct_addresses_of_the_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("hosts");
        std::fs::write(
            &path,
            "# peers\n127.0.0.1 rwgate-peers other\n127.0.0.2 rwgate-peers\n127.0.0.2 rwgate-peers # again\n10.0.0.9 someone-else\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let n = count_in_hosts_file(&path, "rwgate-peers:19291").unwrap_or(0);
        assert_eq!(n, 2);
        assert_eq!(count_in_hosts_file(&path, "nobody").unwrap_or(9), 0);
    }

    #[test]
    fn the_count_is_never_below_one() {
        let p = Peers::default();
        assert_eq!(p.count(), 1);
        p.set(0);
        assert_eq!(p.count(), 1);
        p.set(3);
        assert_eq!(p.count(), 3);
    }
}
