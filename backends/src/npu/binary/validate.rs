//! Consistency checks of a [`Program`]: every index in range, every tensor inside the
//! arena, weight blocks sized for their commands, CPU segments that parse. The writer
//! runs them before serializing, the loader after decoding, so the virtual NPU never
//! indexes out of bounds on a corrupt file.

use super::MAX_PROGRAM_BYTES;
use crate::npu::program::{
    Command, Program, Requantize, Svdf, TableSoftmax, TensorDesc, TensorId, WeightBlock,
};
use nnopt_compiler::ir::text::parse_graph;
use nnopt_compiler::ir::{DType, ReduceKind};
use nnopt_compiler::{Error, Result};

/// The number of elements of `shape`, or `None` on overflow.
fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Checks `p`; the error names the offending tensor, command or block.
pub fn validate(p: &Program) -> Result<()> {
    let weight_bytes: usize = p.weights.iter().map(WeightBlock::decoded_bytes).sum();
    if p.arena_size.saturating_add(weight_bytes) > MAX_PROGRAM_BYTES {
        return Err(Error::new(format!(
            "an arena of {} bytes and {weight_bytes} bytes of weights: more than the {} MiB a program may take",
            p.arena_size,
            MAX_PROGRAM_BYTES >> 20
        )));
    }
    for (i, t) in p.tensors.iter().enumerate() {
        // Checked first, so that `num_elements` cannot overflow after validation.
        let bytes = elements(&t.shape).and_then(|n| n.checked_mul(t.dtype.size_bytes()));
        if bytes != Some(t.size) {
            return Err(Error::new(format!(
                "tensor #{i} '{}': size {} does not match {:?} x {}",
                t.name, t.size, t.shape, t.dtype
            )));
        }
        if t.offset
            .checked_add(t.size)
            .is_none_or(|end| end > p.arena_size)
        {
            return Err(Error::new(format!(
                "tensor #{i} '{}' ({} bytes at {}) lies outside the {}-byte arena",
                t.name, t.size, t.offset, p.arena_size
            )));
        }
    }
    let tensor = |id: TensorId, what: &str| {
        p.tensors
            .get(id)
            .ok_or_else(|| Error::new(format!("{what} names tensor #{id}, which does not exist")))
    };
    for io in p.inputs.iter().chain(&p.outputs) {
        let t = tensor(io.tensor, &format!("IO binding '{}'", io.name))?;
        if elements(&io.shape) != Some(t.num_elements()) {
            return Err(Error::new(format!(
                "IO binding '{}' has shape {:?} but its tensor has {:?}",
                io.name, io.shape, t.shape
            )));
        }
    }
    for (i, w) in p.weights.iter().enumerate() {
        if let Some(f) = &w.fp8 {
            let n = f.scales.len();
            let integer_parts = w.bias.len() + w.weight_zero_points.len() + w.requant.len();
            if n == 0 || f.bias.len() != n || integer_parts != 0 || w.weights.len() % n != 0 {
                return Err(Error::new(format!(
                    "weight block #{i}: {} FP8 weights, {} scales and {} biases do not describe whole output channels",
                    w.weights.len(),
                    n,
                    f.bias.len()
                )));
            }
            continue;
        }
        let n = w.requant.len();
        if n == 0
            || w.bias.len() != n
            || w.weight_zero_points.len() != n
            || w.weights.len() % n != 0
        {
            return Err(Error::new(format!(
                "weight block #{i}: {} weights, {} biases, {} zero points and {} requantizations do not describe whole output channels",
                w.weights.len(),
                w.bias.len(),
                w.weight_zero_points.len(),
                n
            )));
        }
    }
    for (i, c) in p.commands.iter().enumerate() {
        let what = format!("command #{i} ({})", c.kind_name());
        if let Command::Cpu { segment } = c {
            if *segment >= p.cpu_segments.len() {
                return Err(Error::new(format!(
                    "{what} names CPU segment #{segment}, which does not exist"
                )));
            }
        }
        for id in c.inputs(p).into_iter().chain(c.outputs(p)) {
            tensor(id, &what)?;
        }
        let weights = match c {
            Command::Conv2d(c) => {
                if c.groups == 0
                    || c.kernel.contains(&0)
                    || c.strides.contains(&0)
                    || c.dilations.contains(&0)
                {
                    return Err(Error::new(format!(
                        "{what} '{}': zero groups, kernel size, stride or dilation",
                        c.name
                    )));
                }
                if c.transposed && (c.groups != 1 || c.fp8.is_some()) {
                    return Err(Error::new(format!(
                        "{what} '{}': a transposed convolution is int8 with one group",
                        c.name
                    )));
                }
                Some(c.weights)
            }
            Command::FullyConnected(c) => Some(c.weights),
            Command::Pool(pool) if pool.kernel.contains(&0) || pool.strides.contains(&0) => {
                return Err(Error::new(format!(
                    "{what} '{}': zero kernel size or stride",
                    pool.name
                )));
            }
            Command::Reduce(r) if r.float == Some(ReduceKind::Prod) => {
                return Err(Error::new(format!(
                    "{what} '{}': the NPU has no product reduction",
                    r.name
                )));
            }
            Command::Lookup(l) if l.table.len() != 256 => {
                return Err(Error::new(format!(
                    "{what} '{}': a table of {} entries, 256 needed",
                    l.name,
                    l.table.len()
                )));
            }
            Command::Concat(cc)
                if !cc.tables.is_empty() && cc.tables.len() != 256 * cc.inputs.len() =>
            {
                return Err(Error::new(format!(
                    "{what} '{}': {} table bytes for {} inputs (256 per input needed)",
                    cc.name,
                    cc.tables.len(),
                    cc.inputs.len()
                )));
            }
            Command::Requantize(r) => {
                requantize(p, r).map_err(|e| Error::new(format!("{what} '{}': {e}", r.name)))?;
                None
            }
            Command::Svdf(sv) => {
                svdf(p, sv).map_err(|e| Error::new(format!("{what} '{}': {e}", sv.name)))?;
                None
            }
            Command::TableSoftmax(sm) => {
                table_softmax(p, sm)
                    .map_err(|e| Error::new(format!("{what} '{}': {e}", sm.name)))?;
                None
            }
            Command::PRelu(pr) if pr.alpha.len() != pr.alpha_shape.iter().product::<usize>() => {
                return Err(Error::new(format!(
                    "{what} '{}': {} slopes for shape {:?}",
                    pr.name,
                    pr.alpha.len(),
                    pr.alpha_shape
                )));
            }
            _ => None,
        };
        if let Some(w) = weights.filter(|&w| w >= p.weights.len()) {
            return Err(Error::new(format!(
                "{what} names weight block #{w}, which does not exist"
            )));
        }
        let fp8 = match c {
            Command::Conv2d(c) => c.fp8.is_some(),
            Command::FullyConnected(c) => c.fp8.is_some(),
            _ => false,
        };
        if let Some(w) = weights.filter(|&w| p.weights[w].fp8.is_some() != fp8) {
            return Err(Error::new(format!(
                "{what}: weight block #{w} is {}, the command is {}",
                if fp8 { "integer" } else { "FP8" },
                if fp8 { "FP8" } else { "integer" }
            )));
        }
    }
    for (i, s) in p.cpu_segments.iter().enumerate() {
        let g = parse_graph(&s.graph).map_err(|e| Error::new(format!("CPU segment #{i}: {e}")))?;
        if g.inputs().len() != s.inputs.len() || g.outputs().len() != s.outputs.len() {
            return Err(Error::new(format!(
                "CPU segment #{i}: its graph has {} inputs and {} outputs, the segment binds {} and {}",
                g.inputs().len(),
                g.outputs().len(),
                s.inputs.len(),
                s.outputs.len()
            )));
        }
        for &id in s.inputs.iter().chain(&s.outputs) {
            tensor(id, &format!("CPU segment #{i}"))?;
        }
    }
    Ok(())
}

