//! Firmware sources of a compiled model (`nnopt compile --emit c`): `model.c` holds the
//! `.npub` binary as an aligned `const uint8_t` array in its own section, `model.h`
//! declares it with macros for the arena size and every input's and output's shape,
//! type, scale and zero point. The figures come from loading the binary with the
//! firmware runtime (`nnopt-rt`) itself, so they are what it will need.
//!
//! ```
//! use nnopt::backends::npu::compress::WeightCoding;
//! use nnopt::backends::npu::target::Target;
//! use nnopt::compile::NpuOptions;
//! let g = nnopt::compiler::ir::text::parse_graph(
//!     "graph \"g\"(%x) {\n  %x: f32[1,2,2,3] = input\n  %y: f32[1,2,2,3] = activation {\"act\":\"relu\"}(%x)\n  return %y\n}\n",
//! )?;
//! let opts = NpuOptions {
//!     target: Target::preset("npu")?,
//!     precision: Default::default(),
//!     cpu_fallback: true,
//!     calibration: Default::default(),
//!     pipeline: None,
//! };
//! let compiled = nnopt::compile(g, &opts)?;
//! let binary = nnopt::firmware::binary_with(&compiled, WeightCoding::Stored)?;
//! let c = nnopt::firmware::c_sources(&compiled, &binary, "relu", "relu.nnir")?;
//! assert!(c.header.contains("#define RELU_ARENA_SIZE "));
//! assert!(c.source.contains("const uint8_t relu_data[RELU_SIZE]"));
//! # Ok::<(), nnopt::Error>(())
//! ```

use crate::compile::Compiled;
use crate::{Error, Result};
use nnopt_backends::npu::binary;
use nnopt_backends::npu::compress::{compress_weights_coded, WeightCoding};
use nnopt_rt::{DType, ErrorKind, Model, TensorInfo};
use std::fmt::Write;

/// The two C files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSources {
    pub header: String,
    pub source: String,
}

/// The `.npub` bytes of `c` with its int8 weights coded as `coding` (the compiled
/// binary itself when that is how it was coded).
pub fn binary_with(c: &Compiled, coding: WeightCoding) -> Result<Vec<u8>> {
    match coding {
        WeightCoding::Compressed => Ok(c.binary.clone()),
        WeightCoding::Stored => {
            let blocks = compress_weights_coded(&c.program, coding)?.blocks;
            binary::write(&c.program, &c.target, &blocks)
        }
    }
}

/// Checks that `prefix` is a C identifier usable for the array and, upper-cased, the
/// macros.
pub fn check_prefix(prefix: &str) -> Result<()> {
    let ok = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(Error::new(format!(
            "--c-prefix '{prefix}' is not a C identifier (letters, digits and '_', not starting with a digit)"
        )));
    }
    Ok(())
}

/// Why the firmware runtime cannot run `c`, with what to change.
fn unsupported(c: &Compiled, e: nnopt_rt::Error) -> Error {
    let mut msg = format!(
        "the firmware runtime cannot run this program: {}",
        e.message
    );
    let segment_nodes: Vec<&String> = c
        .program
        .cpu_segments
        .iter()
        .flat_map(|s| &s.nodes)
        .collect();
    if !segment_nodes.is_empty() {
        msg.push_str(
            "\nthese ops have neither an NPU command nor a firmware CPU kernel (`nnopt ops` \
             lists what runs where); replace them in the model:",
        );
        for f in &c.lowering.fallbacks {
            if segment_nodes.contains(&&f.node) {
                let _ = write!(msg, "\n  {} ({}): {}", f.node, f.op, f.reason);
            }
        }
    }
    Error::new(msg)
}

fn c_type(d: DType) -> &'static str {
    match d {
        DType::F32 => "float",
        DType::I8 => "int8_t",
        DType::U8 => "uint8_t",
        DType::I16 => "int16_t",
        DType::I32 => "int32_t",
        DType::I64 => "int64_t",
        _ => "uint8_t",
    }
}

/// A C float literal of `v` (shortest round-trip form).
fn c_float(v: f32) -> String {
    let s = format!("{v:?}");
    format!("{s}f")
}

/// C string literal of `s` (escaping quotes, backslashes and non-printable bytes).
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

