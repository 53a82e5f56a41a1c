//! Shuffle sharding against a reference: `tests/shuffle/vectors.json` holds 200 random
//! hashrings (3 to 12 endpoints, up to 3 zones, zone awareness on and off, RF 1 to 3),
//! each with a tenant, its shard and where 10 series hashes go, computed by
//! `tests/shuffle/gen.go` with Go's own math/rand, crypto/md5 and cespare/xxhash.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use rwgate_ring::{Algorithm, BuildOptions, Hashrings, shuffle};

#[derive(serde::Deserialize)]
struct Vector {
    endpoints: Vec<serde_json::Value>,
    shard_size: usize,
    zone_awareness_disabled: bool,
    rf: usize,
    tenant: String,
    seeds: Vec<i64>,
    #[serde(default)]
    shard: Option<Vec<String>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    series: Option<Vec<Series>>,
}

#[derive(serde::Deserialize)]
struct Series {
    hash: u64,
    replicas: Vec<String>,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("shuffle/vectors.json")).unwrap()
}

fn build(v: &Vector) -> Hashrings {
    let json = serde_json::json!([{
        "hashring": "sharded",
        "algorithm": "ketama",
        "endpoints": v.endpoints,
        "shuffle_sharding_config": {
            "shard_size": v.shard_size,
            "zone_awareness_disabled": v.zone_awareness_disabled,
        },
    }]);
    let opts = BuildOptions {
        replication_factor: v.rf,
        default_algorithm: Algorithm::Ketama,
        ..BuildOptions::default()
    };
    Hashrings::from_json(json.to_string().as_bytes(), &opts).unwrap()
}

#[test]
fn seeds_are_md5_of_tenant_and_zone_as_go_reads_them() {
    for v in vectors() {
        let got: Vec<i64> = ["", "zone-a", "zone-b"]
            .iter()
            .map(|z| shuffle::seed(&v.tenant, z))
            .collect();
        assert_eq!(got, v.seeds, "{}", v.tenant);
    }
}

#[test]
fn shards_and_placement_match_the_go_reference_on_random_hashrings() {
    let (mut placed, mut refused) = (0, 0);
    for (i, v) in vectors().iter().enumerate() {
        let rings = build(v);
        let ring = &rings.hashrings()[0];
        match (ring.placement(&v.tenant), &v.error) {
            (Err(e), Some(_)) => {
                refused += 1;
                let _ = e;
            }
            (Err(e), None) => panic!("vector {i}: rwgate refused ({e}), Go placed it"),
            (Ok(_), Some(why)) => panic!("vector {i}: rwgate placed it, Go refused: {why}"),
            (Ok(p), None) => {
                placed += 1;
                let shard: BTreeSet<&str> = p
                    .shard()
                    .unwrap()
                    .iter()
                    .map(|&e| ring.endpoints()[e as usize].address.as_str())
                    .collect();
                let want: BTreeSet<&str> = v
                    .shard
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(String::as_str)
                    .collect();
                assert_eq!(shard, want, "vector {i}: shard of {}", v.tenant);
                for s in v.series.as_ref().unwrap() {
                    let got: Vec<&str> = (0..v.rf)
                        .map(|n| ring.endpoints()[p.replica(s.hash, n)].address.as_str())
                        .collect();
                    assert_eq!(got, s.replicas, "vector {i}: series {:#x}", s.hash);
                }
            }
        }
    }
    // The reference covers both outcomes.
    assert!(
        placed > 100 && refused > 20,
        "{placed} placed, {refused} refused"
    );
}

#[test]
fn seeds_written_out() {
    // First 8 bytes of MD5("tenant-a") and MD5("tenant-a\x00zone-a"), big-endian, signed
    // (Python's hashlib).
    assert_eq!(shuffle::seed("tenant-a", ""), -3380867882834763730);
    assert_eq!(shuffle::seed("tenant-a", "zone-a"), -3896296730063314590);
}

fn sharded(default: usize, overrides: serde_json::Value, zones: bool) -> Hashrings {
    let endpoints: Vec<serde_json::Value> = (0..9)
        .map(|i| {
            let az = if zones {
                ["zone-a", "zone-b", "zone-c"][i % 3]
            } else {
                ""
            };
            serde_json::json!({"address": format!("ingestor-{i}:10901"), "az": az})
        })
        .collect();
    let json = serde_json::json!([{
        "algorithm": "ketama",
        "endpoints": endpoints,
        "shuffle_sharding_config": {"shard_size": default, "overrides": overrides},
    }]);
    let opts = BuildOptions {
        replication_factor: 3,
        ..BuildOptions::default()
    };
    Hashrings::from_json(json.to_string().as_bytes(), &opts).unwrap()
}

