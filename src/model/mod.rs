//! GPT-2 in candle, reduced to what the lab needs: embeddings, blocks 0..L, and block L's
//! `attn.c_attn` at each prompt's last token. No web types here.

pub mod config;
pub mod gpt2;
pub mod matmul;
pub mod ops;
pub mod passes;
pub mod plan;
pub mod prefix_kv;
pub mod prompts;
pub mod shard;
pub mod token_memo;
mod tokenizer_json;
pub mod warm;
pub mod weights;

pub use config::Gpt2Config;
pub use gpt2::{capture, capture_blocking, shared_prefix_len, Capture, Taps};
pub use prompts::{Gpt2Tokenizer, Prompt, Prompts};
pub use token_memo::{Encode, TokenMemo};
pub use weights::{LayerWeights, Prepacked};
