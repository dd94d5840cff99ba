//! The memory cap: a global allocator that counts live heap bytes, keeps their peak, and
//! fails any allocation that would take the live bytes above the cap, saying on stderr
//! where it was asked for. A failed allocation aborts the process (Rust's allocation
//! error handler), which the driver sees as the worker dying.

use crate::backtrace;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

/// The system allocator, counted and capped.
struct Capped;

#[global_allocator]
static ALLOCATOR: Capped = Capped;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

thread_local! {
    /// Set while this thread reports a refusal (whose backtrace allocates).
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

/// Counts `size` more live bytes, unless that passes the cap.
fn reserve(size: usize) -> bool {
    let live = LIVE.fetch_add(size, Relaxed).saturating_add(size);
    if live > CAP.load(Relaxed) {
        LIVE.fetch_sub(size, Relaxed);
        report_refusal(size);
        return false;
    }
    PEAK.fetch_max(live, Relaxed);
    true
}

/// Says on stderr which code asked for `size` bytes past the cap: the process is about
/// to abort, from whichever thread, and the driver reads it there. One thread at a time
/// reports, in one write, so that the first report is whole when the process dies.
fn report_refusal(size: usize) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _ = REPORTING.try_with(|reporting| {
        if reporting.replace(true) {
            return;
        }
        let _turn = ONE_AT_A_TIME.lock();
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        let at = backtrace::site(&trace, file!(), module_path!());
        let at = at.unwrap_or_else(|| "an unknown site".into());
        let line = format!("{REFUSED} {size} bytes at {at}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
        reporting.set(false);
    });
}

/// How a refusal's line on stderr begins.
pub const REFUSED: &str = "nnopt-fuzz: refused an allocation of";

fn release(size: usize) {
    LIVE.fetch_sub(size, Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's layout; the counters only
// decide whether to forward.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !reserve(new_size - old) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        match (p.is_null(), new_size > old) {
            (true, true) => release(new_size - old),
            (false, false) => release(old - new_size),
            _ => {}
        }
        p
    }
}

/// Caps the live heap bytes of this process.
pub fn set_cap(bytes: usize) {
    CAP.store(bytes, Relaxed);
}

/// Live heap bytes now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Starts a new peak at the live bytes now, and returns them.
pub fn reset_peak() -> usize {
    let live = live();
    PEAK.store(live, Relaxed);
    live
}

/// The most live heap bytes since [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}
