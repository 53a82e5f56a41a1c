//! Placement properties: ketama moves few series when an endpoint is added and never
//! between old endpoints; AZ spread is even; hashmod is its formula; the series hash
//! is XXH64 of the Thanos layout.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use rwgate_ring::{Algorithm, BuildOptions, Hashrings, series_hash, xxhash64};

fn build(endpoints: &serde_json::Value, algorithm: &str, rf: usize) -> Hashrings {
    let json = serde_json::json!([{ "endpoints": endpoints, "algorithm": algorithm }]);
    let opts = BuildOptions {
        replication_factor: rf,
        default_algorithm: Algorithm::Hashmod,
        ..BuildOptions::default()
    };
    Hashrings::from_json(json.to_string().as_bytes(), &opts).expect("valid")
}

fn hashes(n: usize, seed: u64) -> Vec<u64> {
    let mut buf = Vec::new();
    (0..n)
        .map(|i| {
            let v = format!("{seed}-{i}");
            series_hash(
                b"tenant",
                [(&b"__name__"[..], &b"m"[..]), (b"id", v.as_bytes())],
                &mut buf,
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Adding one endpoint to N moves about 1/(N+1) of the series, all of them to the
    /// new endpoint. Tolerance: 1.35 × 1/(N+1) + 1 point (1000 sections per endpoint
    /// keep the share within a few percent; 4000 series add sampling noise).
    #[test]
    fn ketama_add_endpoint_moves_little_and_only_to_the_new_one(n in 2usize..9, seed in any::<u64>()) {
        let old: Vec<String> = (0..n).map(|i| format!("10.0.{}.{}:10901", seed % 200, i)).collect();
        let mut new = old.clone();
        new.push(format!("10.1.{}.250:10901", seed % 200));
        let a = build(&serde_json::json!(old), "ketama", 1);
        let b = build(&serde_json::json!(new), "ketama", 1);
        let (ra, rb) = (&a.hashrings()[0], &b.hashrings()[0]);
        let series = hashes(4000, seed);
        let mut moved = 0;
        for &h in &series {
            let from = &ra.endpoints()[ra.replica(h, 0)].address;
            let to = &rb.endpoints()[rb.replica(h, 0)].address;
            if from != to {
                prop_assert_eq!(to, new.last().unwrap(), "moved between two old endpoints");
                moved += 1;
            }
        }
        let share = moved as f64 / series.len() as f64;
        let bound = 1.35 / (n as f64 + 1.0) + 0.01;
        prop_assert!(share <= bound, "moved {share:.3} > {bound:.3} with n={n}");
    }

    /// With AZs, the replicas of every series spread over zones evenly: per-zone counts
    /// differ by at most one.
    #[test]
    fn ketama_az_spread_differs_by_at_most_one(
        sizes in prop::collection::vec(1usize..4, 2..4),
        rf_pick in 1usize..5,
        seed in any::<u64>(),
    ) {
        let mut endpoints = Vec::new();
        for (z, &size) in sizes.iter().enumerate() {
            for i in 0..size {
                endpoints.push(serde_json::json!({"address": format!("z{z}-n{i}:10901"), "az": format!("zone-{z}")}));
            }
        }
        let k = sizes.len();
        let m = *sizes.iter().min().unwrap();
        let max_rf = k * m + sizes.iter().filter(|&&s| s > m).count();
        let rf = rf_pick.min(max_rf);
        let rings = build(&serde_json::json!(endpoints), "ketama", rf);
        let ring = &rings.hashrings()[0];
        for h in hashes(300, seed) {
            let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
            for z in 0..k { per_zone.insert(["zone-0", "zone-1", "zone-2", "zone-3"][z], 0); }
            let mut seen = HashSet::new();
            for n in 0..rf {
                let e = &ring.endpoints()[ring.replica(h, n)];
                prop_assert!(seen.insert(e.address.clone()), "endpoint repeated");
                *per_zone.get_mut(e.az.as_str()).unwrap() += 1;
            }
            let (lo, hi) = (per_zone.values().min().unwrap(), per_zone.values().max().unwrap());
            prop_assert!(hi - lo <= 1, "{per_zone:?} with rf {rf}");
        }
    }

    #[test]
    fn hashmod_is_the_formula(addrs in prop::collection::btree_set("[a-z]{1,8}:[0-9]{1,5}", 1..8), seed in any::<u64>()) {
        let addrs: Vec<String> = addrs.into_iter().rev().collect();
        let rf = addrs.len().min(3);
        let rings = build(&serde_json::json!(addrs), "hashmod", rf);
        let ring = &rings.hashrings()[0];
        let mut sorted = addrs.clone();
        sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for h in hashes(100, seed) {
            for n in 0..rf {
                let want = &sorted[(h.wrapping_add(n as u64) % sorted.len() as u64) as usize];
                prop_assert_eq!(&ring.endpoints()[ring.replica(h, n)].address, want);
            }
        }
    }

    /// The series hash is XXH64 of `tenant 0xFF name 0xFF value 0xFF ...` laid out the
    /// plain way, whatever the lengths (they pick different copy paths) and whatever
    /// the buffer held before.
    #[test]
    fn series_hash_is_xxh64_of_the_plain_layout(
        tenant in prop::collection::vec(any::<u8>(), 0..20),
        labels in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..40)),
            0..12,
        ),
        stale in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut plain = tenant.clone();
        plain.push(0xff);
        for (n, v) in &labels {
            plain.extend_from_slice(n);
            plain.push(0xff);
            plain.extend_from_slice(v);
            plain.push(0xff);
        }
        let mut buf = stale;
        let h = series_hash(&tenant, labels.iter().map(|(n, v)| (&n[..], &v[..])), &mut buf);
        prop_assert_eq!(&buf, &plain);
        prop_assert_eq!(h, xxhash64(&plain));
    }
}
