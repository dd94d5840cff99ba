//! The fixed-weight front-end as hardware sees it: an optional input quantization, then a
//! chain of int8 convolutions (full, depthwise or pointwise, any stride and padding, fused
//! ReLU-type clamps), each with its constants in the interpreter's exact fixed-point form.

use nnopt_compiler::interp::{activation_range, channel_multipliers};
use nnopt_compiler::ir::{ConvAttrs, DType, Graph, Layout, Op, Tensor, TensorType, ValueRef};
use nnopt_compiler::{bail, Error, Result};

/// One hard-wired convolution. Activations stream as NHWC pixels; weights are OHWI with
/// the weight zero point already subtracted.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedLayer {
    /// The IR node's name.
    pub name: String,
    /// Input height, width, channels.
    pub input: [usize; 3],
    /// Output height, width, channels.
    pub output: [usize; 3],
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub groups: usize,
    /// `[cout][kh][kw][cin / groups]`, centered.
    pub weights: Vec<i32>,
    pub bias: Vec<i32>,
    pub input_zero_point: i32,
    /// Per output channel: TFLite's Q31 multiplier and shift.
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    pub output_zero_point: i32,
    /// Inclusive clamp of the output codes (the fused activation within int8).
    pub range: (i32, i32),
}

impl FixedLayer {
    /// Input channels each output channel reads.
    pub fn channels_per_group(&self) -> usize {
        self.input[2] / self.groups
    }

    /// The weight of output channel `oc` at tap (`ky`, `kx`, group-local channel `ic`).
    pub fn weight(&self, oc: usize, ky: usize, kx: usize, ic: usize) -> i32 {
        let cpg = self.channels_per_group();
        self.weights[((oc * self.kernel[0] + ky) * self.kernel[1] + kx) * cpg + ic]
    }

    /// Height and width of the zero-point-padded input.
    pub fn padded(&self) -> [usize; 2] {
        [
            self.input[0] + self.pads[0] + self.pads[2],
            self.input[1] + self.pads[1] + self.pads[3],
        ]
    }

    /// Non-zero weights, the constant multipliers built in hardware.
    pub fn nonzero_weights(&self) -> usize {
        self.weights.iter().filter(|&&w| w != 0).count()
    }

    /// Multiply-accumulates per output pixel a programmable engine would run (every
    /// weight, zero or not).
    pub fn macs(&self) -> usize {
        self.output[0] * self.output[1] * self.weights.len()
    }
}

/// How the front-end model's input becomes the int8 pixel stream.
#[derive(Clone, Debug, PartialEq)]
pub struct InputStage {
    /// The graph input's type (f32 when a quantize node follows it, else int8).
    pub ty: TensorType,
    /// The quantize op, if the model takes real values.
    pub quantize: Option<(Op, TensorType)>,
    /// Layout of the model's input and output activations.
    pub layout: Layout,
}

/// A whole fixed-weight front-end.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedFrontend {
    pub name: String,
    pub input: InputStage,
    pub layers: Vec<FixedLayer>,
    /// The model output's type (int8, quantized per tensor).
    pub output: TensorType,
}

