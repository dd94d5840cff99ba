//! A `no_std` program without an allocator that runs one `.npub` model with nnopt-rt:
//! the model's bytes and figures come from the environment at build time
//! (`NNOPT_NPUB`: the binary; `NNOPT_ARENA`, `NNOPT_INPUT_BYTES`, `NNOPT_OUTPUT_BYTES`:
//! model.h's figures for a one-input, one-output model). It reads the input's raw
//! bytes on stdin and writes the output's on stdout, through the C library's
//! `read`/`write` (its only host dependency besides the start files).
#![no_std]
#![no_main]

use core::ffi::c_void;

#[link(name = "c")]
extern "C" {
    fn read(fd: i32, buf: *mut c_void, count: usize) -> isize;
    fn write(fd: i32, buf: *const c_void, count: usize) -> isize;
}

static MODEL: &[u8] = include_bytes!(env!("NNOPT_NPUB"));

/// Parses a decimal figure at compile time.
const fn figure(s: &str) -> usize {
    let b = s.as_bytes();
    let mut v = 0;
    let mut i = 0;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    v
}

const ARENA: usize = figure(env!("NNOPT_ARENA"));
const INPUT: usize = figure(env!("NNOPT_INPUT_BYTES"));
const OUTPUT: usize = figure(env!("NNOPT_OUTPUT_BYTES"));

fn read_all(buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unfilled part of `buf`.
        let n = unsafe { read(0, buf[done..].as_mut_ptr().cast(), buf.len() - done) };
        if n <= 0 {
            return false;
        }
        done += n as usize;
    }
    true
}

fn write_all(buf: &[u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unwritten part of `buf`.
        let n = unsafe { write(1, buf[done..].as_ptr().cast(), buf.len() - done) };
        if n <= 0 {
            return false;
        }
        done += n as usize;
    }
    true
}

#[no_mangle]
pub extern "C" fn main() -> i32 {
    let Ok(model) = nnopt_rt::Model::load(MODEL) else {
        return 2;
    };
    if model.arena_size() != ARENA {
        return 3;
    }
    let mut arena = [0u8; ARENA];
    let mut input = [0u8; INPUT];
    let mut output = [0u8; OUTPUT];
    if !read_all(&mut input) {
        return 4;
    }
    if model
        .run(&mut arena, &[&input], &mut [&mut output])
        .is_err()
    {
        return 5;
    }
    if write_all(&output) {
        0
    } else {
        6
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
