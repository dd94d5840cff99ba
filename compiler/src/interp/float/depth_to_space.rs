//! DepthToSpace in DCR or CRD order, NCHW or NHWC (any dtype).

use super::util::{any_variant, arity, input};
use crate::interp::Operand;
use crate::ir::{DepthToSpaceMode, Layout, Tensor};
use crate::{bail, Result};
use ndarray::IxDyn;

/// Moves `block x block` channel groups into spatial blocks. DCR reads the channel index
/// as (row, column, depth), CRD as (depth, row, column).
pub(super) fn depth_to_space(
    block: usize,
    layout: Layout,
    mode: DepthToSpaceMode,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    let &[n, d1, d2, d3] = x.shape() else {
        bail!(
            "depth_to_space input must have rank 4, got shape {:?}",
            x.shape()
        );
    };
    let (c, h, w) = match layout {
        Layout::Nchw => (d1, d2, d3),
        Layout::Nhwc => (d3, d1, d2),
    };
    let b = block;
    if b == 0 || !c.is_multiple_of(b * b) {
        bail!("depth_to_space: {c} channels are not divisible by block {b} squared");
    }
    let co = c / (b * b);
    // Split the channel axis, then interleave the block axes with the spatial ones.
    let (split, perm, out): (Vec<usize>, [usize; 6], Vec<usize>) = match (layout, mode) {
        (Layout::Nchw, DepthToSpaceMode::Dcr) => (
            vec![n, b, b, co, h, w],
            [0, 3, 4, 1, 5, 2],
            vec![n, co, h * b, w * b],
        ),
        (Layout::Nchw, DepthToSpaceMode::Crd) => (
            vec![n, co, b, b, h, w],
            [0, 1, 4, 2, 5, 3],
            vec![n, co, h * b, w * b],
        ),
        (Layout::Nhwc, DepthToSpaceMode::Dcr) => (
            vec![n, h, w, b, b, co],
            [0, 1, 3, 2, 4, 5],
            vec![n, h * b, w * b, co],
        ),
        (Layout::Nhwc, DepthToSpaceMode::Crd) => (
            vec![n, h, w, co, b, b],
            [0, 1, 4, 2, 5, 3],
            vec![n, h * b, w * b, co],
        ),
    };
    Ok(any_variant!(x, V(a) => {
        let split = a.view().into_shape_with_order(IxDyn(&split)).expect("element count kept");
        let moved = split.permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned();
        V(moved.into_shape_with_order(IxDyn(&out)).expect("element count kept"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::op;
    use ndarray::ArrayD;

    fn nchw_input() -> Tensor {
        // 1x8x1x2, value = channel * 10 + column.
        let v: Vec<i32> = (0..8)
            .flat_map(|c| (0..2).map(move |x| c * 10 + x))
            .collect();
        Tensor::I32(ArrayD::from_shape_vec(vec![1, 8, 1, 2], v).unwrap())
    }

    #[test]
    fn dcr_and_crd_nchw() {
        let x = nchw_input();
        // DCR, block 2: out[c, 2y + i, 2x + j] = in[(i * 2 + j) * 2 + c, y, x].
        let out = depth_to_space(2, Layout::Nchw, DepthToSpaceMode::Dcr, &[op(&x)]).unwrap();
        assert_eq!(out.shape(), &[1, 2, 2, 4]);
        let want = [
            0., 20., 1., 21., 40., 60., 41., 61., 10., 30., 11., 31., 50., 70., 51., 71.,
        ];
        assert_eq!(out.to_f64_vec(), want);
        // CRD: out[c, 2y + i, 2x + j] = in[c * 4 + i * 2 + j, y, x].
        let out = depth_to_space(2, Layout::Nchw, DepthToSpaceMode::Crd, &[op(&x)]).unwrap();
        let want = [
            0., 10., 1., 11., 20., 30., 21., 31., 40., 50., 41., 51., 60., 70., 61., 71.,
        ];
        assert_eq!(out.to_f64_vec(), want);
    }

    #[test]
    fn nhwc_matches_nchw_through_transposes() {
        let Tensor::I32(x) = nchw_input() else {
            panic!()
        };
        let nhwc = Tensor::I32(
            x.clone()
                .permuted_axes(vec![0, 2, 3, 1])
                .as_standard_layout()
                .into_owned(),
        );
        for mode in [DepthToSpaceMode::Dcr, DepthToSpaceMode::Crd] {
            let a = depth_to_space(2, Layout::Nchw, mode, &[op(&Tensor::I32(x.clone()))]).unwrap();
            let Tensor::I32(b) = depth_to_space(2, Layout::Nhwc, mode, &[op(&nhwc)]).unwrap()
            else {
                panic!()
            };
            let b = b
                .permuted_axes(vec![0, 3, 1, 2])
                .as_standard_layout()
                .into_owned();
            assert_eq!(a, Tensor::I32(b));
        }
        assert!(depth_to_space(3, Layout::Nchw, DepthToSpaceMode::Dcr, &[op(&nhwc)]).is_err());
    }
}
