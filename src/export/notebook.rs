//! "Check it in Python": a Jupyter notebook (nbformat 4.5) that reproduces a result with PyTorch
//! and transformers, as the lecture did (a forward hook on block L's `attn.c_attn`), draws the
//! lecture's figures with matplotlib, and ends by asserting that its numbers equal the page's
//! result (embedded in the notebook) within 1e-4.
//!
//! Its first code cell is tagged `parameters` (papermill) and sets `MODEL`, `LAYER`, `TEMPLATE`
//! and `CATEGORIES` to the run's values. The Python of the other cells is in `notebook_cells.py`
//! (the analysis and figures) and `notebook_check.py` (the embedded result and the comparison),
//! in the percent format (`# %%` starts a code cell, `# %% [markdown]` a markdown cell), so it
//! reads as Python; this file only fills in the run's values.

use serde_json::{json, Value};

use crate::result::RunResult;

/// The cells after the parameters cell: the analysis, then the page's result and the check.
const CELLS: &str = concat!(include_str!("notebook_cells.py"), include_str!("notebook_check.py"));
const CELL_MARK: &str = "# %%";
/// Where the page's result goes among [`CELLS`].
const RESULT_MARK: &str = "# %% [page-result]";
const MARKDOWN_MARK: &str = "# %% [markdown]";
/// Lines of the parameters cell are wrapped at this width.
const WIDTH: usize = 96;

/// The notebook (`.ipynb` JSON) that checks `result` in Python. `model` is what `MODEL` is set
/// to: a hub id, a model folder, or the folder's URL as the page read it; empty when unknown
/// (files picked from disk: the notebook then asks for the folder).
pub fn notebook_ipynb(result: &RunResult, model: &str) -> String {
    let mut cells = vec![markdown(&title(result)), parameters_cell(result, model)];
    cells.extend(template_cells(result));
    for (i, cell) in cells.iter_mut().enumerate() {
        cell["id"] = json!(format!("qk-cell-{i:02}"));
    }
    let notebook = json!({
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "qk_lens": {"exported_by": format!("QK Lens {}", env!("CARGO_PKG_VERSION")), "model": model, "layer": result.layer},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    serde_json::to_string_pretty(&notebook).expect("a notebook always serialises") + "\n"
}

/// The notebook's file name for a result.
pub fn notebook_file_name(result: &RunResult) -> String {
    format!("qk-lens-check-L{}.ipynb", result.layer)
}

/// A Python string literal holding `s` exactly, in `quote`s (`"` or `'`): backslashes, the quote
/// and control characters escaped, and the characters Python's `str.splitlines` breaks at, so the
/// literal stays on one line; everything else (any Unicode) as it is.
pub fn py_str(s: &str, quote: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            '\u{85}' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A notebook cell's source: its lines, each but the last ending in `\n`.
fn source_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

fn code(text: &str, metadata: Value) -> Value {
    json!({
        "cell_type": "code",
        "execution_count": null,
        "metadata": metadata,
        "outputs": [],
        "source": source_lines(text),
    })
}

fn markdown(text: &str) -> Value {
    json!({"cell_type": "markdown", "metadata": {}, "source": source_lines(text)})
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "undefined".into(), |v| format!("{v:.4}"))
}

fn title(result: &RunResult) -> String {
    let categories = result.experiment.categories.len();
    format!(
        "# Check it in Python: Q and K of block {layer}\n\n\
         This notebook repeats a QK Lens run with PyTorch and Hugging Face transformers: the same \
         {words} words in {categories} categories, the same prompt template, the same block. It \
         captures each prompt's last-token query and key with a forward hook, compares the words \
         by cosine similarity, computes the selectivity index and RSA, draws the lab's figures, and \
         finally checks every number against the result the page showed (embedded below).\n\n\
         The page found: selectivity Q {sq}, K {sk}; RSA r {r}.\n\n\
         Run all cells (a CPU is enough). The next cell holds the run's parameters; edit them to try \
         another model, block or word list (the final comparison then no longer applies).",
        layer = result.layer,
        words = result.words.len(),
        sq = fmt(result.q.selectivity),
        sk = fmt(result.k.selectivity),
        r = fmt(result.rsa.r),
    )
}

/// A Python list of strings, wrapped at [`WIDTH`] with continuation lines indented by `indent`.
fn py_list(items: &[String], indent: &str, first_line: usize) -> String {
    let mut out = String::from("[");
    let mut line = first_line + 1;
    for (i, item) in items.iter().enumerate() {
        let literal = py_str(item, '"');
        if i > 0 {
            out.push(',');
            line += 1;
            if line + 1 + literal.len() > WIDTH {
                out.push('\n');
                out.push_str(indent);
                line = indent.len();
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(&literal);
        line += literal.len();
    }
    out.push(']');
    out
}

fn parameters_cell(result: &RunResult, model: &str) -> Value {
    let experiment = &result.experiment;
    let mut text = String::from("# The page's run (papermill can replace this cell: it is tagged \"parameters\").\n");
    text += &format!(
        "MODEL = {}  # a hub id, a local model folder, or the folder's URL\n",
        py_str(model, '"')
    );
    text += &format!("LAYER = {}\n", result.layer);
    text += &format!("TEMPLATE = {}\n", py_str(&experiment.template, '"'));
    text += "CATEGORIES = {\n";
    for category in &experiment.categories {
        let key = format!("    {}: ", py_str(&category.name, '"'));
        let words = py_list(&category.words, "        ", key.len());
        text += &format!("{key}{words},\n");
    }
    text += "}";
    code(&text, json!({"tags": ["parameters"]}))
}

/// The cell that defines `PAGE_RESULT`: the result's JSON in a Python string (source collapsed).
fn result_cell(result: &RunResult) -> Value {
    let text = format!(
        "# The page's result JSON, as the page made it.\nPAGE_RESULT = json.loads({})",
        py_str(&result.to_json(), '\'')
    );
    code(&text, json!({"tags": ["page-result"], "jupyter": {"source_hidden": true}}))
}

/// The cells of [`CELLS`], with the result cell in its place.
fn template_cells(result: &RunResult) -> Vec<Value> {
    let starts: Vec<usize> = CELLS.match_indices(&format!("\n{CELL_MARK}")).map(|(i, _)| i + 1).collect();
    let ends = starts.iter().skip(1).copied().chain([CELLS.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| {
            let chunk = &CELLS[start..end];
            let (header, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
            let body = body.trim_matches('\n');
            match header.trim_end() {
                RESULT_MARK => result_cell(result),
                MARKDOWN_MARK => {
                    let lines: Vec<&str> = body
                        .lines()
                        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
                        .collect();
                    markdown(&lines.join("\n"))
                }
                _ => code(body, json!({})),
            }
        })
        .collect()
}
