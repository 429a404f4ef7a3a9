//! The GPT-2 forward pass up to block L's `attn.c_attn`, capturing the query, key and value at
//! each prompt's last token (TransformerLens names: `blocks.L.attn.hook_q/k/v`).
//!
//! Prompts are batched by token length, so no padding ever enters attention and every prompt
//! is read at its own last token.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use super::config::{Activation, Gpt2Config};
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
    if prefix_len == 0 {
        let whole: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        return capture_groups(weights, config, &whole, 0, None, all);
    }
    let prefix = &prompts[0][..prefix_len];
    let x = embed(weights, &[prefix], 0)?;
    let (_, past) = run_blocks(weights, config, x, None, None)?;
    let suffixes: Vec<&[u32]> = prompts.iter().map(|p| &p[prefix_len..]).collect();
    capture_groups(weights, config, &suffixes, prefix_len, Some(&past), all)
}

/// The same capture without reusing a shared prefix: every prompt runs whole (for tests and
/// as the reference the prefix reuse must equal).
pub fn capture_without_prefix(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>]) -> Result<Capture> {
    let whole: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let mut layers = capture_groups(weights, config, &whole, 0, None, false)?;
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

/// Keys and values of every block for positions already run, each [1, n_head, t, d_head].
type PastKv = Vec<(Tensor, Tensor)>;

/// Runs token sequences that start at position `start` (after `past`), batched by length; returns
/// the captures of layers 0..=L when `all`, else of layer L only.
fn capture_groups(
    weights: &LayerWeights,
    config: &Gpt2Config,
    seqs: &[&[u32]],
    start: usize,
    past: Option<&PastKv>,
    all: bool,
) -> Result<Vec<Capture>> {
    let c = config.n_embd;
    let n = seqs.len();
    let top = weights.layer;
    let first = if all { 0 } else { top };
    let mut out: Vec<Capture> = (first..=top)
        .map(|layer| Capture {
            layer,
            q: vec![Vec::new(); n],
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
        })
        .collect();
    // One batch per length: no padding ever enters attention.
    let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() {
            return Err(Error::Model(format!("prompt #{} has no tokens", i + 1)));
        }
        by_len.entry(s.len()).or_default().push(i);
    }
    let eps = config.layer_norm_epsilon as f32;
    for (len, members) in by_len {
        let batch: Vec<&[u32]> = members.iter().map(|&i| seqs[i]).collect();
        let x = embed(weights, &batch, start)?;
        let mut taps = Vec::new();
        let (x, _) = run_blocks(weights, config, x, past, all.then_some(&mut taps))?;
        // Block L: only the last position's ln_1 and c_attn are needed.
        let last = x.narrow(1, len - 1, 1)?;
        taps.push(conv1d(&layer_norm(&last, &weights.top_ln_1, eps)?, &weights.top_c_attn)?);
        for (capture, qkv) in out.iter_mut().zip(taps) {
            let qkv: Vec<Vec<f32>> = qkv.squeeze(1)?.to_vec2()?;
            for (row, &i) in qkv.into_iter().zip(&members) {
                capture.q[i] = row[..c].to_vec();
                capture.k[i] = row[c..2 * c].to_vec();
                capture.v[i] = row[2 * c..].to_vec();
            }
        }
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

/// Blocks 0..L over x [b, t, C] that follows `past` positions; returns the residual stream and
/// each block's keys and values of these positions (batch 1 only is ever reused). With `taps`,
/// each block's c_attn output at the last position ([b, 1, 3C]) is pushed there, block by block,
/// equal bit for bit to what a capture stopping at that block computes.
fn run_blocks(
    weights: &LayerWeights,
    config: &Gpt2Config,
    mut x: Tensor,
    past: Option<&PastKv>,
    mut taps: Option<&mut Vec<Tensor>>,
) -> Result<(Tensor, PastKv)> {
    let act = config.activation()?;
    let eps = config.layer_norm_epsilon as f32;
    let t = x.dim(1)?;
    let p = past
        .and_then(|kv| kv.first())
        .map(|(k, _)| k.dim(2))
        .transpose()?
        .unwrap_or(0);
    let mask = causal_mask(t, p)?;
    let mut kept = Vec::with_capacity(weights.blocks.len());
    for (l, block) in weights.blocks.iter().enumerate() {
        let a = layer_norm(&x, &block.ln_1, eps)?;
        let qkv = conv1d(&a, &block.c_attn)?;
        if let Some(taps) = taps.as_deref_mut() {
            // The last position as a run that stops at this block computes it (bit for bit):
            // with one position that is this very c_attn output, else ln_1 + c_attn of it alone.
            taps.push(match t {
                1 => qkv.clone(),
                _ => conv1d(&layer_norm(&x.narrow(1, t - 1, 1)?, &block.ln_1, eps)?, &block.c_attn)?,
            });
        }
        let (attn, kv) = attention(&qkv, &mask, config, past.map(|kv| &kv[l]))?;
        kept.push(kv);
        x = (x + conv1d(&attn, &block.c_proj)?)?;
        let m = layer_norm(&x, &block.ln_2, eps)?;
        let h = activation(&conv1d(&m, &block.mlp_c_fc)?, act)?;
        x = (x + conv1d(&h, &block.mlp_c_proj)?)?;
    }
    Ok((x, kept))
}

fn layer_norm(x: &Tensor, w: &LayerNormWeights, eps: f32) -> Result<Tensor> {
    Ok(candle_nn::ops::layer_norm(&x.contiguous()?, &w.weight, &w.bias, eps)?)
}

/// y = x W + b over the last dimension, for any leading dimensions.
fn conv1d(x: &Tensor, w: &Conv1D) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let n_in = dims[dims.len() - 1];
    let rows = x.elem_count() / n_in;
    let y = x.reshape((rows, n_in))?.matmul(&w.weight)?.broadcast_add(&w.bias)?;
    let mut out_dims = dims;
    *out_dims.last_mut().expect("at least one dim") = w.weight.dim(1)?;
    Ok(y.reshape(out_dims)?)
}

fn activation(x: &Tensor, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::GeluTanh => x.gelu()?,
        Activation::GeluErf => x.gelu_erf()?,
        Activation::Relu => x.relu()?,
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
fn attention(
    qkv: &Tensor,
    mask: &Tensor,
    config: &Gpt2Config,
    past: Option<&(Tensor, Tensor)>,
) -> Result<(Tensor, (Tensor, Tensor))> {
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
