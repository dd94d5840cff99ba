//! A loaded `.npub` binary: the header checked, every table, index, size and parameter
//! validated once, and the arena the program needs computed.

use crate::command::Command;
use crate::container;
use crate::error::{Error, ErrorKind, Result};
use crate::flatbuf::{Table, Vector};
use crate::schema::{Binding, DType, IoConversion, TensorDesc, WeightBlock};

/// Alignment of the scratch area after the activations.
const SCRATCH_ALIGN: usize = 16;

/// A validated NPU program, borrowing the binary's bytes.
#[derive(Clone, Copy)]
pub struct Model<'a> {
    pub(crate) name: &'a str,
    pub(crate) tensors: Vector<'a>,
    pub(crate) inputs: Vector<'a>,
    pub(crate) outputs: Vector<'a>,
    pub(crate) commands: Vector<'a>,
    pub(crate) weights: Vector<'a>,
    /// Bytes of the activation arena.
    pub(crate) activations: usize,
    /// Where the scratch area starts: the activations rounded up to 16 bytes.
    pub(crate) scratch_offset: usize,
    /// Bytes the whole arena needs: activations, then the largest command's scratch.
    arena_size: usize,
}

/// What a caller needs to know of a graph input or output.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    /// Element type of the caller's data (f32 when the runtime quantizes or dequantizes).
    pub dtype: DType,
    /// The caller's shape.
    pub shape: crate::schema::Shape,
    /// Bytes of the caller's data.
    pub size: usize,
    /// Scale and zero point of the integer codes in the arena, if per-tensor quantized.
    pub quant: Option<(f32, i64)>,
}

fn unsupported(message: &'static str) -> Error {
    Error::new(ErrorKind::Unsupported, message)
}

impl<'a> Model<'a> {
    /// Checks and loads a `.npub` file: header, CRC-32, FlatBuffer structure, and every
    /// tensor, binding, command and weight block against each other.
    pub fn load(file: &'a [u8]) -> Result<Self> {
        let root = Table::root(container::open(file)?)?;
        if root.vector(8, 4)?.len() != 0 {
            return Err(unsupported(
                "the program has CPU-fallback segments (IR subgraphs only `nnopt run` executes)",
            ));
        }
        let activations = usize::try_from(root.u64(2, 0)?)
            .map_err(|_| Error::malformed("arena size out of range"))?;
        let mut m = Model {
            name: root.str(0)?,
            tensors: root.vector(3, 4)?,
            inputs: root.vector(4, 4)?,
            outputs: root.vector(5, 4)?,
            commands: root.vector(6, 4)?,
            weights: root.vector(7, 4)?,
            activations,
            scratch_offset: 0,
            arena_size: 0,
        };
        for i in 0..m.tensors.len() {
            m.check_tensor(i).map_err(|e| e.at(i))?;
        }
        for (list, quantize) in [(m.inputs, true), (m.outputs, false)] {
            for i in 0..list.len() {
                m.check_binding(list.table(i)?, quantize)
                    .map_err(|e| e.at(i))?;
            }
        }
        for i in 0..m.weights.len() {
            WeightBlock::read(m.weights.table(i)?).map_err(|e| e.at(i))?;
        }
        let mut scratch = 0;
        for i in 0..m.commands.len() {
            let need = crate::run::plan(&m, &m.command(i)?).map_err(|e| e.at(i))?;
            scratch = scratch.max(need);
        }
        let out_of_range = Error::malformed("arena size out of range");
        m.scratch_offset = activations
            .checked_next_multiple_of(SCRATCH_ALIGN)
            .ok_or(out_of_range)?;
        m.arena_size = m.scratch_offset.checked_add(scratch).ok_or(out_of_range)?;
        Ok(m)
    }

    fn check_tensor(&self, i: usize) -> Result<()> {
        let t = TensorDesc::read(self.tensors.table(i)?)?;
        let bytes = t
            .shape
            .elements()
            .and_then(|e| e.checked_mul(t.dtype.size()));
        if bytes != Some(t.size) {
            return Err(Error::malformed(
                "tensor size does not match its shape and type",
            ));
        }
        if t.offset
            .checked_add(t.size)
            .is_none_or(|e| e > self.activations)
        {
            return Err(Error::malformed("tensor lies outside the arena"));
        }
        Ok(())
    }

    fn check_binding(&self, t: Table<'a>, input: bool) -> Result<()> {
        let b = Binding::read(t)?;
        let at = self.tensor(b.tensor)?;
        if b.shape.elements() != at.shape.elements() {
            return Err(Error::malformed(
                "IO binding shape does not match its tensor",
            ));
        }
        let quantized = at.quant.is_some() && at.dtype.int_range().is_some();
        let ok = match b.conversion {
            IoConversion::None => b.dtype == at.dtype,
            IoConversion::QuantizeHalfEven | IoConversion::QuantizeTflite => {
                input && b.dtype == DType::F32 && quantized
            }
            IoConversion::Dequantize => !input && b.dtype == DType::F32 && quantized,
        };
        if !ok {
            return Err(Error::malformed(
                "IO binding conversion does not fit its tensor",
            ));
        }
        Ok(())
    }

    /// Arena tensor `i`.
    pub(crate) fn tensor(&self, i: usize) -> Result<TensorDesc> {
        if i >= self.tensors.len() {
            return Err(Error::malformed("tensor index out of range"));
        }
        TensorDesc::read(self.tensors.table(i)?)
    }

    /// Weight block `i`.
    pub(crate) fn weight_block(&self, i: usize) -> Result<WeightBlock<'a>> {
        if i >= self.weights.len() {
            return Err(Error::malformed("weight block index out of range"));
        }
        WeightBlock::read(self.weights.table(i)?)
    }

    /// Command `i`.
    pub(crate) fn command(&self, i: usize) -> Result<Command<'a>> {
        Command::read(self.commands.table(i)?)
    }

    /// Bytes of arena [`Model::run`] needs: activations, then scratch for decoding one
    /// command's weights and its kernel.
    pub fn arena_size(&self) -> usize {
        self.arena_size
    }

    /// The source model's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Number of graph inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Number of graph outputs.
    pub fn num_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Input `i`, if it exists.
    pub fn input(&self, i: usize) -> Option<TensorInfo<'a>> {
        self.info(self.inputs, i)
    }

    /// Output `i`, if it exists.
    pub fn output(&self, i: usize) -> Option<TensorInfo<'a>> {
        self.info(self.outputs, i)
    }

    pub(crate) fn binding(&self, list: Vector<'a>, i: usize) -> Result<(Binding<'a>, TensorDesc)> {
        if i >= list.len() {
            return Err(Error::new(
                ErrorKind::BadArgument,
                "no such input or output",
            ));
        }
        let b = Binding::read(list.table(i)?)?;
        let t = self.tensor(b.tensor)?;
        Ok((b, t))
    }

    fn info(&self, list: Vector<'a>, i: usize) -> Option<TensorInfo<'a>> {
        let (b, t) = self.binding(list, i).ok()?;
        Some(TensorInfo {
            name: b.name,
            dtype: b.dtype,
            shape: b.shape,
            size: b.shape.elements()?.checked_mul(b.dtype.size())?,
            quant: t.quant,
        })
    }
}

impl core::fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("arena_size", &self.arena_size())
            .field("inputs", &self.num_inputs())
            .field("outputs", &self.num_outputs())
            .field("commands", &self.commands.len())
            .finish()
    }
}
