//! Trilu, OneHot, Hardmax and Compress as selects: Trilu keeps `x` under a constant
//! triangle mask (shapes are static), OneHot and Hardmax compare indices with a constant
//! range, Compress gathers the indices its constant condition selects.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use super::{const_input, opt_const_ints};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{ArgKind, BinaryKind, CompareKind, DType, Op, Tensor, ValueRef};
use nnopt_compiler::Result;

/// Trilu: the upper (`upper=1`) or lower triangle of the last two axes from diagonal `k`.
pub(super) fn trilu(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let shape = imp.shape(x);
    let [.., rows, cols] = shape[..] else {
        return Err(cx.err(format!("Trilu needs rank >= 2, got {shape:?}")));
    };
    let k = match opt_const_ints(imp, cx, 1, "k")?.as_deref() {
        None => 0,
        Some([k]) => *k,
        Some(_) => return Err(cx.err("k must be a scalar")),
    };
    let upper = cx.int("upper", 1)? != 0;
    let keep: Vec<bool> = (0..rows * cols)
        .map(|p| {
            let d = (p % cols) as i64 - (p / cols) as i64;
            if upper {
                d >= k
            } else {
                d <= k
            }
        })
        .collect();
    let out = cx.out(0);
    let mask = Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[rows, cols]), keep).expect("count"));
    let mask = imp.add_const(&format!("{out}_mask"), mask, None);
    let zero = Tensor::zeros(imp.ty(x).dtype, &[]);
    let zero = imp.add_const(&format!("{out}_zero"), zero, None);
    imp.emit(Op::Where, &[mask, x, zero], out)
}

/// OneHot: `values[1]` where the (truncated, wrapped) index equals the position along the
/// new axis, else `values[0]`.
pub(super) fn one_hot(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (indices, values) = (cx.input(0)?, cx.input(2)?);
    let depth = const_input(imp, cx, 1, "depth")?.to_f64_vec();
    let depth = match depth.as_slice() {
        [d] if *d >= 1.0 && *d < (1u64 << 28) as f64 => *d as usize,
        _ => return Err(cx.err(format!("depth must be a positive scalar, got {depth:?}"))),
    };
    if imp.shape(values).iter().product::<usize>() != 2 {
        return Err(cx.err("values must hold [off, on]"));
    }
    let ishape = imp.shape(indices);
    let axis = cx.axis(cx.int("axis", -1)?, ishape.len() + 1)?;
    let out = cx.out(0);
    let name = |what: &str| format!("{out}_{what}");
    let mut idx = imp.emit(Op::cast(DType::I64), &[indices], &name("index"))?;
    // Negative indices count from the end.
    let zero = imp.add_const(
        &name("zero"),
        Tensor::I64(ArrayD::from_elem(IxDyn(&[]), 0)),
        None,
    );
    let d = imp.add_const(
        &name("depth"),
        Tensor::I64(ArrayD::from_elem(IxDyn(&[]), depth as i64)),
        None,
    );
    let negative = imp.emit(
        Op::Compare {
            kind: CompareKind::Less,
        },
        &[idx, zero],
        &name("negative"),
    )?;
    let wrapped = imp.emit(
        Op::Binary {
            kind: BinaryKind::Add,
            activation: None,
        },
        &[idx, d],
        &name("wrapped"),
    )?;
    idx = imp.emit(Op::Where, &[negative, wrapped, idx], &name("wrapped_index"))?;
    let mut expanded = ishape.clone();
    expanded.insert(axis, 1);
    idx = imp.reshape(idx, expanded, &name("unsqueezed"))?;
    let mut rshape = vec![1; ishape.len() + 1];
    rshape[axis] = depth;
    let range: Vec<i64> = (0..depth as i64).collect();
    let range = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&rshape), range).expect("count"));
    let range = imp.add_const(&name("range"), range, None);
    let hot = imp.emit(
        Op::Compare {
            kind: CompareKind::Equal,
        },
        &[idx, range],
        &name("hot"),
    )?;
    let flat = imp.reshape(values, vec![2], &name("values"))?;
    let halves = imp.emit_q(
        Op::Split {
            axis: 0,
            sizes: vec![1, 1],
        },
        &[flat],
        &[&name("off"), &name("on")],
        None,
    )?;
    let off = imp.reshape(halves[0], vec![], &name("off_scalar"))?;
    let on = imp.reshape(halves[1], vec![], &name("on_scalar"))?;
    imp.emit(Op::Where, &[hot, on, off], out)
}

/// Hardmax: 1 at the first largest element along `axis`, else 0 (an arg max compared with
/// a constant range). Before opset 13 the input is coerced to 2-D at `axis` first.
pub(super) fn hardmax(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let shape = imp.shape(x);
    let dtype = imp.ty(x).dtype;
    let legacy = imp.opset < 13;
    let axis = cx.axis(cx.int("axis", if legacy { 1 } else { -1 })?, shape.len())?;
    let mut s = Steps::new(imp, format!("{}_hardmax", cx.out(0)));
    let (y, axis) = if legacy {
        let rows = shape[..axis].iter().product();
        (s.reshape(x, vec![rows, shape[axis..].iter().product()])?, 1)
    } else {
        (x, axis)
    };
    let yshape = s.imp.shape(y);
    if yshape[axis] == 0 {
        return Err(cx.err(format!("Hardmax along an empty axis of {shape:?}")));
    }
    let arg = s.emit(
        Op::ArgReduce {
            kind: ArgKind::Max,
            axis,
            keep_dims: true,
            select_last_index: false,
            index_dtype: DType::I64,
        },
        &[y],
    )?;
    let mut rshape = vec![1; yshape.len()];
    rshape[axis] = yshape[axis];
    let range: Vec<f64> = (0..yshape[axis]).map(|i| i as f64).collect();
    let range = s.constant(DType::I64, &rshape, &range)?;
    let hot = s.emit(
        Op::Compare {
            kind: CompareKind::Equal,
        },
        &[arg, range],
    )?;
    let hot = s.cast(hot, dtype)?;
    s.reshape(hot, shape)
}

/// Compress with a constant condition: a gather of the selected indices along `axis`, or
/// of the flattened input when there is no axis.
pub(super) fn compress(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let shape = imp.shape(x);
    let keep: Vec<f64> = const_input(imp, cx, 1, "condition")?
        .to_f64_vec()
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c != 0.0)
        .map(|(i, _)| i as f64)
        .collect();
    let mut s = Steps::new(imp, format!("{}_compress", cx.out(0)));
    let (x, axis) = match cx.has("axis") {
        true => (x, cx.axis(cx.int("axis", 0)?, shape.len())?),
        false => (s.reshape(x, vec![shape.iter().product()])?, 0),
    };
    let len = s.imp.shape(x)[axis];
    if keep.last().is_some_and(|&i| i as usize >= len) {
        return Err(cx.err(format!(
            "the condition selects index {} of an axis of {len}",
            keep[keep.len() - 1]
        )));
    }
    let idx = s.constant(DType::I64, &[keep.len()], &keep)?;
    s.emit(Op::Gather { axis }, &[x, idx])
}
