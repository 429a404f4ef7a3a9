//! The weights one capture at layer L needs, read from a model.safetensors buffer and converted
//! to f32 tensor by tensor: embedding rows of the tokens used, position rows of the positions used,
//! blocks 0..L whole, and block L's ln_1 and attn.c_attn. Mask buffers, upper blocks, ln_f and the
//! LM head are never touched.

use candle_core::{DType, Device, Tensor};
use safetensors::{Dtype, SafeTensors};

use super::config::Gpt2Config;
use crate::error::{Error, Result};

pub struct LayerNormWeights {
    pub weight: Tensor,
    pub bias: Tensor,
}

/// A GPT-2 Conv1D: y = x W + b with W stored [in, out].
pub struct Conv1D {
    pub weight: Tensor,
    pub bias: Tensor,
}

pub struct BlockWeights {
    pub ln_1: LayerNormWeights,
    pub c_attn: Conv1D,
    pub c_proj: Conv1D,
    pub ln_2: LayerNormWeights,
    pub mlp_c_fc: Conv1D,
    pub mlp_c_proj: Conv1D,
}

pub struct LayerWeights {
    pub layer: usize,
    /// Sorted distinct token ids; row i of `wte_rows` is the embedding of `token_rows[i]`.
    pub token_rows: Vec<u32>,
    pub wte_rows: Tensor,
    /// Position embeddings 0..n_positions_used.
    pub wpe: Tensor,
    pub blocks: Vec<BlockWeights>,
    pub top_ln_1: LayerNormWeights,
    pub top_c_attn: Conv1D,
}

