//! The page's state without a browser: every action through the pure reducer, with the times and
//! URLs the shell would supply, and the real GPT-2 tokenizer for the editor's token chips.

use std::rc::Rc;

use qk_lens::analysis::report::ExtendedOptions;
use qk_lens::model::Gpt2Tokenizer;
use qk_lens::page::{reduce, Action, LocalModel, ModelSource, Phase, Run, State, TokenizerRef, Tokens};
use qk_lens::protocol::{ModelFiles, Progress, Stage};
use qk_lens::{Experiment, RunResult};

fn apply(state: State, actions: impl IntoIterator<Item = Action>) -> State {
    actions.into_iter().fold(state, |s, a| reduce(&s, a))
}

fn tokenizer() -> TokenizerRef {
    let bytes = crate::common::read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/gpt2-tokenizer.json"));
    TokenizerRef(
        Rc::new(Gpt2Tokenizer::from_bytes(&bytes).unwrap()),
        qk_lens::model::token_memo::tokenizer_id(&bytes).into(),
    )
}

/// A real result of the tiny fixture model (4 layers, 4 heads).
fn result() -> Rc<RunResult> {
    let mut exp = Experiment::lecture();
    exp.layer = 1;
    Rc::new(crate::common::run_model("tiny-gpt2-hub", &exp).unwrap())
}

fn words(s: &State, i: usize) -> Vec<&str> {
    s.experiment.categories[i].words.iter().map(String::as_str).collect()
}

#[test]
fn editing_words_keeps_the_text_verbatim_and_parses_it() {
    let text = "galaxy,  comet\n moon, ,";
    let s = apply(State::new(None), [Action::SetCategoryWords(0, text.into())]);
    assert_eq!(s.categories[0].text, text);
    assert_eq!(words(&s, 0), ["galaxy", "comet", "moon"]);
    // The other categories are untouched.
    assert_eq!(s.experiment.categories[1], Experiment::lecture().categories[1]);
    // An index past the end changes nothing.
    let same = apply(
        s.clone(),
        [
            Action::SetCategoryWords(9, "x".into()),
            Action::SetCategoryName(9, "y".into()),
        ],
    );
    assert_eq!(same, s);
}

#[test]
fn renaming_a_category_renames_it_in_the_experiment_and_the_editor() {
    let s = apply(State::new(None), [Action::SetCategoryName(1, "furniture".into())]);
    assert_eq!(s.experiment.categories[1].name, "furniture");
    assert_eq!(s.categories[1].name, "furniture");
}

#[test]
fn categories_are_added_with_a_free_name_and_removed_by_index() {
    let s = apply(
        State::new(None),
        [
            Action::SetCategoryName(0, "category 1".into()),
            Action::AddCategory,
            Action::AddCategory,
        ],
    );
    let names: Vec<&str> = s.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["category 1", "interior", "fruit", "category 2", "category 3"]);
    assert_eq!(s.experiment.category_names(), names);
    assert!(s.experiment.categories[3].words.is_empty());
    assert_eq!(s.categories[3].text, "");

    let s = apply(
        s,
        [
            Action::SetCategoryWords(4, "pear".into()),
            Action::RemoveCategory(1),
            Action::RemoveCategory(17),
        ],
    );
    let names: Vec<&str> = s.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["category 1", "fruit", "category 2", "category 3"]);
    assert_eq!(s.experiment.category_names(), names);
    assert_eq!(s.categories[3].text, "pear");
    assert_eq!(words(&s, 3), ["pear"]);
}

#[test]
fn an_empty_category_makes_the_experiment_invalid_until_it_has_words() {
    let s = State::new(None);
    assert_eq!(s.invalid, None);
    let s = apply(s, [Action::AddCategory]);
    let msg = s.invalid.clone().expect("a category without words is invalid");
    assert!(msg.contains("category 1"), "{msg}");
    let s = apply(s, [Action::SetCategoryWords(3, "violin".into())]);
    assert_eq!(s.invalid, None);
}

