//! Integer matrix product `out[r][j] = sum_k a[r][k] * w[j][k]` on centered
//! operands (zero points already subtracted), the core of integer convolution and fully
//! connected layers.
//!
//! Accumulation is in wrapping i32, as in TFLite's reference kernels. Integer addition
//! modulo 2^32 is associative, so blocking and SIMD give exactly the reference's bits.
//! Weights are packed once per call into blocks of [`NR`] output channels with the
//! reduction index in pairs, so that one AVX2 `vpmaddwd` multiplies a broadcast pair of
//! inputs by eight channels' weight pairs.

/// Output channels per packed weight block.
pub const NR: usize = 16;
/// Rows (output pixels) per register tile.
pub const MR: usize = 4;

/// Accumulators of one register tile.
type Tile = [[i32; NR]; MR];

/// The element of centered operands: `i16` when every value fits (the fast path), else
/// `i32`.
pub trait Lane: Copy + Default + Send + Sync + Into<i32> + 'static {
    /// Converts a centered value known to fit.
    fn from_i32(v: i32) -> Self;

    /// Accumulates `rows` rows of `a` (row stride `lda`, `2 * pairs` values each) times
    /// one packed weight block `wb` into `acc`.
    fn tile(a: &[Self], lda: usize, rows: usize, wb: &[Self], pairs: usize, acc: &mut Tile) {
        scalar_tile(a, lda, rows, wb, pairs, acc);
    }
}

impl Lane for i32 {
    fn from_i32(v: i32) -> Self {
        v
    }
}

impl Lane for i16 {
    fn from_i32(v: i32) -> Self {
        v as i16
    }

    fn tile(a: &[i16], lda: usize, rows: usize, wb: &[i16], pairs: usize, acc: &mut Tile) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available; the slice lengths are checked by `tile_bounds`.
            unsafe { avx2::tile(a, lda, rows, wb, pairs, acc) };
            return;
        }
        scalar_tile(a, lda, rows, wb, pairs, acc);
    }
}

/// Whether centered values in `lo..=hi` take the `i16` path: any two products of such
/// values then sum without overflowing `vpmaddwd`'s i32 lanes.
pub fn fits_i16(lo: i32, hi: i32) -> bool {
    lo >= -i16::MAX as i32 && hi <= i16::MAX as i32
}

/// Checks the slice lengths a tile reads.
fn tile_bounds<E>(a: &[E], lda: usize, rows: usize, wb: &[E], pairs: usize) {
    assert!((1..=MR).contains(&rows), "tile of {rows} rows");
    assert!(
        a.len() >= (rows - 1) * lda + 2 * pairs,
        "tile rows out of bounds"
    );
    assert!(wb.len() >= pairs * 2 * NR, "weight block out of bounds");
}

