//! Which vector instructions the CPU has, found at run time without `std` (x86-64:
//! `cpuid`, and `xgetbv` for the operating system's AVX state), so that kernels compiled
//! for AVX2 run only where it exists.

use core::sync::atomic::{AtomicU8, Ordering};

/// 0: not probed yet, 1: no AVX2, 2: AVX2.
static AVX2: AtomicU8 = AtomicU8::new(0);

/// Whether the CPU and the operating system support AVX2.
pub fn avx2() -> bool {
    match AVX2.load(Ordering::Relaxed) {
        0 => {
            let found = probe();
            AVX2.store(if found { 2 } else { 1 }, Ordering::Relaxed);
            found
        }
        v => v == 2,
    }
}

/// Turns AVX2 off, or back on where the CPU has it ([`crate::set_vector_kernels`]).
pub fn set_vector_kernels(enabled: bool) {
    AVX2.store(if enabled { 0 } else { 1 }, Ordering::Relaxed);
}

fn probe() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    let leaf1 = __cpuid(1);
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let avx = leaf1.ecx & (1 << 28) != 0;
    if !osxsave || !avx || __cpuid(0).eax < 7 {
        return false;
    }
    // SAFETY: OSXSAVE is set, so XGETBV is available.
    let xcr0 = unsafe { xcr0() };
    xcr0 & 0b110 == 0b110 && __cpuid_count(7, 0).ebx & (1 << 5) != 0
}

#[target_feature(enable = "xsave")]
unsafe fn xcr0() -> u64 {
    core::arch::x86_64::_xgetbv(0)
}
