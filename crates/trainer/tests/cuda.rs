//! On a CUDA GPU the decoder gives the CPU's logits, completion log-probs and gradients, for
//! the five cases of `fused.rs` (the CPU runs its fused kernels, the GPU candle's operations
//! and the lean ops of `lean.rs`), in f32 and with the GPU in bf16, and TRL parity (`trl_parity.rs`, included) in f32 on the GPU. Ignored where no GPU
//! is: `scripts/gpu-check.sh` runs them on a GPU machine.
//!
//! Tolerances: f32 on both sides, but different summation orders (cuBLAS against the CPU's
//! blocked kernels): 1e-4 absolute on logits, 1e-3 on log-probs summed over up to 19 tokens,
//! 1e-3 relative on gradients. bf16 on the GPU against f32 on the CPU: bf16 keeps 8 significant
//! bits, 3 fewer than f16, whose errors on these cases `precision.rs` measures (1.6e-3, 1.0e-3,
//! 5.1e-3); eight times those, with a margin: 5e-2, 6e-2 and 1e-1.

mod common;
// TRL parity too, so that one test binary carries every GPU check (scripts/gpu-check.sh).
#[path = "trl_parity.rs"]
mod trl_parity;

use candle_core::{DType, Device};
use common::{CASES, load_pair, max_abs, run, same_gradients};

const NEEDS_GPU: &str = "needs a CUDA GPU and the cuda feature: run by scripts/gpu-check.sh";

fn gpu() -> Device {
    Device::new_cuda(0).unwrap_or_else(|e| panic!("{NEEDS_GPU}: {e}"))
}

#[test]
#[ignore = "needs a CUDA GPU and the cuda feature: run by scripts/gpu-check.sh"]
fn cuda_matches_the_cpu() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    for spec in CASES {
        let (cpu, cuda, case) = load_pair(dir.path(), spec, &Device::Cpu, &gpu);
        let (logits_c, sums_c, loss_c) = run(&cpu);
        let (logits_g, sums_g, loss_g) = run(&cuda);
        let logits_g = logits_g.to_device(&Device::Cpu).unwrap();
        let sums_g = sums_g.to_device(&Device::Cpu).unwrap();
        let d = max_abs(&(&logits_c - &logits_g).unwrap());
        assert!(d < 1e-4, "{case}: logits differ by {d}");
        let d = max_abs(&(&sums_c - &sums_g).unwrap());
        assert!(d < 1e-3, "{case}: log-probs differ by {d}");
        same_gradients(&case, &cuda, &loss_g, &cpu, &loss_c, 1e-3);
    }
}

#[test]
#[ignore = "needs a CUDA GPU and the cuda feature: run by scripts/gpu-check.sh"]
fn bf16_on_the_gpu_matches_f32_on_the_cpu() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    for spec in CASES {
        let (cpu, mut cuda, case) = load_pair(dir.path(), spec, &Device::Cpu, &gpu);
        cuda.set_dtype(DType::BF16).unwrap();
        let (logits_c, sums_c, loss_c) = run(&cpu);
        let (logits_g, sums_g, loss_g) = run(&cuda);
        let logits_g = logits_g.to_device(&Device::Cpu).unwrap();
        let sums_g = sums_g.to_device(&Device::Cpu).unwrap();
        let d = max_abs(&(&logits_c - &logits_g).unwrap());
        assert!(d < 5e-2, "{case}: logits differ by {d}");
        let d = max_abs(&(&sums_c - &sums_g).unwrap());
        assert!(d < 6e-2, "{case}: log-probs differ by {d}");
        assert!(d > 0.0, "{case}: bf16 gave exactly the f32 log-probs");
        same_gradients(&case, &cuda, &loss_g, &cpu, &loss_c, 1e-1);
    }
}

#[test]
#[ignore = "needs a CUDA GPU and the cuda feature: run by scripts/gpu-check.sh"]
fn the_trainer_reports_the_gpu() {
    let device = trainer::device::pick();
    assert!(
        device.is_cuda(),
        "{NEEDS_GPU}: training would run on the CPU"
    );
    let name = trainer::device::describe(&device);
    assert!(name.starts_with("cuda:0 "), "{name}");
    let used = trainer::device::memory_in_use(&device).expect("the driver reports memory");
    assert!(used > 0);
    assert_eq!(trainer::device::default_dtype(&device), DType::BF16);
}
