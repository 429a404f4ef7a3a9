//! config.json of a GPT-2 model (Hugging Face layout).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which GELU the MLP uses. GPT-2 uses the tanh approximation (`gelu_new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    GeluTanh,
    GeluErf,
    Relu,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    /// Old configs give only `n_ctx`; hub configs give both (equal), so it is read on its own.
    #[serde(default)]
    pub n_positions: usize,
    #[serde(default, skip_serializing)]
    pub n_ctx: Option<usize>,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_activation")]
    pub activation_function: String,
    #[serde(default)]
    pub model_type: Option<String>,
    /// Variants of GPT-2 attention that this engine does not implement; refused when set.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
}

/// Bounds on a config's sizes, far above any GPT-2 (gpt2-xl: 48 layers, width 1600, 50257
/// tokens, 1024 positions) and far below overflow: every size computed from them (3 x n_embd,
/// n_embd x n_inner, byte lengths) fits, and a config cannot make the engine list millions of
/// blocks to load (the byte plan has one entry per tensor of every block below the layer).
pub const MAX_SIZE: usize = 1 << 24;
pub const MAX_LAYERS: usize = 1 << 12;

fn default_eps() -> f64 {
    1e-5
}
fn default_activation() -> String {
    "gelu_new".into()
}
fn default_true() -> bool {
    true
}

impl Gpt2Config {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Config(format!("invalid JSON: {e}")))?;
        if let Some(kind) = value.get("model_type").and_then(|v| v.as_str()) {
            if kind != "gpt2" {
                return Err(Error::Config(format!(
                    "model_type is {kind:?}, not \"gpt2\": only GPT-2 models are supported"
                )));
            }
        }
        let mut config: Gpt2Config =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("not a GPT-2 config: {e}")))?;
        if config.n_positions == 0 {
            config.n_positions = config.n_ctx.unwrap_or(0);
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.n_embd == 0 || self.n_head == 0 || self.n_layer == 0 || self.vocab_size == 0 || self.n_positions == 0 {
            return bad("n_embd, n_head, n_layer, vocab_size and n_positions must be positive".into());
        }
        let sizes = [
            ("n_embd", self.n_embd),
            ("n_head", self.n_head),
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_inner", self.n_inner.unwrap_or(1)),
        ];
        if let Some((name, n)) = sizes.iter().find(|(_, n)| *n > MAX_SIZE) {
            return bad(format!("{name} {n} is larger than any GPT-2 (at most {MAX_SIZE})"));
        }
        if self.n_layer > MAX_LAYERS {
            return bad(format!(
                "n_layer {} is larger than any GPT-2 (at most {MAX_LAYERS})",
                self.n_layer
            ));
        }
        if self.n_inner == Some(0) {
            return bad("n_inner must be positive".into());
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return bad(format!("n_embd {} is not a multiple of n_head {}", self.n_embd, self.n_head));
        }
        if self.layer_norm_epsilon.is_nan() || self.layer_norm_epsilon <= 0.0 {
            return bad(format!("layer_norm_epsilon {} must be positive", self.layer_norm_epsilon));
        }
        if self.scale_attn_by_inverse_layer_idx || !self.scale_attn_weights {
            return bad(
                "non-standard attention scaling (scale_attn_by_inverse_layer_idx / scale_attn_weights) is not supported".into(),
            );
        }
        self.activation()?;
        Ok(())
    }

    pub fn activation(&self) -> Result<Activation> {
        match self.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "gelu" => Ok(Activation::GeluErf),
            "relu" => Ok(Activation::Relu),
            other => Err(Error::Config(format!("activation_function {other:?} is not supported"))),
        }
    }

    pub fn n_inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    pub fn d_head(&self) -> usize {
        self.n_embd / self.n_head
    }

    pub fn check_layer(&self, layer: usize) -> Result<()> {
        if layer >= self.n_layer {
            return Err(Error::LayerOutOfRange {
                layer,
                n_layer: self.n_layer,
            });
        }
        Ok(())
    }
}
