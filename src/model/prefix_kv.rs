//! The keys and values of the prompts' shared prefix (`The next word is`), kept by a rank beside
//! its weights from one forward to the next. A live edit's forward (one new word's prompt) then
//! runs only the word's own rows instead of the prefix's too: with few rows the forward is
//! compute-bound (six rows cost ~4× one row in the matmul kernel), so this is most of its time.
//!
//! Exact: a prefix's keys and values at a block depend only on the prefix's tokens and the
//! weights of the blocks below, and every row's arithmetic is independent of the other rows
//! (see [`super::matmul`]), so kept ones are the ones the pass would compute. A kept prefix is
//! used only as the pass's whole prefix (the same split of the prompt a pass computing it makes).

use std::sync::{Arc, Mutex};

use candle_core::Tensor;

/// Keys and values of one block at the prefix's positions, each [1, heads, p, d_head] (this
/// rank's heads).
pub type PastKv = (Tensor, Tensor);

/// A prefix's tokens and its keys and values at blocks 0..blocks.len().
pub struct PrefixKv {
    pub tokens: Vec<u32>,
    pub blocks: Vec<PastKv>,
}

/// The prefix a rank keeps (the last one a pass computed). Its weights never change under it:
/// they are only ever extended (more rows, positions and blocks), and another model is another
/// [`super::LayerWeights`].
#[derive(Default)]
pub struct PrefixCache(Mutex<Option<Arc<PrefixKv>>>);

impl PrefixCache {
    /// The kept prefix when a pass over `prompts` may use it as its whole prefix: it starts
    /// every prompt and leaves each an own token (it is at most `shared`, the prompts' shared
    /// prefix length), and it reaches the `blocks` blocks below the captured layer.
    pub fn usable(&self, prompts: &[Vec<u32>], shared: usize, blocks: usize) -> Option<Arc<PrefixKv>> {
        let kept = self.lock().clone()?;
        let fits = !kept.tokens.is_empty()
            && kept.tokens.len() <= shared
            && prompts.first().is_some_and(|p| p.starts_with(&kept.tokens))
            && kept.blocks.len() >= blocks;
        fits.then_some(kept)
    }

    /// Keeps `kv`, in place of what was kept.
    pub fn keep(&self, kv: Arc<PrefixKv>) {
        *self.lock() = Some(kv);
    }

    /// The kept prefix's tokens (for tests and tools).
    pub fn tokens(&self) -> Option<Vec<u32>> {
        self.lock().as_ref().map(|kv| kv.tokens.clone())
    }

    /// Forgets the kept prefix.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<PrefixKv>>> {
        // Nothing held under the lock can be left half-written: a poisoned lock's value is whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
