//! From an experiment to token ids: one prompt per word, GPT-2 byte-level BPE.

use serde::{Deserialize, Serialize};

use super::token_memo::Encode;
use crate::error::{Error, Result};
use crate::experiment::{Experiment, WORD_PLACEHOLDER};

/// tokenizer.json with every field but "decoder" skipped (their syntax is still checked).
#[derive(Deserialize)]
struct Outline {
    #[serde(default)]
    #[allow(dead_code)]
    decoder: Option<serde_json::Value>,
}

pub struct Gpt2Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Gpt2Tokenizer {
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        // tokenizers panics (`expect("Helper")`) on a JSON error inside "decoder": a file cut
        // there, or nested too deep. A panic kills the page's engine, so the JSON's syntax and
        // its decoder are checked first (one pass keeping only the decoder: ~10 ms).
        serde_json::from_slice::<Outline>(json)
            .map_err(|e| Error::Tokenizer(format!("cannot load tokenizer.json: invalid JSON: {e}")))?;
        // A BPE file (GPT-2's) is read leaner (see tokenizer_json.rs); any other the crate's way,
        // which also gives its error message.
        let inner = match super::tokenizer_json::read_bpe(json) {
            Some(t) => t,
            None => tokenizers::Tokenizer::from_bytes(json)
                .map_err(|e| Error::Tokenizer(format!("cannot load tokenizer.json: {e}")))?,
        };
        Ok(Self { inner })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(format!("cannot encode {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The tokens' text, for showing how a word was split.
    pub fn token_strings(&self, ids: &[u32]) -> Vec<String> {
        ids.iter().map(|&id| self.inner.id_to_token(id).unwrap_or_default()).collect()
    }
}

/// One word's prompt and its tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub word: String,
    pub category: String,
    pub prompt: String,
    pub token_ids: Vec<u32>,
    /// The word's own tokens where it stands in the prompt (when the template's text merges
    /// into the word's tokens, the word's tokens on its own, with its leading space).
    pub word_token_ids: Vec<u32>,
    /// The word is one GPT-2 token of the prompt. When false the analysis still uses the
    /// prompt's last token, as the lecture does.
    pub single_token: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prompts {
    pub items: Vec<Prompt>,
    /// Category index of each prompt.
    pub labels: Vec<usize>,
}

/// The word's tokens inside a prompt: what lies between the template's prefix and suffix tokens,
/// or None when the template's text and the word merge into shared tokens.
fn word_span<'a>(prompt: &'a [u32], prefix: &[u32], suffix: &[u32]) -> Option<&'a [u32]> {
    let rest = prompt.strip_prefix(prefix)?;
    let word = rest.strip_suffix(suffix)?;
    (!word.is_empty()).then_some(word)
}

impl Prompts {
    pub fn new(experiment: &Experiment, tokenizer: &impl Encode) -> Result<Self> {
        let space = if experiment.word_follows_space() { " " } else { "" };
        // Validation requires the placeholder, but this is public: without one, slicing the
        // template after it would panic.
        let Some(at) = experiment.template.find(WORD_PLACEHOLDER) else {
            return Err(Error::Experiment(format!(
                "template {:?} has no {WORD_PLACEHOLDER} placeholder",
                experiment.template
            )));
        };
        // GPT-2 folds the space before a word into the word's token, so the prefix is encoded
        // without its trailing whitespace to find where the word's tokens start.
        let prefix_ids = tokenizer.encode(experiment.template[..at].trim_end())?;
        let mut items = Vec::new();
        for (ci, word) in experiment.words() {
            let prompt = experiment.prompt(word);
            let token_ids = tokenizer.encode(&prompt)?;
            if token_ids.is_empty() {
                return Err(Error::Prompt {
                    prompt,
                    detail: "encodes to no tokens".into(),
                });
            }
            let suffix = experiment.template[at + WORD_PLACEHOLDER.len()..].replace(WORD_PLACEHOLDER, word);
            let suffix_ids = tokenizer.encode(&suffix)?;
            let in_prompt = word_span(&token_ids, &prefix_ids, &suffix_ids);
            let single_token = in_prompt.is_some_and(|w| w.len() == 1);
            let word_token_ids = match in_prompt {
                Some(w) => w.to_vec(),
                None => tokenizer.encode(&format!("{space}{word}"))?,
            };
            items.push(Prompt {
                word: word.to_string(),
                category: experiment.categories[ci].name.clone(),
                prompt,
                token_ids,
                word_token_ids,
                single_token,
            });
        }
        Ok(Prompts {
            items,
            labels: experiment.labels(),
        })
    }

    pub fn token_ids(&self) -> Vec<Vec<u32>> {
        self.items.iter().map(|p| p.token_ids.clone()).collect()
    }

    pub fn multi_token_words(&self) -> Vec<&Prompt> {
        self.items.iter().filter(|p| !p.single_token).collect()
    }

    pub fn max_len(&self) -> usize {
        self.items.iter().map(|p| p.token_ids.len()).max().unwrap_or(0)
    }
}
