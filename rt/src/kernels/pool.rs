//! Max and average pooling over the taps of each window inside the input, and integer
//! mean/sum reductions over any axes.

use crate::command::{Pool, Reduce};
use crate::error::{Error, Result};
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::schema::{TensorDesc, MAX_RANK};
use crate::tensor::{Elems, ElemsMut, Odometer};

/// (batch, height, width, channels, output height, output width) of a pooling command.
pub fn pool_plan(c: &Pool, x: &TensorDesc, o: &TensorDesc) -> Result<[usize; 6]> {
    let bad = Error::malformed("pooling does not match its tensors");
    let (xd, od) = (x.shape.dims(), o.shape.dims());
    let (&[a, b, cc, d], &[oa, ob, oc, odd]) = (xd, od) else {
        return Err(bad);
    };
    let ([n, h, w, ch], [on, oh, ow, och]) = if c.nchw {
        ([a, cc, d, b], [oa, oc, odd, ob])
    } else {
        ([a, b, cc, d], [oa, ob, oc, odd])
    };
    let big = |v: usize| v > 1 << 24;
    let ok = x.dtype.int_range().is_some()
        && o.dtype.int_range().is_some()
        && n == on
        && ch == och
        && c.clamp.min <= c.clamp.max
        && !c
            .kernel
            .iter()
            .chain(&c.strides)
            .chain(&c.pads)
            .any(|&v| big(v))
        && ![h, w, oh, ow].iter().any(|&v| big(v));
    if !ok {
        return Err(bad);
    }
    Ok([n, h, w, ch, oh, ow])
}

/// Runs a pooling command.
pub fn pool(c: &Pool, [n, h, w, ch, oh, ow]: [usize; 6], x: Elems<'_>, mut o: ElemsMut<'_>) {
    let index = |b: usize, y: usize, xx: usize, k: usize, hh: usize, ww: usize| {
        if c.nchw {
            ((b * ch + k) * hh + y) * ww + xx
        } else {
            ((b * hh + y) * ww + xx) * ch + k
        }
    };
    let window = |o: usize, axis: usize, size: usize| {
        let start = (o * c.strides[axis]) as isize - c.pads[axis] as isize;
        let end = (start + c.kernel[axis] as isize).clamp(0, size as isize) as usize;
        start.max(0) as usize..end
    };
    for b in 0..n {
        for oy in 0..oh {
            let ys = window(oy, 0, h);
            for ox in 0..ow {
                let xs = window(ox, 1, w);
                for k in 0..ch {
                    let (mut max, mut sum, mut count) = (None::<i32>, 0i32, 0i32);
                    for y in ys.clone() {
                        for xx in xs.clone() {
                            let v = x.get(index(b, y, xx, k, h, w));
                            max = Some(max.map_or(v, |m| m.max(v)));
                            sum = sum.wrapping_add(v);
                            count += 1;
                        }
                    }
                    let v = if c.max {
                        max.unwrap_or(c.clamp.min)
                    } else if count == 0 {
                        0
                    } else if sum > 0 {
                        sum.wrapping_add(count / 2) / count
                    } else {
                        sum.wrapping_sub(count / 2) / count
                    };
                    o.set(
                        index(b, oy, ox, k, oh, ow),
                        v.clamp(c.clamp.min, c.clamp.max),
                    );
                }
            }
        }
    }
}

/// Checks a reduction against its tensors.
pub fn reduce_plan(c: &Reduce, x: &TensorDesc, o: &TensorDesc) -> Result<()> {
    let xd = x.shape.dims();
    let kept: usize = xd
        .iter()
        .enumerate()
        .filter(|&(i, _)| !c.axes[i])
        .map(|(_, &d)| d)
        .product();
    let reduces_inside = c.axes[xd.len()..].iter().all(|&a| !a);
    if !reduces_inside
        || kept != o.elements()
        || x.dtype.int_range().is_none()
        || o.dtype.int_range().is_none()
        || !c.requant.valid()
        || c.clamp.min > c.clamp.max
    {
        return Err(Error::malformed("reduction does not match its tensors"));
    }
    Ok(())
}

/// Runs a mean/sum reduction: each output's wrapping i32 sum minus
/// `count * input_zero_point`, requantized, clamped.
pub fn reduce(c: &Reduce, xd: &[usize], x: Elems<'_>, mut o: ElemsMut<'_>) {
    // Kept and reduced axes with their input strides, in axis order.
    let (mut kept, mut kept_st, mut nk) = ([0usize; MAX_RANK], [0usize; MAX_RANK], 0);
    let (mut red, mut red_st, mut nr) = ([0usize; MAX_RANK], [0usize; MAX_RANK], 0);
    let mut stride = 1;
    for i in (0..xd.len()).rev() {
        if c.axes[i] {
            (red[nr], red_st[nr]) = (xd[i], stride);
            nr += 1;
        } else {
            (kept[nk], kept_st[nk]) = (xd[i], stride);
            nk += 1;
        }
        stride *= xd[i];
    }
    kept[..nk].reverse();
    kept_st[..nk].reverse();
    red[..nr].reverse();
    red_st[..nr].reverse();
    let outputs: usize = kept[..nk].iter().product();
    let count: usize = red[..nr].iter().product();
    let centre = (c.input_zero_point as i64).wrapping_mul(count as i64);
    let mut outer = Odometer::new(&kept[..nk], [kept_st, [0; MAX_RANK]]);
    for j in 0..outputs {
        let base = outer.offsets[0];
        let mut inner = Odometer::new(&red[..nr], [red_st, [0; MAX_RANK]]);
        let mut sum = 0i32;
        for _ in 0..count {
            sum = sum.wrapping_add(x.get(base + inner.offsets[0]));
            inner.step();
        }
        let shifted = (sum as i64).wrapping_sub(centre) as i32;
        let v = multiply_by_quantized_multiplier(shifted, c.requant.multiplier, c.requant.shift)
            .wrapping_add(c.output_zero_point)
            .clamp(c.clamp.min, c.clamp.max);
        o.set(j, v);
        outer.step();
    }
}
