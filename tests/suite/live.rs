//! The live lab's resident model (`run::Session` over `run::LocalEngine`): an edit reads and
//! packs only what no earlier run did, runs the forward only for prompts never seen, and its
//! result equals a fresh run of the edited experiment and PyTorch's.

use crate::common::*;
use qk_lens::model::Gpt2Config;
use qk_lens::result::RunStats;
use qk_lens::run::{run_local, LocalEngine, LocalModel};
use qk_lens::{Experiment, RunResult};

/// A fixture model's files.
struct Files {
    config: Vec<u8>,
    tokenizer: Vec<u8>,
    weights: Vec<u8>,
}

impl Files {
    fn of(name: &str) -> Self {
        let dir = model_dir(name);
        Files {
            config: read(&dir.join("config.json")),
            tokenizer: read(&dir.join("tokenizer.json")),
            weights: read(&dir.join("model.safetensors")),
        }
    }

    fn model(&self, threads: usize) -> LocalModel<'_> {
        LocalModel {
            config: &self.config,
            tokenizer: &self.tokenizer,
            weights: &self.weights,
            threads,
        }
    }
}

fn lecture(layer: usize) -> Experiment {
    Experiment {
        layer,
        ..Experiment::lecture()
    }
}

/// The lecture with "wall" removed from interior and "mango" added to fruit.
fn edited(layer: usize) -> Experiment {
    let mut e = lecture(layer);
    e.categories[1].words.retain(|w| w != "wall");
    e.categories[2].words.push("mango".into());
    e
}

fn lecture_words() -> u32 {
    Experiment::lecture().categories.iter().map(|c| c.words.len() as u32).sum()
}

fn stats(r: &RunResult) -> &RunStats {
    r.stats.as_ref().expect("stats")
}

/// Every number two runs' results share, within the oracle's tolerances.
fn assert_same(got: &RunResult, want: &RunResult) {
    assert_eq!(got.words, want.words, "words");
    assert_eq!(got.layer, want.layer);
    for (name, a, b) in [("Q", &got.q, &want.q), ("K", &got.k, &want.k)] {
        let want_vectors: Vec<Vec<f64>> = b.vectors.iter().map(|v| v.iter().map(|&x| x as f64).collect()).collect();
        assert_vectors_close(name, &a.vectors, &want_vectors, 1e-4);
        assert_matrix_close(&format!("cosine {name}"), &a.cosine, &b.cosine, 1e-5);
        assert_close(
            &format!("selectivity {name}"),
            a.selectivity.unwrap(),
            b.selectivity.unwrap(),
            1e-5,
        );
        assert_eq!(a.histogram.counts, b.histogram.counts, "histogram {name}");
    }
    assert_close("RSA r", got.rsa.r.unwrap(), want.rsa.r.unwrap(), 1e-5);
}

fn wte_row_bytes(files: &Files) -> u64 {
    4 * Gpt2Config::from_json(&files.config).unwrap().n_embd as u64
}

#[test]
fn an_edit_reads_one_row_packs_nothing_and_forwards_one_prompt() {
    let files = Files::of("tiny-gpt2-hub");
    for threads in [1, 2] {
        let model = files.model(threads);
        let mut engine = LocalEngine::new(&model);
        let first = engine.run(&lecture(3), None).unwrap();
        assert_eq!(stats(&first).model_resident, Some(false));
        assert!(stats(&first).tensors_packed.unwrap() > 0);
        let edit = engine.run(&edited(3), None).unwrap();
        let s = stats(&edit);
        assert_eq!(s.model_resident, Some(true), "threads {threads}");
        assert_eq!(s.prompts_forwarded, Some(1), "only mango's prompt runs");
        assert_eq!(s.tensors_packed, Some(0), "nothing packed again");
        // " mango" is one token the lecture does not use: its embedding row only.
        assert_eq!(s.weight_bytes_read, Some(wte_row_bytes(&files)));
        assert_same(&edit, &run_local(&edited(3), None, &model).unwrap());
        // And PyTorch's numbers for the edited experiment.
        crate::golden::check(&edit, &golden("tiny-gpt2-hub.edited.L3"));
    }
}

#[test]
fn removing_a_word_or_lowering_the_layer_runs_no_forward() {
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(1);
    let mut engine = LocalEngine::new(&model);
    engine.run(&lecture(3), None).unwrap();
    let mut fewer = lecture(3);
    fewer.categories[0].words.pop();
    let removed = engine.run(&fewer, None).unwrap();
    assert_eq!(stats(&removed).prompts_forwarded, Some(0));
    assert_eq!(stats(&removed).weight_bytes_read, Some(0));
    assert_same(&removed, &run_local(&fewer, None, &model).unwrap());
    // Layers 0..3 were captured on the way up to 3.
    let lower = engine.run(&lecture(1), None).unwrap();
    assert_eq!(stats(&lower).prompts_forwarded, Some(0));
    crate::golden::check(&lower, &golden("tiny-gpt2-hub.L1"));
}

