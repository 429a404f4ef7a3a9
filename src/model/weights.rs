//! The weights one capture at layer L needs, converted to f32 tensor by tensor from any
//! [`ByteSource`] (the whole file, or only the planned ranges): embedding rows of the tokens
//! used, position rows of the positions used, blocks 0..L whole, and block L's ln_1 and
//! attn.c_attn. Mask buffers, upper blocks, ln_f and the LM head are never touched.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use candle_core::{DType, Device, Tensor};
use safetensors::Dtype;

use super::config::Gpt2Config;
use super::matmul::{PackF32Le, PackedLinear};
use super::plan::{needs, ByteSource, Coverage, Header, WholeFile};
use super::prefix_kv::PrefixCache;
use super::shard::Shard;
use crate::error::{Error, Result};

pub struct LayerNormWeights {
    pub weight: Tensor,
    pub bias: Tensor,
}

/// A GPT-2 Conv1D: y = x W + b with W stored [in, out] in the file, kept re-packed into the
/// column panels of [`PackedLinear`] (converted straight from the file's bytes: no second copy).
pub struct Conv1D {
    pub linear: PackedLinear,
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
    /// Which columns of every Conv1D these are (all of them, or one rank's: see [`Shard`]).
    /// Embeddings and layer norms are always whole.
    pub shard: Shard,
    /// Sorted distinct token ids; row i of `wte_rows` is the embedding of `token_rows[i]`.
    pub token_rows: Vec<u32>,
    pub wte_rows: Tensor,
    /// Position embeddings 0..n_positions_used.
    pub wpe: Tensor,
    pub blocks: Vec<BlockWeights>,
    pub top_ln_1: LayerNormWeights,
    pub top_c_attn: Conv1D,
    /// The prompts' shared prefix's keys and values from the last forward that computed them
    /// (see [`super::prefix_kv`]).
    pub prefix_kv: PrefixCache,
}

/// Conv1Ds a rank packed on an earlier visit, by name (`h.3.mlp.c_fc`), its share of the
/// columns, with their bias: a load takes them instead of reading and packing the file's bytes
/// (which then need not hold them).
pub type Prepacked = HashMap<String, PackedLinear>;

/// Rows of an f32 Conv1D weight copied into wasm at a time (gpt2-xl's widest rows, 6400
/// floats: 1.6 MB).
const PACK_ROWS: usize = 64;

fn to_f32(bytes: &[u8], dtype: Dtype, shape: &[usize]) -> Result<Tensor> {
    let dtype = match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        other => return Err(Error::Weights(format!("unsupported dtype {other}"))),
    };
    Ok(Tensor::from_raw_buffer(bytes, dtype, shape, &Device::Cpu)?.to_dtype(DType::F32)?)
}

/// Reads tensors by hub name from a header and the bytes behind it.
struct Reader<'a> {
    header: &'a Header,
    source: &'a dyn ByteSource,
    prepacked: RefCell<Prepacked>,
}

