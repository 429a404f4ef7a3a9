//! Which bytes of model.safetensors a capture at layer L needs, before downloading any of them.
//!
//! The safetensors header (8-byte length + JSON) says where every tensor lies. From it and the
//! prompts' tokens, [`plan`] lists the byte pieces needed: one per embedding row of a token used,
//! the position rows used, blocks 0..L-1 whole, block L's ln_1 and attn.c_attn. Natively the
//! pieces are read from the mapped file; in the page they are fetched with HTTP Range requests.

use std::borrow::Cow;
use std::ops::Range;

use std::collections::HashMap;

use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::config::Gpt2Config;
use crate::error::{Error, Result};

/// Larger headers are refused (the format's own limit), so a lying length cannot make us
/// download or allocate gigabytes.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// A parsed safetensors header: where each tensor's bytes lie in the file. Offsets are u64, not
/// the safetensors crate's usize: in wasm32 that is 32 bits, and gpt2-xl's file is 6.4 GB.
pub struct Header {
    tensors: HashMap<String, TensorInfo>,
    /// Bytes of the data section (the end offset of the last tensor).
    data_len: u64,
    /// Absolute offset of the data section (8 + header length).
    data_start: u64,
    /// `transformer.` for save_pretrained files, empty for hub files.
    prefix: &'static str,
}

/// Where one tensor lies, in absolute file offsets.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorLoc {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub start: u64,
    pub end: u64,
}

/// One entry of the header, as the format writes it.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TensorInfo {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

/// The header's entries (`__metadata__`, free-form text, is skipped) checked as the safetensors
/// crate checks them: back to back from offset 0, each as long as its shape and dtype say.
/// Returns them with the data section's length.
fn parse_entries(json: &[u8]) -> Result<(HashMap<String, TensorInfo>, u64)> {
    let raw: HashMap<String, serde_json::Value> =
        serde_json::from_slice(json).map_err(|e| bad(&format!("invalid header: {e}")))?;
    let mut tensors = HashMap::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let info: TensorInfo = serde_json::from_value(value).map_err(|e| bad(&format!("invalid header: tensor {name}: {e}")))?;
        tensors.insert(name, info);
    }
    let mut order: Vec<(&String, &TensorInfo)> = tensors.iter().collect();
    order.sort_by_key(|(_, t)| t.data_offsets);
    let mut end = 0u64;
    for (name, t) in order {
        let (a, b) = t.data_offsets;
        if a != end || b < a {
            return Err(bad(&format!(
                "invalid header: tensor {name} is not where the previous one ends"
            )));
        }
        // In u128: a shape may claim more elements than any integer type holds.
        let bytes = t
            .shape
            .iter()
            .try_fold(t.dtype.bitsize() as u128, |n, &d| n.checked_mul(d as u128));
        if bytes.map(|bits| bits.div_ceil(8)) != Some((b - a) as u128) || bytes.is_some_and(|bits| bits % 8 != 0) {
            return Err(bad(&format!(
                "invalid header: tensor {name} has {} bytes, not what its shape {:?} and dtype {} need",
                b - a,
                t.shape,
                t.dtype
            )));
        }
        end = b;
    }
    Ok((tensors, end))
}

/// A parsed header as one worker hands it to another (already checked: not re-validated).
#[derive(Deserialize, Serialize)]
struct HeaderWire {
    tensors: HashMap<String, TensorInfo>,
    data_len: u64,
    data_start: u64,
    save_pretrained: bool,
}

impl Header {
    /// This header as JSON for another worker of the same run ([`Header::from_wire`]).
    pub fn to_wire(&self) -> String {
        serde_json::to_string(&HeaderWire {
            tensors: self.tensors.clone(),
            data_len: self.data_len,
            data_start: self.data_start,
            save_pretrained: !self.prefix.is_empty(),
        })
        .expect("a header serialises")
    }

    pub fn from_wire(json: &str) -> Result<Self> {
        let w: HeaderWire = serde_json::from_str(json).map_err(|e| bad(&format!("header from another worker: {e}")))?;
        Ok(Header {
            tensors: w.tensors,
            data_len: w.data_len,
            data_start: w.data_start,
            prefix: if w.save_pretrained { "transformer." } else { "" },
        })
    }