#[test]
fn tokens_are_computed_when_the_words_the_template_or_the_tokenizer_change() {
    let s = State::new(None);
    assert!(s.categories[0].chips.iter().all(|c| c.tokens == Tokens::Unknown));
    assert_eq!(s.categories[0].chips.len(), 10);

    let t = tokenizer();
    let s = apply(
        s,
        [
            Action::TokenizerLoaded(t.clone()),
            Action::SetCategoryWords(0, "galaxy, qzxv".into()),
        ],
    );
    let chips = &s.categories[0].chips;
    assert_eq!(chips[0].word, "galaxy");
    assert_eq!(chips[0].tokens, Tokens::One(t.0.encode(" galaxy").unwrap()[0]));
    let Tokens::Many(pieces) = &chips[1].tokens else {
        panic!("{:?}", chips[1])
    };
    assert!(pieces.len() > 1 && pieces[0].starts_with('␣'), "{pieces:?}");
    assert_eq!(pieces.concat(), "␣qzxv");
    // The other categories got their tokens from the tokenizer too.
    assert!(matches!(s.categories[2].chips[0].tokens, Tokens::One(_)));

    // Without a space before {word} the words tokenize without one.
    let s = apply(s, [Action::SetTemplate("The next word is:{word}".into())]);
    let Tokens::Many(pieces) = &s.categories[0].chips[1].tokens else {
        panic!("{:?}", s.categories[0].chips[1])
    };
    assert_eq!(pieces.concat(), "qzxv");
}

#[test]
fn a_loaded_experiment_replaces_the_text_and_tokens_and_clears_its_error() {
    let mut exp = Experiment::lecture();
    exp.categories.truncate(2);
    exp.categories[1].words = vec!["sofa".into(), "lamp".into()];
    let s = apply(
        State::new(None),
        [
            Action::SetCategoryWords(1, "typed, text".into()),
            Action::ExperimentFailed("bad".into()),
        ],
    );
    let s = apply(s, [Action::ExperimentLoaded(exp.clone())]);
    assert_eq!(s.experiment, exp);
    assert_eq!(s.experiment_error, None);
    assert_eq!(s.categories.len(), 2);
    assert_eq!(s.categories[1].text, "sofa, lamp");
    let chip_words: Vec<&str> = s.categories[1].chips.iter().map(|c| c.word.as_str()).collect();
    assert_eq!(chip_words, ["sofa", "lamp"]);
}

#[test]
fn a_run_goes_through_its_stages_with_the_times_from_the_actions() {
    let s = apply(State::new(None), [Action::Started(1_000.0)]);
    assert!(s.busy());
    let Phase::Busy(run) = &s.phase else { panic!("{:?}", s.phase) };
    assert_eq!(
        (run.stage, run.started_ms, run.label()),
        (None, 1_000.0, "Starting the engine")
    );

    let s = apply(
        s,
        [
            Action::Stage(Stage::Weights, 1_500.0),
            Action::Progress(
                Progress {
                    done: 1_000_000,
                    total: Some(4_000_000),
                    wait_s: None,
                },
                3_500.0,
            ),
        ],
    );
    let Phase::Busy(run) = &s.phase else { panic!("{:?}", s.phase) };
    assert_eq!(
        (run.stage, run.stage_started_ms, run.started_ms),
        (Some(Stage::Weights), 1_500.0, 1_000.0)
    );
    // 1 MB in the 2 s since the stage began: 0.5 MB/s, 3 MB left.
    assert_eq!(
        run.detail(),
        Some((Some(0.25), "1.0 MB of 4.0 MB · 0.5 MB/s · 6 s left".to_string()))
    );

    // A new stage starts without progress.
    let s = apply(s, [Action::Stage(Stage::Forward, 4_000.0)]);
    let Phase::Busy(run) = &s.phase else { panic!("{:?}", s.phase) };
    assert_eq!((run.progress, run.stage_started_ms, run.detail()), (None, 4_000.0, None));

    let r = result();
    let s = apply(s, [Action::Finished(r.clone(), 6_000.0)]);
    assert_eq!(s.phase, Phase::Done { seconds: 5.0 });
    assert!(!s.busy());
    assert!(Rc::ptr_eq(s.result.as_ref().unwrap(), &r));
    assert_eq!(s.generation(), 5.0f64.to_bits());
    assert_eq!(s.error(), None);
}

