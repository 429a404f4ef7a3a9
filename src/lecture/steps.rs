//! The eleven steps of the guided lab, in the notebook's order. The words are ours; the numbers
//! are the run's (None before the first run: the text then says what will appear).

use super::code;
use super::numbers::{fmt3, larger, mean, pairs, selectivity_formula, spread};
use super::{Question, Step, Suggestion, STEPS};
use crate::experiment::Experiment;
use crate::plots::figure::Figure;
use crate::result::RunResult;

/// Every step for `experiment` and its last result.
pub fn steps(experiment: &Experiment, result: Option<&RunResult>) -> Vec<Step> {
    let steps = vec![
        question(experiment, result),
        hook(experiment, result),
        words(experiment, result),
        group_mask(experiment),
        batch(experiment, result),
        cosine(result),
        distributions(result),
        selectivity(result),
        rsa(result),
        rsa_per_category(result),
        next(experiment, result),
    ];
    debug_assert_eq!(steps.len(), STEPS);
    steps
}

fn step(number: usize, title: &'static str, text: Vec<String>) -> Step {
    Step {
        number,
        title,
        text,
        formula: None,
        code: None,
        figures: Vec::new(),
        question: None,
        next: Vec::new(),
    }
}

const RUN_FIRST: &str = "Run the lab (or wait for the run to finish) to see this run's numbers here.";

fn question(e: &Experiment, r: Option<&RunResult>) -> Step {
    let mut s = step(1, "The question", vec![
        "Inside every attention layer, each token asks a question and offers an answer. The question is its query vector (Q); the answer it offers to later tokens is its key vector (K). Attention compares one token's query with every earlier token's key.".into(),
        format!("Here we ask: at layer {}, do the queries of words with related meanings point in similar directions? Do the keys? And do queries and keys agree on which words belong together?", e.layer),
        format!("We use {} categories of words ({}) and measure how much more similar words of the same category are than words of different categories.", e.categories.len(), e.category_names().join(", ")),
    ]);
    s.question = Some(Question {
        ask: format!(
            "Predict first: at layer {}, will Q or K group the words by category more strongly?",
            e.layer
        ),
        answer: r.map_or_else(
            || RUN_FIRST.into(),
            |r| larger(r.q.selectivity, r.k.selectivity, "selectivity index"),
        ),
    });
    s
}

fn hook(e: &Experiment, r: Option<&RunResult>) -> Step {
    let width = r.map_or_else(|| "n_embd".to_string(), |r| r.model.n_embd.to_string());
    let mut s = step(2, "The model and the hook", vec![
        format!("GPT-2's block {} starts its attention with one linear layer, attn.c_attn. For every token it outputs 3 × {width} numbers: the query, the key and the value, side by side.", e.layer),
        format!("A forward hook catches that output and splits it in three. In TransformerLens's names these are blocks.{0}.attn.hook_q and blocks.{0}.attn.hook_k. The model never has to finish its forward pass for us to read them.", e.layer),
        "We keep only the last token of each prompt: it is the word we are studying, and at that position the model has read the whole prompt.".into(),
    ]);
    if let Some(r) = r {
        s.text.push(format!(
            "This model has {} layers, {} attention heads and vectors of {} numbers.",
            r.model.n_layer, r.model.n_head, r.model.n_embd
        ));
    }
    s.code = Some(code::HOOK);
    s.question = Some(Question {
        ask: "Predict first: how many numbers describe one word's query?".into(),
        answer: r.map_or_else(
            || RUN_FIRST.into(),
            |r| {
                format!(
                    "{}: one per dimension of the model (n_embd), all heads together.",
                    r.model.n_embd
                )
            },
        ),
    });
    s
}

fn words(e: &Experiment, r: Option<&RunResult>) -> Step {
    let mut text = vec!["Each category is a list of words. The lab needs each word to be one token, so the last position of the prompt holds the whole word.".into()];
    for c in &e.categories {
        text.push(format!("{} ({} words): {}", c.name, c.words.len(), c.words.join(", ")));
    }
    if let Some(r) = r {
        let split: Vec<&str> = r.words.iter().filter(|w| !w.single_token).map(|w| w.word.as_str()).collect();
        text.push(match split.len() {
            0 => format!("All {} words are single tokens.", r.words.len()),
            _ => format!("Split into several tokens (only the last one is read): {}.", split.join(", ")),
        });
    }
    let mut s = step(3, "The words and the one-token check", text);
    s.code = Some(code::WORDS);
    let n = e.word_count();
    s.question = Some(Question {
        ask: format!("Predict first: {n} words make how many distinct word pairs?"),
        answer: format!("{}: n (n - 1) / 2 with n = {n}.", n * n.saturating_sub(1) / 2),
    });
    s
}

