//! The GPT-2 forward pass up to block L's `attn.c_attn`, capturing the query, key and value at
//! each prompt's last token (TransformerLens names: `blocks.L.attn.hook_q/k/v`).
//!
//! Prompts are batched by token length, so no padding ever enters attention and every prompt
//! is read at its own last token.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use futures::FutureExt;

use super::config::{Activation, Gpt2Config};
use super::ops::gelu_tanh_in_place;
use super::prefix_kv::{PastKv, PrefixKv};
#[cfg(doc)]
use super::shard::Alone;
use super::shard::{concat_columns, Exchange, Shard};
use super::weights::{BlockWeights, Conv1D, LayerNormWeights, LayerWeights};
use crate::error::{Error, Result};

/// Last-token Q, K and V of every prompt, in prompt order, each of length n_embd.
#[derive(Clone, Debug, PartialEq)]
pub struct Capture {
    pub layer: usize,
    pub q: Vec<Vec<f32>>,
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl Capture {
    /// TransformerLens-style name of a captured activation ("q", "k" or "v").
    pub fn hook_name(layer: usize, which: &str) -> String {
        format!("blocks.{layer}.attn.hook_{which}")
    }
}

/// What a forward captures, and how it runs the prompts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Taps {
    /// Every layer 0..=L (the layer sweep: each block's c_attn output is computed on the way up
    /// anyway, so the sweep costs one run to L), not only L.
    pub all_layers: bool,
    /// Run every prompt whole instead of running the prompts' shared token prefix once and
    /// reusing its keys and values (the reference the reuse must equal; tests only).
    pub whole_prompts: bool,
}

/// Captures Q, K and V at every prompt's last token, of layer L = `layer` (at most
/// `weights.layer`; and of every layer below with [`Taps::all_layers`]; element i is then
/// layer i), by one rank of a
/// tensor-parallel forward: `weights` holds this rank's share ([`Shard`]) and `exchange` joins
/// it to the other ranks, which run the same call on their shares. Every rank returns the whole
/// captures, equal to one worker's bit for bit (see [`super::shard`]). One worker alone passes
/// [`Alone`].
///
/// The prompts' shared token prefix (for the lecture, `The next word is`) runs once and its
/// keys and values are reused for every prompt's own tokens: causal attention makes this exact.
/// Prompts with more than [`super::passes::MAX_ROWS`] own tokens in all run in passes of
/// about equal rows.
pub async fn capture<E: Exchange>(
    weights: &LayerWeights,
    config: &Gpt2Config,
    layer: usize,
    prompts: &[Vec<u32>],
    taps: Taps,
    exchange: &mut E,
) -> Result<Vec<Capture>> {
    super::passes::capture_in_passes(weights, config, layer, prompts, taps, exchange, super::passes::MAX_ROWS).await
}

/// [`capture`] in one pass over the weights, the first `prefix_len` tokens shared: their keys
/// and values taken from `kept` (the prefix's rows then never enter the stream), or computed
/// and returned for later passes and runs.
pub(super) async fn capture_pass<E: Exchange>(
    weights: &LayerWeights,
    config: &Gpt2Config,
    layer: usize,
    prompts: &[Vec<u32>],
    (prefix_len, kept): (usize, Option<&PrefixKv>),
    taps: Taps,
    exchange: &mut E,
) -> Result<(Vec<Capture>, Option<PrefixKv>)> {
    let prefix = prompts.first().map_or(&[][..], |p| &p[..prefix_len]);
    let suffixes: Vec<&[u32]> = prompts.iter().map(|p| &p[prefix_len..]).collect();
    let kept = kept.filter(|_| prefix_len > 0);
    let layout = RowLayout::new(prefix.len(), kept.is_none(), &suffixes)?;
    let (blocks, top_ln_1, top_c_attn) = weights.up_to(layer)?;
    agree_on_rows(exchange, weights.shard, &layout).await?;
    let forward = Forward::new(weights, config, &layout)?;
    let mut x = layout.embed(weights, prefix, &suffixes)?;
    // The prefix's keys and values, block by block, when they are computed here.
    let mut computed = Vec::with_capacity(if layout.prefix_rows > 0 { blocks.len() } else { 0 });
    // Every rank's heads of every tap, for one exchange at the end: rows of [q | k | v] of its
    // heads, one tap after another (written as they come: no second copy of them all).
    let n_taps = if taps.all_layers { layer + 1 } else { 1 };
    let mut mine: Vec<f32> = Vec::with_capacity(n_taps * layout.order.len() * 3 * forward.heads * config.d_head());
    for (i, block) in blocks.iter().enumerate() {
        let qkv = forward.qkv(&x, &block.ln_1, &block.c_attn)?;
        if taps.all_layers {
            // Each row's c_attn output is what a capture stopping at this block computes.
            mine.extend(qkv.index_select(&layout.last_rows, 0)?.flatten_all()?.to_vec1::<f32>()?);
        }
        let past = kept.map(|k| &k.blocks[i]);
        let (next, prefix_kv) = forward.block(x, &qkv, block, past, exchange).await?;
        x = next;
        computed.extend(prefix_kv);
    }
    // Block L: only the last positions' ln_1 and c_attn are needed.
    let last = x.index_select(&layout.last_rows, 0)?;
    drop(x);
    mine.extend(forward.qkv(&last, top_ln_1, top_c_attn)?.flatten_all()?.to_vec1::<f32>()?);
    let ranks = exchange.all_gather(mine).await?;
    check_ranks(&ranks, weights.shard)?;
    let first = if taps.all_layers { 0 } else { layer };
    let captures = reassemble(ranks, &layout, first..=layer, config, weights.shard.ranks)?;
    let computed = (layout.prefix_rows > 0).then(|| PrefixKv {
        tokens: prefix.to_vec(),
        blocks: computed,
    });
    Ok((captures, computed))
}

