//! Tensor parallelism for the forward pass: ranks (the page's two workers, the CLI's threads)
//! each hold their share of every weight matrix and exchange activations, so the forward runs on
//! several cores with the weights in memory once.
//!
//! Every matrix is split by output columns (c_attn by heads: each rank's queries, keys and
//! values of its own heads), so attention runs per rank on its own heads, and after each
//! Conv1D the ranks swap their columns ([`Exchange::all_gather`]). Each output element is then
//! computed by the same kernel over the same inputs in the same order as in one worker (see
//! [`super::matmul`]): the result is bit-identical, not merely close. The price is four
//! exchanges per block (attention output, c_proj, c_fc, mlp.c_proj), each a rank's share of
//! [rows, C] or [rows, 4C] floats.

use std::future::Future;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::matmul::NR;
use crate::error::{Error, Result};

/// Which part of the weights one rank holds: rank `rank` of `ranks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub rank: usize,
    pub ranks: usize,
}

impl Shard {
    /// All of it, in one worker.
    pub const WHOLE: Shard = Shard { rank: 0, ranks: 1 };

    pub fn new(rank: usize, ranks: usize) -> Result<Self> {
        if ranks == 0 || rank >= ranks {
            return Err(Error::Model(format!("no rank {rank} of {ranks}")));
        }
        Ok(Shard { rank, ranks })
    }

    /// This rank's contiguous share of `n` units; earlier ranks take one more when `n` does not
    /// divide (gpt2-xl has 25 heads).
    pub fn units(&self, n: usize) -> Range<usize> {
        let (base, extra) = (n / self.ranks, n % self.ranks);
        let start = self.rank * base + self.rank.min(extra);
        start..start + base + usize::from(self.rank < extra)
    }

    /// This rank's heads.
    pub fn heads(&self, n_head: usize) -> Range<usize> {
        self.units(n_head)
    }

    /// This rank's output columns of a Conv1D with `n` outputs, split on the matmul's panels.
    pub fn columns(&self, n: usize) -> Range<usize> {
        let panels = self.units(n.div_ceil(NR));
        (panels.start * NR).min(n)..(panels.end * NR).min(n)
    }

    /// This rank's columns of c_attn's fused [q | k | v] output: its heads' part of each.
    pub fn qkv_columns(&self, n_head: usize, d_head: usize) -> [Range<usize>; 3] {
        let heads = self.heads(n_head);
        let c = n_head * d_head;
        [0, c, 2 * c].map(|base| base + heads.start * d_head..base + heads.end * d_head)
    }
}

/// How ranks swap activations. Every rank calls the same exchanges in the same order.
pub trait Exchange {
    /// Every rank's `mine`, in rank order (this rank's own included).
    fn all_gather(&mut self, mine: Vec<f32>) -> impl Future<Output = Result<Vec<Vec<f32>>>>;
}

/// One rank alone: nothing to swap.
pub struct Alone;

impl Exchange for Alone {
    async fn all_gather(&mut self, mine: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        Ok(vec![mine])
    }
}

/// Ranks on native threads, joined by channels (the CLI and the tests). Its exchanges block the
/// calling thread, so its futures finish in one poll.
pub struct ThreadExchange {
    rank: usize,
    to: Vec<Option<std::sync::mpsc::Sender<Vec<f32>>>>,
    from: Vec<Option<std::sync::mpsc::Receiver<Vec<f32>>>>,
}

impl ThreadExchange {
    /// One exchange per rank, each joined to every other.
    pub fn ranks(ranks: usize) -> Vec<ThreadExchange> {
        let mut all: Vec<ThreadExchange> = (0..ranks)
            .map(|rank| ThreadExchange {
                rank,
                to: (0..ranks).map(|_| None).collect(),
                from: (0..ranks).map(|_| None).collect(),
            })
            .collect();
        for a in 0..ranks {
            for b in 0..ranks {
                if a != b {
                    let (tx, rx) = std::sync::mpsc::channel();
                    all[a].to[b] = Some(tx);
                    all[b].from[a] = Some(rx);
                }
            }
        }
        all
    }
}

const PEER_GONE: &str = "another rank of the forward stopped";

/// The error a rank gets when another stopped (whose own error says why).
pub fn is_peer_gone(e: &Error) -> bool {
    matches!(e, Error::Model(m) if m == PEER_GONE)
}

impl Exchange for ThreadExchange {
    async fn all_gather(&mut self, mine: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        let gone = || Error::Model(PEER_GONE.into());
        for tx in self.to.iter().flatten() {
            tx.send(mine.clone()).map_err(|_| gone())?;
        }
        let mut out = Vec::with_capacity(self.from.len());
        for (r, rx) in self.from.iter().enumerate() {
            match rx {
                Some(rx) => out.push(rx.recv().map_err(|_| gone())?),
                None => {
                    debug_assert_eq!(r, self.rank);
                    out.push(Vec::new());
                }
            }
        }
        out[self.rank] = mine;
        Ok(out)
    }
}

/// Puts side by side the column blocks each rank holds of a row-major matrix of `rows` rows.
pub fn concat_columns(parts: &[Vec<f32>], rows: usize) -> Result<Vec<f32>> {
    if rows == 0 {
        return Ok(Vec::new());
    }
    let widths: Vec<usize> = parts.iter().map(|p| p.len() / rows).collect();
    if parts.iter().zip(&widths).any(|(p, w)| p.len() != w * rows) {
        return Err(Error::Model("a rank sent a block of the wrong size".into()));
    }
    let width: usize = widths.iter().sum();
    let mut out = Vec::with_capacity(rows * width);
    for r in 0..rows {
        for (p, &w) in parts.iter().zip(&widths) {
            out.extend_from_slice(&p[r * w..(r + 1) * w]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_everything_once() {
        for ranks in 1..4 {
            for n in [0, 1, 12, 25, 1600, 3 * 1600] {
                let mut next = 0;
                for rank in 0..ranks {
                    let s = Shard::new(rank, ranks).unwrap();
                    let (u, c) = (s.units(n), s.columns(n));
                    assert_eq!(u.start, next);
                    next = u.end;
                    assert!(c.start % NR == 0 || c.start == n);
                }
                assert_eq!(next, n);
                let last = Shard::new(ranks - 1, ranks).unwrap();
                assert_eq!(last.columns(n).end, n);
            }
        }
        assert_eq!(Shard::new(0, 2).unwrap().heads(25), 0..13);
        assert_eq!(Shard::new(1, 2).unwrap().qkv_columns(2, 4), [4..8, 12..16, 20..24]);
        assert!(Shard::new(2, 2).is_err());
    }

    #[test]
    fn a_rank_that_stops_is_an_error_for_the_others_not_a_wait() {
        use futures::FutureExt;
        let mut ranks = ThreadExchange::ranks(2);
        drop(ranks.pop());
        let err = ranks[0]
            .all_gather(vec![1.0])
            .now_or_never()
            .expect("no waiting")
            .unwrap_err();
        assert!(is_peer_gone(&err), "{err}");
    }

    #[test]
    fn columns_are_put_side_by_side() {
        let parts = vec![vec![1.0, 2.0, 5.0, 6.0], vec![3.0, 7.0]];
        assert_eq!(concat_columns(&parts, 2).unwrap(), vec![1.0, 2.0, 3.0, 5.0, 6.0, 7.0]);
        assert!(concat_columns(&[vec![1.0; 3]], 2).is_err());
    }
}
