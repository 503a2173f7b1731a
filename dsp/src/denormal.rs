//! Scoped flush-to-zero / denormals-are-zero.
//!
//! Denormal numbers appear when a filter's state decays towards zero and make x86 arithmetic
//! 8–17× slower. [`FtzGuard`] turns FTZ/DAZ on for the scope of one `process` call and restores
//! the caller's mode on drop, so the host's own FPU settings are never changed behind its back.

/// Sets flush-to-zero (and denormals-are-zero where the CPU has it) while alive.
pub struct FtzGuard {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    previous: u64,
}

#[cfg(target_arch = "x86_64")]
mod imp {
    /// MXCSR bit 15: flush-to-zero; bit 6: denormals-are-zero.
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    pub fn enable() -> u64 {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr only read/write the SSE control register, which every x86_64
        // CPU has; we restore the previous value in `restore`.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
            let new = csr | FTZ_DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &new, options(nostack, readonly));
        }
        u64::from(csr)
    }

    pub fn restore(previous: u64) {
        let csr = previous as u32;
        // SAFETY: see `enable`.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly)) };
    }

    pub fn is_enabled() -> bool {
        let mut csr: u32 = 0;
        // SAFETY: see `enable`.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
        csr & FTZ_DAZ == FTZ_DAZ
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    /// FPCR bit 24: flush-to-zero.
    const FZ: u64 = 1 << 24;

    pub fn enable() -> u64 {
        let fpcr: u64;
        // SAFETY: reading and writing FPCR only changes floating-point behaviour of this thread;
        // the previous value is restored in `restore`.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr);
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr | FZ);
        }
        fpcr
    }

    pub fn restore(previous: u64) {
        // SAFETY: see `enable`.
        unsafe { std::arch::asm!("msr fpcr, {}", in(reg) previous) };
    }

    pub fn is_enabled() -> bool {
        let fpcr: u64;
        // SAFETY: see `enable`.
        unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr) };
        fpcr & FZ == FZ
    }
}

impl FtzGuard {
    /// Enables flush-to-zero until the guard is dropped.
    #[inline]
    pub fn new() -> Self {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            Self {
                previous: imp::enable(),
            }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            Self {}
        }
    }

    /// Whether flush-to-zero is currently on for this thread (always false where unsupported).
    pub fn is_enabled() -> bool {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            imp::is_enabled()
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            false
        }
    }
}

impl Default for FtzGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FtzGuard {
    #[inline]
    fn drop(&mut self) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        imp::restore(self.previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn guard_flushes_and_restores() {
        let before = FtzGuard::is_enabled();
        {
            let _guard = FtzGuard::new();
            assert!(FtzGuard::is_enabled());
            // A denormal product is flushed to zero while the guard is alive.
            let tiny = std::hint::black_box(1e-30f32);
            assert_eq!(std::hint::black_box(tiny * 1e-10), 0.0);
        }
        assert_eq!(FtzGuard::is_enabled(), before);
    }
}