#[test]
fn raising_the_layer_reads_only_the_new_blocks() {
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(2);
    let mut engine = LocalEngine::new(&model);
    let low = engine.run(&lecture(1), None).unwrap();
    let high = engine.run(&lecture(3), None).unwrap();
    let s = stats(&high);
    assert_eq!(s.prompts_forwarded, Some(lecture_words()));
    // Block 1's c_proj and MLP, blocks 2 whole and block 3's c_attn: 3 + 4 + 1 matrices.
    assert_eq!(s.tensors_packed, Some(8));
    let fresh = run_local(&lecture(3), None, &model).unwrap();
    assert!(s.weight_bytes_read.unwrap() < stats(&fresh).weight_bytes_read.unwrap());
    assert_eq!(s.resident_weight_bytes, stats(&fresh).resident_weight_bytes, "held once");
    assert!(stats(&low).resident_weight_bytes < s.resident_weight_bytes);
    crate::golden::check(&high, &golden("tiny-gpt2-hub.L3"));
}

#[test]
fn another_template_runs_every_prompt_again_with_the_weights_held() {
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(1);
    let mut engine = LocalEngine::new(&model);
    engine.run(&lecture(2), None).unwrap();
    let other = Experiment {
        template: "The next word is {word}.".into(),
        ..lecture(2)
    };
    let r = engine.run(&other, None).unwrap();
    assert_eq!(stats(&r).prompts_forwarded, Some(lecture_words()));
    assert_eq!(stats(&r).tensors_packed, Some(0));
    assert_same(&r, &run_local(&other, None, &model).unwrap());
}

#[test]
fn switching_model_drops_the_old_one() {
    let (a, b) = (Files::of("tiny-gpt2-hub"), Files::of("tiny-gpt2-hub-fp16"));
    let (model_a, model_b) = (a.model(1), b.model(1));
    let mut engine = LocalEngine::new(&model_a);
    engine.run(&lecture(3), None).unwrap();
    engine.switch(&model_b);
    let r = engine.run(&lecture(3), None).unwrap();
    assert_eq!(stats(&r).model_resident, Some(false));
    let fresh = run_local(&lecture(3), None, &model_b).unwrap();
    assert_eq!(stats(&r).resident_weight_bytes, stats(&fresh).resident_weight_bytes);
    crate::golden::check(&r, &golden("tiny-gpt2-hub-fp16.L3"));
}

#[test]
fn a_failed_run_leaves_the_engine_usable() {
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(1);
    let mut engine = LocalEngine::new(&model);
    engine.run(&lecture(1), None).unwrap();
    // Layer 9 of a 4-layer model: refused before anything is read.
    assert!(engine.run(&lecture(9), None).is_err());
    let r = engine.run(&lecture(1), None).unwrap();
    assert_eq!(stats(&r).prompts_forwarded, Some(0));
    crate::golden::check(&r, &golden("tiny-gpt2-hub.L1"));
}

/// Many templates in a row (a class trying its own): the captures kept stay within the budget
/// (two runs' worth here), the least recently used go first, and the last two runs' stay, so
/// going back one edit still forwards nothing.
#[test]
fn kept_captures_stay_within_the_budget_and_the_last_edit_is_undone_for_free() {
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(1);
    let template = |i: usize| Experiment {
        template: format!("Word number {i} is {{word}}"),
        ..lecture(2)
    };
    // One run's captures at layers 0..=2: measured, then a budget of two runs' worth in all.
    let mut probe = LocalEngine::new(&model);
    probe.run(&template(0), None).unwrap();
    let one_run = probe.kept_capture_bytes();
    assert!(one_run > 0);
    let mut engine = LocalEngine::new(&model).with_kept_bytes(2 * one_run);
    for i in 0..6 {
        engine.run(&template(i), None).unwrap();
        assert!(
            engine.kept_capture_bytes() <= 2 * one_run,
            "after {} templates: {} bytes kept, budget {}",
            i + 1,
            engine.kept_capture_bytes(),
            2 * one_run
        );
    }
    // The template before the last is still kept: going back forwards nothing.
    let back = engine.run(&template(4), None).unwrap();
    assert_eq!(stats(&back).prompts_forwarded, Some(0));
    assert_same(&back, &run_local(&template(4), None, &model).unwrap());
    // The first one was dropped: it is forwarded again, with the same numbers.
    let first = engine.run(&template(0), None).unwrap();
    assert_eq!(stats(&first).prompts_forwarded, Some(lecture_words()));
    assert_same(&first, &run_local(&template(0), None, &model).unwrap());
}

