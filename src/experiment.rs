//! The lab as data: which model, which layer, which prompt template and which words in which
//! categories. The same JSON feeds the CLI, the page's `?experiment=` and `?exp=` (share links).
//! Every rule an experiment must satisfy lives in [`Experiment::validate`].

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const WORD_PLACEHOLDER: &str = "{word}";
pub const LECTURE_MODEL: &str = "openai-community/gpt2-medium";
pub const LECTURE_LAYER: usize = 5;
pub const LECTURE_TEMPLATE: &str = "The next word is {word}";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// A hub repository (`openai-community/gpt2-medium`) or a base URL / path of a model folder.
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_layer")]
    pub layer: usize,
    #[serde(default = "default_template")]
    pub template: String,
    pub categories: Vec<Category>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub name: String,
    pub words: Vec<String>,
}

fn default_model() -> String {
    LECTURE_MODEL.to_string()
}
fn default_layer() -> usize {
    LECTURE_LAYER
}
fn default_template() -> String {
    LECTURE_TEMPLATE.to_string()
}

impl Default for Experiment {
    fn default() -> Self {
        Self::lecture()
    }
}

impl Experiment {
    /// The lecture's experiment: gpt2-medium, block 5, 34 words in 3 categories.
    pub fn lecture() -> Self {
        let cat = |name: &str, words: &str| Category {
            name: name.to_string(),
            words: words.split_whitespace().map(str::to_string).collect(),
        };
        Experiment {
            model: default_model(),
            layer: LECTURE_LAYER,
            template: default_template(),
            categories: vec![
                cat("space", "galaxy asteroid comet cosmos space sun planet moon star orbit"),
                cat(
                    "interior",
                    "ceiling sofa couch carpet door window lamp chair table rug bed floor wall",
                ),
                cat("fruit", "pear grape banana cherry peach apple seed jelly orange lime fruit"),
            ],
        }
    }

    /// Parses and validates experiment JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let exp: Experiment = serde_json::from_str(text).map_err(|e| Error::Experiment(format!("invalid JSON: {e}")))?;
        exp.validate()?;
        Ok(exp)
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("an experiment always serialises")
    }

    /// Checks every rule that does not need the model (the layer range is checked against the
    /// model's config when it is known).
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Experiment(msg));
        if !self.template.contains(WORD_PLACEHOLDER) {
            return bad(format!("template {:?} has no {WORD_PLACEHOLDER} placeholder", self.template));
        }
        if self.categories.is_empty() {
            return bad("there are no categories".into());
        }
        // Hash sets, not lists: a pasted or linked experiment of 100 000 words must not take
        // minutes (a list made this quadratic: 36 s for 100 000 words).
        let mut seen_names: HashSet<&str> = HashSet::new();
        let mut seen_words: HashMap<&str, &str> = HashMap::new();
        for (ci, cat) in self.categories.iter().enumerate() {
            let name = cat.name.trim();
            if name.is_empty() {
                return bad(format!("category #{} has an empty name", ci + 1));
            }
            if !seen_names.insert(name) {
                return bad(format!("category name {name:?} is used twice"));
            }
            if cat.words.is_empty() {
                return bad(format!("category {name:?} has no words"));
            }
            for (wi, word) in cat.words.iter().enumerate() {
                if word.trim().is_empty() {
                    return bad(format!("category {name:?} has an empty word (#{})", wi + 1));
                }
                if let Some(other) = seen_words.insert(word.as_str(), name) {
                    return bad(format!("word {word:?} appears twice (in {other:?} and {name:?})"));
                }
            }
        }
        if seen_words.len() < 2 {
            return bad("at least two words are needed to compare".into());
        }
        Ok(())
    }

    pub fn prompt(&self, word: &str) -> String {
        self.template.replace(WORD_PLACEHOLDER, word)
    }

    /// Every word with the index of its category, in experiment order.
    pub fn words(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        self.categories
            .iter()
            .enumerate()
            .flat_map(|(ci, c)| c.words.iter().map(move |w| (ci, w.as_str())))
    }

    /// Category index of every word, in experiment order.
    pub fn labels(&self) -> Vec<usize> {
        self.words().map(|(ci, _)| ci).collect()
    }

    /// How many words the categories hold in all.
    pub fn word_count(&self) -> usize {
        self.categories.iter().map(|c| c.words.len()).sum()
    }

    pub fn category_names(&self) -> Vec<String> {
        self.categories.iter().map(|c| c.name.clone()).collect()
    }

    /// Whether the template puts a space right before the word, as GPT-2's byte-level BPE then
    /// folds that space into the word's first token (" galaxy" is one token).
    pub fn word_follows_space(&self) -> bool {
        let before = &self.template[..self.template.find(WORD_PLACEHOLDER).unwrap_or(0)];
        before.ends_with(' ')
    }
}

/// Where a model's files live: a hub repository id maps to its `resolve/main/` folder; a URL or
/// path (anything with `://`, or starting with `/` or `.`) is used as given. Always ends in `/`.
pub fn model_base_url(model: &str) -> String {
    let model = model.trim();
    let base = if is_hub_repo(model) {
        format!("https://huggingface.co/{}/resolve/main/", model.trim_matches('/'))
    } else {
        model.to_string()
    };
    if base.ends_with('/') {
        base
    } else {
        base + "/"
    }
}

/// Whether `model` names a hub repository (`openai-community/gpt2`) rather than a URL or path
/// (anything with `://`, or starting with `/` or `.`).
pub fn is_hub_repo(model: &str) -> bool {
    let model = model.trim();
    !(model.contains("://") || model.starts_with('/') || model.starts_with('.'))
}

/// Words typed as text: separated by commas or new lines, trimmed, empty pieces dropped.
pub fn parse_words(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}
