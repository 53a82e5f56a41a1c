use std::collections::BTreeMap;

use super::*;

#[derive(Deserialize)]
struct Case {
    input: BTreeMap<String, String>,
    rules: Vec<RuleConfig>,
    #[serde(default)]
    output: BTreeMap<String, String>,
    #[serde(default)]
    drop: bool,
}

#[test]
fn every_case_of_prometheus_relabel_test_go() {
    let cases: Vec<Case> =
        serde_yaml_ng::from_str(include_str!("prometheus_cases.yaml")).expect("cases parse");
    assert_eq!(cases.len(), 26, "TestRelabel has 26 cases");
    for (n, case) in cases.iter().enumerate() {
        let rules = RuleSet::compile("relabel_configs", &case.rules)
            .unwrap_or_else(|e| panic!("case {n}: {e:?}"));
        let mut labels = Labels::new(case.input.clone());
        let outcome = rules.apply(&mut labels);
        if case.drop {
            assert!(
                matches!(outcome, Outcome::DroppedBy(_)),
                "case {n}: kept {labels:?}"
            );
        } else {
            assert_eq!(outcome, Outcome::Keep, "case {n}");
            let want = Labels::new(case.output.clone());
            assert_eq!(labels, want, "case {n}");
        }
    }
}

/// Prometheus' TestRelabelValidate, as data: the rule and the error it must give
/// (`None`: valid).
#[test]
fn prometheus_validation_cases() {
    let cases: &[(&str, Option<&str>)] = &[
        ("{action: replace}", Some("requires 'target_label' value")),
        ("{action: lowercase}", Some("requires 'target_label' value")),
        (
            r#"{action: lowercase, target_label: "${3}"}"#,
            Some(r#""${3}" is invalid 'target_label'"#),
        ),
        (
            r#"{source_labels: [a], regex: "some-([^-]+)-([^,]+)", action: replace, replacement: "${1}", target_label: "${3}"}"#,
            None,
        ),
        (
            r#"{source_labels: [a], regex: "some-([^-]+)-([^,]+)", action: replace, replacement: "${1}", target_label: "0${3}"}"#,
            Some(r#""0${3}" is invalid 'target_label'"#),
        ),
        (
            r#"{source_labels: [a], regex: "some-([^-]+)-([^,]+)", action: replace, replacement: "${1}", target_label: "-${3}"}"#,
            Some(r#""-${3}" is invalid 'target_label' for replace action"#),
        ),
        (
            "{action: hashmod, target_label: h}",
            Some("requires non-zero modulus"),
        ),
        (
            "{action: keepequal, target_label: a, regex: x}",
            Some("requires only 'source_labels' and `target_label`"),
        ),
        (
            "{action: labeldrop, regex: x, target_label: y}",
            Some("requires only 'regex', and no other fields"),
        ),
        (
            r#"{regex: "a(b", target_label: x}"#,
            Some("does not compile"),
        ),
    ];
    for (yaml, want) in cases {
        let rule: RuleConfig = serde_yaml_ng::from_str(yaml).unwrap();
        match (rule.compile(), want) {
            (Ok(_), None) => {}
            (Err(e), Some(w)) => assert!(e.contains(w), "{yaml}: {e}"),
            (Ok(_), Some(w)) => panic!("{yaml}: accepted, want {w}"),
            (Err(e), None) => panic!("{yaml}: {e}"),
        }
    }
    // An unknown action is refused when the YAML is read.
    assert!(serde_yaml_ng::from_str::<RuleConfig>("{action: explode}").is_err());
}

/// Prometheus' TestTargetLabelValidity.
#[test]
fn prometheus_target_label_validity() {
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (s, valid) in cases {
        assert_eq!(is_valid_target_template(s), valid, "{s}");
    }
}

#[test]
fn errors_name_the_key_path_and_the_rule() {
    let rules: Vec<RuleConfig> =
        serde_yaml_ng::from_str("- {action: drop, regex: \"(\"}\n- {action: keep}\n").unwrap();
    let err = RuleSet::compile("tenants.tenant-a.relabel_configs", &rules).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].index, 0);
    assert!(
        err[0]
            .to_string()
            .starts_with("tenants.tenant-a.relabel_configs[0]: regex \"(\" does not compile"),
        "{}",
        err[0]
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("[a-d]{1,2}", "[a-c]{0,3}"), 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The `replace` fast path (empty joined value, default regex, no `$`) gives
        /// what the general path gives.
        #[test]
        fn replace_fast_path_equals_the_general_path(
            input in labels(),
            sources in prop::collection::vec("[a-d]{1,2}", 0..3),
            target in "[a-d]{1,2}",
            replacement in "[a-c]{0,3}",
        ) {
            let cfg = RuleConfig {
                source_labels: Some(sources),
                target_label: Some(target),
                replacement: Some(replacement),
                ..RuleConfig::default()
            };
            let fast = cfg.compile().unwrap();
            let mut slow = fast.clone();
            slow.default_regex = false; // forces the regex path with the same `(.*)`
            let (mut a, mut b) = (Labels::new(input.clone()), Labels::new(input));
            prop_assert_eq!(fast.apply(&mut a), slow.apply(&mut b));
            prop_assert_eq!(a, b);
        }

        /// Labels stay sorted, unique and without empty values whatever rules run.
        #[test]
        fn labels_stay_a_valid_set(input in labels(), drop_re in "[a-d]") {
            let rules: Vec<RuleConfig> = serde_yaml_ng::from_str(&format!(
                "- {{regex: {drop_re}, action: labeldrop}}\n- {{source_labels: [a], target_label: z, modulus: 3, action: hashmod}}\n- {{regex: \"(b.*)\", replacement: \"x_$1\", action: labelmap}}\n"
            )).unwrap();
            let set = RuleSet::compile("relabel_configs", &rules).unwrap();
            let mut l = Labels::new(input);
            set.apply(&mut l);
            let pairs = l.pairs();
            prop_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
            prop_assert!(pairs.iter().all(|(_, v)| !v.is_empty()));
        }
    }
}
