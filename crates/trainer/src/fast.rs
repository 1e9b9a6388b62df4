//! CPU fast paths where candle's generic autograd does needless work:
//!
//! - [`FrozenMatmul`]: `x·Wᵀ` for a weight that is not trained (LoRA's base weights). candle's
//!   matmul backward always computes the right operand's gradient as well, a second matmul as
//!   large as the forward one; this op's backward computes only `∂x = ∂y·W`.
//! - [`AdamWStep`]: the AdamW (or SGD) update done in place over the parameter's memory in one
//!   pass, instead of a dozen full-size temporary tensors per step.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, InplaceOp1, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("expected f32 data");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected contiguous data");
    };
    Ok(&data[start..end])
}

/// `y = x·R` with a frozen right operand `R` (`[in, out]`, possibly a transposed view);
/// `x` is `[rows, in]`.
pub struct FrozenMatmul {
    /// The right operand, `[in, out]`.
    pub rhs: Tensor,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout)?;
        let x = Tensor::from_slice(x, layout.shape(), &candle_core::Device::Cpu)?;
        let y = x.matmul(&self.rhs)?;
        let shape = y.shape().clone();
        let (guard, y_layout) = y.storage_and_layout();
        let Storage::Cpu(cpu) = &*guard else {
            candle_core::bail!("expected CPU storage");
        };
        Ok((
            CpuStorage::F32(contiguous_f32(cpu, y_layout)?.to_vec()),
            shape,
        ))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad_res.matmul(&self.rhs.t()?)?))
    }
}

/// One AdamW (or, with `adam: false`, SGD) update of a parameter in place.
pub struct AdamWStep<'a> {
    /// The gradient, contiguous, same length as the parameter.
    pub grad: &'a [f32],
    /// First and second moments.
    pub moments: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    /// Learning rate.
    pub lr: f32,
    /// Gradient multiplier (clipping, accumulation).
    pub scale: f32,
    /// β₁, β₂, ε.
    pub betas: (f32, f32, f32),
    /// 1/(1−β₁ᵗ), 1/(1−β₂ᵗ).
    pub bias_correction: (f32, f32),
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// AdamW (true) or plain SGD.
    pub adam: bool,
}

impl InplaceOp1 for AdamWStep<'_> {
    fn name(&self) -> &'static str {
        "adamw-step"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("expected f32 parameters");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("expected contiguous parameters");
        };
        let theta = &mut data[start..end];
        if theta.len() != self.grad.len() {
            candle_core::bail!("gradient and parameter sizes differ");
        }
        let (lr, scale) = (self.lr, self.scale);
        const CHUNK: usize = 1 << 14;
        if !self.adam {
            theta
                .par_chunks_mut(CHUNK)
                .zip(self.grad.par_chunks(CHUNK))
                .for_each(|(t, g)| t.iter_mut().zip(g).for_each(|(t, g)| *t -= lr * scale * g));
            return Ok(());
        }
        let mut guard = self
            .moments
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned".into()))?;
        let (m, v) = &mut *guard;
        if m.len() != theta.len() {
            *m = vec![0.0; theta.len()];
            *v = vec![0.0; theta.len()];
        }
        let (b1, b2, eps) = self.betas;
        let (c1, c2) = self.bias_correction;
        let wd = self.weight_decay;
        theta
            .par_chunks_mut(CHUNK)
            .zip(self.grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((t, g), (m, v))| {
                for i in 0..t.len() {
                    let g = g[i] * scale;
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                    let update = (m[i] * c1) / ((v[i] * c2).sqrt() + eps);
                    t[i] -= lr * (update + wd * t[i]);
                }
            });
        Ok(())
    }
}
