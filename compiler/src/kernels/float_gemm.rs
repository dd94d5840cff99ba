//! f32 matrix products `C = A · B` with a blocked, vectorized kernel (AVX-512 or
//! AVX2 + FMA where the CPU has them) that runs in parallel tiles.
//!
//! `B` is packed into panels of [`NR`] columns (k-major, zero-padded), `A` is read in
//! place, row by row. Every output element is one fused multiply-add chain over the inner
//! dimension in index order, starting from zero, on every instruction set (the scalar
//! fallback uses `f32::mul_add`): the bits depend neither on the tiling, nor on the
//! number of threads, nor on which kernel ran. A few rows times a transposed `B` (fully
//! connected layers) run as [`dot`] products instead: 16 fixed lanes, summed pairwise,
//! again the same bits everywhere.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// Columns of a packed panel of `B` (two AVX-512 registers, four AVX2 ones).
pub const NR: usize = 32;
/// Rows of `C` a parallel task covers (a multiple of every kernel's row count).
const TASK_ROWS: usize = 48;
/// Panels a parallel task covers.
const TASK_PANELS: usize = 8;

/// `B` (`k x n`) in panels of [`NR`] columns: panel `j` holds columns `j * NR..` as `k`
/// rows of `NR` values, zero past column `n`.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `b` (any strides).
    pub fn new(b: ArrayView2<'_, f32>) -> Self {
        let (k, n) = b.dim();
        let b = b.as_standard_layout();
        let src = b.as_slice().expect("standard layout");
        let mut packed = PackedB {
            k,
            n,
            data: vec![0f32; n.div_ceil(NR) * k * NR],
        };
        for r in 0..k {
            packed.set_row(r, &src[r * n..][..n]);
        }
        packed
    }

    /// Packs the `k x n` matrix whose row `r` `fill(r, row)` writes into a zeroed row.
    pub fn from_rows(k: usize, n: usize, mut fill: impl FnMut(usize, &mut [f32])) -> Self {
        let mut packed = PackedB {
            k,
            n,
            data: vec![0f32; n.div_ceil(NR) * k * NR],
        };
        let mut row = vec![0f32; n];
        for r in 0..k {
            row.fill(0.0);
            fill(r, &mut row);
            packed.set_row(r, &row);
        }
        packed
    }

    /// Writes row `r` (`n` values) into the panels.
    fn set_row(&mut self, r: usize, row: &[f32]) {
        for (j, part) in row.chunks(NR).enumerate() {
            self.data[(j * self.k + r) * NR..][..part.len()].copy_from_slice(part);
        }
    }

    /// Inner dimension (rows of `B`).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns of `B`.
    pub fn cols(&self) -> usize {
        self.n
    }

    fn panel(&self, j: usize) -> &[f32] {
        &self.data[j * self.k * NR..(j + 1) * self.k * NR]
    }
}

/// `a · b` as a new standard-layout matrix.
pub fn mat_mul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    mat_mul_into(a, b, c.view_mut());
    c
}

/// Writes `a · b` into `c` (any strides).
///
/// # Panics
/// If the shapes do not chain (`a` is m x k, `b` k x n, `c` m x n).
pub fn mat_mul_into(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, mut c: ArrayViewMut2<'_, f32>) {
    let bt = b.t();
    let product = |out: &mut [f32]| match bt.as_slice() {
        // A few rows times a transposed weight matrix (fully connected layers): dot
        // products of contiguous rows, without packing the weights.
        Some(bt) if a.nrows() <= DOT_MAX_ROWS => {
            let a = a.as_standard_layout();
            dot_rows(
                a.as_slice().expect("standard layout"),
                bt,
                [a.ncols(), b.ncols()],
                out,
            );
        }
        _ => mat_mul_packed(a, &PackedB::new(b), out),
    };
    assert_eq!(
        (b.nrows(), c.dim()),
        (a.ncols(), (a.nrows(), b.ncols())),
        "mat_mul_into shapes do not chain"
    );
    match c.as_slice_mut() {
        Some(out) => product(out),
        None => {
            let mut tmp = vec![0f32; c.len()];
            product(&mut tmp);
            let (m, n) = c.dim();
            let tmp = ArrayView2::from_shape((m, n), &tmp).expect("m x n values");
            c.assign(&tmp);
        }
    }
}

