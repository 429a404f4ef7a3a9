//! The class view's rows from students' result files.

use qk_lens::class_view::{class_rows, value_range};
use qk_lens::Experiment;

#[test]
fn results_become_rows_and_other_files_say_why_not() {
    let mut e = Experiment::lecture();
    e.layer = 1;
    let a = crate::common::run_model("tiny-gpt2-hub", &e).unwrap();
    e.layer = 3;
    e.categories.truncate(2);
    let b = crate::common::run_model("tiny-gpt2-hub", &e).unwrap();
    let files = vec![
        ("ada.json".to_string(), a.to_json()),
        ("notes.txt".to_string(), "not json".to_string()),
        ("bo.json".to_string(), b.to_json()),
    ];
    let (rows, errors) = class_rows(&files);
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].who.as_str(), rows[0].layer), ("ada", 1));
    assert_eq!((rows[1].who.as_str(), rows[1].layer), ("bo", 3));
    assert_eq!(rows[0].selectivity_q, a.q.selectivity);
    assert_eq!(rows[1].rsa_r, b.rsa.r);
    assert_eq!(rows[1].categories, "space (10), interior (13)");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("notes.txt: not a QK Lens result"), "{}", errors[0]);
    let (lo, hi) = value_range(&rows);
    assert!(lo <= 0.0 && hi >= rows.iter().filter_map(|r| r.selectivity_q).fold(0.0, f64::max));
}
