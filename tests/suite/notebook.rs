//! The "Check it in Python" notebook: valid nbformat 4 JSON, a papermill parameters cell holding
//! this run's values (read back with a small Python-literal reader), the page's result embedded
//! exactly, and odd words (quotes, backslashes, line breaks, Unicode) surviving both escapings.
//! Executing it with PyTorch is scripts/check-notebook.sh's job (not in CI).

use std::collections::HashSet;

use crate::common::*;
use qk_lens::export::notebook::py_str;
use qk_lens::export::{notebook_file_name, notebook_ipynb};
use qk_lens::{Category, Experiment, RunResult};
use serde_json::Value;

/// A Python value as the parameters cell writes it: string literals ('' or ""), lists, dicts,
/// whole numbers.
#[derive(Debug, PartialEq)]
enum Py {
    Str(String),
    Int(i64),
    List(Vec<Py>),
    Dict(Vec<(String, Py)>),
}

/// Reads Python literals from text; panics on anything else (a test failure).
struct Reader<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            chars: text.chars().peekable(),
        }
    }

    fn skip_space(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn expect(&mut self, want: char) {
        self.skip_space();
        assert_eq!(self.chars.next(), Some(want));
    }

    fn hex(&mut self, digits: usize) -> char {
        let text: String = (0..digits).map(|_| self.chars.next().unwrap()).collect();
        char::from_u32(u32::from_str_radix(&text, 16).unwrap()).unwrap()
    }

    fn string(&mut self) -> String {
        let quote = self.chars.next().unwrap();
        let mut out = String::new();
        loop {
            match self.chars.next().expect("an unterminated string") {
                c if c == quote => return out,
                '\n' | '\r' => panic!("a line break inside a one-line string literal"),
                '\\' => match self.chars.next().unwrap() {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'x' => out.push(self.hex(2)),
                    'u' => out.push(self.hex(4)),
                    c @ ('\\' | '"' | '\'') => out.push(c),
                    c => panic!("an escape Python reads differently: \\{c}"),
                },
                c => out.push(c),
            }
        }
    }

    /// Items up to `close`, each read by `item`, a trailing comma allowed.
    fn items<T>(&mut self, close: char, mut item: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let mut out = Vec::new();
        loop {
            self.skip_space();
            if self.chars.peek() == Some(&close) {
                self.chars.next();
                return out;
            }
            out.push(item(self));
            self.skip_space();
            if self.chars.peek() == Some(&',') {
                self.chars.next();
            }
        }
    }

    fn value(&mut self) -> Py {
        self.skip_space();
        match *self.chars.peek().expect("a value") {
            '"' | '\'' => Py::Str(self.string()),
            '[' => {
                self.chars.next();
                Py::List(self.items(']', Self::value))
            }
            '{' => {
                self.chars.next();
                Py::Dict(self.items('}', |r| {
                    r.skip_space();
                    let key = r.string();
                    r.expect(':');
                    (key, r.value())
                }))
            }
            _ => {
                let mut digits = String::new();
                while self.chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                    digits.push(self.chars.next().unwrap());
                }
                Py::Int(digits.parse().unwrap_or_else(|_| panic!("not a literal: {digits:?}")))
            }
        }
    }
}

/// `NAME = <literal>` in a cell's source: the literal (a trailing `# comment` is ignored).
fn assignment(source: &str, name: &str) -> Py {
    let at = source
        .find(&format!("\n{name} = "))
        .map(|i| i + 1)
        .or_else(|| source.starts_with(&format!("{name} = ")).then_some(0))
        .unwrap_or_else(|| panic!("{name} is not set in:\n{source}"));
    Reader::new(&source[at + name.len() + 3..]).value()
}

fn source(cell: &Value) -> String {
    let lines = cell["source"].as_array().expect("source is a list of lines");
    lines.iter().map(|l| l.as_str().expect("a line is a string")).collect()
}

