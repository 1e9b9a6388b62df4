//! Optimisers (SGD, AdamW with decoupled weight decay) and learning-rate schedules with
//! warmup, as Hugging Face's `get_*_schedule_with_warmup`.

use anyhow::{Result, bail};
use candle_core::{Tensor, Var, backprop::GradStore};

/// Which optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Plain gradient descent.
    Sgd,
    /// Adam with decoupled weight decay.
    Adamw,
}

impl std::str::FromStr for OptimizerKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sgd" => Ok(Self::Sgd),
            "adamw" => Ok(Self::Adamw),
            other => bail!("unknown optimizer {other:?}: adamw or sgd"),
        }
    }
}

/// Learning-rate schedule after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Linear decay to 0 at the last step.
    Linear,
    /// Half-cosine decay to 0 at the last step.
    Cosine,
}

impl std::str::FromStr for Schedule {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Self::Constant),
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            other => bail!("unknown schedule {other:?}: constant, linear or cosine"),
        }
    }
}

/// The factor applied to the base learning rate at optimiser step `step` (0-based).
#[must_use]
pub fn lr_factor(schedule: Schedule, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    match schedule {
        Schedule::Constant => 1.0,
        Schedule::Linear => (1.0 - progress).max(0.0),
        Schedule::Cosine => (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0),
    }
}

/// Optimiser state for a list of variables.
#[derive(Debug)]
pub struct Optimizer {
    kind: OptimizerKind,
    vars: Vec<Var>,
    moments: Vec<Option<(Tensor, Tensor)>>,
    /// The moments of the in-place CPU path.
    cpu_moments: Vec<std::sync::Mutex<(Vec<f32>, Vec<f32>)>>,
    step: usize,
    /// AdamW's β₁, β₂, ε.
    pub betas: (f64, f64, f64),
    /// Decoupled weight decay (AdamW).
    pub weight_decay: f64,
}

impl Optimizer {
    /// A new optimiser over `vars`.
    #[must_use]
    pub fn new(kind: OptimizerKind, vars: Vec<Var>, weight_decay: f64) -> Self {
        let n = vars.len();
        Self {
            kind,
            vars,
            moments: vec![None; n],
            cpu_moments: (0..n)
                .map(|_| std::sync::Mutex::new((Vec::new(), Vec::new())))
                .collect(),
            step: 0,
            betas: (0.9, 0.999, 1e-8),
            weight_decay,
        }
    }