    /// The JSON header's length, from the file's first 8 bytes.
    pub fn json_len(first8: &[u8]) -> Result<u64> {
        let bytes: [u8; 8] = first8
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("shorter than 8 bytes"))?;
        let n = u64::from_le_bytes(bytes);
        if n > MAX_HEADER_LEN {
            return Err(bad(&format!(
                "header length {n} exceeds {MAX_HEADER_LEN} bytes: not a safetensors file"
            )));
        }
        Ok(n)
    }

    /// Parses the JSON header of a file of `file_len` bytes and checks that every tensor lies
    /// inside it, back to back, with as many bytes as its shape and dtype say.
    pub fn parse(json: &[u8], file_len: u64) -> Result<Self> {
        let (tensors, data_len) = parse_entries(json)?;
        let data_start = 8 + json.len() as u64;
        // In u128: offsets near 2^64 must not wrap.
        let end = data_start as u128 + data_len as u128;
        if end != file_len as u128 {
            return Err(bad(&format!(
                "the header describes {end} bytes but the file has {file_len}: truncated or inconsistent"
            )));
        }
        let prefix = if tensors.contains_key("wte.weight") {
            ""
        } else if tensors.contains_key("transformer.wte.weight") {
            "transformer."
        } else {
            return Err(bad(
                "no token embedding (wte.weight or transformer.wte.weight): not a GPT-2 checkpoint",
            ));
        };
        Ok(Header {
            tensors,
            data_len,
            data_start,
            prefix,
        })
    }

    /// Parses the header of a whole file held in memory.
    pub fn from_file(bytes: &[u8]) -> Result<Self> {
        let n = Self::json_len(bytes)?;
        let json = bytes
            .get(8..8 + n as usize)
            .ok_or_else(|| bad("truncated inside the header"))?;
        Self::parse(json, bytes.len() as u64)
    }

    /// Length of the whole file the header describes.
    pub fn file_len(&self) -> u64 {
        self.data_start + self.data_len
    }

    pub fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A tensor by its hub name (without `transformer.`), checked against the expected shape.
    pub fn locate(&self, name: &str, shape: &[usize]) -> Result<TensorLoc> {
        let full = self.full_name(name);
        let info: &TensorInfo = self
            .tensors
            .get(&full)
            .ok_or_else(|| bad(&format!("tensor {full} is missing")))?;
        if info.shape != shape {
            return Err(bad(&format!("tensor {full} has shape {:?}, expected {shape:?}", info.shape)));
        }
        if !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(bad(&format!(
                "tensor {full} has dtype {}; expected F32, F16 or BF16",
                info.dtype
            )));
        }
        let (s, e) = info.data_offsets;
        Ok(TensorLoc {
            dtype: info.dtype,
            shape: info.shape.clone(),
            start: self.data_start + s,
            end: self.data_start + e,
        })
    }
}

fn bad(msg: &str) -> Error {
    Error::Weights(msg.to_string())
}

/// What a capture needs of one tensor: all of it, or some of its rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Need {
    Whole {
        name: String,
        shape: Vec<usize>,
    },
    Rows {
        name: String,
        shape: [usize; 2],
        rows: Vec<usize>,
    },
}

/// The tensors (and rows) a capture at `layer` needs, for prompts using `token_rows` (sorted,
/// distinct) and positions 0..`n_pos`.
pub fn needs(config: &Gpt2Config, layer: usize, token_rows: &[u32], n_pos: usize) -> Vec<Need> {
    let c = config.n_embd;
    let whole = |name: String, shape: Vec<usize>| Need::Whole { name, shape };
    let mut out = vec![
        Need::Rows {
            name: "wte.weight".into(),
            shape: [config.vocab_size, c],
            rows: token_rows.iter().map(|&t| t as usize).collect(),
        },
        Need::Rows {
            name: "wpe.weight".into(),
            shape: [config.n_positions, c],
            rows: (0..n_pos).collect(),
        },
    ];
    let layer_norm = |out: &mut Vec<Need>, p: &str| {
        out.push(whole(format!("{p}.weight"), vec![c]));
        out.push(whole(format!("{p}.bias"), vec![c]));
    };
    let conv1d = |out: &mut Vec<Need>, p: &str, n_in: usize, n_out: usize| {
        out.push(whole(format!("{p}.weight"), vec![n_in, n_out]));
        out.push(whole(format!("{p}.bias"), vec![n_out]));
    };
    for l in 0..layer {
        layer_norm(&mut out, &format!("h.{l}.ln_1"));
        conv1d(&mut out, &format!("h.{l}.attn.c_attn"), c, 3 * c);
        conv1d(&mut out, &format!("h.{l}.attn.c_proj"), c, c);
        layer_norm(&mut out, &format!("h.{l}.ln_2"));
        conv1d(&mut out, &format!("h.{l}.mlp.c_fc"), c, config.n_inner());
        conv1d(&mut out, &format!("h.{l}.mlp.c_proj"), config.n_inner(), c);
    }
    layer_norm(&mut out, &format!("h.{layer}.ln_1"));
    conv1d(&mut out, &format!("h.{layer}.attn.c_attn"), c, 3 * c);
    out
}

/// What a rank's weights hold: blocks 0..layer whole and block `layer`'s ln_1 and c_attn, the
/// embedding rows of `token_rows` (sorted) and positions 0..n_pos.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub layer: usize,
    pub token_rows: Vec<u32>,
    pub n_pos: usize,
}