#[test]
fn a_failed_or_cancelled_run_keeps_the_last_result() {
    let r = result();
    let s = apply(
        State::new(None),
        [Action::Started(0.0), Action::Finished(r.clone(), 10.0), Action::Started(20.0)],
    );
    let failed = apply(s.clone(), [Action::Failed("no network".into())]);
    assert_eq!(failed.phase, Phase::Failed("no network".into()));
    assert_eq!(failed.error(), Some("no network"));
    assert_eq!(failed.generation(), 0);
    assert!(Rc::ptr_eq(failed.result.as_ref().unwrap(), &r));
    let cancelled = apply(s, [Action::Cancelled]);
    assert_eq!(cancelled.phase, Phase::Cancelled);
    assert!(cancelled.result.is_some());
    // A late report of a stopped run changes nothing.
    let late = apply(
        cancelled.clone(),
        [
            Action::Stage(Stage::Analysis, 30.0),
            Action::Progress(
                Progress {
                    done: 1,
                    total: None,
                    wait_s: None,
                },
                31.0,
            ),
        ],
    );
    assert_eq!(late, cancelled);
    assert_eq!(apply(late, [Action::LoadingExperiment]).phase, Phase::LoadingExperiment);
}

#[test]
fn a_chosen_head_is_kept_when_the_new_result_has_it_and_dropped_when_not() {
    let r = result();
    assert_eq!(r.model.n_head, 4);
    let kept = apply(
        State::new(None),
        [
            Action::SelectHead(Some(3)),
            Action::Started(0.0),
            Action::Finished(r.clone(), 1.0),
        ],
    );
    assert_eq!(kept.head, Some(3));
    let dropped = apply(
        State::new(None),
        [Action::SelectHead(Some(4)), Action::Started(0.0), Action::Finished(r, 1.0)],
    );
    assert_eq!(dropped.head, None);
}

fn local() -> LocalModel {
    LocalModel {
        files: ModelFiles::in_folder("blob:x/", None),
        names: vec!["config.json".into(), "model.safetensors".into()],
        bytes: 42,
    }
}

#[test]
fn switching_models_between_hub_folder_and_local_files() {
    let resolve = |u: &str| {
        if u.contains("://") {
            u.to_string()
        } else {
            format!("http://site/{u}")
        }
    };
    let s = State::new(None);
    assert_eq!(
        s.model_url(),
        "https://huggingface.co/openai-community/gpt2-medium/resolve/main/"
    );
    assert_eq!(
        (s.n_layer(), s.max_layer(), s.hub_weights_bytes()),
        (Some(24), 23, Some(1_520_000_000))
    );

    let s = apply(s, [Action::SetLocalModel(local())]);
    assert_eq!(s.model_files(resolve), local().files);
    let s = apply(
        s,
        [
            Action::ModelFailed("no config.json".into()),
            Action::SetModelUrl(Some("models/tiny/".into())),
        ],
    );
    assert_eq!((&s.local_model, &s.model_error), (&None, &None));
    let files = s.model_files(resolve);
    assert_eq!(files.config, "http://site/models/tiny/config.json");
    assert_eq!(files.fallback_tokenizer.as_deref(), Some("http://site/gpt2-tokenizer.json"));
    // A custom folder's layers are unknown until a result says: the editor offers up to 47.
    assert_eq!((s.n_layer(), s.max_layer(), s.hub_weights_bytes()), (None, 47, None));

    let s = apply(s, [Action::SetHubModel("openai-community/gpt2".into())]);
    assert_eq!(
        (s.experiment.model.as_str(), s.model_override.as_deref()),
        ("openai-community/gpt2", None)
    );
    assert_eq!((s.n_layer(), s.max_layer()), (Some(12), 11));
    assert_eq!(
        s.model_files(resolve).weights,
        "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors"
    );
}