/// Every rank runs the same rows: a rank that used a kept prefix while another computed it
/// would swap activations of other shapes, so a disagreement is an error (the page then runs
/// on one worker), never numbers. One small exchange per pass.
async fn agree_on_rows<E: Exchange>(exchange: &mut E, shard: Shard, layout: &RowLayout) -> Result<()> {
    if shard.ranks == 1 {
        return Ok(());
    }
    let mine = vec![layout.prefix as f32, layout.prefix_rows as f32, layout.rows() as f32];
    let all = exchange.all_gather(mine.clone()).await?;
    check_ranks(&all, shard)?;
    match all.iter().all(|r| *r == mine) {
        true => Ok(()),
        false => Err(Error::Model(format!(
            "the forward's ranks disagree on its rows (prefix, prefix rows, rows): {all:?}"
        ))),
    }
}

/// [`capture`] over an exchange that blocks instead of waiting ([`Alone`],
/// [`super::shard::ThreadExchange`]), so the forward finishes in one poll.
pub fn capture_blocking<E: Exchange>(
    weights: &LayerWeights,
    config: &Gpt2Config,
    layer: usize,
    prompts: &[Vec<u32>],
    taps: Taps,
    exchange: &mut E,
) -> Result<Vec<Capture>> {
    capture(weights, config, layer, prompts, taps, exchange)
        .now_or_never()
        .unwrap_or_else(|| Err(Error::Model("a forward pass with a blocking exchange waited".into())))
}

/// Length of the token prefix all prompts share, leaving every prompt at least one own token.
pub fn shared_prefix_len(prompts: &[Vec<u32>]) -> usize {
    let Some(first) = prompts.first() else { return 0 };
    let min_len = prompts.iter().map(Vec::len).min().unwrap_or(0);
    let common = (0..first.len())
        .take_while(|&i| prompts.iter().all(|p| p.get(i) == first.get(i)))
        .count();
    common.min(min_len.saturating_sub(1))
}

/// Sequences of one length run as one attention batch: `b` sequences of `t` tokens, rows
/// `row0..row0 + b·t` of the residual stream (sequence-major).
struct Segment {
    b: usize,
    t: usize,
    row0: usize,
    mask: Tensor,
}

/// Where every prompt's tokens sit in the one residual stream [rows, C] of a forward.
///
/// A pass (see [`capture`]) runs in one sweep over the weights: the prefix and every batch of
/// equal-length sequences (one batch per length, so no padding ever enters attention) are rows
/// of one stream. Layer norms, the Conv1Ds and the MLP work row by row (every row's result is the same
/// as if it ran alone: see [`super::matmul`]), so each weight matrix is streamed once per block
/// for all of them; only attention is per batch, and a batch attends to the prefix's keys and
/// values of the same block (causal attention makes this exact).
struct RowLayout {
    /// The shared prefix's length: the positions before every batch's own tokens.
    prefix: usize,
    /// The prefix's rows in the stream (first): `prefix`, or 0 when its keys and values are kept.
    prefix_rows: usize,
    prefix_mask: Tensor,
    segments: Vec<Segment>,
    /// The prompt index of each captured row, in the order the rows are captured.
    order: Vec<usize>,
    /// Each captured row's place in the stream.
    last_rows: Tensor,
}