fn shard_of(rings: &Hashrings, tenant: &str) -> Vec<u32> {
    let mut s = rings.hashrings()[0]
        .placement(tenant)
        .unwrap()
        .shard()
        .unwrap()
        .to_vec();
    s.sort();
    s
}

#[test]
fn the_first_matching_override_sets_the_shard_size_exact_or_glob() {
    let rings = sharded(
        3,
        serde_json::json!([
            {"shard_size": 6, "tenants": ["big", "team-*"], "tenant_matcher_type": "exact"},
            {"shard_size": 9, "tenants": ["team-*"], "tenant_matcher_type": "glob"},
            {"shard_size": 4, "tenants": ["team-x"]},
        ]),
        false,
    );
    let ring = &rings.hashrings()[0];
    assert_eq!(ring.shard_size("small"), Some(3));
    assert_eq!(ring.shard_size("big"), Some(6));
    // "team-*" in an exact override is a literal name; the glob override comes first.
    assert_eq!(ring.shard_size("team-*"), Some(6));
    assert_eq!(ring.shard_size("team-x"), Some(9));
    assert_eq!(shard_of(&rings, "big").len(), 6);
    assert_eq!(shard_of(&rings, "team-x").len(), 9);
    // An override only changes the size: the tenant gets the shard it would get with
    // that size as the default.
    assert_eq!(
        shard_of(&rings, "big"),
        shard_of(&sharded(6, serde_json::json!([]), false), "big")
    );
}

#[test]
fn zone_aware_shards_take_evenly_from_each_zone() {
    let rings = sharded(5, serde_json::json!([]), true);
    for tenant in ["a", "b", "c", "d"] {
        let shard = shard_of(&rings, tenant);
        // ceil(5 / 3) = 2 from each of 3 zones; endpoint i is in zone i % 3.
        assert_eq!(shard.len(), 6, "{tenant}");
        for zone in 0..3 {
            assert_eq!(
                shard.iter().filter(|&&e| e % 3 == zone).count(),
                2,
                "{tenant}"
            );
        }
    }
    // Different tenants get different shards (not all the same subset).
    let shards: BTreeSet<Vec<u32>> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|t| shard_of(&rings, t))
        .collect();
    assert!(shards.len() > 1);
}

#[test]
fn a_shard_larger_than_a_zone_allows_is_refused_per_tenant_and_warned() {
    // 3 endpoints per zone; a size of 12 takes 4 from each.
    let rings = sharded(
        3,
        serde_json::json!([{"shard_size": 12, "tenants": ["big"]}]),
        true,
    );
    let ring = &rings.hashrings()[0];
    assert!(ring.placement("small").is_ok());
    let err = ring.placement("big").unwrap_err();
    assert!(
        err.to_string()
            .contains("larger than number of nodes in AZ"),
        "{err}"
    );
    assert!(
        rings
            .warnings()
            .iter()
            .any(|w| w.problem.contains("shard size 12")),
        "{:?}",
        rings.warnings()
    );
}

#[test]
fn files_a_router_refuses_are_refused() {
    let opts = BuildOptions::default();
    let hashmod = br#"[{"algorithm": "hashmod", "endpoints": ["a:1", "b:1"], "shuffle_sharding_config": {"shard_size": 1}}]"#;
    let err = Hashrings::from_json(hashmod, &opts).unwrap_err();
    assert!(
        err.to_string()
            .contains("hashmod algorithm does not support shuffle sharding"),
        "{err}"
    );
    let too_big = br#"[{"algorithm": "ketama", "endpoints": ["a:1", "b:1"], "shuffle_sharding_config": {"shard_size": 3}}]"#;
    let err = Hashrings::from_json(too_big, &opts).unwrap_err();
    assert!(
        err.to_string()
            .contains("shard size 3 is larger than number of nodes"),
        "{err}"
    );
    // Shard size 0 is off, as in Thanos.
    let off = br#"[{"algorithm": "hashmod", "endpoints": ["a:1"], "shuffle_sharding_config": {"shard_size": 0}}]"#;
    assert!(!Hashrings::from_json(off, &opts).unwrap().hashrings()[0].is_shuffle_sharded());
}