impl Reader<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let loc = self.header.locate(name, shape)?;
        to_f32(&self.source.bytes(loc.start..loc.end)?, loc.dtype, shape)
    }

    /// Only the listed rows of a 2-D tensor (each row is contiguous in the file).
    fn rows(&self, name: &str, shape: [usize; 2], rows: &[usize]) -> Result<Tensor> {
        let loc = self.header.locate(name, &shape)?;
        let row_bytes = (shape[1] * loc.dtype.bitsize() / 8) as u64;
        let mut bytes = Vec::with_capacity(rows.len() * row_bytes as usize);
        for &r in rows {
            if r >= shape[0] {
                return Err(Error::Weights(format!(
                    "row {r} of {} is out of range ({} rows)",
                    self.header.full_name(name),
                    shape[0]
                )));
            }
            let start = loc.start + r as u64 * row_bytes;
            bytes.extend_from_slice(&self.source.bytes(start..start + row_bytes)?);
        }
        to_f32(&bytes, loc.dtype, &[rows.len(), shape[1]])
    }

    fn layer_norm(&self, name: &str, n: usize) -> Result<LayerNormWeights> {
        Ok(LayerNormWeights {
            weight: self.tensor(&format!("{name}.weight"), &[n])?,
            bias: self.tensor(&format!("{name}.bias"), &[n])?,
        })
    }

    /// A Conv1D [n_in, n_out], keeping only the output columns `cols` (in that order).
    fn conv1d(&self, name: &str, n_in: usize, n_out: usize, cols: &[Range<usize>]) -> Result<Conv1D> {
        if let Some(linear) = self.prepacked.borrow_mut().remove(name) {
            let n: usize = cols.iter().map(|c| c.len()).sum();
            if (linear.in_features(), linear.out_features()) != (n_in, n) {
                return Err(Error::Weights(format!(
                    "stored packed {name} is {}×{}, this rank's share is {n_in}×{n}",
                    linear.in_features(),
                    linear.out_features()
                )));
            }
            return Ok(Conv1D { linear });
        }
        let bias_all = self.tensor(&format!("{name}.bias"), &[n_out])?.to_vec1::<f32>()?;
        let bias: Vec<f32> = cols.iter().flat_map(|c| bias_all[c.clone()].iter().copied()).collect();
        let shape = [n_in, n_out];
        let loc = self.header.locate(&format!("{name}.weight"), &shape)?;
        let linear = match loc.dtype {
            // f32 (the hub's files): from the bytes straight into the panels, a block of rows
            // at a time, so the tensor's bytes are never all in wasm memory beside its panels.
            Dtype::F32 => {
                let mut packer = PackF32Le::new(n_in, n_out, cols, bias);
                let row_bytes = 4 * n_out as u64;
                for k0 in (0..n_in).step_by(PACK_ROWS) {
                    let k1 = n_in.min(k0 + PACK_ROWS);
                    let start = loc.start + k0 as u64 * row_bytes;
                    packer.rows(k0, &self.source.bytes(start..start + (k1 - k0) as u64 * row_bytes)?);
                }
                packer.finish()
            }
            // f16 / bf16: converted by candle, then packed.
            dtype => {
                let bytes = self.source.bytes(loc.start..loc.end)?;
                let w = to_f32(&bytes, dtype, &shape)?.flatten_all()?.to_vec1::<f32>()?;
                drop(bytes);
                let n = bias.len();
                PackedLinear::pack_rows(n_in, n, bias, |kk, out| {
                    let row = &w[kk * n_out..(kk + 1) * n_out];
                    let kept = cols.iter().flat_map(|c| row[c.clone()].iter());
                    for (o, &v) in out.iter_mut().zip(kept) {
                        *o = v;
                    }
                })
            }
        };
        Ok(Conv1D { linear })
    }
}

/// `shard`'s columns of the Conv1D `conv` (`h.0.attn.c_attn`) with `n_out` outputs: its heads'
/// part of q, k and v for c_attn, else its panels of the outputs.
pub fn share_columns(config: &Gpt2Config, conv: &str, n_out: usize, shard: Shard) -> Vec<Range<usize>> {
    match conv.ends_with("attn.c_attn") {
        true => shard.qkv_columns(config.n_head, config.d_head()).to_vec(),
        false => vec![shard.columns(n_out)],
    }
}

/// Loads the pieces of [`LayerWeights`] (this rank's share of every Conv1D).
struct Loader<'a> {
    reader: Reader<'a>,
    config: &'a Gpt2Config,
    shard: Shard,
}

impl Loader<'_> {
    fn embeddings(&self, token_rows: &[u32]) -> Result<Tensor> {
        let rows: Vec<usize> = token_rows.iter().map(|&t| t as usize).collect();
        self.reader
            .rows("wte.weight", [self.config.vocab_size, self.config.n_embd], &rows)
    }

    fn positions(&self, positions: Range<usize>) -> Result<Tensor> {
        let rows: Vec<usize> = positions.collect();
        self.reader
            .rows("wpe.weight", [self.config.n_positions, self.config.n_embd], &rows)
    }

    /// Block `l`'s ln_1 and attn.c_attn (this rank's heads of q, k and v).
    fn top(&self, l: usize) -> Result<(LayerNormWeights, Conv1D)> {
        let c = self.config.n_embd;
        Ok((
            self.reader.layer_norm(&format!("h.{l}.ln_1"), c)?,
            self.conv1d(&format!("h.{l}.attn.c_attn"), c, 3 * c)?,
        ))
    }

    /// This rank's share of the Conv1D `name` [n_in, n_out].
    fn conv1d(&self, name: &str, n_in: usize, n_out: usize) -> Result<Conv1D> {
        let cols = share_columns(self.config, name, n_out, self.shard);
        self.reader.conv1d(name, n_in, n_out, &cols)
    }

    /// Block `l`'s attn.c_proj, ln_2 and MLP.
    fn block_rest(&self, l: usize) -> Result<(Conv1D, LayerNormWeights, Conv1D, Conv1D)> {
        let (c, inner) = (self.config.n_embd, self.config.n_inner());
        Ok((
            self.conv1d(&format!("h.{l}.attn.c_proj"), c, c)?,
            self.reader.layer_norm(&format!("h.{l}.ln_2"), c)?,
            self.conv1d(&format!("h.{l}.mlp.c_fc"), c, inner)?,
            self.conv1d(&format!("h.{l}.mlp.c_proj"), inner, c)?,
        ))
    }

    fn block(&self, l: usize) -> Result<BlockWeights> {
        let (ln_1, c_attn) = self.top(l)?;
        let (c_proj, ln_2, mlp_c_fc, mlp_c_proj) = self.block_rest(l)?;
        Ok(BlockWeights {
            ln_1,
            c_attn,
            c_proj,
            ln_2,
            mlp_c_fc,
            mlp_c_proj,
        })
    }
}

