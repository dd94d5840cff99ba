//! Activation memory planning: lifetime-based placement of buffers in one arena, greedy
//! by size like TFLite Micro's `GreedyMemoryPlanner`.
//!
//! Buffers are placed largest first, each at the lowest aligned offset where it does not
//! overlap a placed buffer whose lifetime intersects its own. Lifetimes are inclusive
//! ranges of schedule steps, so a command's inputs and outputs never share bytes.
//! [`place`] plans a lowered program's tensors this way.

use super::program::{Program, TensorId};
use std::collections::BTreeMap;

/// A buffer to place: its size and the schedule steps during which it is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub size: usize,
    /// First step that writes or reads it.
    pub first: usize,
    /// Last step that reads it (inclusive).
    pub last: usize,
}

impl Buffer {
    fn lifetime_overlaps(&self, o: &Buffer) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

/// Placement of every buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Arena offset of each buffer, in input order.
    pub offsets: Vec<usize>,
    /// Arena size: the highest end of any placed buffer.
    pub arena_size: usize,
    /// Sum of all buffer sizes (the arena without reuse).
    pub naive_size: usize,
}

/// Offsets are multiples of this many bytes.
pub const ALIGNMENT: usize = 16;

fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGNMENT) * ALIGNMENT
}

/// Places `buffers` in one arena.
pub fn plan(buffers: &[Buffer]) -> Plan {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(buffers[i].size), buffers[i].first, i));
    let mut offsets = vec![0usize; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    for &i in &order {
        let b = &buffers[i];
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].size > 0 && buffers[j].lifetime_overlaps(b))
            .map(|&j| (offsets[j], offsets[j] + buffers[j].size))
            .collect();
        conflicts.sort_unstable();
        let mut candidate = 0;
        for (start, end) in conflicts {
            if candidate + b.size <= start {
                break;
            }
            candidate = candidate.max(align_up(end));
        }
        offsets[i] = candidate;
        placed.push(i);
    }
    let arena_size = buffers
        .iter()
        .zip(&offsets)
        .map(|(b, o)| o + b.size)
        .max()
        .unwrap_or(0);
    Plan {
        offsets,
        arena_size,
        naive_size: buffers.iter().map(|b| b.size).sum(),
    }
}

/// Places every buffer (alias groups share one) and fills in tensor offsets and the arena
/// size. Returns (arena bytes, naive bytes).
pub fn place(p: &mut Program, root: &[TensorId]) -> (usize, usize) {
    let n_steps = p.commands.len() + 2;
    let mut first = vec![usize::MAX; p.tensors.len()];
    let mut last = vec![0usize; p.tensors.len()];
    for b in &p.inputs {
        first[root[b.tensor]] = 0;
    }
    for b in &p.outputs {
        last[root[b.tensor]] = n_steps - 1;
    }
    for (k, c) in p.commands.iter().enumerate() {
        let step = k + 1;
        for t in c.outputs(p) {
            first[root[t]] = first[root[t]].min(step);
        }
        for t in c.inputs(p) {
            last[root[t]] = last[root[t]].max(step);
        }
    }
    let roots: Vec<TensorId> = (0..p.tensors.len()).filter(|&t| root[t] == t).collect();
    let buffers: Vec<Buffer> = roots
        .iter()
        .map(|&t| {
            let f = first[t].min(last[t]);
            Buffer {
                size: p.tensors[t].size,
                first: f,
                last: last[t].max(f),
            }
        })
        .collect();
    let plan = plan(&buffers);
    let offset_of: BTreeMap<TensorId, usize> = roots.iter().copied().zip(plan.offsets).collect();
    for t in 0..p.tensors.len() {
        p.tensors[t].offset = offset_of[&root[t]];
    }
    p.arena_size = plan.arena_size;
    (plan.arena_size, plan.naive_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_no_overlap(buffers: &[Buffer], p: &Plan) {
        for i in 0..buffers.len() {
            assert_eq!(p.offsets[i] % ALIGNMENT, 0);
            assert!(p.offsets[i] + buffers[i].size <= p.arena_size);
            for j in i + 1..buffers.len() {
                let (a, b) = (&buffers[i], &buffers[j]);
                if a.size == 0 || b.size == 0 || !a.lifetime_overlaps(b) {
                    continue;
                }
                let (oa, ob) = (p.offsets[i], p.offsets[j]);
                assert!(
                    oa + a.size <= ob || ob + b.size <= oa,
                    "buffers {i} and {j} are live together and overlap: {a:?}@{oa} {b:?}@{ob}"
                );
            }
        }
    }

    #[test]
    fn chain_reuses_memory() {
        // x -> a -> b -> c: only neighbours are live together.
        let bufs = [
            Buffer {
                size: 100,
                first: 0,
                last: 1,
            },
            Buffer {
                size: 200,
                first: 1,
                last: 2,
            },
            Buffer {
                size: 100,
                first: 2,
                last: 3,
            },
            Buffer {
                size: 50,
                first: 3,
                last: 4,
            },
        ];
        let p = plan(&bufs);
        check_no_overlap(&bufs, &p);
        assert_eq!(p.naive_size, 450);
        // 200 at 0; the first 100 and the third 100 both conflict with it.
        assert_eq!(p.arena_size, 308);
        assert!(p.arena_size <= p.naive_size);
    }

    #[test]
    fn disjoint_lifetimes_share_offset_zero() {
        let bufs = [
            Buffer {
                size: 64,
                first: 0,
                last: 0,
            },
            Buffer {
                size: 64,
                first: 1,
                last: 1,
            },
        ];
        let p = plan(&bufs);
        assert_eq!(p.offsets, vec![0, 0]);
        assert_eq!(p.arena_size, 64);
    }

    #[test]
    fn random_lifetimes_never_overlap() {
        // A deterministic LCG drives random sizes and lifetimes.
        let mut s: u64 = 12345;
        let mut next = |m: u64| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % m
        };
        for _ in 0..50 {
            let n = 1 + next(30) as usize;
            let bufs: Vec<Buffer> = (0..n)
                .map(|_| {
                    let first = next(20) as usize;
                    Buffer {
                        size: next(500) as usize,
                        first,
                        last: first + next(6) as usize,
                    }
                })
                .collect();
            let p = plan(&bufs);
            check_no_overlap(&bufs, &p);
            assert!(p.arena_size <= p.naive_size + ALIGNMENT * n);
        }
    }

    #[test]
    fn empty_plan() {
        let p = plan(&[]);
        assert_eq!((p.arena_size, p.naive_size), (0, 0));
    }
}