/// A requantization maps integers to as many integers with a defined shift.
fn requantize(p: &Program, r: &Requantize) -> std::result::Result<(), String> {
    let (x, o) = (&p.tensors[r.input], &p.tensors[r.output]);
    let int = |t: &TensorDesc| matches!(t.dtype, DType::I8 | DType::U8 | DType::I16 | DType::I32);
    if !int(x) || !int(o) || x.num_elements() != o.num_elements() {
        return Err(format!(
            "requantizes {} {:?} to {} {:?}",
            x.dtype, x.shape, o.dtype, o.shape
        ));
    }
    shift_ok(r.requant.shift)
}

/// An SVDF's constants fit its tensors, its codes its state type, its shifts the
/// arithmetic.
fn svdf(p: &Program, sv: &Svdf) -> std::result::Result<(), String> {
    let (x, o) = (&p.tensors[sv.input], &p.tensors[sv.output]);
    if sv.params(x, o).is_none() {
        return Err(format!(
            "its constants do not fit {} {:?} to {} {:?} (rank {}, memory {}, {} state)",
            x.dtype, x.shape, o.dtype, o.shape, sv.rank, sv.memory, sv.state_type
        ));
    }
    if sv.state_type == DType::I8 {
        let narrow = |v: &[i16]| v.iter().all(|&c| i8::try_from(c).is_ok());
        if !narrow(&sv.weights_time) || !narrow(&sv.state) {
            return Err("int8 state or time weights out of range".into());
        }
    }
    shift_ok(sv.feature.shift)?;
    shift_ok(sv.time.shift)
}

/// A float-table softmax maps 8-bit codes to the same type and shape through 256 entries.
fn table_softmax(p: &Program, sm: &TableSoftmax) -> std::result::Result<(), String> {
    let (x, o) = (&p.tensors[sm.input], &p.tensors[sm.output]);
    if !matches!(x.dtype, DType::I8 | DType::U8)
        || o.dtype != x.dtype
        || o.shape != x.shape
        || sm.axis >= x.shape.len()
        || sm.table.len() != 256
    {
        return Err(format!(
            "{} table entries for softmax of {} {:?} along axis {} to {} {:?}",
            sm.table.len(),
            x.dtype,
            x.shape,
            sm.axis,
            o.dtype,
            o.shape
        ));
    }
    Ok(())
}

fn shift_ok(shift: i32) -> std::result::Result<(), String> {
    if !(-31..=31).contains(&shift) {
        return Err(format!("requantization shift {shift} out of range"));
    }
    Ok(())
}