/// Sorted distinct token ids of the prompts, checked against the vocabulary, and the number of
/// positions they use.
pub fn tokens_used(config: &Gpt2Config, token_ids: &[Vec<u32>]) -> Result<(Vec<u32>, usize)> {
    let n_pos = token_ids.iter().map(Vec::len).max().unwrap_or(0);
    if n_pos > config.n_positions {
        return Err(Error::Weights(format!(
            "a prompt has {n_pos} tokens; the model has only {} positions",
            config.n_positions
        )));
    }
    let mut rows: Vec<u32> = token_ids.iter().flatten().copied().collect();
    rows.sort_unstable();
    rows.dedup();
    if let Some(&bad) = rows.iter().find(|&&t| t as usize >= config.vocab_size) {
        return Err(Error::Weights(format!(
            "token id {bad} is outside the model's vocabulary ({})",
            config.vocab_size
        )));
    }
    Ok((rows, n_pos))
}

impl LayerWeights {
    /// Loads what a capture at `layer` needs from a whole model.safetensors held in memory.
    pub fn from_safetensors(bytes: &[u8], config: &Gpt2Config, layer: usize, token_ids: &[Vec<u32>]) -> Result<Self> {
        let header = Header::from_file(bytes)?;
        Self::load(&header, &WholeFile(bytes), config, layer, token_ids)
    }

    /// Loads what a capture at `layer` needs from the bytes behind `header` (whole file or the
    /// planned pieces: see [`super::plan::plan`]).
    pub fn load(
        header: &Header,
        source: &dyn ByteSource,
        config: &Gpt2Config,
        layer: usize,
        token_ids: &[Vec<u32>],
    ) -> Result<Self> {
        Self::load_shard(header, source, config, layer, token_ids, Shard::WHOLE)
    }

    /// [`Self::load`] keeping only `shard`'s columns of every Conv1D.
    pub fn load_shard(
        header: &Header,
        source: &dyn ByteSource,
        config: &Gpt2Config,
        layer: usize,
        token_ids: &[Vec<u32>],
        shard: Shard,
    ) -> Result<Self> {
        Self::load_prepacked(header, source, config, layer, token_ids, shard, Prepacked::new())
    }

    /// [`Self::load_shard`] taking the Conv1Ds in `prepacked` as they are.
    pub fn load_prepacked(
        header: &Header,
        source: &dyn ByteSource,
        config: &Gpt2Config,
        layer: usize,
        token_ids: &[Vec<u32>],
        shard: Shard,
        prepacked: Prepacked,
    ) -> Result<Self> {
        config.check_layer(layer)?;
        let (token_rows, n_pos) = tokens_used(config, token_ids)?;
        // Shapes and dtypes of everything needed are checked before any conversion.
        super::plan::plan(header, &needs(config, layer, &token_rows, n_pos))?;
        let load = Loader {
            reader: Reader {
                header,
                source,
                prepacked: RefCell::new(prepacked),
            },
            config,
            shard,
        };
        let (top_ln_1, top_c_attn) = load.top(layer)?;
        Ok(LayerWeights {
            layer,
            shard,
            wte_rows: load.embeddings(&token_rows)?,
            token_rows,
            wpe: load.positions(0..n_pos)?,
            blocks: (0..layer).map(|l| load.block(l)).collect::<Result<Vec<_>>>()?,
            top_ln_1,
            top_c_attn,
            prefix_kv: PrefixCache::default(),
        })
    }

    /// What these weights hold, for [`super::plan::missing_needs`].
    pub fn coverage(&self) -> Coverage {
        Coverage {
            layer: self.layer,
            token_rows: self.token_rows.clone(),
            n_pos: self.wpe.dim(0).unwrap_or(0),
        }
    }

