use super::*;

fn labels(value: &str) -> Vec<u8> {
    format!("__name__=up,job={value}").into_bytes()
}

fn get(c: &mut Cache, scope: u64, tenant: &str, value: &str) -> Option<Verdict> {
    c.get(&Scope::new(scope, tenant).key(&labels(value)))
        .cloned()
}

fn put(c: &mut Cache, scope: u64, tenant: &str, value: &str, v: Verdict) {
    c.insert(&Scope::new(scope, tenant).key(&labels(value)), v);
}

#[test]
fn a_verdict_is_found_only_under_its_scope_tenant_and_labels() {
    let mut c = Cache::new(1 << 20);
    assert_eq!(get(&mut c, 1, "tenant-a", "node"), None);
    put(&mut c, 1, "tenant-a", "node", Verdict::Dropped);
    assert_eq!(get(&mut c, 1, "tenant-a", "node"), Some(Verdict::Dropped));
    assert_eq!(get(&mut c, 2, "tenant-a", "node"), None, "another config");
    assert_eq!(get(&mut c, 1, "tenant-b", "node"), None, "another tenant");
    assert_eq!(get(&mut c, 1, "tenant-a", "nodes"), None, "other labels");
}

#[test]
fn an_entry_under_the_same_map_key_with_another_check_is_a_miss() {
    let mut c = Cache::new(1 << 20);
    put(&mut c, 1, "t", "a", Verdict::Dropped);
    // Plant the entry under the map key of other labels, as a 64-bit collision would.
    let other = Scope::new(1, "t").key(&labels("b"));
    let planted = c.current.drain().map(|(_, e)| e).next().unwrap();
    c.current.insert(other.hash, planted);
    assert_eq!(get(&mut c, 1, "t", "b"), None);
}

#[test]
fn memory_stays_within_two_generations_under_endless_new_series() {
    let generation = 64 << 10;
    let mut c = Cache::new(generation);
    let input = [(&b"__name__"[..], &b"up"[..])];
    let script = Script::of(
        input.into_iter(),
        &[std::ops::Range { start: 0, end: 14 }],
        &[("__name__", "up"), ("shard", "1")],
    );
    for i in 0..100_000 {
        put(
            &mut c,
            1,
            "t",
            &i.to_string(),
            Verdict::Rewritten {
                script: script.clone(),
                hash: 7,
            },
        );
        assert!(c.current_bytes() <= generation);
    }
    let entry = std::mem::size_of::<(u64, Entry)>();
    assert!(c.len() <= 2 * generation / entry, "{}", c.len());
    // The newest survive, the oldest are gone.
    assert!(get(&mut c, 1, "t", "99999").is_some());
    assert_eq!(get(&mut c, 1, "t", "0"), None);
}

#[test]
fn a_hit_in_the_previous_generation_survives_the_next_rotation() {
    let mut c = Cache::new(4 << 10);
    put(&mut c, 1, "t", "kept", Verdict::Unchanged);
    let kept = Scope::new(1, "t").key(&labels("kept")).hash;
    let mut i = 0;
    // Fill until "kept" moved to the previous generation, then hit it.
    while c.current.contains_key(&kept) {
        put(&mut c, 1, "t", &i.to_string(), Verdict::Dropped);
        i += 1;
    }
    assert!(c.previous.contains_key(&kept));
    assert_eq!(get(&mut c, 1, "t", "kept"), Some(Verdict::Unchanged));
    assert!(c.current.contains_key(&kept), "moved forward");
}

#[test]
fn a_script_copies_runs_of_kept_label_fields_and_encodes_new_ones() {
    let input = [
        (&b"__name__"[..], &b"up"[..]),
        (&b"job"[..], &b"node"[..]),
        (&b"pod"[..], &b"p-1"[..]),
        (&b"zone"[..], &b"a"[..]),
    ];
    let fields = [0..14, 14..27, 27..39, 39..50];
    let output = [
        ("__name__", "up"),
        ("job", "node"),
        ("pod", "p-2"),
        ("shard", "3"),
        ("zone", "a"),
    ];
    let script = Script::of(input.into_iter(), &fields, &output);
    let new = rwgate_wire::EncodedLabels::new(&[("pod", "p-2"), ("shard", "3")]);
    assert_eq!(
        script.pieces().collect::<Vec<_>>(),
        vec![
            FieldPiece::Own {
                labels: 0..2,
                bytes: 0..27
            },
            FieldPiece::New(new.fields()),
            FieldPiece::Own {
                labels: 3..4,
                bytes: 39..50
            },
        ]
    );
    assert_eq!(
        script.heap_bytes(),
        0,
        "a short script lives inside the entry"
    );
    let long = "v".repeat(100);
    let script = Script::of(
        input.into_iter(),
        &fields,
        &[("__name__", "up"), ("x", &long)],
    );
    assert!(script.heap_bytes() > 100, "a long one on the heap");
    assert_eq!(script.pieces().count(), 2);
}
