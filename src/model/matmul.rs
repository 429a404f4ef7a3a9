//! y = x W + b for GPT-2's Conv1D (W stored [in, out]) with few rows of x (the lecture batches
//! 34 words), hand-written for wasm32 simd128.
//!
//! With few rows the work is streaming W: every weight is used M times. W is re-packed once, at
//! load time, into column panels of [`NR`] columns, each panel stored k-major (row k of the
//! panel is NR contiguous floats), laid out in the order the kernel reads them, so one matmul
//! reads W exactly once, front to back. x is packed per call (it is small) into blocks of
//! [`MR`] rows stored k-major, so the kernel reads it contiguously too. The micro-kernel keeps an MR × NR block of y in
//! registers (MR · NR/4 f32x4 accumulators) and adds one rank-1 update per k: NR/4 vector loads
//! of W, MR broadcasts of x, MR · NR/4 multiplies and adds (simd128 has no FMA).
//!
//! Every output element is computed as: for each block of [`KC`] k's in order, the products
//! `x[i][k] · W[k][j]` summed from zero in k order, then added to y, which starts as the bias (as
//! BLAS's y = x W + y does); in f32 with separate multiply and add. So a row's result does not
//! depend on the other rows, on M, or on the target (the portable version is the same
//! arithmetic). For K ≤ KC that is (Σ products) + bias, the rounding PyTorch's addmm and
//! candle's matmul-then-add have too, which matters for the goldens (a cosine 1.5e-7 from a
//! histogram edge).

use std::ops::Range;

// Measured in node on gpt2-medium's shapes with 38 rows, W not in cache (bench/matmul.mjs):
// MR 2 × NV 4 (8 accumulators) 34.7 GFLOP/s, 4 × 2 33.2; with W cached 4 × 2 and 2 × 4 both
// ~40, while 6 × 2, 4 × 3, 3 × 4, 2 × 6 and 8 × 1 (12 or more accumulators: x86 has 16 xmm
// registers) are slower (27-34).
/// Rows of x per micro-kernel call.
pub const MR: usize = 2;
/// f32x4 vectors per panel row.
const NV: usize = 4;
/// Columns of W per panel.
pub const NR: usize = 4 * NV;
/// Names the panels' layout, for stored panels: another layout is packed again, never misread.
pub const LAYOUT: &str = "panels-nr16-kc512-f32";
const _: () = assert!(NR == 16 && KC == 512, "LAYOUT names NR and KC");
/// Rows of W (the k dimension) per pass: a pass over a panel's KC rows stays in L1 while every
/// block of x's rows runs over it.
pub const KC: usize = 512;

