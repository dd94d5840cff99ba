//! The firmware runtime (`nnopt-rt`) runs every compiled shared int8 model (none has an
//! IR CPU segment) bit-exactly with the virtual NPU (`nnopt run`), and rejects damaged
//! binaries without panicking.

mod common;

use common::npu::{npu_options, seeded_inputs, INT8_MODELS};

use common::{require, shared};
use nnopt::backends::npu::vnpu;
use nnopt::compile::compile_npu;
use nnopt::compiler::ir::Tensor;

#[test]
fn runtime_matches_the_virtual_npu() {
    for m in INT8_MODELS {
        let Some(path) = require(&shared().join(format!("models/{m}.tflite"))) else {
            continue;
        };
        let g = nnopt::load_model(&path).unwrap();
        let c = compile_npu(g.clone(), &npu_options()).unwrap_or_else(|e| panic!("{m}: {e}"));
        let segments: Vec<&Vec<String>> = c.program.cpu_segments.iter().map(|s| &s.nodes).collect();
        assert!(segments.is_empty(), "{m}: IR CPU segments {segments:?}");
        let model = nnopt_rt::Model::load(&c.binary).unwrap_or_else(|e| panic!("{m}: {e}"));
        let mut arena = vec![0xA5u8; model.arena_size()];
        for seed in 0..3 {
            let x = seeded_inputs(&g, seed);
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
