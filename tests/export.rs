//! CSV exports: headers, quoting, and values that read back as the result's.

mod common;

use common::*;
use qk_lens::export::{csv_files, matrix_csv};

#[test]
fn matrix_csv_has_word_headers_and_quotes_when_needed() {
    let words = vec!["a".to_string(), "b,c".to_string()];
    let csv = matrix_csv(&words, &[vec![1.0, 0.5], vec![0.5, 1.0]]);
    assert_eq!(csv, "word,a,\"b,c\"\na,1,0.5\n\"b,c\",0.5,1\n");
}

#[test]
fn csv_exports_read_back_as_the_result() {
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    let files = csv_files(&result);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["q-cosine-L1.csv", "k-cosine-L1.csv", "q-vectors-L1.csv", "k-vectors-L1.csv"]
    );
    let q_cos = &files[0].1;
    let rows: Vec<&str> = q_cos.lines().collect();
    assert_eq!(rows.len(), 35, "header + 34 words");
    let row3: Vec<f64> = rows[4].split(',').skip(1).map(|v| v.parse().unwrap()).collect();
    assert_eq!(row3, result.q.cosine[3], "values round-trip exactly");
    let vec_rows: Vec<&str> = files[2].1.lines().collect();
    assert!(vec_rows[0].starts_with("word,category,d0,d1"));
    assert_eq!(vec_rows[1].split(',').count(), 2 + 64);
    assert!(vec_rows[1].starts_with("galaxy,space,"));
}
