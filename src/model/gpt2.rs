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
use super::shard::{concat_columns, Alone, Exchange, Shard};
use super::weights::{Conv1D, LayerNormWeights, LayerWeights};
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

/// Captures Q, K and V at every prompt's last token. The prompts' shared token prefix (for the
/// lecture, `The next word is`) is run once and its keys and values reused for every prompt's own
/// tokens: causal attention makes this exact.
pub fn capture_last_token(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>]) -> Result<Capture> {
    let mut layers = capture_blocking(weights, config, prompts, false, &mut Alone)?;
    Ok(layers.pop().expect("the top layer is always captured"))
}

/// The layer sweep: Q, K and V at every prompt's last token for every layer 0..=L (L =
/// `weights.layer`), from one forward pass with the same prefix reuse as [`capture_last_token`].
/// Each block's c_attn output is already computed on the way up, so the sweep costs one run to L.
/// Element l of the result is layer l.
pub fn capture_all_layers(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>]) -> Result<Vec<Capture>> {
    capture_blocking(weights, config, prompts, true, &mut Alone)
}

/// [`capture_sharded`] over an exchange that blocks instead of waiting ([`Alone`],
/// [`super::shard::ThreadExchange`]), so the forward finishes in one poll.
pub fn capture_blocking<E: Exchange>(
    weights: &LayerWeights,
    config: &Gpt2Config,
    prompts: &[Vec<u32>],
    all: bool,
    exchange: &mut E,
) -> Result<Vec<Capture>> {
    alone(capture_sharded(weights, config, prompts, all, exchange))
}

fn alone(forward: impl std::future::Future<Output = Result<Vec<Capture>>>) -> Result<Vec<Capture>> {
    forward
        .now_or_never()
        .unwrap_or_else(|| Err(Error::Model("a forward pass with a blocking exchange waited".into())))
}

/// The captures of layer L (`all`: of layers 0..=L) by one rank of a tensor-parallel forward:
/// `weights` holds this rank's share ([`Shard`]), and `exchange` joins it to the other ranks,
/// which run the same call on their shares. Every rank returns the whole captures, equal to one
/// worker's bit for bit (see [`super::shard`]).
pub async fn capture_sharded<E: Exchange>(
    weights: &LayerWeights,
    config: &Gpt2Config,
    prompts: &[Vec<u32>],
    all: bool,
    exchange: &mut E,
) -> Result<Vec<Capture>> {
    let prefix_len = shared_prefix_len(prompts);
    let prefix = prompts.first().map_or(&[][..], |p| &p[..prefix_len]);
    let suffixes: Vec<&[u32]> = prompts.iter().map(|p| &p[prefix_len..]).collect();
    capture_groups(weights, config, prefix, &suffixes, all, exchange).await
}