/// [`needs`] of a capture at `layer`, less what `held` weights hold already: what a resident
/// model reads for a new run (often nothing, or a new word's embedding row).
pub fn missing_needs(config: &Gpt2Config, held: Option<&Coverage>, layer: usize, token_rows: &[u32], n_pos: usize) -> Vec<Need> {
    let wanted = needs(config, layer, token_rows, n_pos);
    let Some(held) = held else { return wanted };
    let have = needs(config, held.layer, &held.token_rows, held.n_pos);
    let whole: std::collections::HashSet<&str> = have
        .iter()
        .filter_map(|n| match n {
            Need::Whole { name, .. } => Some(name.as_str()),
            Need::Rows { .. } => None,
        })
        .collect();
    let rows_held = |name: &str| -> std::collections::HashSet<usize> {
        have.iter()
            .filter_map(|n| match n {
                Need::Rows { name: held, rows, .. } if held == name => Some(rows.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    wanted
        .into_iter()
        .filter_map(|need| match need {
            Need::Whole { ref name, .. } => (!whole.contains(name.as_str())).then_some(need),
            Need::Rows { name, shape, rows } => {
                let held = rows_held(&name);
                let rows: Vec<usize> = rows.into_iter().filter(|r| !held.contains(r)).collect();
                (!rows.is_empty()).then_some(Need::Rows { name, shape, rows })
            }
        })
        .collect()
}

/// One contiguous byte range of the file that a capture needs: a whole tensor or one row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Piece {
    /// `wte.weight` for a whole tensor, `wte.weight[464]` for a row (hub names).
    pub key: String,
    pub range: Range<u64>,
}

/// The byte pieces for `needs`, in file order; checks every tensor's shape and dtype first.
pub fn plan(header: &Header, needs: &[Need]) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    for need in needs {
        match need {
            Need::Whole { name, shape } => {
                let loc = header.locate(name, shape)?;
                pieces.push(Piece {
                    key: name.clone(),
                    range: loc.start..loc.end,
                });
            }
            Need::Rows { name, shape, rows } => {
                let loc = header.locate(name, shape)?;
                // With no rows (shape[0] == 0) the tensor is empty whatever shape[1] says.
                let row_bytes = (loc.end - loc.start).checked_div(shape[0] as u64).unwrap_or(0);
                for &r in rows {
                    if r >= shape[0] {
                        return Err(bad(&format!(
                            "row {r} of {} is out of range ({} rows)",
                            header.full_name(name),
                            shape[0]
                        )));
                    }
                    let start = loc.start + r as u64 * row_bytes;
                    pieces.push(Piece {
                        key: format!("{name}[{r}]"),
                        range: start..start + row_bytes,
                    });
                }
            }
        }
    }
    pieces.sort_by_key(|p| p.range.start);
    Ok(pieces)
}

/// Merges ranges (sorted by start) whose gap is at most `max_gap` bytes: fewer requests for a
/// few wasted bytes.
pub fn coalesce(ranges: impl IntoIterator<Item = Range<u64>>, max_gap: u64) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(max_gap) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Bytes of the file by absolute offset: the whole file, or only the ranges fetched. A source
/// may hand out a copy (the page keeps downloads in JavaScript memory, outside wasm's, and
/// copies in one tensor at a time).
pub trait ByteSource {
    fn bytes(&self, range: Range<u64>) -> Result<Cow<'_, [u8]>>;
}

/// The whole file in memory (read, mapped or downloaded whole).
pub struct WholeFile<'a>(pub &'a [u8]);

impl ByteSource for WholeFile<'_> {
    fn bytes(&self, range: Range<u64>) -> Result<Cow<'_, [u8]>> {
        self.0
            .get(range.start as usize..range.end as usize)
            .map(Cow::Borrowed)
            .ok_or_else(|| bad(&format!("bytes {range:?} lie outside the file")))
    }
}

/// One fetched range's bytes, wherever they are kept.
pub trait Part {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes a..b of this part (within bounds).
    fn slice(&self, a: usize, b: usize) -> Cow<'_, [u8]>;
}

impl Part for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn slice(&self, a: usize, b: usize) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self[a..b])
    }
}

/// Ranges of the file fetched separately, each starting at its absolute offset.
pub struct FetchedRanges<P = Vec<u8>> {
    parts: Vec<(u64, P)>,
}

impl<P: Part> FetchedRanges<P> {
    pub fn new(mut parts: Vec<(u64, P)>) -> Self {
        parts.sort_by_key(|(start, _)| *start);
        FetchedRanges { parts }
    }

    pub fn total_bytes(&self) -> u64 {
        self.parts.iter().map(|(_, b)| b.len()).sum()
    }

    /// The parts, each with its absolute offset, by offset.
    pub fn parts(&self) -> &[(u64, P)] {
        &self.parts
    }
}

impl<P: Part> ByteSource for FetchedRanges<P> {
    fn bytes(&self, range: Range<u64>) -> Result<Cow<'_, [u8]>> {
        // Parts starting at or before range.start, nearest first, may hold the whole range.
        let i = self.parts.partition_point(|(start, _)| *start <= range.start);
        self.parts[..i]
            .iter()
            .rev()
            .find(|(start, part)| range.start <= range.end && range.end - start <= part.len())
            .map(|(start, part)| part.slice((range.start - start) as usize, (range.end - start) as usize))
            .ok_or_else(|| bad(&format!("bytes {range:?} were not fetched")))
    }
}