    /// Steps taken.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.step
    }

    /// The moments as named tensors (`{k}.m`, `{k}.v` for variable k), for checkpoints.
    ///
    /// # Errors
    /// Tensor failures.
    pub fn state(&self) -> Result<std::collections::HashMap<String, Tensor>> {
        let mut out = std::collections::HashMap::new();
        for (k, var) in self.vars.iter().enumerate() {
            let shape = var.as_tensor().shape().clone();
            let device = var.as_tensor().device();
            let (m, v) = if let Some((m, v)) = &self.moments[k] {
                (m.clone(), v.clone())
            } else {
                let guard = self.cpu_moments[k]
                    .lock()
                    .map_err(|_| anyhow::anyhow!("optimizer state poisoned"))?;
                if guard.0.is_empty() {
                    continue;
                }
                (
                    Tensor::from_slice(&guard.0, &shape, device)?,
                    Tensor::from_slice(&guard.1, &shape, device)?,
                )
            };
            out.insert(format!("{k}.m"), m);
            out.insert(format!("{k}.v"), v);
        }
        Ok(out)
    }

    /// Restores moments saved by [`Self::state`] and the step count.
    ///
    /// # Errors
    /// Missing or mis-shaped tensors.
    pub fn restore(
        &mut self,
        state: &std::collections::HashMap<String, Tensor>,
        steps: usize,
    ) -> Result<()> {
        self.step = steps;
        for (k, var) in self.vars.iter().enumerate() {
            let (Some(m), Some(v)) = (state.get(&format!("{k}.m")), state.get(&format!("{k}.v")))
            else {
                continue;
            };
            if m.shape() != var.as_tensor().shape() {
                bail!("the optimizer state does not match the model (variable {k})");
            }
            if var.device().is_cpu() {
                let mut guard = self.cpu_moments[k]
                    .lock()
                    .map_err(|_| anyhow::anyhow!("optimizer state poisoned"))?;
                *guard = (m.flatten_all()?.to_vec1()?, v.flatten_all()?.to_vec1()?);
            } else {
                self.moments[k] = Some((m.clone(), v.clone()));
            }
        }
        Ok(())
    }

    /// The gradients of this optimiser's variables, in its order, added to `acc` (gradient
    /// accumulation across micro-batches).
    ///
    /// # Errors
    /// Tensor failures.
    pub fn accumulate(&self, grads: &GradStore, acc: &mut Vec<Option<Tensor>>) -> Result<()> {
        acc.resize(self.vars.len(), None);
        for (k, v) in self.vars.iter().enumerate() {
            if let Some(g) = grads.get(v.as_tensor()) {
                acc[k] = Some(match acc[k].take() {
                    Some(a) => (a + g)?,
                    None => g.clone(),
                });
            }
        }
        Ok(())
    }

    /// The global L2 norm of gradients.
    ///
    /// # Errors
    /// Tensor failures.
    pub fn grad_norm(grads: &[Option<Tensor>]) -> Result<f64> {
        let mut sq = 0.0;
        for g in grads.iter().flatten() {
            sq += if g.device().is_cpu() {
                // Summed in place, in parallel, without a squared copy of the gradient.
                crate::fast::sum_of_squares(g)?
            } else {
                f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?)
            };
        }
        Ok(sq.sqrt())
    }

    /// One update with learning rate `lr`; gradients are multiplied by `grad_scale` first
    /// (clipping and accumulation).
    ///
    /// # Errors
    /// Tensor failures.
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2, eps) = self.betas;
        for (k, var) in self.vars.iter().enumerate() {
            let Some(Some(g)) = grads.get(k) else {
                continue;
            };
            if var.device().is_cpu() {
                // One in-place pass over the parameter's memory.
                let g = g.contiguous()?;
                let (guard, layout) = g.storage_and_layout();
                let candle_core::Storage::Cpu(cpu) = &*guard else {
                    bail!("expected a CPU gradient");
                };
                let candle_core::CpuStorage::F32(data) = cpu else {
                    bail!("expected an f32 gradient");
                };
                let (start, end) = layout
                    .contiguous_offsets()
                    .ok_or_else(|| anyhow::anyhow!("gradient not contiguous"))?;
                var.as_tensor().inplace_op1(&crate::fast::AdamWStep {
                    grad: &data[start..end],
                    moments: &self.cpu_moments[k],
                    lr: lr as f32,
                    scale: grad_scale as f32,
                    betas: (b1 as f32, b2 as f32, eps as f32),
                    bias_correction: (
                        (1.0 / (1.0 - b1.powi(t))) as f32,
                        (1.0 / (1.0 - b2.powi(t))) as f32,
                    ),
                    weight_decay: self.weight_decay as f32,
                    adam: self.kind == OptimizerKind::Adamw,
                })?;
                continue;
            }
            let g = if (grad_scale - 1.0).abs() > f64::EPSILON {
                (g * grad_scale)?
            } else {
                g.clone()
            };
            let theta = var.as_tensor();
            let next = match self.kind {
                OptimizerKind::Sgd => (theta - (g * lr)?)?,
                OptimizerKind::Adamw => {
                    let (m, v) = match self.moments[k].take() {
                        Some((m, v)) => (
                            ((m * b1)? + (&g * (1.0 - b1))?)?,
                            ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?,
                        ),
                        None => ((&g * (1.0 - b1))?, (g.sqr()? * (1.0 - b2))?),
                    };
                    let m_hat_scale = 1.0 / (1.0 - b1.powi(t));
                    let v_hat_scale = 1.0 / (1.0 - b2.powi(t));
                    let update = ((&m * m_hat_scale)? / ((&v * v_hat_scale)?.sqrt()? + eps)?)?;
                    let decayed = if self.weight_decay > 0.0 {
                        (theta * (1.0 - lr * self.weight_decay))?
                    } else {
                        theta.clone()
                    };
                    self.moments[k] = Some((m, v));
                    (decayed - (update * lr)?)?
                }
            };
            var.set(&next.detach())?;
        }
        Ok(())
    }
}