/// A Conv1D's weight re-packed into column panels, and its bias.
pub struct PackedLinear {
    k: usize,
    n: usize,
    /// ceil(n / NR) panels, panel p holding columns p·NR.. (zero past n), each k × NR, stored in
    /// the order the kernel reads them: by block of KC rows of k, then by panel, then by row
    /// (see [`PackedLinear::at`]). One matmul reads W front to back, which the hardware
    /// prefetcher streams from memory (per panel it would jump 32 KB every KC rows: ~35 %
    /// slower on W not in cache).
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedLinear {
    /// Packs W [k, n] given row by row: `row(kk, out)` writes row kk (n values) into `out`, so
    /// a caller can convert from the file's bytes straight into the packed layout.
    pub fn pack_rows(k: usize, n: usize, bias: Vec<f32>, mut row: impl FnMut(usize, &mut [f32])) -> Self {
        assert_eq!(bias.len(), n, "bias length");
        let np = n.div_ceil(NR);
        let mut panels = vec![0.0f32; np * k * NR];
        let mut buf = vec![0.0f32; np * NR];
        for kk in 0..k {
            row(kk, &mut buf[..n]);
            for (p, chunk) in buf.chunks_exact(NR).enumerate() {
                let at = at(k, np, kk, p);
                panels[at..at + NR].copy_from_slice(chunk);
            }
        }
        PackedLinear { k, n, panels, bias }
    }

    /// Packs a row-major W [k, n].
    pub fn pack(w: &[f32], k: usize, n: usize, bias: Vec<f32>) -> Self {
        assert_eq!(w.len(), k * n, "weight length");
        Self::pack_rows(k, n, bias, |kk, out| out.copy_from_slice(&w[kk * n..(kk + 1) * n]))
    }

    /// Packs W [k, n] stored as little-endian f32 bytes, row-major (a safetensors F32 tensor),
    /// copying the bytes of each panel row straight into place.
    pub fn pack_f32_le(bytes: &[u8], k: usize, n: usize, bias: Vec<f32>) -> Self {
        Self::pack_f32_le_columns(bytes, k, n, std::slice::from_ref(&(0..n)), bias)
    }

    /// [`Self::pack_f32_le`] keeping only the columns `cols` of the file's `n_file` (in that
    /// order): one rank's share of a matrix (see [`super::shard`]). `bias` is already theirs.
    pub fn pack_f32_le_columns(bytes: &[u8], k: usize, n_file: usize, cols: &[Range<usize>], bias: Vec<f32>) -> Self {
        assert_eq!(bytes.len(), 4 * k * n_file, "weight bytes");
        let mut packer = PackF32Le::new(k, n_file, cols, bias);
        packer.rows(0, bytes);
        packer.finish()
    }

    pub fn in_features(&self) -> usize {
        self.k
    }

    pub fn out_features(&self) -> usize {
        self.n
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// Bytes held: the panels (padding included) and the bias.
    pub fn held_bytes(&self) -> u64 {
        4 * (self.panels.len() + self.bias.len()) as u64
    }

    /// The panels as they are held (the layout [`LAYOUT`] names), for a store that keeps them.
    pub fn panels(&self) -> &[f32] {
        &self.panels
    }

    /// Floats of the panels of a W [k, n] (padding included).
    pub fn panels_len(k: usize, n: usize) -> usize {
        n.div_ceil(NR) * k * NR
    }

    /// A W [k, n] from panels kept earlier ([`Self::panels`], same [`LAYOUT`]) and its bias.
    pub fn from_panels(k: usize, n: usize, panels: Vec<f32>, bias: Vec<f32>) -> Option<Self> {
        (panels.len() == Self::panels_len(k, n) && bias.len() == n).then_some(PackedLinear { k, n, panels, bias })
    }

    /// W [k, n] row-major again (for tests and for the reference path).
    pub fn unpack(&self) -> Vec<f32> {
        let mut w = vec![0.0f32; self.k * self.n];
        for (i, v) in w.iter_mut().enumerate() {
            let (kk, j) = (i / self.n, i % self.n);
            *v = self.panels[at(self.k, self.n.div_ceil(NR), kk, j / NR) + j % NR];
        }
        w
    }

    /// y [m, n] = x [m, k] W + b, both row-major.
    pub fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert_eq!(x.len(), m * k, "x length");
        let mut y = vec![0.0f32; m * n];
        if m == 0 || n == 0 {
            return y;
        }
        // y starts as the bias.
        for row in y.chunks_exact_mut(n) {
            row.copy_from_slice(&self.bias);
        }
        if k == 0 {
            return y;
        }
        // x in blocks of MR rows (zero rows past m), each block k-major: xp[b][kk][r].
        let mb = m.div_ceil(MR);
        let mut xp = vec![0.0f32; mb * k * MR];
        for (i, row) in x.chunks_exact(k).enumerate() {
            let (b, r) = (i / MR, i % MR);
            let block = &mut xp[b * k * MR..(b + 1) * k * MR];
            for (kk, &v) in row.iter().enumerate() {
                block[kk * MR + r] = v;
            }
        }
        let np = n.div_ceil(NR);
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            for p in 0..np {
                let j0 = p * NR;
                let width = NR.min(n - j0);
                let panel = &self.panels[at(k, np, k0, p)..at(k, np, k0, p) + kc * NR];
                for b in 0..mb {
                    let rows = MR.min(m - b * MR);
                    let xb = &xp[b * k * MR + k0 * MR..b * k * MR + (k0 + kc) * MR];
                    // SAFETY: panel holds kc·NR floats and xb kc·MR; y is m × n and the block
                    // written is rows b·MR..b·MR+rows, columns j0..j0+width, all inside.
                    unsafe { block(xb, panel, kc, &mut y, n, b * MR, rows, j0, width) };
                }
            }
            k0 += kc;
        }
        y
    }
}