fn tags(cell: &Value) -> Vec<&str> {
    cell["metadata"]["tags"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The notebook's JSON, checked against nbformat 4.5's structure.
fn notebook_of(result: &RunResult, model: &str) -> Value {
    let nb: Value = serde_json::from_str(&notebook_ipynb(result, model)).expect("the notebook is JSON");
    assert_eq!(nb["nbformat"], 4);
    assert_eq!(nb["nbformat_minor"], 5);
    assert_eq!(nb["metadata"]["kernelspec"]["name"], "python3");
    assert_eq!(nb["metadata"]["language_info"]["name"], "python");
    let cells = nb["cells"].as_array().expect("cells");
    let mut ids = HashSet::new();
    for cell in cells {
        let id = cell["id"].as_str().expect("nbformat 4.5 cells have ids");
        assert!((1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(ids.insert(id.to_string()), "cell id {id} is used twice");
        assert!(cell["metadata"].is_object());
        let lines = cell["source"].as_array().expect("source is a list");
        assert!(!lines.is_empty(), "an empty cell");
        for (i, line) in lines.iter().enumerate() {
            let line = line.as_str().unwrap();
            assert_eq!(
                line.ends_with('\n'),
                i + 1 < lines.len(),
                "lines end in \\n, all but the last"
            );
            assert!(!line[..line.len() - usize::from(line.ends_with('\n'))].contains('\n'));
            // Python (and str.splitlines) would break a line at these: they only appear escaped.
            assert!(!line.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']), "{line:?}");
        }
        match cell["cell_type"].as_str() {
            Some("code") => {
                assert_eq!(cell["outputs"], Value::Array(vec![]));
                assert!(cell["execution_count"].is_null());
                assert_eq!(
                    cell.as_object().unwrap().len(),
                    6,
                    "id, cell_type, metadata, source, outputs, execution_count"
                );
            }
            Some("markdown") => assert_eq!(cell.as_object().unwrap().len(), 4, "id, cell_type, metadata, source"),
            other => panic!("cell type {other:?}"),
        }
    }
    nb
}

fn code_cells(nb: &Value) -> Vec<&Value> {
    nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .collect()
}

/// Checks the parameters cell sets MODEL, LAYER, TEMPLATE and CATEGORIES to the run's values.
fn check_parameters(nb: &Value, result: &RunResult, model: &str) {
    let first = code_cells(nb)[0];
    assert_eq!(tags(first), ["parameters"]);
    let text = source(first);
    assert_eq!(assignment(&text, "MODEL"), Py::Str(model.to_string()));
    assert_eq!(assignment(&text, "LAYER"), Py::Int(result.layer as i64));
    assert_eq!(assignment(&text, "TEMPLATE"), Py::Str(result.experiment.template.clone()));
    let categories = result
        .experiment
        .categories
        .iter()
        .map(|c| (c.name.clone(), Py::List(c.words.iter().cloned().map(Py::Str).collect())))
        .collect();
    assert_eq!(assignment(&text, "CATEGORIES"), Py::Dict(categories));
}

/// The result embedded in the notebook (the `json.loads` string of the cell tagged page-result).
fn embedded_result(nb: &Value) -> String {
    let cells = code_cells(nb);
    let cell = cells
        .iter()
        .find(|c| tags(c).contains(&"page-result"))
        .expect("a page-result cell");
    let text = source(cell);
    let call = text.find("PAGE_RESULT = json.loads(").expect("PAGE_RESULT is set");
    let Py::Str(json) = Reader::new(&text[call + "PAGE_RESULT = json.loads(".len()..]).value() else {
        panic!("json.loads of a string")
    };
    json
}

fn lecture_result() -> RunResult {
    run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L3"))).unwrap()
}

fn four_category_result() -> RunResult {
    let cat = |name: &str, words: &[&str]| Category {
        name: name.into(),
        words: words.iter().map(|w| w.to_string()).collect(),
    };
    let experiment = Experiment {
        model: "tiny-gpt2-hub".into(),
        layer: 2,
        template: "Word: \"{word}\" \\ next".into(),
        categories: vec![
            cat("animals", &["dog", "cat", "horse", "hippopotamus"]),
            cat("tools", &["hammer", "saw", "drill"]),
            cat(
                "say \"odd\" \\ things",
                &["\"quoted\"", "back\\slash", "it's", "naïve", "日本語", "🙂"],
            ),
            cat(
                "breaks",
                &["line\nbreak", "tab\there", "cr\rhere", "nel\u{85}sep\u{2028}", "bell\u{7}"],
            ),
        ],
    };
    run_model("tiny-gpt2-hub", &experiment).unwrap()
}

#[test]
fn the_lecture_notebook_is_nbformat_4_with_the_runs_parameters() {
    let result = lecture_result();
    assert_eq!(
        (result.layer, result.words.len(), result.experiment.categories.len()),
        (3, 34, 3)
    );
    let model = "/models/tiny-gpt2-hub/";
    let nb = notebook_of(&result, model);
    check_parameters(&nb, &result, model);
    let cells = nb["cells"].as_array().unwrap();
    assert_eq!(cells[0]["cell_type"], "markdown", "a title first");
    // The lecture's hook, the four analyses and the final check are there, the check last.
    let all: String = code_cells(&nb).iter().map(|c| source(c)).collect();
    for needle in [
        "model.transformer.h[LAYER].attn.c_attn.register_forward_hook",
        "split(model.config.n_embd, dim=2)",
        "np.histogram(CQ[upper], bins=20)",
        "def selectivity(C)",
        "def rsa(A, B)",
        "plt.show()",
    ] {
        assert!(all.contains(needle), "no {needle:?}");
    }
    let last = source(cells.last().unwrap());
    assert!(last.contains("assert not failed"), "the last cell asserts: {last}");
    assert_eq!(embedded_result(&nb), result.to_json(), "the page's result, exactly");
    assert_eq!(notebook_file_name(&result), "qk-lens-check-L3.ipynb");
}

#[test]
fn four_categories_and_odd_words_survive_both_escapings() {
    let result = four_category_result();
    assert_eq!(result.experiment.categories.len(), 4);
    let model = "https://example.org/models/it's \"here\"/";
    let nb = notebook_of(&result, model);
    check_parameters(&nb, &result, model);
    let embedded = embedded_result(&nb);
    assert_eq!(embedded, result.to_json());
    let back: RunResult = serde_json::from_str(&embedded).unwrap();
    assert_eq!(back.experiment, result.experiment);
    assert_eq!(back.words, result.words);
    assert_eq!(back.rsa.per_category.len(), 4);
}

#[test]
fn an_unknown_model_leaves_model_empty() {
    let result = lecture_result();
    let nb = notebook_of(&result, "");
    check_parameters(&nb, &result, "");
    assert_eq!(nb["metadata"]["qk_lens"]["model"], "");
}

#[test]
fn python_string_literals_escape_what_python_reads_differently() {
    assert_eq!(py_str("plain", '"'), "\"plain\"");
    assert_eq!(py_str(r#"a"b'c\d"#, '"'), r#""a\"b'c\\d""#);
    assert_eq!(py_str(r#"a"b'c"#, '\''), r#"'a"b\'c'"#);
    assert_eq!(py_str("1\n2\r3\t4\u{0}5\u{7f}", '"'), r#""1\n2\r3\t4\x005\x7f""#);
    assert_eq!(py_str("\u{85}\u{2028}\u{2029}", '"'), r#""\u0085\u2028\u2029""#);
    assert_eq!(py_str("naïve 日本 🙂", '"'), "\"naïve 日本 🙂\"");
    for s in ["\\", "\\\"", "'\\'", "x\\u0041", "\\x41"] {
        for quote in ['"', '\''] {
            assert_eq!(Reader::new(&py_str(s, quote)).string(), s);
        }
    }
}
