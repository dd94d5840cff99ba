//! [`Net`]: builds a float NHWC graph layer by layer, with shapes inferred and random
//! He-uniform weights, for the search spaces.

use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{
    Activation, BinaryKind, ConvAttrs, CoordTransform, DType, GemmAttrs, Graph, Layout,
    NearestRounding, Op, PadMode, PoolAttrs, PoolKind, ReduceKind, ResizeFilter, ResizeMode,
    Tensor, TensorType, ValueRef,
};
use nnopt_compiler::{Error, Result};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A network under construction.
pub struct Net {
    g: Graph,
    rng: Xoshiro256PlusPlus,
    layers: usize,
    output: Option<ValueRef>,
}

impl Net {
    /// An empty network named `name` whose weights come from `seed`.
    pub fn new(name: &str, seed: u64) -> Self {
        Net {
            g: Graph::new(name),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            layers: 0,
            output: None,
        }
    }

    /// The graph input, f32 NHWC (or any shape for MLPs).
    pub fn input(&mut self, shape: &[usize]) -> ValueRef {
        self.g
            .add_input("input", TensorType::new(DType::F32, shape.to_vec()))
    }

    /// The shape of `v`.
    pub fn shape(&self, v: ValueRef) -> Vec<usize> {
        self.g.ty(v).shape.clone()
    }

    /// Channels (last axis) of `v`.
    pub fn channels(&self, v: ValueRef) -> usize {
        *self.shape(v).last().unwrap_or(&1)
    }

    /// A convolution with `SAME` padding, bias and a fused activation; `group` 1 for a
    /// full convolution, the input channels for a depthwise one.
    pub fn conv(
        &mut self,
        x: ValueRef,
        out: usize,
        kernel: usize,
        stride: usize,
        group: usize,
        activation: Option<Activation>,
    ) -> Result<ValueRef> {
        self.conv2d(
            x,
            out,
            [kernel, kernel],
            [stride, stride],
            group,
            activation,
        )
    }

    /// [`Net::conv`] with a kernel and strides per axis (height, width).
    pub fn conv2d(
        &mut self,
        x: ValueRef,
        out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        group: usize,
        activation: Option<Activation>,
    ) -> Result<ValueRef> {
        let s = self.shape(x);
        let cin = s[3];
        let (pt, pb) = same_padding(s[1], kernel[0], stride[0]);
        let (pl, pr) = same_padding(s[2], kernel[1], stride[1]);
        let fan_in = kernel[0] * kernel[1] * cin / group;
        let w = self.weights(&[out, kernel[0], kernel[1], cin / group], fan_in);
        let b = self.bias(out);
        let (fused, standalone) = split_activation(activation);
        let attrs = ConvAttrs {
            layout: Layout::Nhwc,
            strides: stride,
            dilations: [1, 1],
            pads: [pt, pl, pb, pr],
            group,
            activation: fused,
        };
        let y = self.op("conv", Op::Conv(attrs), &[x, w, b])?;
        self.then(y, standalone)
    }

    /// A depthwise convolution (one filter per channel).
    pub fn depthwise(
        &mut self,
        x: ValueRef,
        kernel: usize,
        stride: usize,
        activation: Option<Activation>,
    ) -> Result<ValueRef> {
        let c = self.channels(x);
        self.conv(x, c, kernel, stride, c, activation)
    }

    /// A fully connected layer on `[1, N]` data.
    pub fn dense(
        &mut self,
        x: ValueRef,
        out: usize,
        activation: Option<Activation>,
    ) -> Result<ValueRef> {
        let n = self.channels(x);
        let w = self.weights(&[out, n], n);
        let b = self.bias(out);
        let (fused, standalone) = split_activation(activation);
        let op = Op::Gemm(GemmAttrs::fully_connected(true, fused));
        let y = self.op("dense", op, &[x, w, b])?;
        self.then(y, standalone)
    }

    /// `y`, then `activation` as its own op when there is one.
    fn then(&mut self, y: ValueRef, activation: Option<Activation>) -> Result<ValueRef> {
        match activation {
            Some(act) => self.activation(y, act),
            None => Ok(y),
        }
    }

    /// `a + b` (broadcasting), with an optional fused activation.
    pub fn add(
        &mut self,
        a: ValueRef,
        b: ValueRef,
        activation: Option<Activation>,
    ) -> Result<ValueRef> {
        let op = Op::Binary {
            kind: BinaryKind::Add,
            activation,
        };
        self.op("add", op, &[a, b])
    }

    /// `a * b` (broadcasting).
    pub fn mul(&mut self, a: ValueRef, b: ValueRef) -> Result<ValueRef> {
        let op = Op::Binary {
            kind: BinaryKind::Mul,
            activation: None,
        };
        self.op("mul", op, &[a, b])
    }

    /// PReLU with a random slope per channel.
    pub fn prelu(&mut self, x: ValueRef) -> Result<ValueRef> {
        let c = self.channels(x);
        let slope: Vec<f32> = (0..c).map(|_| self.rng.random_range(0.05..0.3)).collect();
        let shape: &[usize] = if self.shape(x).len() == 4 {
            &[1, 1, c]
        } else {
            &[c]
        };
        let slope = self.constant("alpha", shape, slope);
        self.op("prelu", Op::PRelu, &[x, slope])
    }

    /// `x` with `extra` zero channels appended (BlazeBlock shortcuts widen this way).
    pub fn pad_channels(&mut self, x: ValueRef, extra: usize) -> Result<ValueRef> {
        let op = Op::Pad {
            pads: vec![(0, 0), (0, 0), (0, 0), (0, extra)],
            mode: PadMode::Constant,
            value: 0.0,
        };
        self.op("pad", op, &[x])
    }

