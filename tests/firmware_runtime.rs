//! The firmware runtime (`nnopt-rt`) runs every compiled shared int8 model (none has an
//! IR CPU segment) bit-exactly with the virtual NPU (`nnopt run`), and rejects damaged
//! binaries without panicking.

mod common;

use common::{lcg_step, require, shared};
use nnopt::backends::npu::target::Target;
use nnopt::backends::npu::vnpu;
use nnopt::compile::{compile_npu, NpuOptions};
use nnopt::compiler::ir::{DType, Graph, Tensor};

const INT8_MODELS: &[&str] = &[
    "hello_world_int8",
    "keyword_scrambled_8bit",
    "micro_speech_quantized",
    "person_detect",
    "generated/digits_cnn_int8",
    "generated/mobilenet_v2_035_96_int8",
];

fn options() -> NpuOptions {
    NpuOptions {
        target: Target::preset("npu").unwrap(),
        precision: Default::default(),
        cpu_fallback: true,
        calibration: Default::default(),
        pipeline: None,
    }
}

/// Seeded inputs over each input type's full integer range.
fn inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut s = seed;
    let mut next = move || lcg_step(&mut s) >> 33;
    g.inputs()
        .iter()
        .map(|&n| {
            let ty = &g.node(n).outputs[0].ty;
            let count: usize = ty.shape.iter().product();
            let v: Vec<f64> = (0..count)
                .map(|_| match ty.dtype.int_range() {
                    Some((lo, hi)) if ty.dtype != DType::I32 => {
                        lo as f64 + (next() % (hi - lo + 1) as u64) as f64
                    }
                    _ => (next() % 2000) as f64 / 1000.0 - 1.0,
                })
                .collect();
            Tensor::from_f64s(ty.dtype, &ty.shape, &v).unwrap()
        })
        .collect()
}

#[test]
fn runtime_matches_the_virtual_npu() {
    for m in INT8_MODELS {
        let Some(path) = require(&shared().join(format!("models/{m}.tflite"))) else {
            continue;
        };
        let g = nnopt::load_model(&path).unwrap();
        let c = compile_npu(g.clone(), &options()).unwrap_or_else(|e| panic!("{m}: {e}"));
        let segments: Vec<&Vec<String>> = c.program.cpu_segments.iter().map(|s| &s.nodes).collect();
        assert!(segments.is_empty(), "{m}: IR CPU segments {segments:?}");
        let model = nnopt_rt::Model::load(&c.binary).unwrap_or_else(|e| panic!("{m}: {e}"));
        let mut arena = vec![0xA5u8; model.arena_size()];
        for seed in 0..3 {
            let x = inputs(&g, seed);
            let want = vnpu::run(&c.program, &x).unwrap();
            let xb: Vec<Vec<u8>> = x.iter().map(Tensor::to_le_bytes).collect();
            let xr: Vec<&[u8]> = xb.iter().map(Vec::as_slice).collect();
            let mut yb: Vec<Vec<u8>> = (0..model.num_outputs())
                .map(|i| vec![0u8; model.output(i).unwrap().size])
                .collect();
            let mut yr: Vec<&mut [u8]> = yb.iter_mut().map(Vec::as_mut_slice).collect();
            model
                .run(&mut arena, &xr, &mut yr)
                .unwrap_or_else(|e| panic!("{m}: {e}"));
            let want: Vec<Vec<u8>> = want.iter().map(Tensor::to_le_bytes).collect();
            assert_eq!(yb, want, "{m} seed {seed}");
        }
        println!(
            "{m}: arena {} bytes (activations {})",
            model.arena_size(),
            c.program.arena_size
        );
    }
}
