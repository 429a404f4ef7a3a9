//! Tables of a result as CSV (the page's exports): matrices with word headers, vectors per word.

use crate::result::RunResult;

/// A field quoted when it holds a comma, quote or line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
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
    vec![
        (format!("q-cosine-L{l}.csv"), matrix_csv(&words, &result.q.cosine)),
        (format!("k-cosine-L{l}.csv"), matrix_csv(&words, &result.k.cosine)),
        (format!("q-vectors-L{l}.csv"), vectors_csv(result, &result.q.vectors)),
        (format!("k-vectors-L{l}.csv"), vectors_csv(result, &result.k.vectors)),
    ]
}
