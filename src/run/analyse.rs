//! The run's last stage: the captures analysed into the result, the lecture's numbers first,
//! then whatever the options ask for beyond the lecture. The arithmetic is in `analysis/`.

use crate::analysis::pca::pca_2d;
use crate::analysis::report::{statistics, ExtendedOptions};
use crate::analysis::rsa::Rsa;
use crate::analysis::space::{rsa_of, space, space_of};
use crate::analysis::stats::Permutations;
use crate::analysis::sweep::{head_summaries, layer_summaries, qk_heads, LayerVectors};
use crate::analysis::vectors::cosine_rows;
use crate::analysis::{self, Grouping};
use crate::error::{Error, Result};
use crate::model::{Capture, Gpt2Config, Prompts};
use crate::result::{CenteredResult, ModelInfo, PcaResult, RunResult, WordInfo};

use super::Prepared;

/// The result of a run from its captures: the analysed layer's, and every layer's for a sweep.
pub fn analyse(prepared: &Prepared, captures: &[Capture]) -> Result<RunResult> {
    let layer = prepared.experiment.layer;
    let capture = captures
        .iter()
        .find(|c| c.layer == layer)
        .ok_or_else(|| Error::Model(format!("layer {layer} was not captured")))?;
    let mut result = lecture(prepared, capture)?;
    if let Some(options) = &prepared.options {
        extend(&mut result, &prepared.prompts, captures, prepared.config.n_head, options)?;
    }
    Ok(result)
}

/// The lecture's numbers: Q and K (cosine, selectivity, histogram) and RSA between them.
fn lecture(prepared: &Prepared, capture: &Capture) -> Result<RunResult> {
    let Prepared {
        experiment,
        config,
        prompts,
        ..
    } = prepared;
    let names = experiment.category_names();
    let grouping = Grouping::new(prompts.labels.clone(), names.len());
    let q = space(&capture.q, &grouping, &names)?;
    let k = space(&capture.k, &grouping, &names)?;
    let rsa = analysis::rsa::rsa(&q.cosine, &k.cosine, &grouping);
    Ok(RunResult {
        experiment: experiment.clone(),
        model: model_info(config),
        layer: capture.layer,
        hooks: vec![Capture::hook_name(capture.layer, "q"), Capture::hook_name(capture.layer, "k")],
        words: word_infos(prompts),
        notes: notes(prompts, &rsa, &names),
        rsa: rsa_of(&q.cosine, &k.cosine, &grouping, &names),
        q,
        k,
        stats: None,
        v: None,
        centered: None,
        layers: None,
        heads: None,
        qk: None,
        pca: None,
        statistics: None,
        options: None,
    })
}

fn model_info(config: &Gpt2Config) -> ModelInfo {
    ModelInfo {
        n_layer: config.n_layer,
        n_embd: config.n_embd,
        n_head: config.n_head,
        n_positions: config.n_positions,
        vocab_size: config.vocab_size,
    }
}

fn word_infos(prompts: &Prompts) -> Vec<WordInfo> {
    prompts
        .items
        .iter()
        .map(|p| WordInfo {
            word: p.word.clone(),
            category: p.category.clone(),
            prompt: p.prompt.clone(),
            token_ids: p.token_ids.clone(),
            word_token_ids: p.word_token_ids.clone(),
            single_token: p.single_token,
        })
        .collect()
}

/// What the reader should know: multi-token words, categories too small for a number.
fn notes(prompts: &Prompts, rsa: &Rsa, names: &[String]) -> Vec<String> {
    let mut notes: Vec<String> = prompts
        .multi_token_words()
        .iter()
        .map(|p| {
            format!(
                "{:?} is {} tokens, not one: analysed at its prompt's last token",
                p.word,
                p.word_token_ids.len()
            )
        })
        .collect();
    for (c, (_, pairs)) in rsa.per_category.iter().enumerate() {
        if *pairs == 0 {
            notes.push(format!(
                "category {:?} has one word: no within-category pairs, its within mean and r are null",
                names[c]
            ));
        } else if *pairs == 1 {
            notes.push(format!(
                "category {:?} has one within-category pair: its r is undefined (null)",
                names[c]
            ));
        }
    }
    if names.len() < 2 {
        notes.push("only one category: no across-category pairs, selectivity is null".into());
    }
    notes
}