#[test]
fn the_notebook_names_the_model_the_shown_result_came_from() {
    let resolve = |u: &str| format!("http://site/{}", u.trim_start_matches('/'));
    let r = result();
    // The hub model as its id; the model chosen while the run was under way does not count.
    let s = apply(
        State::new(None),
        [
            Action::Started(0.0),
            Action::SetModelUrl(Some("/models/tiny/".into())),
            Action::Finished(r.clone(), 1.0),
        ],
    );
    assert_eq!(s.result_model, Some(ModelSource::Hub("openai-community/gpt2-medium".into())));
    assert_eq!(
        s.result_model.unwrap().notebook_model(resolve),
        "openai-community/gpt2-medium"
    );
    // A custom folder as its URL, made absolute; files from disk have no path to give.
    let s = apply(
        State::new(Some("/models/tiny/".into())),
        [Action::Started(0.0), Action::Finished(r.clone(), 1.0)],
    );
    let folder = s.result_model.clone().unwrap();
    assert_eq!(folder.notebook_model(resolve), "http://site/models/tiny/");
    let s = apply(
        s,
        [
            Action::SetLocalModel(local()),
            Action::Started(2.0),
            Action::Failed("no".into()),
        ],
    );
    assert_eq!(s.result_model, Some(folder), "a failed run keeps the shown result's model");
    let s = apply(s, [Action::Started(3.0), Action::Finished(r, 4.0)]);
    assert_eq!(s.result_model, Some(ModelSource::Files));
    assert_eq!(ModelSource::Files.notebook_model(resolve), "");
    // An experiment naming a folder path instead of a hub id: the folder's URL.
    assert_eq!(
        ModelSource::Hub("./models/x".into()).notebook_model(resolve),
        "http://site/./models/x/"
    );
}

#[test]
fn options_layer_and_template_are_what_the_next_run_sends() {
    let s = State::new(Some("/models/tiny/".into()));
    assert_eq!(s.run_options(), None);
    let options = ExtendedOptions {
        heads: true,
        v: true,
        ..ExtendedOptions::default()
    };
    let s = apply(
        s,
        [
            Action::SetOptions(options.clone()),
            Action::SetLayer(2),
            Action::SetTemplate("A {word}".into()),
        ],
    );
    assert_eq!(s.run_options(), Some(options));
    assert_eq!((s.experiment.layer, s.experiment.template.as_str()), (2, "A {word}"));
    assert_eq!(apply(s, [Action::SetOptions(ExtendedOptions::default())]).run_options(), None);
}

#[test]
fn reduce_leaves_the_old_state_as_it_was() {
    let before = State::new(None);
    let copy = before.clone();
    let after = reduce(&before, Action::AddCategory);
    assert_eq!(before, copy);
    assert_ne!(after, before);
}

/// The live lab: after a finished run of the chosen model, an edit makes a run due; a run
/// under way, the live switch off, another model or an experiment that cannot run do not.
#[test]
fn an_edit_after_a_run_makes_a_live_run_due() {
    let fresh = State::new(None);
    let edit = Action::SetCategoryWords(2, "pear, mango".into());
    assert!(!apply(fresh.clone(), [edit.clone()]).live_due(), "no model has run yet");
    let ran = apply(fresh, [Action::Started(0.0), Action::Finished(result(), 10.0)]);
    assert_eq!(ran.runs, 1);
    assert!(!ran.live_due(), "nothing edited since");
    let edited = apply(ran.clone(), [edit.clone()]);
    assert!(edited.live_due());
    assert!(apply(ran.clone(), [Action::SetLayer(2)]).live_due(), "the layer slider");
    assert!(apply(ran.clone(), [Action::SetTemplate("A {word}".into())]).live_due());
    // An action that changes nothing of the experiment is no edit.
    assert!(!apply(ran.clone(), [Action::SelectHead(Some(1))]).live_due());
    // While the next run is under way, the edit waits; its start marks the edit as seen.
    let running = apply(edited.clone(), [Action::Started(20.0)]);
    assert!(!running.live_due());
    assert_eq!(running.runs, 2);
    let typed_meanwhile = apply(running, [Action::SetCategoryWords(2, "pear, mango, kiwi".into())]);
    assert!(!typed_meanwhile.live_due(), "busy");
    let finished = apply(typed_meanwhile, [Action::Finished(result(), 30.0)]);
    assert!(finished.live_due(), "the edit typed during the run runs next");
    assert!(!apply(edited.clone(), [Action::SetLive(false)]).live_due());
    assert!(!apply(
        ran.clone(),
        [Action::SetModelUrl(Some("http://127.0.0.1:1/other/".into())), edit.clone()]
    )
    .live_due());
    assert!(
        !apply(ran.clone(), [Action::SetCategoryWords(2, String::new())]).live_due(),
        "invalid"
    );
    // A failed live run is not retried until the next edit.
    let failed = apply(edited, [Action::Started(40.0), Action::Failed("boom".into())]);
    assert!(!failed.live_due());
    assert!(apply(failed, [Action::SetCategoryWords(2, "kiwi".into())]).live_due());
}