/// Packs a little-endian f32 W [k, n_file] (a safetensors F32 tensor) from blocks of its rows,
/// keeping the columns `cols`: a caller can read the file a few rows at a time, so no copy of
/// the whole tensor is ever held beside the panels.
pub struct PackF32Le {
    linear: PackedLinear,
    n_file: usize,
    /// The file's column of each kept column.
    source: Vec<usize>,
    /// Each panel's first file column, width, and whether its columns are one run in the file.
    runs: Vec<(usize, usize, bool)>,
}

impl PackF32Le {
    pub fn new(k: usize, n_file: usize, cols: &[Range<usize>], bias: Vec<f32>) -> Self {
        assert!(cols.iter().all(|c| c.start <= c.end && c.end <= n_file), "columns");
        let source: Vec<usize> = cols.iter().flat_map(|c| c.clone()).collect();
        let n = source.len();
        assert_eq!(bias.len(), n, "bias length");
        let np = n.div_ceil(NR);
        let runs = (0..np)
            .map(|p| {
                let cols = &source[p * NR..(p * NR + NR).min(n)];
                (cols[0], cols.len(), cols.windows(2).all(|w| w[1] == w[0] + 1))
            })
            .collect();
        PackF32Le {
            linear: PackedLinear {
                k,
                n,
                panels: vec![0.0f32; np * k * NR],
                bias,
            },
            n_file,
            source,
            runs,
        }
    }

