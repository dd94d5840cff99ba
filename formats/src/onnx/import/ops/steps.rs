//! The IR ops of an ONNX operator imported as a composition, each named after the
//! operator's output and a step number.

use super::super::Importer;
use nnopt_compiler::ir::{BinaryKind, DType, Op, Tensor, UnaryFunc, ValueRef};
use nnopt_compiler::{Error, Result};

/// Emits numbered steps named `<base><n>`.
pub(super) struct Steps<'a> {
    pub imp: &'a mut Importer,
    base: String,
    count: usize,
}

impl<'a> Steps<'a> {
    /// Steps named after `base`.
    pub fn new(imp: &'a mut Importer, base: String) -> Self {
        Steps {
            imp,
            base,
            count: 0,
        }
    }

    /// The next step's name.
    pub fn name(&mut self) -> String {
        self.count += 1;
        format!("{}{}", self.base, self.count)
    }

    pub fn emit(&mut self, op: Op, ins: &[ValueRef]) -> Result<ValueRef> {
        let name = self.name();
        self.imp.emit(op, ins, &name)
    }

    pub fn binary(&mut self, kind: BinaryKind, a: ValueRef, b: ValueRef) -> Result<ValueRef> {
        let op = Op::Binary {
            kind,
            activation: None,
        };
        self.emit(op, &[a, b])
    }

    pub fn unary(&mut self, func: UnaryFunc, x: ValueRef) -> Result<ValueRef> {
        self.emit(Op::Unary { func }, &[x])
    }

    /// A constant of `dtype` and `shape`.
    pub fn constant(&mut self, dtype: DType, shape: &[usize], values: &[f64]) -> Result<ValueRef> {
        let t = Tensor::from_f64s(dtype, shape, values)
            .ok_or_else(|| Error::new(format!("no {dtype} constants of shape {shape:?}")))?;
        let name = self.name();
        Ok(self.imp.add_const(&name, t, None))
    }

    /// A constant of `dtype` and `shape` whose element `i` (row-major) is `value(i)`,
    /// refused before anything is allocated when it is too large; `what` names it.
    pub fn constant_fn(
        &mut self,
        dtype: DType,
        shape: &[usize],
        what: &str,
        value: impl Fn(usize) -> f64,
    ) -> Result<ValueRef> {
        let n = nnopt_compiler::limits::shape_elements(shape, 8, what)?;
        let values: Vec<f64> = (0..n).map(value).collect();
        self.constant(dtype, shape, &values)
    }

    pub fn reshape(&mut self, x: ValueRef, shape: Vec<usize>) -> Result<ValueRef> {
        let name = self.name();
        self.imp.reshape(x, shape, &name)
    }

    /// `x[start..end:step]` along `axis`, the other axes whole.
    pub fn slice(
        &mut self,
        x: ValueRef,
        axis: usize,
        start: usize,
        end: usize,
        step: usize,
    ) -> Result<ValueRef> {
        let rank = self.imp.shape(x).len();
        let (mut starts, mut ends, mut steps) =
            (vec![0; rank], vec![i64::MAX; rank], vec![1; rank]);
        (starts[axis], ends[axis], steps[axis]) = (start as i64, end as i64, step as i64);
        self.emit(
            Op::Slice {
                starts,
                ends,
                steps,
            },
            &[x],
        )
    }

    /// `x` as `to` (unchanged when it already is).
    pub fn cast(&mut self, x: ValueRef, to: DType) -> Result<ValueRef> {
        if self.imp.ty(x).dtype == to {
            return Ok(x);
        }
        self.emit(Op::cast(to), &[x])
    }
}
