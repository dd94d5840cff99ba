//! The model being written, before serialization: tensors with their constant data,
//! operators with their builtin options, and the operator-code table.

use crate::tflite::schema as fb;
use nnopt_compiler::ir::{QuantParams, TensorType};

/// One tensor of the subgraph.
pub struct TensorDef {
    pub name: String,
    pub ty: TensorType,
    /// Little-endian constant data (activations have none); for a sparse tensor, only the
    /// stored values.
    pub data: Option<Vec<u8>>,
    /// Where a sparse constant's values sit in its dense form.
    pub sparsity: Option<Csr>,
}

/// TFLite's sparse format as the writer uses it: the dimensions before the last are dense,
/// the last is compressed (CSR), in the identity traversal order without blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct Csr {
    /// For each row (index over the leading dimensions) where its values start in
    /// `indices`, and one past the last row the number of values.
    pub segments: Vec<u32>,
    /// The last-dimension coordinate of each stored value.
    pub indices: Vec<u32>,
}

/// Builtin options of an operator.
pub enum Options {
    None,
    Conv2D(fb::Conv2DOptionsArgs),
    DepthwiseConv2D(fb::DepthwiseConv2DOptionsArgs),
    FullyConnected(fb::FullyConnectedOptionsArgs),
    Pool2D(fb::Pool2DOptionsArgs),
    Add(fb::ActivationFunctionType),
    Sub(fb::ActivationFunctionType),
    Mul(fb::ActivationFunctionType),
    Div(fb::ActivationFunctionType),
    Reducer {
        keep_dims: bool,
    },
    Softmax {
        beta: f32,
    },
    Concatenation {
        axis: i32,
        activation: fb::ActivationFunctionType,
    },
    Reshape {
        new_shape: Vec<i32>,
    },
    ResizeBilinear {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    ResizeNearest {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    LeakyRelu {
        alpha: f32,
    },
    Gather {
        axis: i32,
    },
    SplitV {
        num_splits: i32,
    },
    StridedSlice {
        begin_mask: i32,
        end_mask: i32,
    },
    DepthToSpace {
        block_size: i32,
    },
    BatchMatMul {
        adj_x: bool,
        adj_y: bool,
    },
    ArgMax {
        output_type: fb::TensorType,
    },
    ArgMin {
        output_type: fb::TensorType,
    },
    Cumsum {
        exclusive: bool,
        reverse: bool,
    },
    Gelu {
        approximate: bool,
    },
    Empty(EmptyOptions),
}

/// Builtin option tables without fields (written so that readers find the table they expect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyOptions {
    Transpose,
    Pad,
    PadV2,
    Quantize,
    Dequantize,
    Cast,
    Maximum,
    LogSoftmax,
    HardSwish,
    Densify,
    GatherNd,
    SquaredDifference,
    Exp,
}

/// One operator of the subgraph.
pub struct OperatorDef {
    pub code: fb::BuiltinOperator,
    pub version: i32,
    /// Tensor indices; `-1` marks an omitted optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Options,
}

/// A single-subgraph TFLite model.
#[derive(Default)]
pub struct ModelDef {
    pub tensors: Vec<TensorDef>,
    pub operators: Vec<OperatorDef>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
}

impl ModelDef {
    /// Adds a tensor and returns its index.
    pub fn add_tensor(&mut self, name: String, ty: TensorType, data: Option<Vec<u8>>) -> i32 {
        self.tensors.push(TensorDef {
            name,
            ty,
            data,
            sparsity: None,
        });
        (self.tensors.len() - 1) as i32
    }

    /// Adds an operator.
    pub fn add_op(
        &mut self,
        code: fb::BuiltinOperator,
        inputs: Vec<i32>,
        outputs: Vec<i32>,
        options: Options,
    ) {
        let version = version(code, &self.tensors[outputs[0] as usize].ty, &inputs, self);
        self.operators.push(OperatorDef {
            code,
            version,
            inputs,
            outputs,
            options,
        });
    }

    /// The type of tensor `i`.
    pub fn ty(&self, i: i32) -> &TensorType {
        &self.tensors[i as usize].ty
    }

    /// The distinct operator codes with the highest version each needs, in first-use order.
    pub fn opcodes(&self) -> Vec<(fb::BuiltinOperator, i32)> {
        let mut codes: Vec<(fb::BuiltinOperator, i32)> = Vec::new();
        for op in &self.operators {
            match codes.iter_mut().find(|(c, _)| *c == op.code) {
                Some(entry) => entry.1 = entry.1.max(op.version),
                None => codes.push((op.code, op.version)),
            }
        }
        codes
    }
}

/// The operator version TFLite's converter would record (`op_version.cc`), for the cases
/// this writer produces: integer kernels need a higher version than float ones.
fn version(code: fb::BuiltinOperator, out: &TensorType, inputs: &[i32], m: &ModelDef) -> i32 {
    use fb::BuiltinOperator as B;
    let input_int8 = inputs
        .first()
        .filter(|&&i| i >= 0)
        .is_some_and(|&i| m.ty(i).is_quantized());
    let int8 = out.is_quantized() || input_int8;
    if !int8 {
        return 1;
    }
    match code {
        B::CONV_2D | B::DEPTHWISE_CONV_2D => 3,
        B::FULLY_CONNECTED => 4,
        // PRELU has one version for every type (LiteRT registers only version 1); DENSIFY
        // has only version 1.
        B::RESHAPE | B::HARD_SWISH | B::PRELU | B::DENSIFY => 1,
        _ => 2,
    }
}

/// Quantization parameters as TFLite stores them (the axis is the quantized dimension).
pub fn quant_dimension(q: &QuantParams) -> i32 {
    q.axis.unwrap_or(0) as i32
}
