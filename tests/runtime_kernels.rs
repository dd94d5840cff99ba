//! The firmware runtime's convolution and fully connected kernels on geometries beyond the
//! shared models': channel counts around the vector blocks, groups, depthwise
//! multipliers, dilation, strides, padding, NCHW, transposed, uint8 data with uint8
//! weights, batches and tile remainders. Each graph runs with its weights stored and
//! compressed, on the vector kernels and on the portable ones, bit-exactly with the
//! virtual NPU.

#[path = "../backends/tests/harness/mod.rs"]
mod harness;

use harness::{add_q, compile, conv_consts, qt, random_inputs, Lcg};
use nnopt::backends::npu::compress::{compress_weights_coded, WeightCoding};
use nnopt::backends::npu::target::Target;
use nnopt::backends::npu::{binary, vnpu};
use nnopt::compiler::ir::{Activation, ConvAttrs, DType, GemmAttrs, Graph, Layout, Op, Tensor};

/// A conv graph: input `[2, 9, 8, cin]` (NHWC) or `[2, cin, 9, 8]`, `cout` channels.
fn conv_graph(
    name: &str,
    (cin, cout, k): (usize, usize, [usize; 2]),
    a: ConvAttrs,
    u8: bool,
) -> Graph {
    let mut rng = Lcg(cin as u64 * 131 + cout as u64);
    let mut g = Graph::new(name);
    let dt = if u8 { DType::U8 } else { DType::I8 };
    let (xs, ws) = match a.layout {
        Layout::Nhwc => (vec![2, 9, 8, cin], [cout, k[0], k[1], cin / a.group]),
        Layout::Nchw => (vec![2, cin, 9, 8], [cout, cin / a.group, k[0], k[1]]),
    };
    let x = g.add_input("x", qt(dt, &xs, 0.05, if u8 { 130 } else { -3 }));
    let (w, b) = conv_consts(&mut g, &mut rng, &ws, cout, u8);
    let y = add_q(
        &mut g,
        "y",
        Op::Conv(a),
        &[x, w, b],
        dt,
        0.11,
        if u8 { 120 } else { 5 },
    );
    g.set_outputs(vec![y]);
    g
}

fn attrs(
    layout: Layout,
    strides: [usize; 2],
    dilations: [usize; 2],
    pads: [usize; 4],
    group: usize,
) -> ConvAttrs {
    ConvAttrs {
        layout,
        strides,
        dilations,
        pads,
        group,
        activation: Some(Activation::Relu6),
    }
}

