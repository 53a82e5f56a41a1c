//! `hashrings.json` as Thanos reads it, and the checks that run before a ring is built.
//!
//! The file is a JSON array of hashrings. Each has an optional `hashring` name,
//! `tenants` (empty: matches every tenant), `tenant_matcher_type` (`exact`, default, or
//! `glob`), `endpoints` (strings, or objects `{address, az, capnproto_address}`),
//! `algorithm` (`hashmod` or `ketama`, default from the command line, default
//! `hashmod`) and `external_labels`. Unknown fields are ignored, as Thanos does.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// Placement algorithm of a hashring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// `sorted_endpoints[(hash + n) % N]`.
    #[default]
    Hashmod,
    /// Consistent hashing with sections per endpoint and AZ-aware replicas.
    Ketama,
}

impl Algorithm {
    /// `hashmod` or `ketama`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hashmod => "hashmod",
            Algorithm::Ketama => "ketama",
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hashmod" => Ok(Algorithm::Hashmod),
            "ketama" => Ok(Algorithm::Ketama),
            other => Err(format!(
                "unknown hashring algorithm {other:?} (hashmod or ketama)"
            )),
        }
    }
}

/// How `tenants` entries are compared with a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatcherType {
    /// Equal strings.
    #[default]
    Exact,
    /// Shell-style patterns: `*`, `?`, `[...]`.
    Glob,
}

/// One endpoint as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// What Thanos hashes; usually `host:grpc-port`.
    pub address: String,
    /// Availability zone; empty when not set.
    pub az: String,
}

impl<'de> Deserialize<'de> for EndpointSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Address(String),
            Object {
                address: String,
                #[serde(default)]
                az: String,
            },
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Address(address) => EndpointSpec {
                address,
                az: String::new(),
            },
            Raw::Object { address, az } => EndpointSpec { address, az },
        })
    }
}

/// One hashring as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HashringSpec {
    /// Name, used in metrics and messages.
    #[serde(default)]
    pub hashring: String,
    /// Tenants this hashring serves; empty serves everyone.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// How `tenants` match.
    #[serde(default)]
    pub tenant_matcher_type: MatcherType,
    /// Receivers.
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
    /// Placement algorithm; `None` takes the default.
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    /// Labels Thanos adds to this hashring's series (kept for `doctor` and docs; rwgate
    /// does not add them: the ingestors do).
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Thanos' shuffle sharding (v0.41+): each tenant writes to a subset of the
    /// endpoints. Placement is the router's, see `crate::shuffle`.
    #[serde(default)]
    pub shuffle_sharding_config: Option<ShuffleShardingConfig>,
}

/// `shuffle_sharding_config` as Thanos reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ShuffleShardingConfig {
    /// Endpoints per tenant; 0 turns shuffle sharding off.
    #[serde(default)]
    pub shard_size: usize,
    /// Tenant shards kept built (Thanos: an LRU, 100 when unset).
    #[serde(default)]
    pub cache_size: usize,
    /// Pick the shard from all endpoints as one zone, instead of evenly per zone.
    #[serde(default)]
    pub zone_awareness_disabled: bool,
    /// Other shard sizes for some tenants; the first that matches wins.
    #[serde(default)]
    pub overrides: Vec<ShardSizeOverride>,
}

/// One entry of `shuffle_sharding_config.overrides`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ShardSizeOverride {
    /// Endpoints per tenant for these tenants.
    #[serde(default)]
    pub shard_size: usize,
    /// Tenant names or glob patterns.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// How `tenants` match.
    #[serde(default)]
    pub tenant_matcher_type: MatcherType,
}

impl HashringSpec {
    /// The name for messages: the `hashring` field, or `#index`.
    pub fn display_name(&self, index: usize) -> String {
        if self.hashring.is_empty() {
            format!("#{index}")
        } else {
            self.hashring.clone()
        }
    }
}

/// Every problem found in a hashrings file, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid hashrings configuration:")?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// Parses the file's JSON. Syntax errors are fatal; semantic checks come with building.
pub fn parse(json: &[u8]) -> Result<Vec<HashringSpec>, ConfigError> {
    if json.trim_ascii().is_empty() {
        return Err(ConfigError {
            problems: vec!["the hashrings file is empty".into()],
        });
    }
    serde_json::from_slice::<Vec<HashringSpec>>(json).map_err(|e| ConfigError {
        problems: vec![format!(
            "the hashrings file is not a valid JSON array of hashrings: {e}"
        )],
    })
}

/// Can an AZ-aware ketama walk place `rf` replicas? Thanos only takes a candidate
/// from an AZ holding no more replicas than the least-occupied AZ; when such AZs run out
/// of endpoints it loops forever. The outcome does not depend on ring order, so
/// simulating level by level is exact.
pub fn az_layout_places(az_sizes: &BTreeMap<&str, usize>, rf: usize) -> bool {
    if az_sizes.len() <= 1 {
        return az_sizes.values().sum::<usize>() >= rf;
    }
    let mut counts: Vec<(usize, usize)> = az_sizes.values().map(|&size| (0, size)).collect();
    for _ in 0..rf {
        let min = counts.iter().map(|c| c.0).min().unwrap_or(0);
        match counts
            .iter_mut()
            .find(|(count, size)| *count == min && count < size)
        {
            Some(c) => c.0 += 1,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thanos_forms() {
        let specs = parse(
            br#"[
              {"hashring": "a", "tenants": ["t1"], "endpoints": ["x:1", {"address": "y:1", "az": "z1", "capnproto_address": "y:2"}],
               "algorithm": "ketama", "external_labels": {"k": "v"}, "unknown": 1},
              {"endpoints": ["d:1"], "tenant_matcher_type": "glob"}
            ]"#,
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].endpoints[1],
            EndpointSpec {
                address: "y:1".into(),
                az: "z1".into()
            }
        );
        assert_eq!(specs[0].algorithm, Some(Algorithm::Ketama));
        assert_eq!(specs[1].tenant_matcher_type, MatcherType::Glob);
        assert_eq!(specs[1].display_name(1), "#1");
    }

    #[test]
    fn empty_and_broken_files() {
        assert!(parse(b"  \n").unwrap_err().problems[0].contains("empty"));
        assert!(parse(b"{").unwrap_err().problems[0].contains("JSON"));
        assert!(parse(br#"[{"algorithm": "rendezvous"}]"#).is_err());
    }

    #[test]
    fn az_feasibility() {
        let sizes = |v: &[(&'static str, usize)]| v.iter().copied().collect::<BTreeMap<_, _>>();
        assert!(az_layout_places(&sizes(&[("a", 3), ("b", 1)]), 3));
        assert!(!az_layout_places(&sizes(&[("a", 3), ("b", 1)]), 4));
        assert!(az_layout_places(&sizes(&[("a", 2), ("b", 2), ("c", 2)]), 6));
        assert!(!az_layout_places(
            &sizes(&[("a", 1), ("b", 1), ("c", 5)]),
            5
        ));
        assert!(az_layout_places(&sizes(&[("", 3)]), 3));
    }
}