fn scalar_tile<E: Lane>(a: &[E], lda: usize, rows: usize, wb: &[E], pairs: usize, acc: &mut Tile) {
    tile_bounds(a, lda, rows, wb, pairs);
    for (r, acc_row) in acc.iter_mut().enumerate().take(rows) {
        let row = &a[r * lda..r * lda + 2 * pairs];
        *acc_row = [0; NR];
        for (p, w) in wb.chunks_exact(2 * NR).take(pairs).enumerate() {
            let (x0, x1) = (row[2 * p].into(), row[2 * p + 1].into());
            for (j, acc) in acc_row.iter_mut().enumerate() {
                let (w0, w1): (i32, i32) = (w[2 * j].into(), w[2 * j + 1].into());
                *acc = acc
                    .wrapping_add(x0.wrapping_mul(w0))
                    .wrapping_add(x1.wrapping_mul(w1));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{tile_bounds, Tile, MR, NR};
    use std::arch::x86_64::*;

    /// AVX2 tile: for each pair of reduction indices, the rows' input pairs are broadcast
    /// and multiplied against two vectors of eight channels' weight pairs.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile(
        a: &[i16],
        lda: usize,
        rows: usize,
        wb: &[i16],
        pairs: usize,
        acc: &mut Tile,
    ) {
        tile_bounds(a, lda, rows, wb, pairs);
        match rows {
            4 => tile_rows::<4>(a, lda, wb, pairs, acc),
            3 => tile_rows::<3>(a, lda, wb, pairs, acc),
            2 => tile_rows::<2>(a, lda, wb, pairs, acc),
            _ => tile_rows::<1>(a, lda, wb, pairs, acc),
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn tile_rows<const R: usize>(
        a: &[i16],
        lda: usize,
        wb: &[i16],
        pairs: usize,
        acc: &mut Tile,
    ) {
        const { assert!(R <= MR && NR == 16) };
        let (ap, wp) = (a.as_ptr(), wb.as_ptr());
        let mut c = [[_mm256_setzero_si256(); 2]; R];
        for p in 0..pairs {
            // SAFETY (all reads): `tile_bounds` checked R rows of 2 * pairs values and
            // pairs blocks of 2 * NR weights.
            let w0 = _mm256_loadu_si256(wp.add(p * 2 * NR) as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(p * 2 * NR + NR) as *const __m256i);
            for (r, cr) in c.iter_mut().enumerate() {
                let pair = (ap.add(r * lda + 2 * p) as *const i32).read_unaligned();
                let x = _mm256_set1_epi32(pair);
                cr[0] = _mm256_add_epi32(cr[0], _mm256_madd_epi16(x, w0));
                cr[1] = _mm256_add_epi32(cr[1], _mm256_madd_epi16(x, w1));
            }
        }
        for (cr, out) in c.iter().zip(acc.iter_mut()) {
            _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, cr[0]);
            _mm256_storeu_si256(out.as_mut_ptr().add(8) as *mut __m256i, cr[1]);
        }
    }
}

/// Weights of `n` output channels by `k` reduction indices, centered and packed.
#[derive(Clone)]
pub struct PackedWeights<E> {
    n: usize,
    /// `k` rounded up to even.
    kp: usize,
    data: Vec<E>,
}

impl<E: Lane> PackedWeights<E> {
    /// Packs `w(j, i)`, the centered weight of output channel `j` at reduction index `i`.
    pub fn new(n: usize, k: usize, w: impl Fn(usize, usize) -> i32) -> Self {
        let kp = padded_k(k);
        let pairs = kp / 2;
        let blocks = n.div_ceil(NR);
        let mut data = vec![E::default(); blocks * pairs * 2 * NR];
        for (b, block) in data.chunks_exact_mut(pairs * 2 * NR).enumerate() {
            for j in 0..NR.min(n - b * NR) {
                for i in 0..k {
                    block[(i / 2 * NR + j) * 2 + i % 2] = E::from_i32(w(b * NR + j, i));
                }
            }
        }
        PackedWeights { n, kp, data }
    }

    /// Row stride the input rows of [`gemm`] must have (`k` rounded up to even, the
    /// padding zero).
    pub fn row_len(&self) -> usize {
        self.kp
    }

    /// The same weights in `i32` lanes (for inputs outside the `i16` fast path).
    pub fn widen(&self) -> PackedWeights<i32> {
        PackedWeights {
            n: self.n,
            kp: self.kp,
            data: self.data.iter().map(|&v| v.into()).collect(),
        }
    }
}

/// `k` rounded up to a whole number of pairs.
pub fn padded_k(k: usize) -> usize {
    k.next_multiple_of(2)
}

/// `out[r * ldc + j] = sum_i a[r * kp + i] * w[j][i]` (wrapping) for `rows` rows of `a`
/// (stride `w.row_len()`, padding zero) and all of `w`'s channels.
pub fn gemm<E: Lane>(a: &[E], rows: usize, w: &PackedWeights<E>, out: &mut [i32], ldc: usize) {
    let (kp, pairs) = (w.kp, w.kp / 2);
    let mut acc: Tile = [[0; NR]; MR];
    for (b, wb) in w.data.chunks_exact(pairs * 2 * NR).enumerate() {
        let j0 = b * NR;
        let cols = NR.min(w.n - j0);
        for r0 in (0..rows).step_by(MR) {
            let tr = MR.min(rows - r0);
            E::tile(&a[r0 * kp..], kp, tr, wb, pairs, &mut acc);
            for (r, acc_row) in acc.iter().enumerate().take(tr) {
                let o = &mut out[(r0 + r) * ldc + j0..][..cols];
                o.copy_from_slice(&acc_row[..cols]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn reference(a: &[i32], rows: usize, k: usize, w: &[i32], n: usize) -> Vec<i32> {
        let mut out = vec![0; rows * n];
        for r in 0..rows {
            for j in 0..n {
                out[r * n + j] = (0..k).fold(0i32, |s, i| {
                    s.wrapping_add(a[r * k + i].wrapping_mul(w[j * k + i]))
                });
            }
        }
        out
    }

    fn run<E: Lane>(a: &[i32], rows: usize, k: usize, w: &[i32], n: usize) -> Vec<i32> {
        let packed = PackedWeights::<E>::new(n, k, |j, i| w[j * k + i]);
        let kp = packed.row_len();
        let mut rows_padded = vec![E::default(); rows * kp];
        for r in 0..rows {
            for i in 0..k {
                rows_padded[r * kp + i] = E::from_i32(a[r * k + i]);
            }
        }
        let mut out = vec![0; rows * n];
        gemm(&rows_padded, rows, &packed, &mut out, n);
        out
    }

    /// Every tile shape and padding case against the plain triple loop, on the fast
    /// path (i16, AVX2 where present) and the i32 path.
    #[test]
    fn matches_the_plain_product() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        for (rows, k, n) in [
            (1, 1, 1),
            (3, 5, 17),
            (4, 16, 16),
            (9, 27, 33),
            (13, 288, 40),
        ] {
            let a: Vec<i32> = (0..rows * k)
                .map(|_| rng.random_range(-255..=255))
                .collect();
            let w: Vec<i32> = (0..n * k).map(|_| rng.random_range(-255..=255)).collect();
            let want = reference(&a, rows, k, &w, n);
            assert_eq!(run::<i16>(&a, rows, k, &w, n), want, "i16 {rows}x{k}x{n}");
            assert_eq!(run::<i32>(&a, rows, k, &w, n), want, "i32 {rows}x{k}x{n}");
        }
    }
}