fn graphs() -> Vec<Graph> {
    use Layout::{Nchw, Nhwc};
    #[rustfmt::skip]
    let convs = [
        // A single input channel, a wide kernel (micro_speech's first layer).
        ((1, 8, [5, 4]), attrs(Nhwc, [2, 2], [1, 1], [2, 1, 2, 1], 1)),
        ((3, 16, [3, 3]), attrs(Nhwc, [2, 2], [1, 1], [0, 0, 1, 1], 1)),
        // Taps past a vector (17 -> 32 lanes), an odd channel count.
        ((17, 33, [1, 1]), attrs(Nhwc, [1, 1], [1, 1], [0, 0, 0, 0], 1)),
        ((40, 24, [3, 3]), attrs(Nhwc, [1, 1], [1, 1], [1, 1, 1, 1], 1)),
        ((5, 7, [3, 3]), attrs(Nhwc, [1, 1], [2, 2], [2, 2, 2, 2], 1)),
        ((8, 12, [3, 3]), attrs(Nhwc, [1, 2], [1, 1], [1, 0, 1, 2], 4)),
        ((6, 10, [3, 3]), attrs(Nchw, [2, 1], [1, 1], [1, 1, 1, 1], 1)),
        // Depthwise: a block of 16 and a half block; two blocks and 5 single channels;
        // a half block, 5 single channels and an odd tap count; a multiplier of 2;
        // dilation; NCHW.
        ((24, 24, [3, 3]), attrs(Nhwc, [1, 1], [1, 1], [1, 1, 1, 1], 24)),
        ((37, 37, [3, 3]), attrs(Nhwc, [2, 2], [1, 1], [0, 0, 1, 1], 37)),
        ((13, 13, [5, 5]), attrs(Nhwc, [1, 1], [1, 1], [2, 2, 2, 2], 13)),
        ((8, 16, [3, 3]), attrs(Nhwc, [1, 1], [1, 1], [1, 1, 1, 1], 8)),
        ((16, 16, [3, 3]), attrs(Nhwc, [1, 1], [2, 1], [2, 1, 2, 1], 16)),
        ((16, 16, [3, 3]), attrs(Nchw, [1, 1], [1, 1], [1, 1, 1, 1], 16)),
    ];
    let mut gs = Vec::new();
    for (i, (shape, a)) in convs.into_iter().enumerate() {
        for u8 in [false, true] {
            gs.push(conv_graph(
                &format!("conv{i} u8={u8}"),
                shape,
                a.clone(),
                u8,
            ));
        }
    }
    // Transposed: stride 2 with output padding, and stride (1, 3) with dilation.
    for (i, (strides, dilations, pads, output_padding)) in [
        ([2, 2], [1, 1], [1, 1, 1, 1], [1, 1]),
        ([1, 3], [2, 1], [1, 0, 2, 1], [0, 2]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = Lcg(300 + i as u64);
        let mut g = Graph::new(format!("transposed conv {i}"));
        let x = g.add_input("x", qt(DType::I8, &[2, 5, 4, 3], 0.05, -3));
        let (w, b) = conv_consts(&mut g, &mut rng, &[20, 3, 3, 3], 20, false);
        let conv = attrs(Layout::Nhwc, strides, dilations, pads, 1);
        let op = Op::ConvTranspose {
            conv,
            output_padding,
        };
        let y = add_q(&mut g, "y", op, &[x, w, b], DType::I8, 0.11, 5);
        g.set_outputs(vec![y]);
        gs.push(g);
    }
    for (batch, k, n) in [(1, 1, 7), (3, 20, 16), (5, 33, 9), (4, 300, 40)] {
        let mut rng = Lcg(k as u64);
        let mut g = Graph::new(format!("fc batch={batch} k={k} n={n}"));
        let x = g.add_input("x", qt(DType::I8, &[batch, k], 0.1, 4));
        let (w, b) = conv_consts(&mut g, &mut rng, &[n, k], n, false);
        let op = Op::Gemm(GemmAttrs::fully_connected(true, Some(Activation::Relu)));
        let y = add_q(&mut g, "y", op, &[x, w, b], DType::I8, 0.3, -10);
        g.set_outputs(vec![y]);
        gs.push(g);
    }
    gs
}

/// Runs `binary` on nnopt-rt; the outputs' bytes.
fn run(binary: &[u8], inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let model = nnopt_rt::Model::load(binary).expect("loads");
    let mut arena = vec![0xA5u8; model.arena_size()];
    let xr: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let mut yb: Vec<Vec<u8>> = (0..model.num_outputs())
        .map(|i| vec![0u8; model.output(i).unwrap().size])
        .collect();
    let mut yr: Vec<&mut [u8]> = yb.iter_mut().map(Vec::as_mut_slice).collect();
    model.run(&mut arena, &xr, &mut yr).expect("runs");
    yb
}

#[test]
fn kernels_match_the_virtual_npu_on_every_path() {
    let target = Target::preset("npu").unwrap();
    let mut runs = 0;
    for g in graphs() {
        let c = compile(&g);
        assert!(c.program.cpu_segments.is_empty(), "{}", g.name);
        let blocks = compress_weights_coded(&c.program, WeightCoding::Stored)
            .unwrap()
            .blocks;
        let stored = binary::write(&c.program, &target, &blocks).unwrap();
        let mut rng = Lcg(5);
        for k in 0..2 {
            let x = random_inputs(&g, &mut rng);
            let want: Vec<Vec<u8>> = vnpu::run(&c.program, &x)
                .unwrap()
                .iter()
                .map(Tensor::to_le_bytes)
                .collect();
            let xb: Vec<Vec<u8>> = x.iter().map(Tensor::to_le_bytes).collect();
            for vector in [true, false] {
                nnopt_rt::set_vector_kernels(vector);
                for (coding, bin) in [("compressed", &c.binary), ("stored", &stored)] {
                    let got = run(bin, &xb);
                    assert_eq!(
                        got, want,
                        "{} #{k}, {coding}, vector kernels {vector}",
                        g.name
                    );
                    runs += 1;
                }
            }
            nnopt_rt::set_vector_kernels(true);
        }
    }
    println!("{runs} runs bit-exact");
}
