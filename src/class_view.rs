//! The class view: many students' result JSON files side by side, one row each (who, model,
//! layer, template, categories) with selectivity of Q and K and RSA r. Pure: the page reads the
//! files and draws the rows.

use crate::result::RunResult;

/// One student's run.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassRow {
    /// The file's name without `.json`: who made it, as the class names its files.
    pub who: String,
    pub model: String,
    pub layer: usize,
    pub template: String,
    /// "space (10), interior (13), fruit (11)".
    pub categories: String,
    pub selectivity_q: Option<f64>,
    pub selectivity_k: Option<f64>,
    pub rsa_r: Option<f64>,
}

impl ClassRow {
    pub fn of(who: &str, r: &RunResult) -> Self {
        let categories: Vec<String> = r
            .experiment
            .categories
            .iter()
            .map(|c| format!("{} ({})", c.name, c.words.len()))
            .collect();
        ClassRow {
            who: who.trim_end_matches(".json").to_string(),
            model: r.experiment.model.clone(),
            layer: r.layer,
            template: r.experiment.template.clone(),
            categories: categories.join(", "),
            selectivity_q: r.q.selectivity,
            selectivity_k: r.k.selectivity,
            rsa_r: r.rsa.r,
        }
    }
}

/// Rows of the files that are results (in the order given), and why each other file is not.
pub fn class_rows(files: &[(String, String)]) -> (Vec<ClassRow>, Vec<String>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files {
        match serde_json::from_str::<RunResult>(text) {
            Ok(r) => rows.push(ClassRow::of(name, &r)),
            Err(e) => errors.push(format!("{name}: not a QK Lens result ({e})")),
        }
    }
    (rows, errors)
}

/// The range a bar chart of the rows' numbers spans: [min(0, smallest), largest], never empty.
pub fn value_range(rows: &[ClassRow]) -> (f64, f64) {
    let values = rows
        .iter()
        .flat_map(|r| [r.selectivity_q, r.selectivity_k, r.rsa_r])
        .flatten();
    let (lo, hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}
