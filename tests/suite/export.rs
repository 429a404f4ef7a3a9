//! CSV exports: headers, quoting, and values that read back as the result's.

use crate::common::*;
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
        [
            "q-cosine-L1.csv",
            "k-cosine-L1.csv",
            "q-vectors-L1.csv",
            "k-vectors-L1.csv",
            "summary-L1.csv"
        ]
    );
    // The summary's numbers read back as the result's (medians included), Q then K.
    let summary: Vec<Vec<&str>> = files[4].1.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        summary[0],
        [
            "space",
            "selectivity",
            "within_mean",
            "across_mean",
            "within_median",
            "across_median",
            "rsa_r"
        ]
    );
    assert_eq!(summary.len(), 3, "header, q, k");
    for (row, space) in summary[1..].iter().zip([&result.q, &result.k]) {
        let num = |i: usize| row[i].parse::<f64>().unwrap();
        assert_eq!(num(1), space.selectivity.unwrap());
        assert_eq!(num(4), space.within_median.unwrap());
        assert_eq!(num(5), space.across_median.unwrap());
        assert_eq!(num(6), result.rsa.r.unwrap());
    }
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

#[test]
fn words_a_spreadsheet_would_run_are_defused() {
    let words: Vec<String> = ["=1+1", "+x", "-ing", "@sum", "a=b", "=a,b"].map(String::from).into();
    let csv = matrix_csv(&words, &vec![vec![0.0; 6]; 6]);
    let header = csv.lines().next().unwrap();
    assert_eq!(header, "word,'=1+1,'+x,'-ing,'@sum,a=b,\"'=a,b\"");
    assert!(csv.lines().skip(1).all(|row| !row.starts_with(['=', '+', '-', '@'])));
}

#[test]
fn v_layers_and_heads_are_exported_when_computed() {
    use qk_lens::analysis::report::{ExtendedOptions, StatOptions};
    let options = ExtendedOptions {
        all_layers: true,
        heads: true,
        v: true,
        statistics: Some(StatOptions {
            permutations: 19,
            ..StatOptions::default()
        }),
        ..Default::default()
    };
    let (result, _) = run_with_options("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1")), &options);
    let files = csv_files(&result);
    let get = |name: &str| &files.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1;
    let v_rows: Vec<&str> = get("v-cosine-L1.csv").lines().collect();
    let v_row3: Vec<f64> = v_rows[4].split(',').skip(1).map(|v| v.parse().unwrap()).collect();
    assert_eq!(v_row3, result.v.as_ref().unwrap().cosine[3]);
    let layers: Vec<Vec<String>> = get("layers.csv")
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(
        layers[0][..4],
        ["layer", "q_selectivity", "q_p", "k_selectivity"].map(String::from)
    );
    assert_eq!(layers.len(), 1 + result.model.n_layer);
    let want = &result.layers.as_ref().unwrap()[2];
    assert_eq!(layers[3][0], "2");
    assert_eq!(layers[3][1].parse::<f64>().unwrap(), want.q.selectivity.unwrap());
    assert_eq!(layers[3][2].parse::<f64>().unwrap(), want.q.p.unwrap());
    assert_eq!(layers[3][7].parse::<f64>().unwrap(), want.rsa.r.unwrap());
    let heads = get("heads.csv");
    assert_eq!(heads.lines().count(), 1 + result.model.n_layer * result.model.n_head);
    assert!(heads.starts_with("layer,head,q_selectivity"));
    // Without the options, only the lecture's five files.
    assert_eq!(
        csv_files(&run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap()).len(),
        5
    );
}
