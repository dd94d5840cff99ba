//! TFLite's integer resize of NHWC data (`ResizeBilinearInteger`, or
//! `ResizeNearestNeighbor`); the compiler's interpreter runs the same function.

/// The variant of TFLite's integer resize kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TfliteResize {
    /// `ResizeBilinearInteger` (else `ResizeNearestNeighbor`).
    pub bilinear: bool,
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// `TfLiteRound` (half away from zero) of a non-negative f32, as an integer.
fn round_non_negative(p: f32) -> i32 {
    let t = p as i32;
    t + i32::from(p - t as f32 >= 0.5)
}

/// Resizes NHWC codes `x(i)` (dims `[n, h, w, c]`) to `[oh, ow]`, writing output element
/// `i` (row-major NHWC) with `out(i, code)`. All sizes are positive.
pub fn resize_nhwc(
    k: TfliteResize,
    x: impl Fn(usize) -> i32,
    mut out: impl FnMut(usize, i32),
    [n, ih, iw, c]: [usize; 4],
    [oh, ow]: [usize; 2],
) {
    let (align, half) = (k.align_corners, k.half_pixel_centers);
    let (ih, iw, oh, ow) = (ih as i32, iw as i32, oh as i32, ow as i32);
    let at = |b: usize, y: i32, xx: i32, ch: usize| {
        x(((b * ih as usize + y as usize) * iw as usize + xx as usize) * c + ch)
    };
    let mut o = 0usize;
    if k.bilinear {
        let scale10 = |i: i32, o: i32| {
            if align && o > 1 {
                ((1 << 10) * (i - 1) + (o - 1) / 2) / (o - 1)
            } else {
                ((1 << 10) * i + o / 2) / o
            }
        };
        let (hs, wsc) = (scale10(ih, oh), scale10(iw, ow));
        let interp = |v: i32, sc: i32, size: i32| {
            let scaled = if half {
                v * sc + sc / 2 - (1 << 9)
            } else {
                v * sc
            };
            (
                scaled,
                (scaled / (1 << 10)).max(0),
                ((scaled + (1 << 10) - 1) / (1 << 10)).min(size - 1),
            )
        };
        for b in 0..n {
            for y in 0..oh {
                let (iy, y0, y1) = interp(y, hs, ih);
                for xx in 0..ow {
                    let (ix, x0, x1) = interp(xx, wsc, iw);
                    let (dy, dx) = ((iy - (1 << 10) * y0) as i64, (ix - (1 << 10) * x0) as i64);
                    for ch in 0..c {
                        let o20 = at(b, y0, x0, ch) as i64 * ((1 << 10) - dy) * ((1 << 10) - dx)
                            + at(b, y1, x0, ch) as i64 * dy * ((1 << 10) - dx)
                            + at(b, y0, x1, ch) as i64 * ((1 << 10) - dy) * dx
                            + at(b, y1, x1, ch) as i64 * dy * dx;
                        let round = if o20 > 0 { 1i64 << 19 } else { -(1i64 << 19) };
                        out(o, ((o20 + round) / (1 << 20)) as i32);
                        o += 1;
                    }
                }
            }
        }
    } else {
        let scale = |i: i32, o: i32| {
            if align && o > 1 {
                (i - 1) as f32 / (o - 1) as f32
            } else {
                i as f32 / o as f32
            }
        };
        let (hs, wsc) = (scale(ih, oh), scale(iw, ow));
        let offset = if half { 0.5f32 } else { 0.0 };
        // The source position is never negative, so truncation is TFLite's floor.
        let nn = |v: i32, sc: f32, size: i32| {
            let p = (v as f32 + offset) * sc;
            let q = if align {
                round_non_negative(p)
            } else {
                p as i32
            };
            let q = q.min(size - 1);
            if half {
                q.max(0)
            } else {
                q
            }
        };
        for b in 0..n {
            for y in 0..oh {
                let sy = nn(y, hs, ih);
                for xx in 0..ow {
                    let sx = nn(xx, wsc, iw);
                    for ch in 0..c {
                        out(o, at(b, sy, sx, ch));
                        o += 1;
                    }
                }
            }
        }
    }
}