    /// The inputs joined along `axis`.
    pub fn concat(&mut self, xs: &[ValueRef], axis: usize) -> Result<ValueRef> {
        self.op("concat", Op::Concat { axis }, xs)
    }

    /// Nearest-neighbour upsampling by 2 on both spatial axes (TFLite's
    /// RESIZE_NEAREST_NEIGHBOR).
    pub fn upsample2(&mut self, x: ValueRef) -> Result<ValueRef> {
        let s = self.shape(x);
        let op = Op::Resize {
            mode: ResizeMode::Nearest,
            coord: CoordTransform::Asymmetric,
            nearest: NearestRounding::Floor,
            sizes: vec![s[0], s[1] * 2, s[2] * 2, s[3]],
            scales: None,
            filter: ResizeFilter::default(),
        };
        self.op("resize", op, &[x])
    }

    /// `x` reshaped to `shape`.
    pub fn reshape(&mut self, x: ValueRef, shape: &[usize]) -> Result<ValueRef> {
        let op = Op::Reshape {
            shape: shape.to_vec(),
        };
        self.op("reshape", op, &[x])
    }

    /// The network's output (for networks that end without a softmax).
    pub fn output(&mut self, x: ValueRef) {
        self.output = Some(x);
    }

    /// A standalone activation.
    pub fn activation(&mut self, x: ValueRef, act: Activation) -> Result<ValueRef> {
        self.op("act", Op::Activation { act }, &[x])
    }

    /// Max or average pooling with `SAME` padding.
    pub fn pool(
        &mut self,
        x: ValueRef,
        kind: PoolKind,
        kernel: usize,
        stride: usize,
    ) -> Result<ValueRef> {
        let s = self.shape(x);
        let (pt, pb) = same_padding(s[1], kernel, stride);
        let (pl, pr) = same_padding(s[2], kernel, stride);
        let pool = PoolAttrs {
            kind,
            layout: Layout::Nhwc,
            kernel: vec![kernel, kernel],
            strides: vec![stride, stride],
            dilations: vec![],
            pads: vec![pt, pl, pb, pr],
            ceil_mode: false,
            count_include_pad: false,
        };
        self.op(
            "pool",
            Op::Pool {
                pool,
                activation: None,
            },
            &[x],
        )
    }

    /// The mean over the spatial axes, keeping them (`[1, 1, 1, C]`).
    pub fn global_mean(&mut self, x: ValueRef) -> Result<ValueRef> {
        let op = Op::Reduce {
            kind: ReduceKind::Mean,
            axes: vec![1, 2],
            keep_dims: true,
        };
        self.op("mean", op, &[x])
    }

    /// `x` as `[1, N]`.
    pub fn flatten(&mut self, x: ValueRef) -> Result<ValueRef> {
        let n: usize = self.shape(x).iter().product();
        self.op("flatten", Op::Reshape { shape: vec![1, n] }, &[x])
    }

    /// Softmax over the last axis: the network's output.
    pub fn softmax_output(&mut self, x: ValueRef) -> Result<()> {
        let axis = self.shape(x).len() - 1;
        let y = self.op("softmax", Op::Softmax { axis, beta: 1.0 }, &[x])?;
        self.output = Some(y);
        Ok(())
    }

    /// The finished graph.
    pub fn finish(mut self) -> Result<Graph> {
        let out = self
            .output
            .ok_or_else(|| Error::new("the network has no output"))?;
        self.g.set_outputs(vec![out]);
        Ok(self.g)
    }

    /// A single-output node named `KIND_N`, its output type inferred.
    fn op(&mut self, kind: &str, op: Op, inputs: &[ValueRef]) -> Result<ValueRef> {
        let types: Vec<TensorType> = inputs.iter().map(|&v| self.g.ty(v).clone()).collect();
        let refs: Vec<&TensorType> = types.iter().collect();
        let ty = infer_types(&op, &refs)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::new(format!("{kind} has no output")))?;
        self.layers += 1;
        let name = format!("{kind}_{}", self.layers);
        Ok(self.g.add_op(name, op, inputs, ty))
    }

    /// He-uniform weights of `shape` for a layer with `fan_in` inputs.
    fn weights(&mut self, shape: &[usize], fan_in: usize) -> ValueRef {
        let bound = (6.0 / fan_in.max(1) as f32).sqrt();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| self.rng.random_range(-bound..bound))
            .collect();
        self.constant("w", shape, values)
    }

    /// A small random bias.
    fn bias(&mut self, n: usize) -> ValueRef {
        let values: Vec<f32> = (0..n).map(|_| self.rng.random_range(-0.1..0.1)).collect();
        self.constant("b", &[n], values)
    }

    fn constant(&mut self, kind: &str, shape: &[usize], values: Vec<f32>) -> ValueRef {
        self.layers += 1;
        let t = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), values)
            .expect("the values fill the shape");
        self.g
            .add_const(format!("{kind}_{}", self.layers), Tensor::F32(t), None)
    }
}

/// The activation to fuse into a convolution or dense layer (clamps, as TFLite fuses
/// them) and the one to apply as its own op (hard swish, sigmoid: standalone ops in
/// TFLite).
fn split_activation(a: Option<Activation>) -> (Option<Activation>, Option<Activation>) {
    match a {
        Some(act) if act.clamp_range().is_none() => (None, Some(act)),
        fused => (fused, None),
    }
}

/// TensorFlow's `SAME` padding (before, after) of one axis.
fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}