    /// Adds what a capture at `layer` for `token_ids` needs and these weights lack, read from
    /// the bytes behind `header` (which need hold only that: see
    /// [`super::plan::missing_needs`]). Nothing held is read or packed again; the Conv1Ds in
    /// `prepacked` are taken as they are.
    pub fn extend(
        &mut self,
        header: &Header,
        source: &dyn ByteSource,
        config: &Gpt2Config,
        layer: usize,
        token_ids: &[Vec<u32>],
        prepacked: Prepacked,
    ) -> Result<()> {
        config.check_layer(layer)?;
        let (token_rows, n_pos) = tokens_used(config, token_ids)?;
        let missing = super::plan::missing_needs(config, Some(&self.coverage()), layer, &token_rows, n_pos);
        super::plan::plan(header, &missing)?;
        let load = Loader {
            reader: Reader {
                header,
                source,
                prepacked: RefCell::new(prepacked),
            },
            config,
            shard: self.shard,
        };
        let new_rows: Vec<u32> = token_rows
            .iter()
            .copied()
            .filter(|t| self.token_rows.binary_search(t).is_err())
            .collect();
        if !new_rows.is_empty() {
            // Appended, then put back in token order (rows are found by binary search).
            let all = Tensor::cat(&[&self.wte_rows, &load.embeddings(&new_rows)?], 0)?;
            let mut ids: Vec<(u32, u32)> = self.token_rows.iter().chain(&new_rows).copied().zip(0..).collect();
            ids.sort_unstable();
            let order = Tensor::new(ids.iter().map(|&(_, i)| i).collect::<Vec<u32>>(), &Device::Cpu)?;
            self.wte_rows = all.index_select(&order, 0)?;
            self.token_rows = ids.into_iter().map(|(t, _)| t).collect();
        }
        let held_pos = self.wpe.dim(0)?;
        if n_pos > held_pos {
            self.wpe = Tensor::cat(&[&self.wpe, &load.positions(held_pos..n_pos)?], 0)?;
        }
        if layer > self.layer {
            // The old top block's ln_1 and c_attn become part of its whole block.
            let (ln_1, c_attn) = load.top(layer)?;
            let old_ln_1 = std::mem::replace(&mut self.top_ln_1, ln_1);
            let old_c_attn = std::mem::replace(&mut self.top_c_attn, c_attn);
            let (c_proj, ln_2, mlp_c_fc, mlp_c_proj) = load.block_rest(self.layer)?;
            self.blocks.push(BlockWeights {
                ln_1: old_ln_1,
                c_attn: old_c_attn,
                c_proj,
                ln_2,
                mlp_c_fc,
                mlp_c_proj,
            });
            for l in self.layer + 1..layer {
                self.blocks.push(load.block(l)?);
            }
            self.layer = layer;
        }
        Ok(())
    }

    /// Every Conv1D held, by name (`h.0.attn.c_attn`), as a packed store keeps them.
    pub fn conv1ds(&self) -> Vec<(String, &PackedLinear)> {
        let mut out = Vec::with_capacity(4 * self.blocks.len() + 1);
        for (l, b) in self.blocks.iter().enumerate() {
            out.push((format!("h.{l}.attn.c_attn"), &b.c_attn.linear));
            out.push((format!("h.{l}.attn.c_proj"), &b.c_proj.linear));
            out.push((format!("h.{l}.mlp.c_fc"), &b.mlp_c_fc.linear));
            out.push((format!("h.{l}.mlp.c_proj"), &b.mlp_c_proj.linear));
        }
        out.push((format!("h.{}.attn.c_attn", self.layer), &self.top_c_attn.linear));
        out
    }

    /// Bytes of f32 these weights hold (this rank's share).
    pub fn held_bytes(&self) -> u64 {
        let tensor = |t: &Tensor| 4 * t.elem_count() as u64;
        let norm = |n: &LayerNormWeights| tensor(&n.weight) + tensor(&n.bias);
        let conv = |c: &Conv1D| c.linear.held_bytes();
        let blocks: u64 = self
            .blocks
            .iter()
            .map(|b| norm(&b.ln_1) + conv(&b.c_attn) + conv(&b.c_proj) + norm(&b.ln_2) + conv(&b.mlp_c_fc) + conv(&b.mlp_c_proj))
            .sum();
        tensor(&self.wte_rows) + tensor(&self.wpe) + blocks + norm(&self.top_ln_1) + conv(&self.top_c_attn)
    }

    /// Blocks 0..layer and block `layer`'s ln_1 and c_attn, for a capture at `layer` (at most
    /// the layer these weights reach).
    pub fn up_to(&self, layer: usize) -> Result<(&[BlockWeights], &LayerNormWeights, &Conv1D)> {
        match layer.cmp(&self.layer) {
            std::cmp::Ordering::Equal => Ok((&self.blocks, &self.top_ln_1, &self.top_c_attn)),
            std::cmp::Ordering::Less => Ok((&self.blocks[..layer], &self.blocks[layer].ln_1, &self.blocks[layer].c_attn)),
            std::cmp::Ordering::Greater => Err(Error::Model(format!(
                "a capture at layer {layer} with weights loaded up to layer {}",
                self.layer
            ))),
        }
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
