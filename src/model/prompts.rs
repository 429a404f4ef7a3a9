//! From an experiment to token ids: one prompt per word, GPT-2 byte-level BPE.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::Experiment;

pub struct Gpt2Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Gpt2Tokenizer {
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(json).map_err(|e| Error::Tokenizer(format!("cannot load tokenizer.json: {e}")))?;
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
    /// The word is one GPT-2 token where it stands in the template. When false the analysis
    /// still uses the prompt's last token, as the lecture does.
    pub single_token: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prompts {
    pub items: Vec<Prompt>,
    /// Category index of each prompt.
    pub labels: Vec<usize>,
}

impl Prompts {
    pub fn new(experiment: &Experiment, tokenizer: &Gpt2Tokenizer) -> Result<Self> {
        let space = if experiment.word_follows_space() { " " } else { "" };
        let mut items = Vec::new();
        for (ci, word) in experiment.words() {
            let prompt = experiment.prompt(word);
            let token_ids = tokenizer.encode(&prompt)?;
            if token_ids.is_empty() {
                return Err(Error::Prompt { prompt, detail: "encodes to no tokens".into() });
            }
            let single_token = tokenizer.encode(&format!("{space}{word}"))?.len() == 1;
            items.push(Prompt {
                word: word.to_string(),
                category: experiment.categories[ci].name.clone(),
                prompt,
                token_ids,
                single_token,
            });
        }
        Ok(Prompts { items, labels: experiment.labels() })
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