fn tensor_macros(h: &mut String, p: &str, kind: &str, i: usize, t: &TensorInfo<'_>) {
    let m = format!("{p}_{kind}{i}");
    let dims = t.shape.dims();
    let shape: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(h, "#define {m}_NAME {}", c_string(t.name));
    let _ = writeln!(
        h,
        "#define {m}_DTYPE {} /* NNOPT_DTYPE_{:?} */",
        t.dtype as u8, t.dtype
    );
    let _ = writeln!(h, "#define {m}_CTYPE {}", c_type(t.dtype));
    let _ = writeln!(h, "#define {m}_RANK {}", dims.len());
    let _ = writeln!(h, "#define {m}_SHAPE {{{}}}", shape.join(", "));
    let _ = writeln!(
        h,
        "#define {m}_ELEMENTS {}u",
        t.shape.elements().unwrap_or(0)
    );
    let _ = writeln!(h, "#define {m}_BYTES {}u", t.size);
    let (scale, zp) = t.quant.unwrap_or((0.0, 0));
    let _ = writeln!(h, "#define {m}_QUANTIZED {}", i32::from(t.quant.is_some()));
    let _ = writeln!(h, "#define {m}_SCALE {}", c_float(scale));
    let _ = writeln!(h, "#define {m}_ZERO_POINT ({zp})");
}

/// The C sources of compiled model `c` whose binary is `binary` (see [`binary_with`]),
/// named by `prefix` (`PREFIX_*` macros, the array `prefix_data`); `source_name` is the
/// model file the comments name.
pub fn c_sources(c: &Compiled, binary: &[u8], prefix: &str, source_name: &str) -> Result<CSources> {
    check_prefix(prefix)?;
    let model = Model::load(binary).map_err(|e| match e.kind {
        ErrorKind::Unsupported => unsupported(c, e),
        _ => Error::new(format!(
            "the compiled binary does not load in the firmware runtime: {e}"
        )),
    })?;
    let p = prefix.to_ascii_uppercase();
    let guard = format!("{p}_H");
    let mut h = String::new();
    let _ = writeln!(
        h,
        "/* {prefix}: the NPU binary of {} for the nnopt firmware runtime (nnopt.h).\n * Generated by nnopt {} (`nnopt compile --emit c`); do not edit. */",
        source_name.replace("*/", "* /"),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        h,
        "#ifndef {guard}\n#define {guard}\n\n#include <stddef.h>\n#include <stdint.h>\n"
    );
    let _ = writeln!(h, "#define {p}_NAME {}", c_string(model.name()));
    let _ = writeln!(h, "/* Bytes of the binary ({prefix}_data). */");
    let _ = writeln!(h, "#define {p}_SIZE {}u", binary.len());
    let _ = writeln!(
        h,
        "/* Bytes of arena nnopt_run needs: activations, then scratch. */"
    );
    let _ = writeln!(h, "#define {p}_ARENA_SIZE {}u", model.arena_size());
    let _ = writeln!(h, "#define {p}_NUM_INPUTS {}", model.num_inputs());
    let _ = writeln!(h, "#define {p}_NUM_OUTPUTS {}\n", model.num_outputs());
    for i in 0..model.num_inputs() {
        let t = model
            .input(i)
            .ok_or_else(|| Error::new("input binding vanished"))?;
        tensor_macros(&mut h, &p, "INPUT", i, &t);
        h.push('\n');
    }
    for i in 0..model.num_outputs() {
        let t = model
            .output(i)
            .ok_or_else(|| Error::new("output binding vanished"))?;
        tensor_macros(&mut h, &p, "OUTPUT", i, &t);
        h.push('\n');
    }
    let _ = writeln!(
        h,
        "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n/* The binary: pass it to nnopt_load. */\nextern const uint8_t {prefix}_data[{p}_SIZE];\n\n#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */"
    );
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/* Generated by nnopt {} (`nnopt compile --emit c`); do not edit. */\n#include \"model.h\"\n",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        s,
        "/* The linker section and alignment can be overridden, e.g. -D{p}_SECTION='\".nn_flash\"'. */\n#ifndef {p}_SECTION\n#ifdef __APPLE__\n#define {p}_SECTION \"__DATA,__nnopt_model\"\n#else\n#define {p}_SECTION \".rodata.nnopt_model\"\n#endif\n#endif\n#ifndef {p}_ALIGN\n#define {p}_ALIGN 16\n#endif\n#if defined(__GNUC__) || defined(__clang__)\n#define {p}_ATTRIBUTE __attribute__((aligned({p}_ALIGN), section({p}_SECTION)))\n#else\n#define {p}_ATTRIBUTE\n#endif\n"
    );
    let _ = writeln!(
        s,
        "const uint8_t {prefix}_data[{p}_SIZE] {p}_ATTRIBUTE = {{"
    );
    for chunk in binary.chunks(16) {
        let line: Vec<String> = chunk.iter().map(|b| format!("0x{b:02x}")).collect();
        let _ = writeln!(s, "    {},", line.join(", "));
    }
    s.push_str("};\n");
    Ok(CSources {
        header: h,
        source: s,
    })
}