impl RowLayout {
    fn new(prefix: usize, prefix_in_stream: bool, seqs: &[&[u32]]) -> Result<Self> {
        let prefix_rows = if prefix_in_stream { prefix } else { 0 };
        let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, s) in seqs.iter().enumerate() {
            if s.is_empty() {
                return Err(Error::Model(format!("prompt #{} has no tokens", i + 1)));
            }
            by_len.entry(s.len()).or_default().push(i);
        }
        let (mut segments, mut order, mut last_rows) = (Vec::new(), Vec::new(), Vec::new());
        let mut row = prefix_rows;
        for (len, members) in by_len {
            for (j, &i) in members.iter().enumerate() {
                order.push(i);
                last_rows.push((row + j * len + len - 1) as u32);
            }
            segments.push(Segment {
                b: members.len(),
                t: len,
                row0: row,
                mask: causal_mask(len, prefix)?,
            });
            row += members.len() * len;
        }
        Ok(RowLayout {
            prefix,
            prefix_rows,
            prefix_mask: causal_mask(prefix_rows, 0)?,
            segments,
            order,
            last_rows: Tensor::new(last_rows, &Device::Cpu)?,
        })
    }

    /// The stream's first state: the prefix's embeddings, then each batch's.
    fn embed(&self, weights: &LayerWeights, prefix: &[u32], seqs: &[&[u32]]) -> Result<Tensor> {
        let c = weights.wte_rows.dim(1)?;
        let mut parts = Vec::with_capacity(self.segments.len() + 1);
        if self.prefix_rows > 0 {
            parts.push(embed(weights, &[prefix], 0)?.reshape((self.prefix, c))?);
        }
        let mut at = 0;
        for s in &self.segments {
            let batch: Vec<&[u32]> = self.order[at..at + s.b].iter().map(|&i| seqs[i]).collect();
            parts.push(embed(weights, &batch, self.prefix)?.reshape((s.b * s.t, c))?);
            at += s.b;
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// Rows of the stream.
    fn rows(&self) -> usize {
        self.prefix_rows + self.segments.iter().map(|s| s.b * s.t).sum::<usize>()
    }

    /// Causal self-attention of `heads` heads over the stream's fused qkv [rows, 3·heads·d]:
    /// the prefix alone (returning its keys and values), then each batch after the prefix's
    /// keys and values (`kept` when the prefix is not in the stream).
    fn attend(&self, qkv: &Tensor, heads: usize, kept: Option<&PastKv>) -> Result<(Tensor, Option<PastKv>)> {
        let (p, width) = (self.prefix_rows, qkv.dim(1)?);
        let mut outs = Vec::with_capacity(self.segments.len() + 1);
        let computed = if p > 0 {
            let (y, kv) = attention(&qkv.narrow(0, 0, p)?.reshape((1, p, width))?, &self.prefix_mask, heads, None)?;
            outs.push(y.reshape((p, width / 3))?);
            Some(kv)
        } else {
            None
        };
        let past = computed.as_ref().or(kept);
        for s in &self.segments {
            let part = qkv.narrow(0, s.row0, s.b * s.t)?.reshape((s.b, s.t, width))?;
            let (y, _) = attention(&part, &s.mask, heads, past)?;
            outs.push(y.reshape((s.b * s.t, width / 3))?);
        }
        Ok((Tensor::cat(&outs, 0)?, computed))
    }
}

/// One rank's forward through the blocks below L.
struct Forward<'a> {
    layout: &'a RowLayout,
    shard: Shard,
    /// This rank's heads.
    heads: usize,
    act: Activation,
    eps: f32,
}

impl<'a> Forward<'a> {
    fn new(weights: &LayerWeights, config: &Gpt2Config, layout: &'a RowLayout) -> Result<Self> {
        Ok(Forward {
            layout,
            shard: weights.shard,
            heads: weights.shard.heads(config.n_head).len(),
            act: config.activation()?,
            eps: config.layer_norm_epsilon as f32,
        })
    }

    /// c_attn of ln_1: this rank's heads' [q | k | v] columns.
    fn qkv(&self, x: &Tensor, ln_1: &LayerNormWeights, c_attn: &Conv1D) -> Result<Tensor> {
        let (y, rows) = conv1d_rows(&layer_norm(x, ln_1, self.eps)?, c_attn, |_| ())?;
        Ok(Tensor::from_vec(y, (rows, c_attn.linear.out_features()), &Device::Cpu)?)
    }