fn group_mask(e: &Experiment) -> Step {
    let sizes: Vec<usize> = e.categories.iter().map(|c| c.words.len()).collect();
    let within: usize = sizes.iter().map(|n| n * n.saturating_sub(1) / 2).sum();
    let n = e.word_count();
    let mut s = step(4, "The group mask", vec![
        "To average over pairs of the same category, the notebook labels each word with its category number (1, 2, 3) and multiplies the labels: the product is 1, 4 or 9 for two words of one category and 2, 3 or 6 for two words of different categories.".into(),
        "Only the upper triangle counts: each pair once, and never a word with itself.".into(),
        format!("Here {within} of the {} pairs are within a category and {} across.", n * n.saturating_sub(1) / 2, n * n.saturating_sub(1) / 2 - within),
    ]);
    s.code = Some(code::GROUP_MASK);
    s.figures = vec![Figure::GroupMask];
    s.question = Some(Question {
        ask: "Predict first: with a fourth category labelled 4, would the product still tell every pair apart?".into(),
        answer: "No: 1 × 4 = 2 × 2, so a pair across categories 1 and 4 would look like a pair within category 2. QK Lens labels pairs directly, so any number of categories works.".into(),
    });
    s
}

fn batch(e: &Experiment, r: Option<&RunResult>) -> Step {
    let example = e.categories.first().and_then(|c| c.words.first()).map(|w| e.prompt(w));
    let mut s = step(5, "The prompts and the batch", vec![
        format!("Every word goes into the same template, \"{}\"{}.", e.template, example.map(|p| format!(", for example \"{p}\"")).unwrap_or_default()),
        "All prompts run through the model together, one row of the batch each, and the hook keeps the last position of every row.".into(),
    ]);
    if let Some(r) = r {
        let lens: Vec<usize> = r.words.iter().map(|w| w.token_ids.len()).collect();
        let (lo, hi) = (
            lens.iter().min().copied().unwrap_or(0),
            lens.iter().max().copied().unwrap_or(0),
        );
        s.text.push(match lo == hi {
            true => format!("Here the batch is {} prompts × {hi} tokens.", r.words.len()),
            false => format!("Here the prompts have {lo} to {hi} tokens; QK Lens runs each length as its own batch, so no padding enters attention."),
        });
    }
    s.code = Some(code::BATCH);
    s.question = Some(Question {
        ask: "Predict first: which position of each prompt does the analysis read?".into(),
        answer: "The last one, where the word sits: the template ends with the word.".into(),
    });
    s
}

fn cosine(r: Option<&RunResult>) -> Step {
    let mut s = step(6, "Cosine similarity and the heatmaps", vec![
        "Two vectors point the same way when their cosine similarity is near 1: the dot product of the two vectors after each is scaled to length 1.".into(),
        "The heatmaps show every pair of words, in category order: blocks of brighter squares on the diagonal mean words of a category point the same way.".into(),
    ]);
    s.figures = vec![Figure::HeatmapQ, Figure::HeatmapK];
    let (mq, mk) = r.map_or((None, None), |r| (mean(&pairs(&r.q.cosine)), mean(&pairs(&r.k.cosine))));
    if let Some(r) = r.filter(|r| r.words.len() >= 2) {
        let (a, b) = (&r.words[0].word, &r.words[1].word);
        s.formula = Some(format!(
            "cos(q_{a}, q_{b}) = q_{a} · q_{b} / (|q_{a}| |q_{b}|) = {}",
            fmt3(Some(r.q.cosine[0][1]))
        ));
    }
    s.code = Some(code::COSINE);
    s.question = Some(Question {
        ask: "Predict first: which matrix is brighter overall, Q's or K's?".into(),
        answer: r.map_or_else(|| RUN_FIRST.into(), |_| larger(mq, mk, "mean similarity over all pairs")),
    });
    s
}

fn distributions(r: Option<&RunResult>) -> Step {
    let mut s = step(7, "The distributions of similarities", vec![
        "The histograms count the pair similarities of the upper triangle in 20 bins: where Q's and K's similarities lie, and how spread out they are.".into(),
    ]);
    let (sq, sk) = r.map_or((None, None), |r| (spread(&pairs(&r.q.cosine)), spread(&pairs(&r.k.cosine))));
    if let Some(r) = r {
        let range = |c: &[Vec<f64>]| {
            let p = pairs(c);
            let lo = p.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{} to {}", fmt3(Some(lo)), fmt3(Some(hi)))
        };
        s.text.push(format!(
            "Q's similarities run from {}, K's from {}.",
            range(&r.q.cosine),
            range(&r.k.cosine)
        ));
    }
    s.figures = vec![Figure::Histograms];
    s.code = Some(code::HISTOGRAMS);
    s.question = Some(Question {
        ask: "Predict first: which distribution is narrower?".into(),
        answer: r.map_or_else(
            || RUN_FIRST.into(),
            |_| match (sq, sk) {
                (Some(a), Some(b)) if a < b => format!(
                    "Q's: its spread (standard deviation) is {} against K's {}",
                    fmt3(sq),
                    fmt3(sk)
                ),
                _ => format!(
                    "K's: its spread (standard deviation) is {} against Q's {}",
                    fmt3(sk),
                    fmt3(sq)
                ),
            },
        ),
    });
    s
}

