//! The page's exports of a result: tables as CSV (matrices with word headers, vectors per word,
//! the layer sweep and per-head summaries), and [`notebook`], the Jupyter notebook that checks
//! the result in Python.

pub mod notebook;

pub use notebook::{notebook_file_name, notebook_ipynb};

use crate::analysis::sweep::{RsaSummary, SpaceSummary};
use crate::result::RunResult;

/// A field quoted when it holds a comma, quote or line break (RFC 4180). A word that a
/// spreadsheet would read as a formula (=, +, -, @, tab or CR first) gets a leading apostrophe,
/// so a shared experiment cannot plant one (OWASP's CSV-injection advice).
fn field(s: &str) -> String {
    let s = match s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{s}"),
        false => s.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

const SUMMARY_HEADER: &str = "q_selectivity,q_p,k_selectivity,k_p,v_selectivity,v_p,rsa_r,rsa_p,rsa_rho";

/// The summary columns of a layer or head (empty cells where a value is undefined or untested).
fn summary_row(q: &SpaceSummary, k: &SpaceSummary, v: &SpaceSummary, rsa: &RsaSummary) -> String {
    [q, k, v]
        .iter()
        .flat_map(|s| [opt(s.selectivity), opt(s.p)])
        .chain([opt(rsa.r), opt(rsa.p), opt(rsa.rho)])
        .collect::<Vec<_>>()
        .join(",")
}

/// The lecture's numbers of each space (Q, K, and V when analysed), one row each, and RSA r.
pub fn summary_csv(result: &RunResult) -> String {
    let mut out = String::from("space,selectivity,within_mean,across_mean,within_median,across_median,rsa_r\n");
    let spaces = [("q", Some(&result.q)), ("k", Some(&result.k)), ("v", result.v.as_ref())];
    for (name, space) in spaces.iter().filter_map(|(n, s)| Some((n, (*s)?))) {
        let values = [
            space.selectivity,
            space.within_mean,
            space.across_mean,
            space.within_median,
            space.across_median,
            result.rsa.r,
        ];
        out.push_str(name);
        for v in values {
            out.push(',');
            out.push_str(&opt(v));
        }
        out.push('\n');
    }
    out
}

/// A square matrix with the words as header row and first column.
pub fn matrix_csv(words: &[String], matrix: &[Vec<f64>]) -> String {
    let mut out = String::from("word");
    for w in words {
        out.push(',');
        out.push_str(&field(w));
    }
    out.push('\n');
    for (w, row) in words.iter().zip(matrix) {
        out.push_str(&field(w));
        for v in row {
            out.push_str(&format!(",{v}"));
        }
        out.push('\n');
    }
    out
}

/// One row per word: word, category, then the vector's components.
pub fn vectors_csv(result: &RunResult, vectors: &[Vec<f32>]) -> String {
    let dims = vectors.first().map_or(0, Vec::len);
    let mut out = String::from("word,category");
    for d in 0..dims {
        out.push_str(&format!(",d{d}"));
    }
    out.push('\n');
    for (w, v) in result.words.iter().zip(vectors) {
        out.push_str(&format!("{},{}", field(&w.word), field(&w.category)));
        for x in v {
            out.push_str(&format!(",{x}"));
        }
        out.push('\n');
    }
    out
}

/// The CSV exports of a result: (file name, contents).
pub fn csv_files(result: &RunResult) -> Vec<(String, String)> {
    let words: Vec<String> = result.words.iter().map(|w| w.word.clone()).collect();
    let l = result.layer;
    let mut files = vec![
        (format!("q-cosine-L{l}.csv"), matrix_csv(&words, &result.q.cosine)),
        (format!("k-cosine-L{l}.csv"), matrix_csv(&words, &result.k.cosine)),
        (format!("q-vectors-L{l}.csv"), vectors_csv(result, &result.q.vectors)),
        (format!("k-vectors-L{l}.csv"), vectors_csv(result, &result.k.vectors)),
        (format!("summary-L{l}.csv"), summary_csv(result)),
    ];
    if let Some(v) = &result.v {
        files.push((format!("v-cosine-L{l}.csv"), matrix_csv(&words, &v.cosine)));
        files.push((format!("v-vectors-L{l}.csv"), vectors_csv(result, &v.vectors)));
    }
    if let Some(layers) = &result.layers {
        let rows = layers
            .iter()
            .map(|s| format!("{},{}\n", s.layer, summary_row(&s.q, &s.k, &s.v, &s.rsa)));
        files.push((
            "layers.csv".into(),
            format!("layer,{SUMMARY_HEADER}\n") + &rows.collect::<String>(),
        ));
    }
    if let Some(heads) = &result.heads {
        let rows = heads
            .iter()
            .map(|s| format!("{},{},{}\n", s.layer, s.head, summary_row(&s.q, &s.k, &s.v, &s.rsa)));
        files.push((
            "heads.csv".into(),
            format!("layer,head,{SUMMARY_HEADER}\n") + &rows.collect::<String>(),
        ));
    }
    files
}