/// Adds the analyses `options` asks for. `captures` holds the analysed layer's capture and,
/// for the layer sweep, every layer's (in layer order).
fn extend(
    result: &mut RunResult,
    prompts: &Prompts,
    captures: &[Capture],
    n_head: usize,
    options: &ExtendedOptions,
) -> Result<()> {
    let names = result.experiment.category_names();
    let grouping = Grouping::new(prompts.labels.clone(), names.len());
    let top = captures
        .iter()
        .find(|c| c.layer == result.layer)
        .ok_or_else(|| Error::Analysis(format!("layer {} was not captured", result.layer)))?;
    let centre = options.center;
    let vectors = |c: &Capture| LayerVectors::new(c.layer, &c.q, &c.k, &c.v, centre);
    let here = vectors(top);
    if options.v {
        result.v = Some(space(&top.v, &grouping, &names)?);
    }
    if centre {
        result.centered = Some(centered(&here, options.v, &grouping, &names)?);
        result.notes.extend(centred_note(result.centered.as_ref()));
    }
    let stat = options.statistics.as_ref();
    let perms = stat.map(|s| Permutations::new(grouping.len(), s.permutations, s.seed));
    let swept: Vec<LayerVectors> = match options.all_layers {
        true => captures.iter().map(vectors).collect(),
        false => vec![here.clone()],
    };
    if options.all_layers {
        result.layers = Some(layer_summaries(&swept, &grouping, perms.as_ref())?);
    }
    if options.heads {
        result.heads = Some(head_summaries(&swept, n_head, &grouping, perms.as_ref())?);
    }
    if options.qk {
        let raw = LayerVectors::new(top.layer, &top.q, &top.k, &top.v, false);
        result.qk = Some(qk_heads(&raw, n_head, &grouping)?);
    }
    if options.pca {
        result.pca = Some(PcaResult {
            q: pca_2d(&here.q),
            k: pca_2d(&here.k),
            v: pca_2d(&here.v),
        });
    }
    if stat.is_some() && (options.all_layers || options.heads) {
        result
            .notes
            .push("the p-values of \"layers\" and \"heads\" are per test, not corrected for multiple comparisons".into());
    }
    if let Some(s) = stat {
        let (cq, ck, cv) = (cosine_rows(&here.q)?, cosine_rows(&here.k)?, cosine_rows(&here.v)?);
        result.statistics = Some(statistics(result.layer, centre, [&cq, &ck, &cv], &grouping, s));
    }
    result.options = Some(options.clone());
    Ok(())
}

/// Q, K (and V) and RSA of the mean-centred vectors.
fn centered(here: &LayerVectors, with_v: bool, grouping: &Grouping, names: &[String]) -> Result<CenteredResult> {
    let f32s = |x: &[Vec<f64>]| x.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
    let (cq, ck) = (cosine_rows(&here.q)?, cosine_rows(&here.k)?);
    Ok(CenteredResult {
        rsa: rsa_of(&cq, &ck, grouping, names),
        q: space_of(cq, f32s(&here.q), grouping, names),
        k: space_of(ck, f32s(&here.k), grouping, names),
        v: match with_v {
            true => Some(space_of(cosine_rows(&here.v)?, f32s(&here.v), grouping, names)),
            false => None,
        },
    })
}

/// After centring, an across mean at or below 0 makes the within / across ratio meaningless.
fn centred_note(centered: Option<&CenteredResult>) -> Option<String> {
    let c = centered?;
    let spaces = [Some(&c.q), Some(&c.k), c.v.as_ref()];
    spaces
        .iter()
        .flatten()
        .any(|s| s.across_mean.is_some_and(|a| a <= 0.0))
        .then(|| {
            "after mean-centring an across-category mean is 0 or below, so the selectivity ratio (within / across) \
             does not measure grouping there; read the within and across means, or the category-model r"
                .into()
        })
}