fn selectivity(r: Option<&RunResult>) -> Step {
    let mut s = step(8, "The selectivity index", vec![
        "The selectivity index divides the mean similarity within categories by the mean similarity across categories. Above 1: words of a category are closer to each other than to the rest.".into(),
        "Each category's within mean and each pair of categories' across mean count once, however many words they have.".into(),
    ]);
    if let Some(r) = r {
        s.formula = Some(format!(
            "{}\n{}",
            selectivity_formula(&r.q, "Q"),
            selectivity_formula(&r.k, "K")
        ));
    }
    s.figures = vec![Figure::Selectivity];
    s.code = Some(code::SELECTIVITY);
    s.question = Some(Question {
        ask: "Predict first: will Q or K be more selective at this layer?".into(),
        answer: r.map_or_else(
            || RUN_FIRST.into(),
            |r| larger(r.q.selectivity, r.k.selectivity, "selectivity index"),
        ),
    });
    s
}

fn rsa(r: Option<&RunResult>) -> Step {
    let n = r.map(|r| pairs(&r.q.cosine).len());
    let mut s = step(9, "RSA: do Q and K agree?", vec![
        "Representational similarity analysis compares two similarity structures instead of two sets of vectors: each word pair is one point, with its Q similarity on one axis and its K similarity on the other.".into(),
        "The Pearson correlation r of those points says how far the two agree on which words are alike.".into(),
    ]);
    if let (Some(r), Some(n)) = (r, n) {
        s.formula = Some(format!("r = corr(Q pairs, K pairs) over {n} pairs = {}", fmt3(r.rsa.r)));
    }
    s.figures = vec![Figure::RsaScatter];
    s.code = Some(code::RSA);
    s.question = Some(Question {
        ask: "Predict first: will r be above 0.5?".into(),
        answer: r.map_or_else(
            || RUN_FIRST.into(),
            |r| match r.rsa.r {
                Some(x) if x > 0.5 => format!("Yes: r = {}.", fmt3(Some(x))),
                Some(x) => format!("No: r = {}.", fmt3(Some(x))),
                None => "r cannot be computed for this run (too few pairs).".into(),
            },
        ),
    });
    s
}

fn rsa_per_category(r: Option<&RunResult>) -> Step {
    let mut s = step(10, "RSA per category", vec![
        "The same correlation, within one category at a time: does the agreement between Q and K hold inside each group of related words?".into(),
    ]);
    if let Some(r) = r {
        let parts: Vec<String> = r
            .rsa
            .per_category
            .iter()
            .map(|c| format!("r({}) = {}", c.category, fmt3(c.r)))
            .collect();
        s.formula = Some(parts.join(", "));
    }
    s.figures = vec![Figure::RsaPerCategory];
    s.code = Some(code::RSA_PER_CATEGORY);
    s.question = Some(Question {
        ask: "Predict first: in which category do Q and K agree most?".into(),
        answer: r.map_or_else(
            || RUN_FIRST.into(),
            |r| {
                let best = r
                    .rsa
                    .per_category
                    .iter()
                    .filter(|c| c.r.is_some())
                    .max_by(|a, b| a.r.partial_cmp(&b.r).unwrap_or(std::cmp::Ordering::Equal));
                best.map_or_else(
                    || "No category has enough pairs.".into(),
                    |c| format!("{}: r = {}.", c.category, fmt3(c.r)),
                )
            },
        ),
    });
    s
}

fn next(e: &Experiment, r: Option<&RunResult>) -> Step {
    let top = r.map(|r| r.model.n_layer.saturating_sub(1));
    let other = match e.layer {
        0 => 1,
        l => l - 1,
    };
    let suggest = |label: String, layer: Option<usize>, all_layers: bool, heads: bool, edit: bool| Suggestion {
        label,
        layer,
        all_layers,
        heads,
        edit,
    };
    let mut s = step(11, "What to try next", vec![
        "Each link below sets up the lab for a new question. The model stays in memory: a new layer below this one needs no new forward pass.".into(),
    ]);
    s.next = vec![
        suggest(
            format!("Layer {other} instead of {}", e.layer),
            Some(other),
            false,
            false,
            false,
        ),
        suggest("Every layer at once (the layer sweep)".into(), top, true, false, false),
        suggest(format!("Each head of layer {} on its own", e.layer), None, false, true, false),
        suggest("Your own categories".into(), None, false, false, true),
    ];
    s
}
