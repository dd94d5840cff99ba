//! Conv, ConvTranspose, MaxPool and AveragePool; channels-last (NHWC) IR ops are wrapped
//! in transposes.

use super::NodeArgs;
use crate::onnx::export::builder::{ints, Builder};
use crate::onnx::export::proto::{attr, Attr};
use nnopt_compiler::ir::{ConvAttrs, Layout, Op, PoolAttrs, PoolKind};
use nnopt_compiler::{Error, Result};

fn conv_attrs(c: &ConvAttrs, kernel: [usize; 2]) -> Vec<tract_onnx::pb::AttributeProto> {
    vec![
        attr("kernel_shape", ints(kernel)),
        attr("strides", ints(c.strides)),
        attr("dilations", ints(c.dilations)),
        attr("pads", ints(c.pads)),
        attr("group", Attr::Int(c.group as i64)),
    ]
}

/// Conv and ConvTranspose (OHWI weights of NHWC convs are transposed to ONNX's layout).
pub(crate) fn conv(b: &mut Builder, c: &ConvAttrs, cx: NodeArgs) -> Result<String> {
    let NodeArgs { node, name, ins, x } = cx;
    let transposed = matches!(node.op, Op::ConvTranspose { .. });
    let w_shape = b.g.ty(ins[1]).shape.clone();
    let (kernel, perm) = match c.layout {
        Layout::Nchw => ([w_shape[2], w_shape[3]], None),
        // OHWI -> OIHW for conv; OHWI -> IOHW for the transposed conv.
        Layout::Nhwc if transposed => ([w_shape[1], w_shape[2]], Some([3, 0, 1, 2])),
        Layout::Nhwc => ([w_shape[1], w_shape[2]], Some([0, 3, 1, 2])),
    };
    let mut args = vec![match c.layout {
        Layout::Nchw => x[0].clone(),
        Layout::Nhwc => b.transpose(x[0].clone(), [0, 3, 1, 2]),
    }];
    args.push(b.weight(ins[1], perm)?);
    if let Some(bias) = x.get(2) {
        args.push(bias.clone());
    }
    let mut attrs = conv_attrs(c, kernel);
    let op = if let Op::ConvTranspose { output_padding, .. } = &node.op {
        attrs.push(attr("output_padding", ints(*output_padding)));
        "ConvTranspose"
    } else {
        "Conv"
    };
    let y = b.simple(op, name, args, attrs, c.activation);
    Ok(match c.layout {
        Layout::Nchw => y,
        Layout::Nhwc => b.transpose(y, [0, 2, 3, 1]),
    })
}

/// MaxPool and AveragePool.
pub(crate) fn pool(b: &mut Builder, cx: NodeArgs) -> Result<String> {
    let NodeArgs { node, name, x, .. } = cx;
    let Op::Pool { pool, activation } = &node.op else {
        unreachable!("dispatched on Pool")
    };
    let PoolAttrs {
        kind,
        layout,
        kernel,
        strides,
        dilations,
        pads,
        ceil_mode,
        count_include_pad,
    } = pool;
    if *layout == Layout::Nhwc && kernel.len() != 2 {
        return Err(Error::new(format!(
            "node '{name}': channels-last pooling must be 2-D to export"
        )));
    }
    let dilated = pool.is_dilated();
    if dilated && *kind == PoolKind::Avg && b.opset < 19 {
        return Err(Error::new(format!(
            "node '{name}': dilated AveragePool needs ONNX opset 19; the exporter writes opset {}",
            b.opset
        )));
    }
    let input = match layout {
        Layout::Nchw => x[0].clone(),
        Layout::Nhwc => b.transpose(x[0].clone(), [0, 3, 1, 2]),
    };
    let mut attrs = vec![
        attr("kernel_shape", ints(kernel.clone())),
        attr("strides", ints(strides.clone())),
        attr("pads", ints(pads.clone())),
    ];
    if dilated {
        attrs.push(attr("dilations", ints(dilations.clone())));
    }
    if *ceil_mode {
        attrs.push(attr("ceil_mode", Attr::Int(1)));
    }
    let op = match kind {
        PoolKind::Max => "MaxPool",
        PoolKind::Avg => {
            attrs.push(attr(
                "count_include_pad",
                Attr::Int(*count_include_pad as i64),
            ));
            "AveragePool"
        }
    };
    let y = b.simple(op, name, vec![input], attrs, *activation);
    Ok(match layout {
        Layout::Nchw => y,
        Layout::Nhwc => b.transpose(y, [0, 2, 3, 1]),
    })
}