/// Typed edits wait for a pause before a live run; the layer slider does not.
#[test]
fn typed_edits_are_told_apart_from_the_slider() {
    let ran = apply(State::new(None), [Action::Started(0.0), Action::Finished(result(), 1.0)]);
    assert!(apply(ran.clone(), [Action::SetCategoryWords(0, "moon".into())]).edit_typed);
    assert!(apply(ran.clone(), [Action::SetTemplate("A {word}".into())]).edit_typed);
    assert!(!apply(ran.clone(), [Action::SetCategoryWords(0, "moon".into()), Action::SetLayer(2)]).edit_typed);
}

/// The guided lab's steps: opened, moved (never past the first or last), revealed, presented.
#[test]
fn the_guided_lab_moves_between_its_steps() {
    let s = apply(State::new(None), [Action::LectureStep(Some(40))]);
    assert_eq!(s.lecture_step, Some(qk_lens::lecture::STEPS));
    let s = apply(s, [Action::LectureMove(1)]);
    assert_eq!(s.lecture_step, Some(qk_lens::lecture::STEPS));
    let s = apply(s, [Action::LectureMove(i32::MIN), Action::LectureMove(-1)]);
    assert_eq!(s.lecture_step, Some(1));
    let s = apply(s, [Action::LectureMove(2), Action::Reveal, Action::Reveal]);
    assert_eq!((s.lecture_step, s.revealed.clone()), (Some(3), vec![3]));
    assert!(!s.live_due(), "moving between steps is no edit");
    let closed = apply(s, [Action::LectureStep(None), Action::LectureMove(1)]);
    assert_eq!(closed.lecture_step, None);
    let presented = apply(closed, [Action::SetPresent(true)]);
    assert_eq!((presented.present, presented.lecture_step), (true, Some(1)));
}

/// The figures' look is the viewer's, not the experiment's: choosing it starts no live run.
#[test]
fn choosing_the_look_changes_no_experiment_and_runs_nothing() {
    use qk_lens::plots::{ColourScale, Look, Theme};
    let before = State::new(None);
    let look = Look {
        scale: ColourScale::Cividis,
        theme: Theme::Dark,
    };
    let after = apply(before.clone(), [Action::SetLook(look)]);
    assert_eq!(after.look, look);
    assert_eq!(after.experiment, before.experiment);
    assert_eq!(after.edits, before.edits);
    assert!(!after.live_due());
}

#[test]
fn a_wait_for_the_hubs_rate_limit_says_why_the_download_stands_still() {
    let mut run = Run::new(0.0, ModelSource::Files);
    run.progress = Some(Progress {
        done: 0,
        total: None,
        wait_s: Some(2),
    });
    assert_eq!(run.detail(), Some((None, "the hub asked us to wait 2 s (429)".to_string())));
    run.progress = Some(Progress {
        done: 5,
        total: Some(10),
        wait_s: None,
    });
    assert!(!run.detail().unwrap().1.contains("429"));
}
