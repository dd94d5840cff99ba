//! The firmware runtime (`nnopt-rt`) runs the requantize, SVDF and float-table softmax
//! commands of small graphs bit-exactly with the interpreter; it and the compiler's reader
//! with the virtual NPU load and run any single-bit corruption of their binaries (with a
//! valid CRC) without panicking.

#[path = "../backends/tests/harness/mod.rs"]
mod harness;

use harness::commands::{requantize_graph, svdf_graph, table_softmax_graph};
use harness::{compile, random_inputs, Lcg};
use nnopt::backends::npu::binary::{self, FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, MAGIC};
use nnopt::backends::npu::vnpu;
use nnopt::compiler::container::Container;
use nnopt::compiler::interp;
use nnopt::compiler::ir::{DType, Graph, Tensor};

/// The graphs: every requantization width, SVDF with int8 and int16 state, rank 1 and 2,
/// batch 2, and float-table softmax of int8 and uint8 codes.
fn graphs() -> Vec<Graph> {
    let mut gs = vec![
        requantize_graph(DType::I16, DType::I8, 0.0106),
        requantize_graph(DType::I16, DType::I32, 0.5),
        requantize_graph(DType::U8, DType::I16, 50.0),
        requantize_graph(DType::I8, DType::I32, 500.0),
        requantize_graph(DType::I32, DType::U8, 0.3),
    ];
    for state in [DType::I8, DType::I16] {
        gs.push(svdf_graph(state, 1, 1, false));
        gs.push(svdf_graph(state, 2, 2, false));
    }
    gs.push(table_softmax_graph(DType::I8, 1, 1.0 / 7.0 / 36.5));
    gs.push(table_softmax_graph(DType::U8, 2, 0.2 / 51.5));
    gs
}

/// A tensor's integer elements as little-endian bytes.
fn le_bytes(t: &Tensor) -> Vec<u8> {
    let v = t.to_i64_vec().expect("integer tensor");
    match t.dtype().size_bytes() {
        1 => v.iter().map(|&x| x as u8).collect(),
        2 => v.iter().flat_map(|&x| (x as i16).to_le_bytes()).collect(),
        _ => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
    }
}

/// Runs `model` on `inputs`; the outputs' bytes.
fn run(model: &nnopt_rt::Model<'_>, inputs: &[Vec<u8>]) -> nnopt_rt::Result<Vec<Vec<u8>>> {
    let mut arena = vec![0xA5u8; model.arena_size()];
    let xr: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let mut yb: Vec<Vec<u8>> = (0..model.num_outputs())
        .map(|i| vec![0u8; model.output(i).map_or(0, |o| o.size)])
        .collect();
    let mut yr: Vec<&mut [u8]> = yb.iter_mut().map(Vec::as_mut_slice).collect();
    model.run(&mut arena, &xr, &mut yr)?;
    Ok(yb)
}

#[test]
fn runtime_runs_the_commands_like_the_interpreter() {
    for g in graphs() {
        let c = compile(&g);
        assert!(c.program.cpu_segments.is_empty(), "{}", g.name);
        let model = nnopt_rt::Model::load(&c.binary).unwrap_or_else(|e| panic!("{}: {e}", g.name));
        let mut rng = Lcg(11);
        for k in 0..4 {
            let x = random_inputs(&g, &mut rng);
            let want: Vec<Vec<u8>> = interp::run(&g, &x).unwrap().iter().map(le_bytes).collect();
            let xb: Vec<Vec<u8>> = x.iter().map(le_bytes).collect();
            let got = run(&model, &xb).unwrap_or_else(|e| panic!("{}: {e}", g.name));
            assert_eq!(got, want, "{} #{k}", g.name);
        }
    }
}

#[test]
fn corrupt_commands_are_errors_not_panics() {
    // The binary's own header, written around corrupted payloads.
    let container = Container {
        magic: MAGIC,
        major: FORMAT_MAJOR,
        minor: FORMAT_MINOR,
        kind: "NPU binary",
        a_kind: "an NPU binary",
    };
    for g in graphs() {
        let c = compile(&g);
        let payload = &c.binary[HEADER_LEN..];
        let x = random_inputs(&g, &mut Lcg(3));
        let xb: Vec<Vec<u8>> = x.iter().map(le_bytes).collect();
        let (mut loaded, mut refused) = (0, 0);
        for i in 0..payload.len() {
            let mut bad = payload.to_vec();
            bad[i] ^= 1 << (i % 8);
            let file = container.wrap(&bad);
            if let Ok((p, _)) = binary::read(&file) {
                if p.arena_size <= 1 << 20 {
                    let _ = vnpu::run(&p, &x);
                }
            }
            match nnopt_rt::Model::load(&file) {
                // A changed value or size may still be a valid program: it must run or
                // fail cleanly (arenas are kept small).
                Ok(model) if model.arena_size() <= 1 << 20 => {
                    let _ = run(&model, &xb);
                    loaded += 1;
                }
                Ok(_) => loaded += 1,
                Err(_) => refused += 1,
            }
        }
        println!(
            "{}: nnopt-rt loads {loaded} corruptions, refuses {refused}",
            g.name
        );
    }
}