impl FixedFrontend {
    /// Reads a quantized front-end graph: one input, an optional quantize to int8, then a
    /// chain of int8 convolutions ending at the single graph output.
    pub fn from_graph(g: &Graph) -> Result<Self> {
        let [input] = g.inputs() else {
            bail!(
                "a fixed-weight front-end has one input, this graph has {}",
                g.inputs().len()
            );
        };
        let [output] = g.outputs() else {
            bail!(
                "a fixed-weight front-end has one output, this graph has {}",
                g.outputs().len()
            );
        };
        let order = g
            .topo_order()
            .map_err(|n| Error::at_node(&g.node(n).name, "the graph has a cycle"))?;
        let mut current = ValueRef::first(*input);
        let in_ty = g.ty(current).clone();
        let mut quantize = None;
        let mut layers = Vec::new();
        let mut layout = None;
        for n in order {
            let node = g.node(n);
            if n == *input || matches!(node.op, Op::Const { .. }) {
                continue;
            }
            let inputs = g.node_inputs(n);
            if inputs.first() != Some(&current) {
                return Err(Error::at_node(
                    &node.name,
                    "the front-end must be a chain: this node does not read the previous layer's output",
                ));
            }
            if node.outputs.len() != 1 {
                return Err(Error::at_node(&node.name, "expected one output"));
            }
            let out_ty = &node.outputs[0].ty;
            match &node.op {
                Op::Quantize { to: DType::I8, .. } if layers.is_empty() && quantize.is_none() => {
                    quantize = Some((node.op.clone(), out_ty.clone()));
                }
                Op::Conv(c) => {
                    let layer = conv_layer(g, &node.name, c, &inputs, out_ty)
                        .map_err(|e| e.in_node(&node.name))?;
                    if *layout.get_or_insert(c.layout) != c.layout {
                        return Err(Error::at_node(
                            &node.name,
                            "every convolution of the front-end must use one layout",
                        ));
                    }
                    layers.push(layer);
                }
                other => {
                    return Err(Error::at_node(
                        &node.name,
                        format!(
                            "op '{}' cannot be hard-wired: the fixed-weight front-end takes int8 \
                             convolutions (full, depthwise, pointwise) with fused ReLU clamps",
                            other.name()
                        ),
                    ))
                }
            }
            current = ValueRef::first(n);
        }
        if current != *output {
            bail!("the graph output is not the end of the convolution chain");
        }
        let Some(last) = layers.last() else {
            bail!("the front-end has no convolution");
        };
        let first = &layers[0];
        let stream_in = quantize.as_ref().map_or(&in_ty, |q| &q.1);
        if stream_in.dtype != DType::I8 {
            bail!("the front-end input must be int8 or quantized to int8, got {in_ty}");
        }
        for pair in layers.windows(2) {
            if pair[0].output != pair[1].input {
                return Err(Error::at_node(
                    &pair[1].name,
                    "input shape does not match the previous layer",
                ));
            }
        }
        let layout = layout.expect("a layer exists");
        let batch = g.ty(current).shape[0];
        if activation_dims(layout, &stream_in.shape)? != (batch, first.input)
            || activation_dims(layout, &g.ty(current).shape)?.1 != last.output
        {
            bail!("the front-end's input or output shape does not match its layers");
        }
        Ok(FixedFrontend {
            name: g.name.clone(),
            input: InputStage {
                ty: in_ty,
                quantize,
                layout,
            },
            layers,
            output: g.ty(current).clone(),
        })
    }

    /// Input pixel shape (height, width, channels).
    pub fn input_shape(&self) -> [usize; 3] {
        self.layers[0].input
    }

    /// Output pixel shape (height, width, channels).
    pub fn output_shape(&self) -> [usize; 3] {
        self.layers.last().expect("at least one layer").output
    }
}

/// (batch, [height, width, channels]) of a 4-D activation.
fn activation_dims(layout: Layout, s: &[usize]) -> Result<(usize, [usize; 3])> {
    match (layout, s) {
        (Layout::Nhwc, [n, h, w, c]) => Ok((*n, [*h, *w, *c])),
        (Layout::Nchw, [n, c, h, w]) => Ok((*n, [*h, *w, *c])),
        _ => bail!("expected a 4-D activation, got {s:?}"),
    }
}

fn int_values(t: &Tensor, what: &str) -> Result<Vec<i32>> {
    let v = t
        .to_i64_vec()
        .ok_or_else(|| Error::new(format!("{what} must be integer constants")))?;
    v.into_iter()
        .map(|x| {
            i32::try_from(x).map_err(|_| Error::new(format!("{what} value {x} exceeds int32")))
        })
        .collect()
}

