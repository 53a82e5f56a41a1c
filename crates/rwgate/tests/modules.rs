//! No import cycles between the top-level modules of the gateway, wire and ring crates:
//! a module's `crate::other` references (outside comments and its test module) must
//! form a graph without cycles, so each module can be read and tested on its own.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules it references.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if ["lib", "main"].contains(&top.as_str()) || rel.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let deps = out.entry(top.clone()).or_default();
            for line in code.lines().map(str::trim_start) {
                if line.starts_with("//") {
                    continue;
                }
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + 7..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != top {
                        deps.insert(name);
                    }
                }
                // `use crate::{a, b::c}` groups.
                if let Some(group) = line.strip_prefix("use crate::{") {
                    for part in group.split(',') {
                        let name: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect();
                        if !name.is_empty() && name != top {
                            deps.insert(name);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Every cycle found by depth-first search, as the path that closes it.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            found.push(cycle);
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in g.get(node).into_iter().flatten() {
            if g.contains_key(next) {
                visit(g, next, path, done, found);
            }
        }
        path.pop();
        done.insert(node.to_string());
    }
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for node in g.keys() {
        visit(g, node, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_import_cycles_between_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in ["gateway", "wire", "ring"] {
        let g = graph(&crates.join(krate).join("src"));
        assert!(g.len() > 3, "{krate}: modules not found");
        let found = cycles(&g);
        assert!(found.is_empty(), "{krate}: import cycles {found:?}");
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c", "a"]]);
}

/// Every metric name the code defines is listed in docs/metrics.md, and every
/// `rwgate_` name the doc's tables list is defined.
#[test]
fn docs_metrics_lists_exactly_the_defined_metrics() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md"),
    )
    .unwrap();
    let listed: BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("rwgate_") && !n.starts_with("rwgate_sink_"))
        .collect();
    let defined: BTreeSet<&str> = rwgate_gateway::metrics::ALL
        .iter()
        .chain(rwgate_ring::metrics::ALL)
        .copied()
        .collect();
    let undocumented: Vec<_> = defined.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&defined).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/metrics.md: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/metrics.md lists undefined metrics: {unknown:?}"
    );
}

/// Every refusal reason id the code defines (decoding, tenancy rules, request-level
/// tenancy and rate refusals) is in the table of docs/operations.md, and the table
/// lists nothing else.
#[test]
fn docs_operations_lists_exactly_the_refusal_reasons() {
    use rwgate_wire::RefusalReason;
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md"),
    )
    .unwrap();
    let section = doc
        .split("## Refusal reasons")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap();
    let listed: BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let defined: BTreeSet<&str> = rwgate_wire::Reason::all()
        .map(|r| r.id())
        .chain(rwgate_gateway::tenancy::rules::RuleReason::all().map(RefusalReason::id))
        .chain(["tenant_label_mismatch", "rate_limited"])
        .chain(rwgate_gateway::otlp::Refusal::all().map(|r| r.id()))
        .chain(rwgate_gateway::otlp::REQUEST_REFUSALS.iter().copied())
        .collect();
    let undocumented: Vec<_> = defined.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&defined).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/operations.md: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/operations.md lists unknown reasons: {unknown:?}"
    );
}