    /// The rest of a block after its c_attn output `qkv`, as in GPT-2: attention, then the MLP,
    /// each added to the residual stream. Every Conv1D's columns are gathered from all ranks.
    /// Each activation is dropped as soon as the next is computed: the forward's scratch is
    /// the high-water mark of wasm memory beside the weights. Returns the prefix's keys and
    /// values when the prefix is in the stream (else `past`, kept ones, are used).
    async fn block<E: Exchange>(
        &self,
        x: Tensor,
        qkv: &Tensor,
        block: &BlockWeights,
        past: Option<&PastKv>,
        ex: &mut E,
    ) -> Result<(Tensor, Option<PastKv>)> {
        let (a, prefix_kv) = self.layout.attend(qkv, self.heads, past)?;
        let rows = a.dim(0)?;
        let y = gather_columns(ex, self.shard, a.flatten_all()?.to_vec1()?, rows).await?;
        let (p, _) = conv1d_rows(&y, &block.c_proj, |_| ())?;
        drop(y);
        let x = (x + gather_columns(ex, self.shard, p, rows).await?)?;
        let m = layer_norm(&x, &block.ln_2, self.eps)?;
        let f = conv1d_act(&m, &block.mlp_c_fc, self.act)?;
        drop(m);
        let h = gather_columns(ex, self.shard, f, rows).await?;
        let (o, _) = conv1d_rows(&h, &block.mlp_c_proj, |_| ())?;
        drop(h);
        Ok(((x + gather_columns(ex, self.shard, o, rows).await?)?, prefix_kv))
    }
}

/// The captures of `layers` from every rank's taps (rank r: rows of [q | k | v] of its heads,
/// one tap after another), put back in prompt order with every rank's heads side by side.
fn reassemble(
    mut ranks: Vec<Vec<f32>>,
    layout: &RowLayout,
    layers: std::ops::RangeInclusive<usize>,
    config: &Gpt2Config,
    n_ranks: usize,
) -> Result<Vec<Capture>> {
    let (c, n) = (config.n_embd, layout.order.len());
    let mut out = Vec::new();
    // From the last tap down, each rank's rows of a tap freed (its buffer cut) once copied: the
    // captures and the ranks' rows are never both held whole.
    let layers: Vec<usize> = layers.collect();
    for (t, &layer) in layers.iter().enumerate().rev() {
        let mut capture = Capture {
            layer,
            q: vec![vec![0.0; c]; n],
            k: vec![vec![0.0; c]; n],
            v: vec![vec![0.0; c]; n],
        };
        let mut col = 0; // where rank r's heads start in q, k and v
        for (r, data) in ranks.iter_mut().enumerate() {
            let third = Shard::new(r, n_ranks)?.heads(config.n_head).len() * config.d_head();
            let w = 3 * third;
            let rows = data
                .get(t * n * w..(t + 1) * n * w)
                .ok_or_else(|| Error::Model(format!("rank {r} sent too few captured rows")))?;
            for (row, &i) in rows.chunks_exact(w.max(1)).zip(&layout.order) {
                capture.q[i][col..col + third].copy_from_slice(&row[..third]);
                capture.k[i][col..col + third].copy_from_slice(&row[third..2 * third]);
                capture.v[i][col..col + third].copy_from_slice(&row[2 * third..]);
            }
            col += third;
            data.truncate(t * n * w);
            data.shrink_to_fit();
        }
        out.push(capture);
    }
    out.reverse();
    Ok(out)
}

/// Every rank's output columns of a [rows, width] activation (this rank's, row-major), side by
/// side in rank order.
async fn gather_columns<E: Exchange>(exchange: &mut E, shard: Shard, mine: Vec<f32>, rows: usize) -> Result<Tensor> {
    let all = if shard.ranks == 1 {
        mine
    } else {
        let parts = exchange.all_gather(mine).await?;
        check_ranks(&parts, shard)?;
        concat_columns(&parts, rows)?
    };
    let width = all.len().checked_div(rows).unwrap_or(0);
    Ok(Tensor::from_vec(all, (rows, width), &Device::Cpu)?)
}

fn check_ranks(parts: &[Vec<f32>], shard: Shard) -> Result<()> {
    match parts.len() == shard.ranks {
        true => Ok(()),
        false => Err(Error::Model(format!(
            "{} of the forward's {} ranks answered",
            parts.len(),
            shard.ranks
        ))),
    }
}