/// Reads named tensors, whichever of the two naming schemes the file uses.
struct Reader<'a> {
    st: SafeTensors<'a>,
    prefix: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Weights(format!("not a valid safetensors file: {e}")))?;
        // Hub files name tensors `wte.weight`; save_pretrained prefixes `transformer.`.
        let prefix = if st.tensor("wte.weight").is_ok() {
            ""
        } else if st.tensor("transformer.wte.weight").is_ok() {
            "transformer."
        } else {
            return Err(Error::Weights(
                "no token embedding (wte.weight or transformer.wte.weight): not a GPT-2 checkpoint".into(),
            ));
        };
        Ok(Self { st, prefix })
    }

    fn view(&self, name: &str, shape: &[usize]) -> Result<safetensors::tensor::TensorView<'a>> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .st
            .tensor(&full)
            .map_err(|_| Error::Weights(format!("tensor {full} is missing")))?;
        if view.shape() != shape {
            return Err(Error::Weights(format!(
                "tensor {full} has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        candle_dtype(view.dtype())
            .map_err(|d| Error::Weights(format!("tensor {full} has dtype {d}; expected F32, F16 or BF16")))?;
        Ok(view)
    }

    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let view = self.view(name, shape)?;
        to_f32(view.data(), view.dtype(), shape)
    }

    /// Only the listed rows of a 2-D tensor (each row is contiguous in the file).
    fn rows(&self, name: &str, shape: [usize; 2], rows: impl ExactSizeIterator<Item = usize>) -> Result<Tensor> {
        let view = self.view(name, &shape)?;
        let row_bytes = shape[1] * view.dtype().bitsize() / 8;
        let n = rows.len();
        let mut bytes = Vec::with_capacity(n * row_bytes);
        for r in rows {
            if r >= shape[0] {
                return Err(Error::Weights(format!(
                    "row {r} of {}{name} is out of range ({} rows)",
                    self.prefix, shape[0]
                )));
            }
            bytes.extend_from_slice(&view.data()[r * row_bytes..(r + 1) * row_bytes]);
        }
        to_f32(&bytes, view.dtype(), &[n, shape[1]])
    }

    fn layer_norm(&self, name: &str, n: usize) -> Result<LayerNormWeights> {
        Ok(LayerNormWeights {
            weight: self.tensor(&format!("{name}.weight"), &[n])?,
            bias: self.tensor(&format!("{name}.bias"), &[n])?,
        })
    }

    fn conv1d(&self, name: &str, n_in: usize, n_out: usize) -> Result<Conv1D> {
        Ok(Conv1D {
            weight: self.tensor(&format!("{name}.weight"), &[n_in, n_out])?,
            bias: self.tensor(&format!("{name}.bias"), &[n_out])?,
        })
    }
}

fn candle_dtype(d: Dtype) -> std::result::Result<DType, Dtype> {
    match d {
        Dtype::F32 => Ok(DType::F32),
        Dtype::F16 => Ok(DType::F16),
        Dtype::BF16 => Ok(DType::BF16),
        other => Err(other),
    }
}

fn to_f32(bytes: &[u8], dtype: Dtype, shape: &[usize]) -> Result<Tensor> {
    let dtype = candle_dtype(dtype).map_err(|d| Error::Weights(format!("unsupported dtype {d}")))?;
    Ok(Tensor::from_raw_buffer(bytes, dtype, shape, &Device::Cpu)?.to_dtype(DType::F32)?)
}

impl LayerWeights {
    /// Loads what a capture at `layer` needs for prompts made of `token_ids`.
    pub fn from_safetensors(bytes: &[u8], config: &Gpt2Config, layer: usize, token_ids: &[Vec<u32>]) -> Result<Self> {
        config.check_layer(layer)?;
        let reader = Reader::new(bytes)?;
        let c = config.n_embd;
        let max_len = token_ids.iter().map(Vec::len).max().unwrap_or(0);
        if max_len > config.n_positions {
            return Err(Error::Weights(format!(
                "a prompt has {max_len} tokens; the model has only {} positions",
                config.n_positions
            )));
        }
        let mut token_rows: Vec<u32> = token_ids.iter().flatten().copied().collect();
        token_rows.sort_unstable();
        token_rows.dedup();
        if let Some(&bad) = token_rows.iter().find(|&&t| t as usize >= config.vocab_size) {
            return Err(Error::Weights(format!(
                "token id {bad} is outside the model's vocabulary ({})",
                config.vocab_size
            )));
        }
        let wte_rows = reader.rows("wte.weight", [config.vocab_size, c], token_rows.iter().map(|&t| t as usize))?;
        let wpe = reader.rows("wpe.weight", [config.n_positions, c], 0..max_len)?;
        let blocks = (0..layer)
            .map(|l| {
                let p = format!("h.{l}");
                Ok(BlockWeights {
                    ln_1: reader.layer_norm(&format!("{p}.ln_1"), c)?,
                    c_attn: reader.conv1d(&format!("{p}.attn.c_attn"), c, 3 * c)?,
                    c_proj: reader.conv1d(&format!("{p}.attn.c_proj"), c, c)?,
                    ln_2: reader.layer_norm(&format!("{p}.ln_2"), c)?,
                    mlp_c_fc: reader.conv1d(&format!("{p}.mlp.c_fc"), c, config.n_inner())?,
                    mlp_c_proj: reader.conv1d(&format!("{p}.mlp.c_proj"), config.n_inner(), c)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LayerWeights {
            layer,
            token_rows,
            wte_rows,
            wpe,
            blocks,
            top_ln_1: reader.layer_norm(&format!("h.{layer}.ln_1"), c)?,
            top_c_attn: reader.conv1d(&format!("h.{layer}.attn.c_attn"), c, 3 * c)?,
        })
    }

    /// Row of `wte_rows` holding each token's embedding.
    pub fn embedding_rows(&self, ids: &[u32]) -> Result<Vec<u32>> {
        ids.iter()
            .map(|id| {
                self.token_rows
                    .binary_search(id)
                    .map(|i| i as u32)
                    .map_err(|_| Error::Model(format!("token {id} was not loaded")))
            })
            .collect()
    }
}
