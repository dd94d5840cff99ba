//! Comparisons, logical and bitwise ops, BitShift and Where.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{BinaryKind, CompareKind, Op, ValueRef};
use nnopt_compiler::Result;

/// Equal, Less, LessOrEqual, Greater, GreaterOrEqual.
pub(super) fn compare(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let kind = match cx.op_type() {
        "Equal" => CompareKind::Equal,
        "Less" => CompareKind::Less,
        "LessOrEqual" => CompareKind::LessOrEqual,
        "Greater" => CompareKind::Greater,
        _ => CompareKind::GreaterOrEqual,
    };
    imp.emit(
        Op::Compare { kind },
        &[cx.input(0)?, cx.input(1)?],
        cx.out(0),
    )
}

/// And, Or, Xor (booleans), BitwiseAnd/Or/Xor (integers) and BitShift.
pub(super) fn bitwise(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let kind = match cx.op_type() {
        "And" | "BitwiseAnd" => BinaryKind::BitAnd,
        "Or" | "BitwiseOr" => BinaryKind::BitOr,
        "Xor" | "BitwiseXor" => BinaryKind::BitXor,
        _ => match cx.string("direction", "")?.as_str() {
            "LEFT" => BinaryKind::ShiftLeft,
            "RIGHT" => BinaryKind::ShiftRight,
            other => return Err(cx.err(format!("direction must be LEFT or RIGHT, got '{other}'"))),
        },
    };
    imp.emit(
        Op::Binary {
            kind,
            activation: None,
        },
        &[cx.input(0)?, cx.input(1)?],
        cx.out(0),
    )
}

/// Where.
pub(super) fn select(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins = [cx.input(0)?, cx.input(1)?, cx.input(2)?];
    imp.emit(Op::Where, &ins, cx.out(0))
}
