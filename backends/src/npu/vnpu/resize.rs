//! Resize of NHWC integer data with TFLite's kernels (the interpreter's
//! [`resize_nhwc`], shared so that both follow TFLite's index and rounding rules).

use crate::npu::program::Resize;
use nnopt_compiler::interp::{resize_nhwc, TfliteResize};
use nnopt_compiler::{Error, Result};

/// Resizes `x` (NHWC shape `xs`) to the NHWC shape `os`.
pub fn resize(c: &Resize, x: &[i32], xs: &[usize], os: &[usize]) -> Result<Vec<i32>> {
    let fits = matches!((xs, os), ([n, h, w, ch], [on, oh, ow, oc])
        if n == on && ch == oc && [*h, *w, *oh, *ow].iter().all(|&d| d > 0));
    if !fits || x.len() != xs.iter().product::<usize>() {
        return Err(Error::at_node(
            &c.name,
            format!("cannot resize {xs:?} to {os:?} on the spatial axes of NHWC data"),
        ));
    }
    let kernel = TfliteResize {
        bilinear: c.bilinear,
        align_corners: c.align_corners,
        half_pixel_centers: c.half_pixel_centers,
    };
    Ok(resize_nhwc(
        kernel,
        x,
        [xs[0], xs[1], xs[2], xs[3]],
        [os[1], os[2]],
    ))
}
