//! The dimensions of an SVDF step, shared by its float and integer kernels.

use super::Operand;
use crate::{bail, Result};

/// Sizes of one SVDF step (see [`crate::ir::Op::Svdf`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SvdfShape {
    pub batch: usize,
    pub input: usize,
    pub filters: usize,
    pub memory: usize,
    pub rank: usize,
}

impl SvdfShape {
    /// The sizes of operands `(x, weights_feature, weights_time, state, [bias])`.
    pub fn of(inputs: &[Operand<'_>], rank: usize) -> Result<SvdfShape> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|o| o.data.shape()).collect();
        SvdfShape::from_shapes(&shapes, rank)
    }

    /// The sizes of operands of these shapes.
    pub fn from_shapes(shapes: &[&[usize]], rank: usize) -> Result<SvdfShape> {
        if !(4..=5).contains(&shapes.len()) {
            bail!("svdf takes 4 or 5 inputs, got {}", shapes.len());
        }
        let dims = |i: usize| -> Result<[usize; 2]> {
            match shapes[i] {
                [a, b] => Ok([*a, *b]),
                s => bail!("svdf operand {i} must have rank 2, got {s:?}"),
            }
        };
        let ([batch, input], [filters, input2], [filters2, memory], state) =
            (dims(0)?, dims(1)?, dims(2)?, dims(3)?);
        let units = filters.checked_div(rank).unwrap_or(0);
        let bias_ok = shapes.get(4).is_none_or(|b| *b == [units]);
        if rank == 0
            || filters % rank != 0
            || memory == 0
            || input != input2
            || filters != filters2
            || state != [batch, filters * memory]
            || !bias_ok
        {
            bail!("svdf operand shapes do not agree (rank {rank})");
        }
        Ok(SvdfShape {
            batch,
            input,
            filters,
            memory,
            rank,
        })
    }

    /// Output units per batch row.
    pub fn units(&self) -> usize {
        self.filters / self.rank
    }

    /// The state after the left shift by one step (each filter row's newest entry, the
    /// last, is left for the caller to write).
    pub fn shifted<T: Copy>(&self, state: &[T]) -> Vec<T> {
        let mut next = state.to_vec();
        next.copy_within(1.., 0);
        next
    }
}
