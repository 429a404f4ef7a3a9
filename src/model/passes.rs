//! A forward cut into passes of bounded rows: a pass's activations grow with its rows, and a
//! wasm instance's memory never shrinks, so no edit should need more than the first run did.

use std::sync::Arc;

use super::gpt2::{capture_pass, shared_prefix_len, Capture, Taps};
use super::shard::Exchange;
use super::weights::LayerWeights;
use super::Gpt2Config;
use crate::error::Result;

/// Own-token rows of one forward pass at most (besides the shared prefix). A pass's
/// activations grow with its rows and wasm memory never shrinks: a longer template or a long
/// word list runs in passes no larger than the lecture's one (~40 rows at its layer 5), so the
/// memory the first run grew holds them; each extra pass streams the weights once more.
pub const MAX_ROWS: usize = 48;

/// [`super::capture`] with passes of at most `max_rows` own-token rows: every pass reuses the same
/// shared prefix, so the captures equal one pass's bit for bit.
///
/// The prefix's keys and values are kept beside the weights ([`LayerWeights::prefix_kv`]): a
/// later pass or run whose prompts start with the kept prefix uses it as its prefix and runs
/// only the prompts' own rows (a live edit: one word's rows, not the template's too).
pub async fn capture_in_passes<E: Exchange>(
    weights: &LayerWeights,
    config: &Gpt2Config,
    layer: usize,
    prompts: &[Vec<u32>],
    taps: Taps,
    exchange: &mut E,
    max_rows: usize,
) -> Result<Vec<Capture>> {
    let shared = if taps.whole_prompts { 0 } else { shared_prefix_len(prompts) };
    let mut kept = (shared > 0)
        .then(|| weights.prefix_kv.usable(prompts, shared, layer))
        .flatten();
    let prefix_len = kept.as_ref().map_or(shared, |k| k.tokens.len());
    let mut all: Vec<Capture> = Vec::new();
    for part in passes(prompts, prefix_len, max_rows) {
        let (captured, computed) =
            capture_pass(weights, config, layer, part, (prefix_len, kept.as_deref()), taps, exchange).await?;
        if let Some(computed) = computed {
            let computed = Arc::new(computed);
            weights.prefix_kv.keep(computed.clone());
            kept = Some(computed);
        }
        if all.is_empty() {
            all = captured;
            continue;
        }
        for (into, from) in all.iter_mut().zip(captured) {
            into.q.extend(from.q);
            into.k.extend(from.k);
            into.v.extend(from.v);
        }
    }
    Ok(all)
}

/// `prompts` cut, in order, into the fewest passes of at most `max_rows` own-token rows (after
/// the `prefix`; a longer prompt runs alone), as equal as the prompts allow.
fn passes(prompts: &[Vec<u32>], prefix: usize, max_rows: usize) -> Vec<&[Vec<u32>]> {
    let max_rows = max_rows.max(1);
    let rows: usize = prompts.iter().map(|p| p.len() - prefix).sum();
    let fewest = rows.div_ceil(max_rows).max(1);
    let cut = |target: usize| {
        let (mut out, mut start, mut in_pass) = (Vec::new(), 0, 0);
        for (i, p) in prompts.iter().enumerate() {
            let own = p.len() - prefix;
            if in_pass > 0 && in_pass + own > target {
                out.push(&prompts[start..i]);
                (start, in_pass) = (i, 0);
            }
            in_pass += own;
        }
        out.push(&prompts[start..]);
        out
    };
    // The smallest even share that needs no more passes than the fewest.
    (rows.div_ceil(fewest)..max_rows)
        .map(cut)
        .find(|c| c.len() <= fewest)
        .unwrap_or_else(|| cut(max_rows))
}

#[cfg(test)]
mod tests {
    use super::passes;

    #[test]
    fn passes_keep_order_and_stay_under_the_rows() {
        let prompts: Vec<Vec<u32>> = (0..10u32).map(|i| vec![7, 7, i, i + 1 + i % 3]).collect();
        let lens = |ps: &[&[Vec<u32>]]| {
            ps.iter()
                .map(|p| p.iter().map(|q| q.len() - 2).sum::<usize>())
                .collect::<Vec<_>>()
        };
        assert_eq!(passes(&prompts, 2, 100).len(), 1, "20 rows: one pass");
        let cut = passes(&prompts, 2, 8);
        assert_eq!(lens(&cut), vec![8, 8, 4], "the fewest passes, at most 8 rows each");
        assert_eq!(
            lens(&passes(&prompts[..9], 2, 10)),
            vec![10, 8],
            "as equal as the prompts allow"
        );
        assert_eq!(cut.concat(), prompts, "in order, every prompt once");
        let long = vec![vec![1; 30], vec![1, 2]];
        assert_eq!(passes(&long, 0, 8).len(), 2, "a prompt longer than the rows runs alone");
        assert_eq!(passes(&[], 0, 8).len(), 1, "no prompt: one empty pass");
    }
}
