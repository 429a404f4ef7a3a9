//! Experiment JSON (files, imports, share links' ?exp=) and config.json as any bytes:
//! Experiment::from_json fails with one line or round-trips exactly; a valid experiment's prompts
//! (real GPT-2 tokenizer) have tokens, and a single-token word is one token; Gpt2Config::from_json
//! answers Ok or Err.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use qk_lens::experiment::{model_base_url, parse_words, Experiment};
use qk_lens::model::{Gpt2Config, Gpt2Tokenizer, Prompts};

static TOKENIZER: LazyLock<Gpt2Tokenizer> =
    LazyLock::new(|| Gpt2Tokenizer::from_bytes(include_bytes!("../../static/gpt2-tokenizer.json")).unwrap());

fuzz_target!(|data: &[u8]| {
    let _ = Gpt2Config::from_json(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_words(text);
    assert!(model_base_url(text).ends_with('/'));
    match Experiment::from_json(text) {
        Ok(e) => {
            assert_eq!(Experiment::from_json(&e.to_json_pretty()).unwrap(), e);
            if e.words().count() <= 64 {
                let prompts = Prompts::new(&e, &*TOKENIZER).unwrap();
                for p in &prompts.items {
                    assert!(!p.token_ids.is_empty() && !p.word_token_ids.is_empty());
                    assert!(!p.single_token || p.word_token_ids.len() == 1);
                }
            }
        }
        Err(err) => assert!(!err.to_string().contains('\n'), "{err}"),
    }
});