/// Writes `a · b` into `out`, row-major `m x n`.
///
/// # Panics
/// If the shapes do not chain.
pub fn mat_mul_packed(a: ArrayView2<'_, f32>, b: &PackedB, out: &mut [f32]) {
    let (m, k) = a.dim();
    let n = b.cols();
    assert!(
        k == b.rows() && out.len() == m * n,
        "mat_mul_packed shapes do not chain"
    );
    if m == 0 || n == 0 {
        return;
    }
    let a = a.as_standard_layout();
    let a = a.as_slice().expect("standard layout");
    let kernel = Kernel::detect();
    let panels = n.div_ceil(NR);
    let tasks: Vec<(usize, usize)> = (0..m.div_ceil(TASK_ROWS))
        .flat_map(|i| (0..panels.div_ceil(TASK_PANELS)).map(move |j| (i, j)))
        .collect();
    let out_ptr = SharedOut(out.as_mut_ptr());
    tasks.into_par_iter().for_each(|(ti, tj)| {
        let rows = ti * TASK_ROWS..((ti + 1) * TASK_ROWS).min(m);
        for j in tj * TASK_PANELS..((tj + 1) * TASK_PANELS).min(panels) {
            let cols = j * NR..(j * NR + NR).min(n);
            let mut r = rows.start;
            while r < rows.end {
                let count = kernel.rows().min(rows.end - r);
                let mut tile = [[0f32; NR]; MAX_ROWS];
                kernel.run(&a[r * k..], k, b.panel(j), count, &mut tile);
                for (i, t) in tile[..count].iter().enumerate() {
                    let at = (r + i) * n + cols.start;
                    // SAFETY: tasks cover disjoint (row range, column range) blocks of
                    // `out`, which outlives the parallel loop; `at + cols.len() <= m * n`.
                    unsafe { out_ptr.write(at, &t[..cols.len()]) };
                }
                r += count;
            }
        }
    });
}

/// Rows of `A` up to which a product with a transposed `B` runs as dot products.
const DOT_MAX_ROWS: usize = 4;
/// Lanes of the partial sums of a dot product: one AVX-512 register, two AVX2 ones.
const DOT_LANES: usize = 16;
/// Output columns a parallel task of [`dot_rows`] computes.
const DOT_TASK: usize = 64;

/// `out[i][j] = a[i] · bt[j]` for row-major `a` (m x k) and `bt` (n x k). Each dot product
/// runs 16 fused multiply-add chains (lane `l` takes the indices `≡ l` mod 16), then sums
/// the lanes pairwise (8, 4, 2, 1 apart): the same bits on every kernel and thread count.
fn dot_rows(a: &[f32], bt: &[f32], [k, n]: [usize; 2], out: &mut [f32]) {
    if k == 0 || n == 0 {
        out.fill(0.0);
        return;
    }
    let kernel = Kernel::detect();
    for (row, out) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        out.par_chunks_mut(DOT_TASK)
            .enumerate()
            .for_each(|(t, part)| {
                for (j, o) in part.iter_mut().enumerate() {
                    let col = &bt[(t * DOT_TASK + j) * k..][..k];
                    *o = kernel.dot(row, col);
                }
            });
    }
}

/// `x · y` as [`dot_rows`] computes it: 16 fused multiply-add lanes summed pairwise.
///
/// # Panics
/// If the lengths differ.
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    Kernel::detect().dot(x, y)
}

