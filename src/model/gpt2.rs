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

pub fn capture_last_token(weights: &LayerWeights, config: &Gpt2Config, prompts: &[Vec<u32>]) -> Result<Capture> {
    let c = config.n_embd;
    let mut out = Capture {
        layer: weights.layer,
        q: vec![Vec::new(); prompts.len()],
        k: vec![Vec::new(); prompts.len()],
        v: vec![Vec::new(); prompts.len()],
    };
    // Group prompt indices by token length: one batch per length.
    let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in prompts.iter().enumerate() {
        if p.is_empty() {
            return Err(Error::Model(format!("prompt #{} has no tokens", i + 1)));
        }
        by_len.entry(p.len()).or_default().push(i);
    }
    let act = config.activation()?;
    let eps = config.layer_norm_epsilon as f32;
    for (len, members) in by_len {
        let ids: Vec<u32> = members.iter().flat_map(|&i| prompts[i].iter().copied()).collect();
        let rows = Tensor::new(weights.embedding_rows(&ids)?, &Device::Cpu)?;
        let tok = weights.wte_rows.index_select(&rows, 0)?.reshape((members.len(), len, c))?;
        let pos = weights.wpe.narrow(0, 0, len)?;
        let mut x = tok.broadcast_add(&pos)?;
        let mask = causal_mask(len)?;
        for block in &weights.blocks {
            let a = layer_norm(&x, &block.ln_1, eps)?;
            let qkv = conv1d(&a, &block.c_attn)?;
            let attn = attention(&qkv, &mask, config)?;
            x = (x + conv1d(&attn, &block.c_proj)?)?;
            let m = layer_norm(&x, &block.ln_2, eps)?;
            let h = activation(&conv1d(&m, &block.mlp_c_fc)?, act)?;
            x = (x + conv1d(&h, &block.mlp_c_proj)?)?;
        }
        // Block L: only the last position's ln_1 and c_attn are needed.
        let last = x.narrow(1, len - 1, 1)?;
        let qkv = conv1d(&layer_norm(&last, &weights.top_ln_1, eps)?, &weights.top_c_attn)?.squeeze(1)?;
        let qkv: Vec<Vec<f32>> = qkv.to_vec2()?;
        for (row, &i) in qkv.into_iter().zip(&members) {
            out.q[i] = row[..c].to_vec();
            out.k[i] = row[c..2 * c].to_vec();
            out.v[i] = row[2 * c..].to_vec();
        }
    }
    Ok(out)
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

/// 0 on and below the diagonal, -inf above: position t attends to positions <= t.
fn causal_mask(t: usize) -> Result<Tensor> {
    let data: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Ok(Tensor::from_vec(data, (t, t), &Device::Cpu)?)
}

/// Multi-head causal self-attention from the fused qkv [b, t, 3C]; returns [b, t, C].
fn attention(qkv: &Tensor, mask: &Tensor, config: &Gpt2Config) -> Result<Tensor> {
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
    // As PyTorch's eager GPT-2: scores / sqrt(d_head), masked, softmax in f32.
    let scores = (q.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?;
    let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask)?)?;
    let y = probs.matmul(&v)?;
    Ok(y.transpose(1, 2)?.contiguous()?.reshape((b, t, c))?)
}