fn conv_layer(
    g: &Graph,
    name: &str,
    c: &ConvAttrs,
    inputs: &[ValueRef],
    out: &TensorType,
) -> Result<FixedLayer> {
    if inputs.len() < 2 || inputs.len() > 3 {
        bail!("a convolution takes input, weights and an optional bias");
    }
    let x = g.ty(inputs[0]);
    let w_ty = g.ty(inputs[1]);
    let Some(w) = g.const_value(inputs[1]) else {
        bail!("weights must be constant to be hard-wired");
    };
    if x.dtype != DType::I8 || out.dtype != DType::I8 || w_ty.dtype != DType::I8 {
        bail!("the front-end is int8: input {x}, weights {w_ty}, output {out}");
    }
    if c.dilations != [1, 1] {
        bail!("dilated convolutions are not supported in the fixed-weight front-end");
    }
    let (_, input) = activation_dims(c.layout, &x.shape)?;
    let (_, output) = activation_dims(c.layout, &out.shape)?;
    let ws = w.shape();
    if ws.len() != 4 {
        bail!("weights must be 4-D, got {ws:?}");
    }
    let (kh, kw, cpg) = match c.layout {
        Layout::Nhwc => (ws[1], ws[2], ws[3]),
        Layout::Nchw => (ws[2], ws[3], ws[1]),
    };
    let groups = c.group.max(1);
    let cout = output[2];
    if ws[0] != cout || cpg * groups != input[2] || cout % groups != 0 || kh == 0 || kw == 0 {
        bail!(
            "weights {ws:?} do not fit {} -> {cout} channels in {groups} groups",
            input[2]
        );
    }
    if c.strides.contains(&0) {
        bail!("stride 0");
    }
    let padded = [
        input[0] + c.pads[0] + c.pads[2],
        input[1] + c.pads[1] + c.pads[3],
    ];
    for axis in 0..2 {
        let k = [kh, kw][axis];
        if padded[axis] < k || (padded[axis] - k) / c.strides[axis] + 1 != output[axis] {
            bail!("output shape {output:?} does not follow from the input, kernel, stride and padding");
        }
    }
    let (mults, w_zps) = channel_multipliers(x, w_ty, out, cout)?;
    let (_, in_zp) = per_tensor(x, "input")?;
    let (_, out_zp) = per_tensor(out, "output")?;
    for (what, zp) in [("input", in_zp), ("output", out_zp)] {
        if !(-128..=127).contains(&zp) {
            bail!("{what} zero point {zp} is outside int8");
        }
    }
    let range = activation_range(c.activation, out)?;
    let raw = int_values(w, "weights")?;
    let mut weights = vec![0i32; raw.len()];
    for oc in 0..cout {
        for ky in 0..kh {
            for kx in 0..kw {
                for ic in 0..cpg {
                    let src = match c.layout {
                        Layout::Nhwc => ((oc * kh + ky) * kw + kx) * cpg + ic,
                        Layout::Nchw => ((oc * cpg + ic) * kh + ky) * kw + kx,
                    };
                    weights[((oc * kh + ky) * kw + kx) * cpg + ic] = raw[src] - w_zps[oc];
                }
            }
        }
    }
    let bias = match inputs.get(2) {
        None => vec![0; cout],
        Some(b) => {
            let Some(t) = g.const_value(*b) else {
                bail!("bias must be constant to be hard-wired");
            };
            let v = int_values(t, "bias")?;
            if v.len() != cout {
                bail!("bias has {} values, expected {cout}", v.len());
            }
            v
        }
    };
    for &(m, s) in &mults {
        if m == i32::MIN || !(-31..=31).contains(&s) {
            bail!("requantization multiplier {m} with shift {s} is outside TFLite's range");
        }
    }
    Ok(FixedLayer {
        name: name.to_string(),
        input,
        output,
        kernel: [kh, kw],
        strides: c.strides,
        pads: c.pads,
        groups,
        weights,
        bias,
        input_zero_point: in_zp,
        multiplier: mults.iter().map(|m| m.0).collect(),
        shift: mults.iter().map(|m| m.1).collect(),
        output_zero_point: out_zp,
        range,
    })
}

fn per_tensor(ty: &TensorType, what: &str) -> Result<(f32, i32)> {
    match &ty.quant {
        Some(q) if q.scale.len() == 1 && q.zero_point.len() == 1 => {
            let zp = i32::try_from(q.zero_point[0]).unwrap_or(i32::MAX);
            Ok((q.scale[0], zp))
        }
        _ => bail!("{what} must be quantized per tensor, got {ty}"),
    }
}
