//! Each word's GPT-2 tokens, as the editor shows them. Computed by the reducer when a
//! category's words, the template's space before `{word}` or the tokenizer change, so a render
//! only reads them (tokenising 34 words on every keystroke's render was the page's slowest part).

use std::fmt;
use std::rc::Rc;

use crate::experiment::{parse_words, Category};
use crate::model::Gpt2Tokenizer;

/// The GPT-2 tokenizer, loaded once in the page, and its name (`model::token_memo::tokenizer_id`
/// of its file). Equal when it is the same one (no deep compare).
#[derive(Clone)]
pub struct TokenizerRef(pub Rc<Gpt2Tokenizer>, pub Rc<str>);

impl PartialEq for TokenizerRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for TokenizerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenizerRef")
    }
}

/// How one word tokenizes where the template puts it.
#[derive(Clone, Debug, PartialEq)]
pub enum Tokens {
    /// No tokenizer yet (it is still loading, or could not be loaded).
    Unknown,
    One(u32),
    /// Not one token: its pieces as shown, `␣` for the folded space.
    Many(Vec<String>),
    Bad(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Chip {
    pub word: String,
    pub tokens: Tokens,
}

/// One category as the editor shows it: the words exactly as typed, and each parsed word's tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryEdit {
    pub name: String,
    pub text: String,
    pub chips: Vec<Chip>,
}

impl CategoryEdit {
    /// A category from an experiment (its words joined as the user would type them).
    pub fn of(c: &Category) -> Self {
        CategoryEdit {
            name: c.name.clone(),
            text: c.words.join(", "),
            chips: Vec::new(),
        }
    }

    /// Whether the chips are those of `words` (else they are stale).
    pub fn shows(&self, words: &[String]) -> bool {
        self.chips.iter().map(|c| &c.word).eq(words.iter())
    }

    pub fn words(&self) -> Vec<String> {
        parse_words(&self.text)
    }
}

/// Tokenizes `words` as the template places them (`space`: a space before the word).
pub fn chips(words: &[String], tokenizer: Option<&TokenizerRef>, space: bool) -> Vec<Chip> {
    let prefix = if space { " " } else { "" };
    words
        .iter()
        .map(|word| Chip {
            word: word.clone(),
            tokens: match tokenizer.map(|t| (t, t.0.encode(&format!("{prefix}{word}")))) {
                None => Tokens::Unknown,
                Some((_, Ok(ids))) if ids.len() == 1 => Tokens::One(ids[0]),
                Some((t, Ok(ids))) => Tokens::Many(t.0.token_strings(&ids).iter().map(|p| p.replace('Ġ', "␣")).collect()),
                Some((_, Err(e))) => Tokens::Bad(e.to_string()),
            },
        })
        .collect()
}