/// Token plus position embeddings of equal-length sequences starting at position `start`: [b, t, C].
fn embed(weights: &LayerWeights, seqs: &[&[u32]], start: usize) -> Result<Tensor> {
    let (b, t) = (seqs.len(), seqs[0].len());
    let ids: Vec<u32> = seqs.iter().flat_map(|s| s.iter().copied()).collect();
    let rows = Tensor::new(weights.embedding_rows(&ids)?, &Device::Cpu)?;
    let c = weights.wte_rows.dim(1)?;
    let tok = weights.wte_rows.index_select(&rows, 0)?.reshape((b, t, c))?;
    let pos = weights.wpe.narrow(0, start, t)?;
    Ok(tok.broadcast_add(&pos)?)
}

fn layer_norm(x: &Tensor, w: &LayerNormWeights, eps: f32) -> Result<Tensor> {
    Ok(candle_nn::ops::layer_norm(&x.contiguous()?, &w.weight, &w.bias, eps)?)
}

/// y = x W + b over the last dimension, for any leading dimensions (see [`super::matmul`]),
/// then `f` on y in place (the activation): y row-major, and its number of rows. x is read
/// where it lies when it is contiguous f32 (no copy of it beside y).
fn conv1d_rows(x: &Tensor, w: &Conv1D, f: impl FnOnce(&mut [f32])) -> Result<(Vec<f32>, usize)> {
    let n_in = x.dims().last().copied().unwrap_or(0);
    let rows = x.elem_count().checked_div(n_in).unwrap_or(0);
    let (storage, layout) = x.storage_and_layout();
    let mut y = match (&*storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(cpu), Some((start, end))) => w.linear.forward(&cpu.as_slice::<f32>()?[start..end], rows),
        _ => {
            drop(storage);
            w.linear.forward(&x.flatten_all()?.to_vec1::<f32>()?, rows)
        }
    };
    f(&mut y);
    Ok((y, rows))
}

/// The MLP's c_fc and activation, row-major.
fn conv1d_act(x: &Tensor, w: &Conv1D, act: Activation) -> Result<Vec<f32>> {
    let other = |op: fn(&Tensor) -> candle_core::Result<Tensor>| -> Result<Vec<f32>> {
        let (y, rows) = conv1d_rows(x, w, |_| ())?;
        let y = Tensor::from_vec(y, (rows, w.linear.out_features()), &Device::Cpu)?;
        Ok(op(&y)?.flatten_all()?.to_vec1()?)
    };
    match act {
        Activation::GeluTanh => Ok(conv1d_rows(x, w, gelu_tanh_in_place)?.0),
        Activation::GeluErf => other(Tensor::gelu_erf),
        Activation::Relu => other(Tensor::relu),
    }
}

/// [t, past + t]: 0 where query i (at position past + i) may attend to key j, -inf elsewhere.
fn causal_mask(t: usize, past: usize) -> Result<Tensor> {
    let data: Vec<f32> = (0..t)
        .flat_map(|i| (0..past + t).map(move |j| if j <= past + i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Ok(Tensor::from_vec(data, (t, past + t), &Device::Cpu)?)
}

/// Multi-head causal self-attention of `h` heads from their fused qkv [b, t, 3·h·d], after
/// optional past keys and values [1, h, p, d]; returns [b, t, h·d] and this call's keys and
/// values [b, h, t, d].
fn attention(qkv: &Tensor, mask: &Tensor, h: usize, past: Option<&PastKv>) -> Result<(Tensor, (Tensor, Tensor))> {
    let (b, t, width) = qkv.dims3()?;
    let c = width / 3;
    let d = c / h.max(1);
    let heads = |i: usize| -> Result<Tensor> {
        Ok(qkv
            .narrow(2, i * c, c)?
            .reshape((b, t, h, d))?
            .transpose(1, 2)?
            .contiguous()?)
    };
    let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
    let (k_all, v_all) = match past {
        Some((pk, pv)) => {
            let p = pk.dim(2)?;
            let widen = |x: &Tensor| -> Result<Tensor> { Ok(x.broadcast_as((b, h, p, d))?.contiguous()?) };
            (Tensor::cat(&[&widen(pk)?, &k], 2)?, Tensor::cat(&[&widen(pv)?, &v], 2)?)
        }
        None => (k.clone(), v.clone()),
    };
    // As PyTorch's eager GPT-2: scores / sqrt(d_head), masked, softmax in f32.
    let scores = (q.matmul(&k_all.t()?.contiguous()?)? / (d as f64).sqrt())?;
    let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask)?)?;
    let y = probs.matmul(&v_all)?;
    Ok((y.transpose(1, 2)?.contiguous()?.reshape((b, t, c))?, (k, v)))
}