    /// Rows k0.. of W, whole rows of the file.
    ///
    /// Not inlined, like the kernel's `block`: called once per block of rows, it gets V8's
    /// optimised code after its first calls; inlined into the one call that loads all the
    /// weights, the whole load ran in the baseline compiler's code (gpt2-medium at layer 23: one
    /// worker's half took ~1.8 s instead of ~0.5 s).
    #[inline(never)]
    pub fn rows(&mut self, k0: usize, bytes: &[u8]) {
        let (k, n_file) = (self.linear.k, self.n_file);
        let row_bytes = 4 * n_file;
        assert!(row_bytes == 0 || bytes.len().is_multiple_of(row_bytes), "whole rows");
        let count = bytes.len().checked_div(row_bytes).unwrap_or(0);
        assert!(k0 + count <= k, "rows past the matrix");
        let np = self.runs.len();
        let from_le = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if cfg!(target_endian = "big") {
            for r in 0..count {
                let row = &bytes[r * row_bytes..(r + 1) * row_bytes];
                for (j, &col) in self.source.iter().enumerate() {
                    let at = at(k, np, k0 + r, j / NR) + j % NR;
                    self.linear.panels[at] = from_le(&row[4 * col..4 * col + 4]);
                }
            }
            return;
        }
        let dst = self.linear.panels.as_mut_ptr() as *mut u8;
        // 16 rows at a time (read front to back), each panel's piece of them written as one
        // contiguous run.
        for r0 in (0..count).step_by(16) {
            for (p, &(first, width, contiguous)) in self.runs.iter().enumerate() {
                for r in r0..count.min(r0 + 16) {
                    let to = 4 * at(k, np, k0 + r, p);
                    // SAFETY: every file column read is < n_file, so each byte read lies in row
                    // r of bytes (count whole rows), and to + 4·width ≤ 4·np·k·NR, the panels'
                    // size in bytes (k0 + r < k); f32 has no invalid bit patterns and the target
                    // is little-endian.
                    unsafe {
                        let dst = dst.add(to);
                        let row = bytes.as_ptr().add(r * row_bytes);
                        if contiguous {
                            let src = row.add(4 * first);
                            if width == NR {
                                // A constant size: inline vector loads and stores, not a memcpy
                                // call per 64 bytes (which made packing slower than candle's
                                // copy in wasm).
                                (dst as *mut [u8; 4 * NR]).write_unaligned((src as *const [u8; 4 * NR]).read_unaligned());
                            } else {
                                std::ptr::copy_nonoverlapping(src, dst, 4 * width);
                            }
                        } else {
                            for (c, &j) in self.source[p * NR..p * NR + width].iter().enumerate() {
                                std::ptr::copy_nonoverlapping(row.add(4 * j), dst.add(4 * c), 4);
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn finish(self) -> PackedLinear {
        self.linear
    }
}

/// Where row kk of panel p starts in the packed W of k rows and np panels: blocks of KC rows
/// (the last may be shorter), each holding every panel's rows of the block in turn.
#[inline(always)]
fn at(k: usize, np: usize, kk: usize, p: usize) -> usize {
    let k0 = kk - kk % KC;
    let kc = KC.min(k - k0);
    k0 * np * NR + p * kc * NR + (kk - k0) * NR
}

/// y[r0 + r][j0 + c] += Σ_kk xb[kk][r] · panel[kk][c] for r < rows, c < width, in kk order.
///
/// Not inlined: in the browser a wasm function starts in V8's baseline compiler (Liftoff, ~3.5×
/// slower here) and its optimised code is used from its next call on (no on-stack replacement),
/// so the hot loop is a small function called thousands of times per matmul, optimised after
/// the first few, rather than part of one long call.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn block(xb: &[f32], panel: &[f32], kc: usize, y: &mut [f32], n: usize, r0: usize, rows: usize, j0: usize, width: usize) {
    debug_assert!(xb.len() >= kc * MR && panel.len() >= kc * NR);
    let yp = y.as_mut_ptr();
    let mut acc = [[v::zero(); NV]; MR];
    let mut xq = xb.as_ptr();
    let mut wq = panel.as_ptr();
    for _ in 0..kc {
        let mut w = [v::zero(); NV];
        for (c, wv) in w.iter_mut().enumerate() {
            *wv = v::load(wq.add(4 * c));
        }
        for (r, accr) in acc.iter_mut().enumerate() {
            let xv = v::splat(xq.add(r));
            for c in 0..NV {
                accr[c] = v::madd(accr[c], xv, w[c]);
            }
        }
        xq = xq.add(MR);
        wq = wq.add(NR);
    }
    // y += the block's sum (y holds the bias, or the bias plus the sum over earlier blocks of K).
    if width == NR {
        #[allow(clippy::needless_range_loop)] // r indexes acc and the output rows alike
        for r in 0..rows {
            for (c, a) in acc[r].iter().enumerate() {
                let p = yp.add((r0 + r) * n + j0 + 4 * c);
                v::store(p, v::add(v::load(p), *a));
            }
        }
    } else {
        for r in 0..rows {
            let row = &mut y[(r0 + r) * n + j0..(r0 + r) * n + j0 + width];
            let mut tmp = [0.0f32; NR];
            tmp[..width].copy_from_slice(row);
            for (c, a) in acc[r].iter().enumerate() {
                let p = tmp.as_mut_ptr().add(4 * c);
                v::store(p, v::add(v::load(p), *a));
            }
            row.copy_from_slice(&tmp[..width]);
        }
    }
}

/// Four f32 lanes: simd128 in wasm32 (the build enables it), plain arrays elsewhere (the same
/// arithmetic, which the compiler vectorises).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod v {
    use core::arch::wasm32::*;

    pub type V = v128;

    #[inline(always)]
    pub fn zero() -> V {
        f32x4_splat(0.0)
    }

    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> V {
        v128_load(p as *const v128)
    }

    #[inline(always)]
    pub unsafe fn splat(p: *const f32) -> V {
        v128_load32_splat(p as *const u32)
    }

    #[inline(always)]
    pub unsafe fn store(p: *mut f32, x: V) {
        v128_store(p as *mut v128, x)
    }

    #[inline(always)]
    pub fn madd(acc: V, a: V, b: V) -> V {
        f32x4_add(acc, f32x4_mul(a, b))
    }

    #[inline(always)]
    pub fn add(a: V, b: V) -> V {
        f32x4_add(a, b)
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod v {
    #[derive(Clone, Copy)]
    pub struct V([f32; 4]);

    #[inline(always)]
    pub fn zero() -> V {
        V([0.0; 4])
    }

    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> V {
        V((p as *const [f32; 4]).read_unaligned())
    }

    #[inline(always)]
    pub unsafe fn splat(p: *const f32) -> V {
        V([*p; 4])
    }

    #[inline(always)]
    pub unsafe fn store(p: *mut f32, x: V) {
        (p as *mut [f32; 4]).write_unaligned(x.0)
    }

    #[inline(always)]
    pub fn madd(acc: V, a: V, b: V) -> V {
        let mut out = acc.0;
        #[allow(clippy::needless_range_loop)] // the portable lanes, written as simd128 reads them
        for i in 0..4 {
            out[i] += a.0[i] * b.0[i];
        }
        V(out)
    }

    #[inline(always)]
    pub fn add(a: V, b: V) -> V {
        V([a.0[0] + b.0[0], a.0[1] + b.0[1], a.0[2] + b.0[2], a.0[3] + b.0[3]])
    }
}
