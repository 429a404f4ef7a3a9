//! A BPE tokenizer.json read without its model's detours.
//!
//! `tokenizers::Tokenizer::from_bytes` reads the model through untagged enums: serde buffers the
//! whole vocabulary and merge list as generic content, then converts it to a JSON value, then to
//! the BPE, so three copies of 100,000 strings are alive at once (on GPT-2's file the heap
//! peaks near 20 MB for a tokenizer that then holds 6 MB, natively). A wasm memory never
//! shrinks, so that peak stayed in the engine worker for good. Here the BPE's fields are read
//! straight into the types its builder takes, and the rest of the file (normalizer,
//! pre-tokenizer, post-processor, decoder, added tokens, truncation, padding) with the crate's
//! own types; the tokenizer is then put together the way the crate's reader does it. Any file
//! this reader does not take (another model type, a field it does not know how to read) goes
//! the crate's way instead.

use serde::Deserialize;
use tokenizers::models::bpe::{BpeBuilder, Merges, Vocab};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PaddingParams, PostProcessorWrapper, PreTokenizerWrapper, Tokenizer,
    TruncationParams,
};

#[derive(Deserialize)]
struct File {
    version: Option<String>,
    #[serde(default)]
    truncation: Option<TruncationParams>,
    #[serde(default)]
    padding: Option<PaddingParams>,
    #[serde(default)]
    added_tokens: Vec<AddedTokenWithId>,
    #[serde(default)]
    normalizer: Option<NormalizerWrapper>,
    #[serde(default)]
    pre_tokenizer: Option<PreTokenizerWrapper>,
    model: Bpe,
    #[serde(default)]
    decoder: Option<DecoderWrapper>,
    #[serde(default)]
    post_processor: Option<PostProcessorWrapper>,
}

#[derive(Deserialize)]
struct AddedTokenWithId {
    #[allow(dead_code)]
    id: u32,
    #[serde(flatten)]
    token: AddedToken,
}

#[derive(Deserialize)]
struct Bpe {
    #[serde(rename = "type")]
    kind: String,
    dropout: Option<f32>,
    unk_token: Option<String>,
    continuing_subword_prefix: Option<String>,
    end_of_word_suffix: Option<String>,
    fuse_unk: Option<bool>,
    byte_fallback: Option<bool>,
    ignore_merges: Option<bool>,
    vocab: Vocab,
    merges: Vec<Merge>,
}

/// A merge as a pair, or as the older "left right" line.
#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Pair(String, String),
    Line(String),
}

/// The tokenizer of a BPE tokenizer.json, or None for a file to read the crate's way.
pub(super) fn read_bpe(json: &[u8]) -> Option<Tokenizer> {
    let file: File = serde_json::from_slice(json).ok()?;
    if file.model.kind != "BPE" || file.version.as_deref().is_some_and(|v| v != "1.0") {
        return None;
    }
    let model = file.model;
    let merges = merges(model.merges)?;
    let mut bpe = BpeBuilder::new().vocab_and_merges(model.vocab, merges);
    if let Some(d) = model.dropout {
        bpe = bpe.dropout(d);
    }
    if let Some(u) = model.unk_token {
        bpe = bpe.unk_token(u);
    }
    if let Some(p) = model.continuing_subword_prefix {
        bpe = bpe.continuing_subword_prefix(p);
    }
    if let Some(s) = model.end_of_word_suffix {
        bpe = bpe.end_of_word_suffix(s);
    }
    if let Some(f) = model.fuse_unk {
        bpe = bpe.fuse_unk(f);
    }
    if let Some(b) = model.byte_fallback {
        bpe = bpe.byte_fallback(b);
    }
    if let Some(i) = model.ignore_merges {
        bpe = bpe.ignore_merges(i);
    }
    let mut tokenizer = Tokenizer::new(bpe.build().ok()?);
    tokenizer.with_normalizer(file.normalizer).ok()?;
    tokenizer.with_pre_tokenizer(file.pre_tokenizer);
    tokenizer.with_post_processor(file.post_processor);
    tokenizer.with_decoder(file.decoder);
    tokenizer.with_truncation(file.truncation).ok()?;
    tokenizer.with_padding(file.padding);
    tokenizer.add_tokens(file.added_tokens.into_iter().map(|t| t.token)).ok()?;
    Some(tokenizer)
}

/// The merges as pairs; "#version" lines of the older form are skipped, as the crate does.
fn merges(list: Vec<Merge>) -> Option<Merges> {
    let mut out = Vec::with_capacity(list.len());
    for merge in list {
        match merge {
            Merge::Pair(a, b) => out.push((a, b)),
            Merge::Line(line) if line.starts_with("#version") => {}
            Merge::Line(line) => {
                let mut parts = line.split(' ');
                let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                    return None;
                };
                out.push((a.to_string(), b.to_string()));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::read_bpe;
    use tokenizers::Tokenizer;

    fn both(json: &[u8]) -> (Option<Tokenizer>, tokenizers::Result<Tokenizer>) {
        (read_bpe(json), Tokenizer::from_bytes(json))
    }

    /// The same tokenizer as the crate's reader makes: every part it writes back out is equal.
    fn assert_same(json: &[u8], texts: &[&str]) {
        let (lean, crate_way) = both(json);
        let (lean, crate_way) = (lean.expect("read lean"), crate_way.expect("read by the crate"));
        assert_eq!(lean.to_string(false).unwrap(), crate_way.to_string(false).unwrap());
        for text in texts {
            let ids = |t: &Tokenizer| t.encode(*text, false).unwrap().get_ids().to_vec();
            assert_eq!(ids(&lean), ids(&crate_way), "{text:?}");
        }
    }

    fn file(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
    }

    #[test]
    fn gpt2_files_read_as_the_crate_reads_them() {
        let texts = ["The next word is apple", " pear", "<|endoftext|> café 123 ‽", "  two  spaces"];
        assert_same(&file("tests/fixtures/models/tiny-gpt2-hub/tokenizer.json"), &texts);
        assert_same(&file("static/gpt2-tokenizer.json"), &texts);
    }

    fn small(merges: &str, model_type: &str) -> Vec<u8> {
        format!(
            r#"{{"version": "1.0", "added_tokens": [{{"id": 3, "content": "<s>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}}], "normalizer": null, "pre_tokenizer": null,
            "post_processor": null, "decoder": null, "model": {{"type": "{model_type}", "vocab": {{"a": 0, "b": 1, "ab": 2, "<s>": 3}},
            "merges": {merges}, "unk_token": "a"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn both_forms_of_merges_and_version_lines() {
        assert_same(&small(r#"[["a", "b"]]"#, "BPE"), &["ab", "ba<s>b"]);
        assert_same(&small(r##"["#version: 0.2", "a b"]"##, "BPE"), &["ab", "ba<s>b"]);
    }

    #[test]
    fn other_files_go_the_crates_way() {
        // A merge line that is not two tokens: the crate gives the error.
        let (lean, crate_way) = both(&small(r#"["a b c"]"#, "BPE"));
        assert!(lean.is_none() && crate_way.is_err());
        // Another model type: not read here, the crate reads it.
        let word_level = small("[]", "WordLevel").into_iter().collect::<Vec<u8>>();
        let (lean, _) = both(&word_level);
        assert!(lean.is_none());
        assert!(read_bpe(b"{\"model\": 1}").is_none());
    }
}