/// A reload: the page remembers the token ids its runs encoded (`model/token_memo.rs`), and a
/// visit whose texts are all remembered never parses tokenizer.json.
#[test]
fn remembered_token_ids_spare_the_tokenizer_and_change_nothing() {
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(2);
    let mut first = LocalEngine::new(&model);
    let fresh = first.run(&lecture(1), None).unwrap();
    assert_eq!(stats(&fresh).tokenizer_parsed, Some(true));
    let memo = first.token_memo().expect("the first run kept its token ids").clone();
    // prefix + (prompt, suffix) per word: every text the run encoded.
    assert!(memo.texts.len() > lecture_words() as usize, "{} texts", memo.texts.len());

    let mut reload = LocalEngine::new(&model).with_token_memo(memo.clone());
    let again = reload.run(&lecture(1), None).unwrap();
    assert_eq!(
        stats(&again).tokenizer_parsed,
        Some(false),
        "all of its texts were remembered"
    );
    assert_same(&again, &fresh);
    assert_eq!(again.words, fresh.words, "the same token ids, word by word");

    // A word never encoded: the tokenizer is parsed now, and the result is a fresh run's.
    let edit = reload.run(&edited(1), None).unwrap();
    assert_eq!(stats(&edit).tokenizer_parsed, Some(true));
    assert_same(&edit, &run_local(&edited(1), None, &model).unwrap());
    assert!(reload.token_memo().unwrap().texts.keys().any(|t| t.contains("mango")));

    // Another tokenizer's memo (here: the same ids under another file's name) is not used.
    let mut other = memo;
    other.tokenizer.push_str(" (another file)");
    let mut stranger = LocalEngine::new(&model).with_token_memo(other);
    let parsed = stranger.run(&lecture(1), None).unwrap();
    assert_eq!(stats(&parsed).tokenizer_parsed, Some(true));
    assert_same(&parsed, &fresh);
}

/// What a memo is kept as reads back only for the tokenizer that made it.
#[test]
fn a_token_memo_reads_back_for_its_own_tokenizer_only() {
    use qk_lens::model::token_memo::tokenizer_id;
    use qk_lens::model::TokenMemo;
    let files = Files::of("tiny-gpt2-hub");
    let id = tokenizer_id(&files.tokenizer);
    let mut memo = TokenMemo::new(id.clone());
    assert!(memo.learn(vec![("The next word is apple".into(), vec![464, 1306, 1573, 318, 17180])]));
    assert!(
        !memo.learn(vec![("The next word is apple".into(), vec![464, 1306, 1573, 318, 17180])]),
        "nothing new"
    );
    let json = memo.to_json();
    assert_eq!(TokenMemo::from_json(&json, &id), Some(memo));
    let mut edited = files.tokenizer.clone();
    edited.push(b' ');
    assert_ne!(tokenizer_id(&edited), id, "one byte more is another tokenizer");
    assert_eq!(TokenMemo::from_json(&json, &tokenizer_id(&edited)), None);
    assert_eq!(TokenMemo::from_json(b"{not json", &id), None);
}

/// The page sends its own tokenizer's encodings of the experiment: where the model's
/// tokenizer.json is the same file, the engine parses none, and the numbers do not change.
#[test]
fn the_pages_encodings_spare_the_engines_tokenizer() {
    use qk_lens::model::token_memo::{encodings_of, tokenizer_id};
    use qk_lens::model::Gpt2Tokenizer;
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(2);
    let page = Gpt2Tokenizer::from_bytes(&files.tokenizer).unwrap();
    let id = tokenizer_id(&files.tokenizer);
    let fresh = run_local(&lecture(1), None, &model).unwrap();

    let mut engine = LocalEngine::new(&model);
    engine.supply_token_ids(encodings_of(&lecture(1), &page, &id));
    let first = engine.run(&lecture(1), None).unwrap();
    assert_eq!(
        stats(&first).tokenizer_parsed,
        Some(false),
        "a first run with the page's encodings"
    );
    assert_same(&first, &fresh);
    assert_eq!(first.words, fresh.words);
    // An edit with a word no run encoded: the page's encodings have it.
    engine.supply_token_ids(encodings_of(&edited(1), &page, &id));
    let edit = engine.run(&edited(1), None).unwrap();
    assert_eq!(stats(&edit).tokenizer_parsed, Some(false));
    assert_same(&edit, &run_local(&edited(1), None, &model).unwrap());
    assert!(
        engine.token_memo().unwrap().texts.keys().any(|t| t.contains("mango")),
        "kept for the next visit"
    );

    // Encodings of another tokenizer are not used: the engine parses its own.
    let mut engine = LocalEngine::new(&model);
    let mut other = encodings_of(&lecture(1), &page, &id).unwrap();
    other.tokenizer = tokenizer_id(b"{}");
    engine.supply_token_ids(Some(other));
    let parsed = engine.run(&lecture(1), None).unwrap();
    assert_eq!(stats(&parsed).tokenizer_parsed, Some(true));
    assert_same(&parsed, &fresh);
}