/// The sum of 16 lanes, pairwise.
fn sum_lanes(mut lanes: [f32; DOT_LANES]) -> f32 {
    let mut width = DOT_LANES / 2;
    while width > 0 {
        for l in 0..width {
            lanes[l] += lanes[l + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// The output buffer shared by the tasks of [`mat_mul_packed`], each writing its own block.
struct SharedOut(*mut f32);

// SAFETY: the tasks write disjoint elements (see `mat_mul_packed`).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Copies `values` to `self[at..]`.
    ///
    /// # Safety
    /// The range is in bounds and no other thread touches it meanwhile.
    unsafe fn write(&self, at: usize, values: &[f32]) {
        std::ptr::copy_nonoverlapping(values.as_ptr(), self.0.add(at), values.len());
    }
}

/// Most rows of a micro-tile.
const MAX_ROWS: usize = 6;

/// The micro-kernel for this CPU.
#[derive(Clone, Copy)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Scalar,
}

impl Kernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Kernel::Avx2;
            }
        }
        Kernel::Scalar
    }

    /// Rows of `C` one call computes.
    fn rows(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 6,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 3,
            Kernel::Scalar => 1,
        }
    }

    /// `x · y` in [`DOT_LANES`] lanes (see [`dot_rows`]).
    fn dot(self, x: &[f32], y: &[f32]) -> f32 {
        assert_eq!(x.len(), y.len());
        let lanes = match self {
            // SAFETY: the CPU has the features (checked in `detect`); equal lengths.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { x86::dot_avx512(x, y) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::dot_avx2(x, y) },
            Kernel::Scalar => {
                let mut lanes = [0f32; DOT_LANES];
                let whole = x.len() / DOT_LANES * DOT_LANES;
                for (xs, ys) in x[..whole]
                    .chunks_exact(DOT_LANES)
                    .zip(y.chunks_exact(DOT_LANES))
                {
                    for ((l, &a), &b) in lanes.iter_mut().zip(xs).zip(ys) {
                        *l = a.mul_add(b, *l);
                    }
                }
                for ((l, &a), &b) in lanes.iter_mut().zip(&x[whole..]).zip(&y[whole..]) {
                    *l = a.mul_add(b, *l);
                }
                lanes
            }
        };
        sum_lanes(lanes)
    }

    /// `tile[i] = a[i * k..][..k] · panel` for `i < rows` (`rows <= self.rows()`).
    fn run(
        self,
        a: &[f32],
        k: usize,
        panel: &[f32],
        rows: usize,
        tile: &mut [[f32; NR]; MAX_ROWS],
    ) {
        assert!(a.len() >= rows * k && panel.len() == k * NR && rows <= self.rows());
        match self {
            // SAFETY: the CPU has the features (checked in `detect`), and the slices
            // hold what the kernels read (asserted above).
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe {
                match rows {
                    6 => x86::tile_avx512::<6>(a, k, panel, tile),
                    5 => x86::tile_avx512::<5>(a, k, panel, tile),
                    4 => x86::tile_avx512::<4>(a, k, panel, tile),
                    3 => x86::tile_avx512::<3>(a, k, panel, tile),
                    2 => x86::tile_avx512::<2>(a, k, panel, tile),
                    _ => x86::tile_avx512::<1>(a, k, panel, tile),
                }
            },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe {
                match rows {
                    3 => x86::tile_avx2::<3>(a, k, panel, tile),
                    2 => x86::tile_avx2::<2>(a, k, panel, tile),
                    _ => x86::tile_avx2::<1>(a, k, panel, tile),
                }
            },
            Kernel::Scalar => {
                for (i, out) in tile.iter_mut().enumerate().take(rows) {
                    *out = [0.0; NR];
                    for (kk, b) in panel.chunks_exact(NR).enumerate() {
                        let av = a[i * k + kk];
                        for (o, &bv) in out.iter_mut().zip(b) {
                            *o = av.mul_add(bv, *o);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{DOT_LANES, MAX_ROWS, NR};
    use std::arch::x86_64::*;

    /// `R` rows times one panel with AVX-512: two registers of 16 columns per row.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `a` holds `R` rows of `k` values, `panel` `k * NR` values.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile_avx512<const R: usize>(
        a: &[f32],
        k: usize,
        panel: &[f32],
        tile: &mut [[f32; NR]; MAX_ROWS],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let (ap, bp) = (a.as_ptr(), panel.as_ptr());
        for kk in 0..k {
            let b0 = _mm512_loadu_ps(bp.add(kk * NR));
            let b1 = _mm512_loadu_ps(bp.add(kk * NR + 16));
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r * k + kk));
                acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
            }
        }
        for (out, acc) in tile.iter_mut().zip(&acc) {
            _mm512_storeu_ps(out.as_mut_ptr(), acc[0]);
            _mm512_storeu_ps(out.as_mut_ptr().add(16), acc[1]);
        }
    }

    /// The 16 lanes of `x · y` with AVX-512 (the tail lane by lane, fused).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` and `y` have equal lengths.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn dot_avx512(x: &[f32], y: &[f32]) -> [f32; DOT_LANES] {
        let whole = x.len() / DOT_LANES * DOT_LANES;
        let mut acc = _mm512_setzero_ps();
        for i in (0..whole).step_by(DOT_LANES) {
            let (a, b) = (
                _mm512_loadu_ps(x.as_ptr().add(i)),
                _mm512_loadu_ps(y.as_ptr().add(i)),
            );
            acc = _mm512_fmadd_ps(a, b, acc);
        }
        let mut lanes = [0f32; DOT_LANES];
        _mm512_storeu_ps(lanes.as_mut_ptr(), acc);
        for ((l, &a), &b) in lanes.iter_mut().zip(&x[whole..]).zip(&y[whole..]) {
            *l = a.mul_add(b, *l);
        }
        lanes
    }

    /// The 16 lanes of `x · y` with AVX2 and FMA (two registers; the tail lane by lane).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `x` and `y` have equal lengths.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(x: &[f32], y: &[f32]) -> [f32; DOT_LANES] {
        let whole = x.len() / DOT_LANES * DOT_LANES;
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for i in (0..whole).step_by(DOT_LANES) {
            let (xp, yp) = (x.as_ptr().add(i), y.as_ptr().add(i));
            lo = _mm256_fmadd_ps(_mm256_loadu_ps(xp), _mm256_loadu_ps(yp), lo);
            hi = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(8)), _mm256_loadu_ps(yp.add(8)), hi);
        }
        let mut lanes = [0f32; DOT_LANES];
        _mm256_storeu_ps(lanes.as_mut_ptr(), lo);
        _mm256_storeu_ps(lanes.as_mut_ptr().add(8), hi);
        for ((l, &a), &b) in lanes.iter_mut().zip(&x[whole..]).zip(&y[whole..]) {
            *l = a.mul_add(b, *l);
        }
        lanes
    }

    /// `R` rows times one panel with AVX2 and FMA: four registers of 8 columns per row.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds `R` rows of `k` values, `panel` `k * NR`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile_avx2<const R: usize>(
        a: &[f32],
        k: usize,
        panel: &[f32],
        tile: &mut [[f32; NR]; MAX_ROWS],
    ) {
        let mut acc = [[_mm256_setzero_ps(); 4]; R];
        let (ap, bp) = (a.as_ptr(), panel.as_ptr());
        for kk in 0..k {
            let b = [0, 8, 16, 24].map(|o| _mm256_loadu_ps(bp.add(kk * NR + o)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*ap.add(r * k + kk));
                for (acc, &b) in acc.iter_mut().zip(&b) {
                    *acc = _mm256_fmadd_ps(av, b, *acc);
                }
            }
        }
        for (out, acc) in tile.iter_mut().zip(&acc) {
            for (q, &v) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(q * 8), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(r: usize, c: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            let h = (i as u32 * 7919 + j as u32 * 104_729 + seed).wrapping_mul(2_654_435_761);
            (h >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
    }

    /// Every kernel this CPU can run.
    fn kernels_here() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Scalar, Kernel::detect()];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            kernels.push(Kernel::Avx2);
        }
        kernels
    }

    /// The fused multiply-add chain every kernel computes.
    fn chain(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).fold(0f32, |acc, kk| a[[i, kk]].mul_add(b[[kk, j]], acc))
        })
    }

    #[test]
    fn every_kernel_gives_the_fused_chain_bit_for_bit() {
        let kernels = kernels_here();
        for (m, k, n) in [(1, 1, 1), (7, 5, 33), (13, 64, 70), (50, 3, 300)] {
            let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
            let want = chain(&a, &b);
            let packed = PackedB::new(b.view());
            for &kernel in &kernels {
                let a = a.as_slice().unwrap();
                let mut got = Array2::<f32>::zeros((m, n));
                for r in (0..m).step_by(kernel.rows()) {
                    let rows = kernel.rows().min(m - r);
                    for j in 0..n.div_ceil(NR) {
                        let mut tile = [[0f32; NR]; MAX_ROWS];
                        kernel.run(&a[r * k..], k, packed.panel(j), rows, &mut tile);
                        for i in 0..rows {
                            for c in j * NR..(j * NR + NR).min(n) {
                                got[[r + i, c]] = tile[i][c - j * NR];
                            }
                        }
                    }
                }
                assert_eq!(got, want, "{m}x{k}x{n}");
            }
        }
    }

    #[test]
    fn tiled_products_are_the_chain_for_every_pool() {
        for (m, k, n) in [(3, 4, 5), (16, 300, 1000), (1000, 64, 24), (257, 129, 131)] {
            let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
            let want = chain(&a, &b);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool.install(|| mat_mul(a.view(), b.view()));
                assert_eq!(got, want, "{m}x{k}x{n} on {threads} threads");
            }
        }
    }

    #[test]
    fn dot_products_match_on_every_kernel() {
        let kernels = kernels_here();
        for k in [0, 1, 15, 16, 17, 100, 1280] {
            let (x, y) = (matrix(1, k, 5), matrix(1, k, 6));
            let (x, y) = (x.as_slice().unwrap(), y.as_slice().unwrap());
            let mut lanes = [0f32; DOT_LANES];
            for (i, (&a, &b)) in x.iter().zip(y).enumerate() {
                lanes[i % DOT_LANES] = a.mul_add(b, lanes[i % DOT_LANES]);
            }
            let want = sum_lanes(lanes);
            let exact: f64 = x.iter().zip(y).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!((want as f64 - exact).abs() < 1e-4, "k = {k}");
            for &kernel in &kernels {
                assert_eq!(kernel.dot(x, y).to_bits(), want.to_bits(), "k = {k}");
            }
        }
        // A fully connected layer: one row times transposed weights, on every pool.
        let (a, w) = (matrix(2, 300, 7), matrix(130, 300, 8));
        let want = Array2::from_shape_fn((2, 130), |(i, j)| {
            Kernel::Scalar.dot(a.row(i).as_slice().unwrap(), w.row(j).as_slice().unwrap())
        });
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(pool.install(|| mat_mul(a.view(), w.t())), want);
        }
    }

    #[test]
    fn reads_and_writes_strided_operands() {
        let (a, b) = (matrix(30, 200, 3), matrix(150, 30, 4));
        let (at, bt) = (a.t(), b.t());
        let mut c = Array2::<f32>::from_elem((150, 200), f32::NAN);
        mat_mul_into(at, bt, c.view_mut().reversed_axes());
        assert_eq!(c.t(), chain(&at.to_owned(), &bt.to_owned()));
        assert_eq!(mat_mul(at, bt).dim(), (200, 150));
        assert_eq!(
            mat_mul(matrix(0, 3, 1).view(), matrix(3, 4, 1).view()).dim(),
            (0, 4)
        );
    }
}
