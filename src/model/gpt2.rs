//! The GPT-2 forward pass up to block L's `attn.c_attn`, capturing the query, key and value at
//! each prompt's last token (TransformerLens names: `blocks.L.attn.hook_q/k/v`).
//!
//! Prompts are batched by token length, so no padding ever enters attention and every prompt
//! is read at its own last token.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use super::config::{Activation, Gpt2Config};
use super::ops::gelu_tanh_in_place;
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
    let mut layers = capture(weights, config, prompts, false)?;
    Ok(layers.pop().expect("the top layer is always captured"))
}

/// The layer sweep: Q, K and V at every prompt's last token for every layer 0..=L (L =
/// `weights.layer`), from one forward pass with the same prefix reuse as [`capture_last_token`].
/// Each block's c_attn output is already computed on the way up, so the sweep costs one run to L.
/// Element l of the result is layer l.
pub fn capture_all_layers(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>]) -> Result<Vec<Capture>> {
    capture(weights, config, prompts, true)
}

fn capture(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>], all: bool) -> Result<Vec<Capture>> {
    let prefix_len = shared_prefix_len(prompts);
    let prefix = prompts.first().map_or(&[][..], |p| &p[..prefix_len]);
    let suffixes: Vec<&[u32]> = prompts.iter().map(|p| &p[prefix_len..]).collect();
    capture_groups(weights, config, prefix, &suffixes, all)
}

/// The same capture without reusing a shared prefix: every prompt runs whole (for tests and
/// as the reference the prefix reuse must equal).
pub fn capture_without_prefix(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>]) -> Result<Capture> {
    let whole: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let mut layers = capture_groups(weights, config, &[], &whole, false)?;
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
fn capture_groups(
    weights: &LayerWeights,
    config: &Gpt2Config,
    prefix: &[u32],
    seqs: &[&[u32]],
    all: bool,
) -> Result<Vec<Capture>> {
    let c = config.n_embd;
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
    for block in &weights.blocks {
        let qkv = conv1d(&layer_norm(&x, &block.ln_1, eps)?, &block.c_attn)?;
        if all {
            // Each row's c_attn output is what a capture stopping at this block computes.
            taps.push(qkv.index_select(&last_rows, 0)?);
        }
        let mut outs = Vec::with_capacity(segments.len() + 1);
        let past = if p > 0 {
            let (y, kv) = attention(&qkv.narrow(0, 0, p)?.reshape((1, p, 3 * c))?, &prefix_mask, config, None)?;
            outs.push(y.reshape((p, c))?);
            Some(kv)
        } else {
            None
        };
        for s in &segments {
            let part = qkv.narrow(0, s.row0, s.b * s.t)?.reshape((s.b, s.t, 3 * c))?;
            let (y, _) = attention(&part, &s.mask, config, past.as_ref())?;
            outs.push(y.reshape((s.b * s.t, c))?);
        }
        x = (x + conv1d(&Tensor::cat(&outs, 0)?, &block.c_proj)?)?;
        let m = layer_norm(&x, &block.ln_2, eps)?;
        let h = conv1d_act(&m, &block.mlp_c_fc, act)?;
        x = (x + conv1d(&h, &block.mlp_c_proj)?)?;
    }
    // Block L: only the last positions' ln_1 and c_attn are needed.
    let last = x.index_select(&last_rows, 0)?;
    taps.push(conv1d(&layer_norm(&last, &weights.top_ln_1, eps)?, &weights.top_c_attn)?);
    let mut out = Vec::with_capacity(taps.len());
    for (layer, qkv) in (first..=top).zip(taps) {
        let mut capture = Capture {
            layer,
            q: vec![Vec::new(); n],
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
        };
        let qkv: Vec<Vec<f32>> = qkv.to_vec2()?;
        for (row, &i) in qkv.into_iter().zip(&order) {
            capture.q[i] = row[..c].to_vec();
            capture.k[i] = row[c..2 * c].to_vec();
            capture.v[i] = row[2 * c..].to_vec();
        }
        out.push(capture);
    }
    Ok(out)
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

/// Multi-head causal self-attention from the fused qkv [b, t, 3C], after optional past keys and
/// values [1, h, p, d]; returns [b, t, C] and this call's keys and values [b, h, t, d].
fn attention(qkv: &Tensor, mask: &Tensor, config: &Gpt2Config, past: Option<&PastKv>) -> Result<(Tensor, (Tensor, Tensor))> {
    let (b, t, _) = qkv.dims3()?;
    let (c, h, d) = (config.n_embd, config.n_head, config.d_head());
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
