//! Elementwise functions (`unary`), comparisons and `where`.

use super::NodeArgs;
use crate::onnx::export::builder::Builder;
use crate::onnx::export::proto::{attr, Attr};
use nnopt_compiler::ir::{CompareKind, UnaryFunc};
use nnopt_compiler::{Error, Result};

/// One elementwise function; functions without an opset-17 operator are written as their
/// formulas (Rsqrt, Gelu, Mish, Swish).
pub(crate) fn unary(b: &mut Builder, cx: NodeArgs, func: UnaryFunc) -> Result<String> {
    let (name, x) = (cx.name, cx.x[0].clone());
    let f = |alpha: f32| vec![attr("alpha", Attr::Float(alpha))];
    let (op, attrs) = match func {
        UnaryFunc::Exp => ("Exp", vec![]),
        UnaryFunc::Log => ("Log", vec![]),
        UnaryFunc::Sqrt => ("Sqrt", vec![]),
        UnaryFunc::Reciprocal => ("Reciprocal", vec![]),
        UnaryFunc::Abs => ("Abs", vec![]),
        UnaryFunc::Neg => ("Neg", vec![]),
        UnaryFunc::Floor => ("Floor", vec![]),
        UnaryFunc::Ceil => ("Ceil", vec![]),
        UnaryFunc::Round => ("Round", vec![]),
        UnaryFunc::Sign => ("Sign", vec![]),
        UnaryFunc::Erf => ("Erf", vec![]),
        UnaryFunc::Sin => ("Sin", vec![]),
        UnaryFunc::Cos => ("Cos", vec![]),
        UnaryFunc::Tan => ("Tan", vec![]),
        UnaryFunc::Asin => ("Asin", vec![]),
        UnaryFunc::Acos => ("Acos", vec![]),
        UnaryFunc::Atan => ("Atan", vec![]),
        UnaryFunc::Sinh => ("Sinh", vec![]),
        UnaryFunc::Cosh => ("Cosh", vec![]),
        UnaryFunc::Asinh => ("Asinh", vec![]),
        UnaryFunc::Acosh => ("Acosh", vec![]),
        UnaryFunc::Atanh => ("Atanh", vec![]),
        UnaryFunc::Softplus => ("Softplus", vec![]),
        UnaryFunc::Softsign => ("Softsign", vec![]),
        UnaryFunc::Elu { alpha } => ("Elu", f(alpha)),
        UnaryFunc::Celu { alpha } => ("Celu", f(alpha)),
        UnaryFunc::ThresholdedRelu { alpha } => ("ThresholdedRelu", f(alpha)),
        UnaryFunc::Selu { alpha, gamma } => (
            "Selu",
            vec![
                attr("alpha", Attr::Float(alpha)),
                attr("gamma", Attr::Float(gamma)),
            ],
        ),
        UnaryFunc::Shrink { bias, lambd } => (
            "Shrink",
            vec![
                attr("bias", Attr::Float(bias)),
                attr("lambd", Attr::Float(lambd)),
            ],
        ),
        UnaryFunc::Not => ("Not", vec![]),
        UnaryFunc::IsNan => ("IsNaN", vec![]),
        UnaryFunc::IsInf { positive, negative } => (
            "IsInf",
            vec![
                attr("detect_positive", Attr::Int(positive as i64)),
                attr("detect_negative", Attr::Int(negative as i64)),
            ],
        ),
        UnaryFunc::Rsqrt => {
            let s = b.simple("Sqrt", &format!("{name}_sqrt"), vec![x], vec![], None);
            return Ok(b.simple("Reciprocal", name, vec![s], vec![], None));
        }
        UnaryFunc::Mish => {
            let sp = b.simple(
                "Softplus",
                &format!("{name}_sp"),
                vec![x.clone()],
                vec![],
                None,
            );
            let t = b.simple("Tanh", &format!("{name}_tanh"), vec![sp], vec![], None);
            return Ok(b.simple("Mul", name, vec![x, t], vec![], None));
        }
        UnaryFunc::Swish { alpha } => {
            let a = b.f32_scalar("swish_alpha", alpha);
            let ax = b.simple(
                "Mul",
                &format!("{name}_ax"),
                vec![x.clone(), a],
                vec![],
                None,
            );
            let s = b.simple("Sigmoid", &format!("{name}_sig"), vec![ax], vec![], None);
            return Ok(b.simple("Mul", name, vec![x, s], vec![], None));
        }
        UnaryFunc::Gelu { tanh: true } => {
            return Err(Error::new(format!(
                "node '{name}': tanh-approximated GELU has no opset-17 ONNX operator"
            )))
        }
        UnaryFunc::Gelu { tanh: false } => {
            let k = b.f32_scalar("gelu_inv_sqrt2", std::f32::consts::FRAC_1_SQRT_2);
            let half = b.f32_scalar("gelu_half", 0.5);
            let one = b.f32_scalar("gelu_one", 1.0);
            let s = b.simple(
                "Mul",
                &format!("{name}_s"),
                vec![x.clone(), k],
                vec![],
                None,
            );
            let e = b.simple("Erf", &format!("{name}_erf"), vec![s], vec![], None);
            let p = b.simple("Add", &format!("{name}_p"), vec![e, one], vec![], None);
            let h = b.simple("Mul", &format!("{name}_h"), vec![x, half], vec![], None);
            return Ok(b.simple("Mul", name, vec![h, p], vec![], None));
        }
    };
    Ok(b.simple(op, name, vec![x], attrs, None))
}

/// Equal, Less, LessOrEqual, Greater and GreaterOrEqual.
pub(crate) fn compare(b: &mut Builder, cx: NodeArgs, kind: CompareKind) -> String {
    let op = match kind {
        CompareKind::Equal => "Equal",
        CompareKind::Less => "Less",
        CompareKind::LessOrEqual => "LessOrEqual",
        CompareKind::Greater => "Greater",
        CompareKind::GreaterOrEqual => "GreaterOrEqual",
    };
    b.simple(op, cx.name, cx.x, vec![], None)
}
