//! Which microkernel the products use: AVX-512, AVX2 with FMA, or portable scalar code,
//! chosen once per process from what the CPU offers. `NNSPEC_KERNELS=avx2` or `=scalar`
//! forces a lesser one (to test the fallbacks, or to compare them); all three give the same
//! bits, so the choice only changes the speed.

use std::sync::OnceLock;

/// An instruction set the products can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 32 x 12 tiles in 24 zmm accumulators.
    Avx512,
    /// 16 x 6 tiles in 12 ymm accumulators.
    Avx2,
    /// 8 x 4 tiles in plain `f32::mul_add` loops (a correctly rounded fused multiply-add:
    /// one instruction where the CPU has it, libm's `fmaf` where it has not).
    Scalar,
}

/// The largest tile height and width of any `Isa`: the task grid is sized in these units so
/// that every task has work whichever kernel runs.
pub const MAX_MR: usize = 32;
pub const MAX_NR: usize = 12;

impl Isa {
    /// Every instruction set, best first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Scalar];

    /// The one this process uses: the best the CPU supports, or a lesser one forced by
    /// `NNSPEC_KERNELS` (`avx512`, `avx2`, `scalar`; an unsupported or unknown value is ignored).
    pub fn current() -> Isa {
        static CHOSEN: OnceLock<Isa> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let forced = std::env::var("NNSPEC_KERNELS").ok().and_then(|name| Isa::from_name(&name));
            match forced {
                Some(isa) if isa.is_supported() => isa,
                _ => Isa::ALL.into_iter().find(|isa| isa.is_supported()).unwrap_or(Isa::Scalar),
            }
        })
    }

    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name.trim().to_ascii_lowercase())
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Scalar => "scalar",
        }
    }

    /// Whether this CPU can run it.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            Isa::Scalar => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Rows of C per microkernel call (the packed width of A's panels).
    pub fn mr(self) -> usize {
        match self {
            Isa::Avx512 => 32,
            Isa::Avx2 => 16,
            Isa::Scalar => 8,
        }
    }

    /// Columns of C per microkernel call (the packed width of B's panels).
    pub fn nr(self) -> usize {
        match self {
            Isa::Avx512 => 12,
            Isa::Avx2 => 6,
            Isa::Scalar => 4,
        }
    }
}