/// While the page waits for a pause in typing, the engine works ahead: it reads a new word's
/// row and runs the forward of its prompt. The run that follows reads and forwards nothing
/// more, counts both as its own, and is still right. Only the resident model's rows are read
/// ahead (never a higher layer's matrices, nor another model's), a forward runs ahead only for
/// a few prompts (not a new template's), and work ahead the edit did not follow is not counted.
#[test]
fn a_new_words_row_is_read_and_its_prompt_forwarded_ahead_of_its_run() {
    let files = Files::of("tiny-gpt2-hub");
    let model = files.model(2);
    let mut engine = LocalEngine::new(&model);
    assert!(!engine.read_ahead(&edited(3), None).unwrap(), "nothing resident yet");
    engine.run(&lecture(3), None).unwrap();
    let kept = engine.kept_capture_bytes();

    assert!(engine.read_ahead(&edited(3), None).unwrap(), "mango's row and prompt");
    assert!(engine.kept_capture_bytes() > kept, "mango's prompt was forwarded ahead");
    let edit = engine.run(&edited(3), None).unwrap();
    let s = stats(&edit);
    assert_eq!(s.weights_read_ahead, Some(true));
    assert_eq!(s.weight_bytes_read, Some(wte_row_bytes(&files)), "still counted as read");
    assert_eq!(s.prompts_forwarded, Some(1), "still counted as forwarded");
    assert_eq!(s.prompts_forwarded_ahead, Some(1));
    assert!(s.forward_ahead_ms.is_some());
    assert_eq!(s.forward_ranks, Some(2), "the ranks of the forward ahead");
    assert_same(&edit, &run_local(&edited(3), None, &model).unwrap());
    crate::golden::check(&edit, &golden("tiny-gpt2-hub.edited.L3"));
    // Counted once: the next run of the same experiment did nothing ahead.
    let again = engine.run(&edited(3), None).unwrap();
    assert_eq!(stats(&again).prompts_forwarded, Some(0));
    assert_eq!(stats(&again).prompts_forwarded_ahead, None);

    // A new template (every prompt new): its rows are read ahead, its forward is the run's.
    let mut template = lecture(3);
    template.template = "The next word is {word}.".into();
    let kept = engine.kept_capture_bytes();
    engine.read_ahead(&template, None).unwrap();
    assert_eq!(engine.kept_capture_bytes(), kept, "no forward ahead of a whole template");
    let r = engine.run(&template, None).unwrap();
    assert_eq!(stats(&r).prompts_forwarded, Some(lecture_words()));
    assert_eq!(stats(&r).prompts_forwarded_ahead, None);
    assert_same(&r, &run_local(&template, None, &model).unwrap());

    // Nothing to read: a seen experiment, a word removed.
    assert!(!engine.read_ahead(&lecture(3), None).unwrap());
    assert!(!engine.read_ahead(&lecture(2), None).unwrap(), "a lower layer is captured");
    // A higher layer needs whole matrices: the run reads them.
    let mut low = LocalEngine::new(&model);
    low.run(&lecture(1), None).unwrap();
    assert!(!low.read_ahead(&edited(3), None).unwrap());
    assert_eq!(stats(&low.run(&edited(3), None).unwrap()).weights_read_ahead, None);

    // Read ahead for one word, then another typed before the pause: the run reads its own.
    let mut plum = lecture(3);
    plum.categories[2].words.push("plum".into());
    let mut lemon = lecture(3);
    lemon.categories[2].words.push("lemon".into());
    assert!(engine.read_ahead(&plum, None).unwrap());
    let r = engine.run(&lemon, None).unwrap();
    assert_eq!(stats(&r).weights_read_ahead, None, "plum's row is not lemon's");
    assert_eq!(stats(&r).weight_bytes_read, Some(wte_row_bytes(&files)));
    assert_eq!(stats(&r).prompts_forwarded, Some(1), "lemon's prompt, not plum's");
    assert_eq!(stats(&r).prompts_forwarded_ahead, None);
    assert_same(&r, &run_local(&lemon, None, &model).unwrap());

    // Another model: nothing of it is resident, nothing is read ahead.
    let other = Files::of("tiny-gpt2-hub-fp16");
    let other_model = other.model(2);
    engine.switch(&other_model);
    assert!(!engine.read_ahead(&plum, None).unwrap());
    let r = engine.run(&plum, None).unwrap();
    assert_eq!(stats(&r).model_resident, Some(false));
    assert_eq!(stats(&r).weights_read_ahead, None);
}
