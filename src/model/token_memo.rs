//! Token ids remembered between visits: a reload of the page tokenises the same prompts with
//! the same tokenizer.json, and parsing that file (~200 ms in the browser, then ~70 ms more for
//! the first encodings) was the slowest step of opening a stored model. A memo holds the ids of
//! every text a run encoded, for one tokenizer: the crc32 and length of its tokenizer.json and
//! this build's version (the BPE code is part of the answer). A run whose texts are all in the
//! memo never parses the file; one new text, and it is parsed as before.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::prompts::{Gpt2Tokenizer, Prompts};
use crate::error::{Error, Result};
use crate::experiment::Experiment;

/// At most this many texts are remembered (about 40 bytes each): past it, the memo keeps only
/// the last run's. The lecture's experiment encodes ~100.
const MAX_TEXTS: usize = 4096;

/// Text -> token ids, as one tokenizer encodes (without special tokens).
pub trait Encode {
    fn encode(&self, text: &str) -> Result<Vec<u32>>;
}

impl Encode for Gpt2Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Gpt2Tokenizer::encode(self, text)
    }
}

/// Names a tokenizer: its tokenizer.json's crc32 and length, and this build.
pub fn tokenizer_id(json: &[u8]) -> String {
    format!(
        "qk-lens {} crc32 {:08x} len {}",
        env!("CARGO_PKG_VERSION"),
        crc32fast::hash(json),
        json.len()
    )
}

/// The texts one tokenizer encoded, and their ids.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenMemo {
    /// [`tokenizer_id`] of the tokenizer that encoded them.
    pub tokenizer: String,
    pub texts: BTreeMap<String, Vec<u32>>,
}

impl TokenMemo {
    pub fn new(tokenizer: String) -> Self {
        TokenMemo {
            tokenizer,
            texts: BTreeMap::new(),
        }
    }

    /// The memo stored as `json`, if it is one of the tokenizer `id` (else None: unreadable, or
    /// another tokenizer's).
    pub fn from_json(json: &[u8], id: &str) -> Option<Self> {
        serde_json::from_slice::<TokenMemo>(json).ok().filter(|m| m.tokenizer == id)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a token memo serialises")
    }

    /// Adds what a run encoded; true when the memo changed.
    pub fn learn(&mut self, encoded: Vec<(String, Vec<u32>)>) -> bool {
        let new: Vec<_> = encoded.into_iter().filter(|(t, _)| !self.texts.contains_key(t)).collect();
        if new.is_empty() {
            return false;
        }
        if self.texts.len() + new.len() > MAX_TEXTS {
            self.texts.clear();
        }
        self.texts.extend(new);
        true
    }
}

impl TokenMemo {
    /// Adds what `other` holds if it is of the same tokenizer (else nothing); true when the
    /// memo changed.
    pub fn learn_from(&mut self, other: &TokenMemo) -> bool {
        let new: Vec<_> = match other.tokenizer == self.tokenizer {
            true => other
                .texts
                .iter()
                .filter(|(t, _)| !self.texts.contains_key(*t))
                .map(|(t, ids)| (t.clone(), ids.clone()))
                .collect(),
            false => Vec::new(),
        };
        self.learn(new)
    }
}

/// The texts `experiment`'s prompts encode, with their ids by `tokenizer` (named `id`): what a
/// run elsewhere needs to skip its own tokenizer (the page sends them to the engine). None
/// when the experiment does not encode.
pub fn encodings_of(experiment: &Experiment, tokenizer: &Gpt2Tokenizer, id: &str) -> Option<TokenMemo> {
    let none = TokenMemo::new(id.to_string());
    let encoder = Remembering::new(&none, Some(tokenizer));
    Prompts::new(experiment, &encoder).ok()?;
    let mut memo = TokenMemo::new(id.to_string());
    memo.learn(encoder.encoded());
    Some(memo)
}

/// Encodes from a memo, and with the tokenizer (when parsed) what the memo lacks, noting it.
/// Without a tokenizer, a text the memo lacks fails the encoding and [`Self::missed`] says so.
pub struct Remembering<'a> {
    memo: &'a TokenMemo,
    tokenizer: Option<&'a Gpt2Tokenizer>,
    encoded: RefCell<Vec<(String, Vec<u32>)>>,
    missed: Cell<bool>,
}

impl<'a> Remembering<'a> {
    pub fn new(memo: &'a TokenMemo, tokenizer: Option<&'a Gpt2Tokenizer>) -> Self {
        Remembering {
            memo,
            tokenizer,
            encoded: RefCell::new(Vec::new()),
            missed: Cell::new(false),
        }
    }

    /// A text was not in the memo and no tokenizer was there to encode it.
    pub fn missed(&self) -> bool {
        self.missed.get()
    }

    /// Every text encoded so far with its ids (from the memo or the tokenizer).
    pub fn encoded(self) -> Vec<(String, Vec<u32>)> {
        self.encoded.into_inner()
    }
}

impl Encode for Remembering<'_> {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let ids = match (self.memo.texts.get(text), self.tokenizer) {
            (Some(ids), _) => ids.clone(),
            (None, Some(tokenizer)) => tokenizer.encode(text)?,
            (None, None) => {
                self.missed.set(true);
                return Err(Error::Tokenizer(format!("{text:?} is not among the remembered encodings")));
            }
        };
        self.encoded.borrow_mut().push((text.to_string(), ids.clone()));
        Ok(ids)
    }
}
