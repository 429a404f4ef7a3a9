//! The page's query parameters for the analyses beyond the lecture (a contract shared with the
//! CLI's flags): parsing, defaults, errors, and the share link's round trip.

use std::collections::HashMap;

use qk_lens::analysis::report::{ExtendedOptions, StatOptions};

fn parse(query: &[(&str, &str)]) -> Result<Option<ExtendedOptions>, String> {
    let q: HashMap<String, String> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ExtendedOptions::from_query(|k| q.get(k).cloned())
}

#[test]
fn no_parameters_no_options() {
    assert_eq!(parse(&[]).unwrap(), None);
    assert_eq!(parse(&[("heads", "0"), ("v", "no"), ("model", "x")]).unwrap(), None);
}

#[test]
fn flags_and_statistics() {
    let o = parse(&[("all-layers", "1"), ("heads", ""), ("v", "true"), ("pca", "yes")])
        .unwrap()
        .unwrap();
    assert!(o.all_layers && o.heads && o.v && o.pca);
    assert!(!o.qk && !o.center && o.statistics.is_none());
    let s = parse(&[("stats", "1")]).unwrap().unwrap().statistics.unwrap();
    assert_eq!(s, StatOptions::default());
    // Any of permutations, bootstrap or seed implies stats; bootstrap follows permutations.
    let s = parse(&[("permutations", "250"), ("seed", " 7 ")])
        .unwrap()
        .unwrap()
        .statistics
        .unwrap();
    assert_eq!((s.permutations, s.bootstrap, s.seed), (250, 250, 7));
    let s = parse(&[("bootstrap", "40")]).unwrap().unwrap().statistics.unwrap();
    assert_eq!((s.permutations, s.bootstrap), (1000, 40));
}

#[test]
fn bad_numbers_are_named() {
    let e = parse(&[("permutations", "0")]).unwrap_err();
    assert!(e.starts_with("permutations=0"), "{e}");
    let e = parse(&[("seed", "-3")]).unwrap_err();
    assert!(e.contains("seed") && e.contains("not a whole number"), "{e}");
}

#[test]
fn share_link_round_trip() {
    let o = ExtendedOptions {
        all_layers: true,
        qk: true,
        center: true,
        statistics: Some(StatOptions {
            permutations: 99,
            bootstrap: 50,
            seed: 3,
            ..StatOptions::default()
        }),
        ..Default::default()
    };
    let query: Vec<(&str, String)> = o.to_query();
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(parse(&pairs).unwrap(), Some(o));
    assert!(ExtendedOptions::default().to_query().is_empty());
}
