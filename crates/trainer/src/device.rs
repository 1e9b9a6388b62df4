//! Where training runs, as the run page and the API show it: the device's name and the GPU
//! memory in use (README, "Training on NVIDIA GPUs").

use anyhow::{Result, bail};
use candle_core::{DType, Device};

/// The CPU, or the first CUDA GPU when built with `cuda` and one is present (falling back to
/// the CPU with a log line).
#[must_use]
pub fn pick() -> Device {
    #[cfg(feature = "cuda")]
    {
        match Device::new_cuda(0) {
            Ok(d) => return d,
            // candle's error carries a backtrace after its first line: the line is the news.
            Err(e) => tracing::warn!(
                error = e.to_string().lines().next().unwrap_or_default(),
                "no usable CUDA device; training on the CPU"
            ),
        }
    }
    Device::Cpu
}

/// `cpu`, or `cuda:ORDINAL NAME` (e.g. `cuda:0 NVIDIA H200`).
#[must_use]
pub fn describe(device: &Device) -> String {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            let stream = d.cuda_stream();
            let ctx = stream.context();
            let name = ctx.name().unwrap_or_else(|_| "unknown GPU".to_owned());
            format!("cuda:{} {name}", ctx.ordinal())
        }
        Device::Cpu => "cpu".to_owned(),
        #[allow(unreachable_patterns)]
        other => format!("{:?}", other.location()),
    }
}

/// Bytes of GPU memory in use on the device (all of its users, as `nvidia-smi` counts them);
/// `None` on the CPU or when the driver does not answer.
#[must_use]
pub fn memory_in_use(device: &Device) -> Option<u64> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            let stream = d.cuda_stream();
            let (free, total) = stream.context().mem_get_info().ok()?;
            u64::try_from(total.saturating_sub(free)).ok()
        }
        _ => None,
    }
}

/// The compute dtype a run gets unless told otherwise: bf16 on a GPU (mixed precision, f32
/// master weights), f32 on the CPU.
#[must_use]
pub fn default_dtype(device: &Device) -> DType {
    if device.is_cuda() {
        DType::BF16
    } else {
        DType::F32
    }
}

/// `bf16`, `f16` or `f32`, as `--dtype` takes it.
///
/// # Errors
/// Any other name.
pub fn parse_dtype(name: &str) -> Result<DType> {
    match name.trim().to_ascii_lowercase().as_str() {
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "fp16" | "float16" => Ok(DType::F16),
        "f32" | "fp32" | "float32" => Ok(DType::F32),
        other => bail!("unknown dtype {other:?}: use bf16, f16 or f32"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_named_and_has_no_gpu_memory() {
        assert_eq!(describe(&Device::Cpu), "cpu");
        assert_eq!(memory_in_use(&Device::Cpu), None);
        assert_eq!(default_dtype(&Device::Cpu), DType::F32);
    }

    #[test]
    fn dtypes_parse_by_their_usual_names() {
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert_eq!(parse_dtype(" FP16").unwrap(), DType::F16);
        assert_eq!(parse_dtype("float32").unwrap(), DType::F32);
        let e = parse_dtype("f8").unwrap_err().to_string();
        assert!(e.contains("\"f8\"") && e.contains("bf16"), "{e}");
    }
}
