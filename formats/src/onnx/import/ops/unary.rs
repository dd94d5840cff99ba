//! Elementwise functions of one operand: Exp, Log, Sqrt, trigonometry, Erf, Gelu, the
//! ELU family, Softplus, Mish, Not, IsNaN, IsInf...

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{Op, UnaryFunc, ValueRef};
use nnopt_compiler::Result;

/// The op types read here.
pub(super) const OPS: &[&str] = &[
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Abs",
    "Neg",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Erf",
    "Sin",
    "Cos",
    "Tan",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Asinh",
    "Acosh",
    "Atanh",
    "Softplus",
    "Softsign",
    "Mish",
    "Elu",
    "Selu",
    "Celu",
    "ThresholdedRelu",
    "Gelu",
    "Swish",
    "Shrink",
    "Not",
    "BitwiseNot",
    "IsNaN",
    "IsInf",
];

/// One elementwise function, with ONNX's attribute defaults.
pub(super) fn unary(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let func = match cx.op_type() {
        "Exp" => UnaryFunc::Exp,
        "Log" => UnaryFunc::Log,
        "Sqrt" => UnaryFunc::Sqrt,
        "Reciprocal" => UnaryFunc::Reciprocal,
        "Abs" => UnaryFunc::Abs,
        "Neg" => UnaryFunc::Neg,
        "Floor" => UnaryFunc::Floor,
        "Ceil" => UnaryFunc::Ceil,
        "Round" => UnaryFunc::Round,
        "Sign" => UnaryFunc::Sign,
        "Erf" => UnaryFunc::Erf,
        "Sin" => UnaryFunc::Sin,
        "Cos" => UnaryFunc::Cos,
        "Tan" => UnaryFunc::Tan,
        "Asin" => UnaryFunc::Asin,
        "Acos" => UnaryFunc::Acos,
        "Atan" => UnaryFunc::Atan,
        "Sinh" => UnaryFunc::Sinh,
        "Cosh" => UnaryFunc::Cosh,
        "Asinh" => UnaryFunc::Asinh,
        "Acosh" => UnaryFunc::Acosh,
        "Atanh" => UnaryFunc::Atanh,
        "Softplus" => UnaryFunc::Softplus,
        "Softsign" => UnaryFunc::Softsign,
        "Mish" => UnaryFunc::Mish,
        "Elu" => UnaryFunc::Elu {
            alpha: cx.float("alpha", 1.0)?,
        },
        "Selu" => UnaryFunc::Selu {
            alpha: cx.float("alpha", 1.673_263_2)?,
            gamma: cx.float("gamma", 1.050_701)?,
        },
        "Celu" => UnaryFunc::Celu {
            alpha: cx.float("alpha", 1.0)?,
        },
        "ThresholdedRelu" => UnaryFunc::ThresholdedRelu {
            alpha: cx.float("alpha", 1.0)?,
        },
        "Gelu" => UnaryFunc::Gelu {
            tanh: match cx.string("approximate", "none")?.as_str() {
                "none" => false,
                "tanh" => true,
                other => return Err(cx.err(format!("approximate='{other}' is not supported"))),
            },
        },
        "Swish" => UnaryFunc::Swish {
            alpha: cx.float("alpha", 1.0)?,
        },
        "Shrink" => UnaryFunc::Shrink {
            bias: cx.float("bias", 0.0)?,
            lambd: cx.float("lambd", 0.5)?,
        },
        "Not" | "BitwiseNot" => UnaryFunc::Not,
        "IsNaN" => UnaryFunc::IsNan,
        _ => UnaryFunc::IsInf {
            positive: cx.int("detect_positive", 1)? != 0,
            negative: cx.int("detect_negative", 1)? != 0,
        },
    };
    imp.emit(Op::Unary { func }, &[cx.input(0)?], cx.out(0))
}
