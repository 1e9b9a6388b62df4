//! CPU fast paths where candle's generic autograd does needless work:
//!
//! - [`FrozenMatmul`]: `x·Wᵀ` for a weight that is not trained (LoRA's base weights). candle's
//!   matmul backward always computes the right operand's gradient as well, a second matmul as
//!   large as the forward one; this op's backward computes only `∂x = ∂y·W`.
//! - [`AdamWStep`]: the AdamW (or SGD) update done in place over the parameter's memory in one
//!   pass, instead of a dozen full-size temporary tensors per step.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, InplaceOp1, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// The f32 values of a contiguous CPU storage.
pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
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
    /// Its transpose, contiguous, when the caller keeps one (a faster backward product).
    pub rhs_t: Option<Tensor>,
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
        let rhs_t = match &self.rhs_t {
            Some(t) => t.clone(),
            None => self.rhs.t()?,
        };
        Ok(Some(grad_res.matmul(&rhs_t)?))
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
        let mut guard = self.moments.lock().map_err(poisoned)?;
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

/// The error for a lock whose holder panicked.
pub(crate) fn poisoned<T>(_: T) -> candle_core::Error {
    candle_core::Error::Msg("poisoned lock".into())
}

/// Runs `f` over a CPU tensor's f32 values (contiguous, row-major) without copying them.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (guard, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*guard else {
        candle_core::bail!("expected CPU storage");
    };
    Ok(f(contiguous_f32(cpu, layout)?))
}

/// Σ x² of a CPU f32 tensor, accumulated in f64 per chunk, in parallel.
///
/// # Errors
/// A tensor that is not f32 on the CPU.
pub fn sum_of_squares(t: &Tensor) -> candle_core::Result<f64> {
    let t = t.contiguous()?;
    with_f32(&t, |v| {
        v.par_chunks(1 << 14)
            .map(|c| c.iter().map(|x| f64::from(x * x)).sum::<f64>())
            .sum()
    })
}

/// Vocabulary columns per block of [`HeadLogps`].
const VOCAB_BLOCK: usize = 8192;

/// `log softmax(x·Wᵀ)[label]` for each row of `x` (`[rows, hidden]`) against an output
/// projection `W` (`[vocab, hidden]`), without ever holding the `[rows, vocab]` logits: the
/// vocabulary is walked in blocks with a running log-sum-exp, and the backward pass recomputes
/// each block's logits to produce `∂x` and `∂W` block by block. The full logits of a 256-token
/// batch against a 49k vocabulary are 50 MB, and the generic log-softmax, gather and their
/// gradients each write several copies of them.
pub struct HeadLogps {
    /// The rows, detached.
    pub x: Tensor,
    /// The projection as `[vocab, hidden]`, detached (a transposed view is fine).
    pub w: Tensor,
    /// The token whose log-prob each row gives.
    pub labels: Vec<u32>,
    /// Whether `W` is trained (its gradient is computed only then).
    pub w_grad: bool,
    /// Each row's log-sum-exp, kept by the forward pass for the backward one.
    pub lse: Mutex<Vec<f32>>,
}

impl HeadLogps {
    fn blocks(&self) -> candle_core::Result<Vec<(usize, usize)>> {
        let vocab = self.w.dim(0)?;
        Ok((0..vocab)
            .step_by(VOCAB_BLOCK)
            .map(|s| (s, VOCAB_BLOCK.min(vocab - s)))
            .collect())
    }

    /// The logits of one vocabulary block, `[rows, len]`.
    fn block(&self, start: usize, len: usize) -> candle_core::Result<Tensor> {
        self.x.matmul(&self.w.narrow(0, start, len)?.t()?)
    }
}

impl CustomOp2 for HeadLogps {
    fn name(&self) -> &'static str {
        "head-logps"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let rows = self.x.dim(0)?;
        if self.labels.len() != rows {
            candle_core::bail!("{} labels for {rows} rows", self.labels.len());
        }
        let vocab = self.w.dim(0)?;
        if let Some(bad) = self.labels.iter().find(|&&l| l as usize >= vocab) {
            candle_core::bail!("token {bad} is outside the vocabulary of {vocab}");
        }
        // Running maximum and sum of exp(logit − maximum) per row, and the label's logit.
        let mut state = vec![(f32::NEG_INFINITY, 0.0f32, 0.0f32); rows];
        for (start, len) in self.blocks()? {
            let logits = self.block(start, len)?;
            with_f32(&logits, |l| {
                state
                    .par_iter_mut()
                    .zip(l.par_chunks(len))
                    .zip(&self.labels)
                    .for_each(|(((m, s, picked), row), &label)| {
                        let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        if top > *m {
                            *s *= (*m - top).exp();
                            *m = top;
                        }
                        *s += row.iter().map(|v| (v - *m).exp()).sum::<f32>();
                        if let Some(i) = (label as usize).checked_sub(start).filter(|&i| i < len) {
                            *picked = row[i];
                        }
                    });
            })?;
        }
        let lse: Vec<f32> = state.iter().map(|(m, s, _)| m + s.ln()).collect();
        let out: Vec<f32> = state.iter().zip(&lse).map(|((_, _, p), l)| p - l).collect();
        *self.lse.lock().map_err(poisoned)? = lse;
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad_res.contiguous()?.to_vec1::<f32>()?;
        let lse = std::mem::take(&mut *self.lse.lock().map_err(poisoned)?);
        if lse.len() != self.labels.len() {
            candle_core::bail!("head-logps: backward without a forward pass");
        }
        let (rows, hidden) = self.x.dims2()?;
        let mut dx: Option<Tensor> = None;
        let mut dw = Vec::new();
        for (start, len) in self.blocks()? {
            let logits = self.block(start, len)?;
            // ∂logit = g · (onehot(label) − softmax).
            let mut d = vec![0f32; rows * len];
            with_f32(&logits, |l| {
                d.par_chunks_mut(len)
                    .zip(l.par_chunks(len))
                    .enumerate()
                    .for_each(|(i, (d, row))| {
                        let (gi, li) = (g[i], lse[i]);
                        for (d, v) in d.iter_mut().zip(row) {
                            *d = -gi * (v - li).exp();
                        }
                        let label = self.labels[i] as usize;
                        if (start..start + len).contains(&label) {
                            d[label - start] += gi;
                        }
                    });
            })?;
            let d = Tensor::from_vec(d, (rows, len), self.x.device())?;
            let part = d.matmul(&self.w.narrow(0, start, len)?)?;
            dx = Some(match dx {
                Some(acc) => (acc + part)?,
                None => part,
            });
            if self.w_grad {
                dw.push(d.t()?.matmul(&self.x)?);
            }
        }
        let dx = match dx {
            Some(dx) => dx,
            None => Tensor::zeros((rows, hidden), candle_core::DType::F32, self.x.device())?,
        };
        let dw = if self.w_grad {
            Some(Tensor::cat(&dw, 0)?)
        } else {
            None
        };
        Ok((Some(dx), dw))
    }
}