/// The same capture without reusing a shared prefix: every prompt runs whole (for tests and
/// as the reference the prefix reuse must equal).
pub fn capture_without_prefix(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>]) -> Result<Capture> {
    let whole: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let mut layers = alone(capture_groups(weights, config, &[], &whole, false, &mut Alone))?;
    Ok(layers.pop().expect("the top layer is always captured"))
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

/// Keys and values of one block for the prefix's positions, each [1, n_head, p, d_head].
type PastKv = (Tensor, Tensor);

/// Sequences of one length run as one attention batch: `b` sequences of `t` tokens, rows
/// `row0..row0 + b·t` of the residual stream (sequence-major).
struct Segment {
    b: usize,
    t: usize,
    row0: usize,
    mask: Tensor,
}

/// Runs the token sequences `seqs`, each following the shared `prefix` (may be empty), and
/// returns the captures of layers 0..=L when `all`, else of layer L only.
///
/// Everything runs in one pass over the weights: the prefix and every batch of equal-length
/// sequences (one batch per length, so no padding ever enters attention) are rows of one
/// residual stream [rows, C]. Layer norms, the Conv1Ds and the MLP work row by row (every row's
/// result is the same as if it ran alone: see [`super::matmul`]), so each weight matrix is
/// streamed once per block for all of them; only attention is per batch, and a batch attends
/// to the prefix's keys and values of the same block (causal attention makes this exact).
///
/// With a shard, this rank computes its columns of every Conv1D and its heads' attention, and
/// gathers the other ranks' columns after each ([`gather_columns`]).
async fn capture_groups<E: Exchange>(
    weights: &LayerWeights,
    config: &Gpt2Config,
    prefix: &[u32],
    seqs: &[&[u32]],
    all: bool,
    exchange: &mut E,
) -> Result<Vec<Capture>> {
    let c = config.n_embd;
    let shard = weights.shard;
    let heads = shard.heads(config.n_head).len();
    let n = seqs.len();
    let top = weights.layer;
    let first = if all { 0 } else { top };
    let act = config.activation()?;
    let eps = config.layer_norm_epsilon as f32;
    let p = prefix.len();
    // One batch per length.
    let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() {
            return Err(Error::Model(format!("prompt #{} has no tokens", i + 1)));
        }
        by_len.entry(s.len()).or_default().push(i);
    }
    // The residual stream: the prefix's rows, then each batch's.
    let mut parts = Vec::new();
    if p > 0 {
        parts.push(embed(weights, &[prefix], 0)?.reshape((p, c))?);
    }
    let mut segments = Vec::new();
    let mut order = Vec::with_capacity(n); // prompt index of each captured row
    let mut last_rows = Vec::with_capacity(n); // its row in the stream
    let mut row = p;
    for (&len, members) in &by_len {
        let batch: Vec<&[u32]> = members.iter().map(|&i| seqs[i]).collect();
        parts.push(embed(weights, &batch, p)?.reshape((members.len() * len, c))?);
        for (j, &i) in members.iter().enumerate() {
            order.push(i);
            last_rows.push((row + j * len + len - 1) as u32);
        }
        segments.push(Segment {
            b: members.len(),
            t: len,
            row0: row,
            mask: causal_mask(len, p)?,
        });
        row += members.len() * len;
    }
    let mut x = Tensor::cat(&parts, 0)?;
    let last_rows = Tensor::new(last_rows, &Device::Cpu)?;
    let prefix_mask = causal_mask(p, 0)?;
    let mut taps = Vec::new();
    // This rank's heads: its queries, keys and values are c_attn's output columns.
    let cr = heads * config.d_head();
    for block in &weights.blocks {
        let qkv = conv1d(&layer_norm(&x, &block.ln_1, eps)?, &block.c_attn)?;
        if all {
            // Each row's c_attn output is what a capture stopping at this block computes.
            taps.push(qkv.index_select(&last_rows, 0)?);
        }
        let mut outs = Vec::with_capacity(segments.len() + 1);
        let past = if p > 0 {
            let (y, kv) = attention(&qkv.narrow(0, 0, p)?.reshape((1, p, 3 * cr))?, &prefix_mask, heads, None)?;
            outs.push(y.reshape((p, cr))?);
            Some(kv)
        } else {
            None
        };
        for s in &segments {
            let part = qkv.narrow(0, s.row0, s.b * s.t)?.reshape((s.b, s.t, 3 * cr))?;
            let (y, _) = attention(&part, &s.mask, heads, past.as_ref())?;
            outs.push(y.reshape((s.b * s.t, cr))?);
        }
        let y = gather_columns(exchange, shard, Tensor::cat(&outs, 0)?).await?;
        x = (x + gather_columns(exchange, shard, conv1d(&y, &block.c_proj)?).await?)?;
        let m = layer_norm(&x, &block.ln_2, eps)?;
        let h = gather_columns(exchange, shard, conv1d_act(&m, &block.mlp_c_fc, act)?).await?;
        x = (x + gather_columns(exchange, shard, conv1d(&h, &block.mlp_c_proj)?).await?)?;
    }
    // Block L: only the last positions' ln_1 and c_attn are needed.
    let last = x.index_select(&last_rows, 0)?;
    taps.push(conv1d(&layer_norm(&last, &weights.top_ln_1, eps)?, &weights.top_c_attn)?);
    // Every rank's heads of every tap, in one exchange: rows of [q | k | v] of its heads.
    let mine: Vec<f32> = Tensor::cat(&taps, 0)?.flatten_all()?.to_vec1()?;
    let ranks = exchange.all_gather(mine).await?;
    check_ranks(&ranks, shard)?;
    let mut out = Vec::with_capacity(taps.len());
    for (t, layer) in (first..=top).enumerate() {
        let mut capture = Capture {
            layer,
            q: vec![vec![0.0; c]; n],
            k: vec![vec![0.0; c]; n],
            v: vec![vec![0.0; c]; n],
        };
        let mut col = 0; // where this rank's heads start in q, k and v
        for (r, data) in ranks.iter().enumerate() {
            let w = 3 * Shard::new(r, shard.ranks)?.heads(config.n_head).len() * config.d_head();
            let rows = data
                .get(t * n * w..(t + 1) * n * w)
                .ok_or_else(|| Error::Model(format!("rank {r} sent too few captured rows")))?;
            for (row, &i) in rows.chunks_exact(w.max(1)).zip(&order) {
                let third = w / 3;
                capture.q[i][col..col + third].copy_from_slice(&row[..third]);
                capture.k[i][col..col + third].copy_from_slice(&row[third..2 * third]);
                capture.v[i][col..col + third].copy_from_slice(&row[2 * third..]);
            }
            col += w / 3;
        }
        out.push(capture);
    }
    Ok(out)
}

/// Every rank's output columns of a [rows, width] activation, side by side in rank order.
async fn gather_columns<E: Exchange>(exchange: &mut E, shard: Shard, mine: Tensor) -> Result<Tensor> {
    if shard.ranks == 1 {
        return Ok(mine);
    }
    let rows = mine.dim(0)?;
    let parts = exchange.all_gather(mine.flatten_all()?.to_vec1()?).await?;
    check_ranks(&parts, shard)?;
    let all = concat_columns(&parts, rows)?;
    let width = all.len() / rows.max(1);
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

/// y = x W + b over the last dimension, for any leading dimensions (see [`super::matmul`]).
fn conv1d(x: &Tensor, w: &Conv1D) -> Result<Tensor> {
    conv1d_then(x, w, |_| ())
}

/// [`conv1d`], then `f` on its output in place (the activation) before it becomes a tensor.
fn conv1d_then(x: &Tensor, w: &Conv1D, f: impl FnOnce(&mut [f32])) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let n_in = dims[dims.len() - 1];
    let rows = x.elem_count() / n_in;
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let mut y = w.linear.forward(&xs, rows);
    f(&mut y);
    let mut out_dims = dims;
    *out_dims.last_mut().expect("at least one dim") = w.linear.out_features();
    Ok(Tensor::from_vec(y, out_dims, &Device::Cpu)?)
}

/// The MLP's c_fc and activation.
fn conv1d_act(x: &Tensor, w: &Conv1D, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::GeluTanh => conv1d_then(x, w, gelu_tanh_in_place)?,
        Activation::GeluErf => conv1d(x, w)?.gelu_erf()?,
        Activation::Relu => conv1d(x, w)?.relu()?,
    })
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
