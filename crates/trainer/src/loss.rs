//! The DPO loss family, named as TRL's `loss_type` (docs/design.md §6), and the metrics TRL logs.

use std::str::FromStr;

use anyhow::{Result, bail};
use candle_core::{D, DType, Tensor};

use crate::data::Role;

/// A loss of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    /// DPO: −logσ(βd), with label smoothing / soft labels (cDPO).
    Sigmoid,
    /// rDPO: [−(1−ε)logσ(βd) + ε logσ(−βd)] / (1−2ε).
    Robust,
    /// relu(1 − βd).
    Hinge,
    /// (Δc/lc − Δr/lr − 1/(2β))².
    Ipo,
    /// Length-normalised DPO: −logσ(β(Δc/lc − Δr/lr)).
    SigmoidNorm,
    /// SimPO, reference-free: −logσ(β(ℓc − ℓr) − γ), ℓ the mean token log-prob.
    Simpo,
    /// KTO on desirable/undesirable completions (paired rows count as one of each).
    Kto,
    /// Negative log-likelihood of the chosen completions (per token).
    Sft,
}

impl FromStr for LossType {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "sigmoid" => Self::Sigmoid,
            "robust" => Self::Robust,
            "hinge" => Self::Hinge,
            "ipo" => Self::Ipo,
            "sigmoid_norm" => Self::SigmoidNorm,
            "simpo" => Self::Simpo,
            "kto" => Self::Kto,
            "sft" => Self::Sft,
            other => bail!(
                "unknown loss {other:?}: sigmoid, robust, hinge, ipo, sigmoid_norm, simpo, kto or sft"
            ),
        })
    }
}

impl LossType {
    /// Whether the loss compares against the reference model.
    #[must_use]
    pub fn uses_reference(self) -> bool {
        !matches!(self, Self::Simpo | Self::Sft)
    }

    /// Whether the loss needs preference pairs.
    #[must_use]
    pub fn needs_pairs(self) -> bool {
        !matches!(self, Self::Kto)
    }
}

/// Loss settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossConfig {
    /// Losses and their weights (TRL's `loss_type` and `loss_weights`).
    pub losses: Vec<(LossType, f64)>,
    /// β.
    pub beta: f64,
    /// ε of cDPO / rDPO (per-row confidence below 1 overrides it for `sigmoid`).
    pub label_smoothing: f64,
    /// SimPO's margin γ.
    pub simpo_gamma: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            losses: vec![(LossType::Sigmoid, 1.0)],
            beta: 0.1,
            label_smoothing: 0.0,
            simpo_gamma: 0.5,
        }
    }
}

/// Per-step metrics, named as TRL logs them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// The loss.
    pub loss: f64,
    /// Mean β·(logπ − logπref) of chosen completions.
    #[serde(rename = "rewards/chosen")]
    pub rewards_chosen: f64,
    /// Same for rejected completions.
    #[serde(rename = "rewards/rejected")]
    pub rewards_rejected: f64,
    /// Share of pairs whose chosen reward is higher.
    #[serde(rename = "rewards/accuracies")]
    pub rewards_accuracies: f64,
    /// Mean reward margin.
    #[serde(rename = "rewards/margins")]
    pub rewards_margins: f64,
    /// Mean log-prob of chosen completions.
    #[serde(rename = "logps/chosen")]
    pub logps_chosen: f64,
    /// Mean log-prob of rejected completions.
    #[serde(rename = "logps/rejected")]
    pub logps_rejected: f64,
}

/// Per-row sums of completion-token log-probs and completion lengths from logits
/// `[n, t, vocab]`: position p predicts token p+1; prompt and padding are masked.
///
/// # Errors
/// Shape mismatches.
pub fn sequence_logps(
    logits: &Tensor,
    ids: &Tensor,
    completion: &Tensor,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (n, t, _) = logits.dims3()?;
    if t < 2 {
        let z = Tensor::zeros(n, DType::F32, logits.device())?;
        return Ok((z.clone(), z));
    }
    let logits = logits.narrow(1, 0, t - 1)?;
    let labels = ids.narrow(1, 1, t - 1)?;
    let mask = completion.narrow(1, 1, t - 1)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let picked = logp
        .gather(&labels.unsqueeze(D::Minus1)?.contiguous()?, D::Minus1)?
        .squeeze(D::Minus1)?;
    let sums = (picked * &mask)?.sum(1)?;
    Ok((sums, mask.sum(1)?))
}

fn softplus(x: &Tensor) -> candle_core::Result<Tensor> {
    // relu(x) + log(1 + exp(−|x|)): no overflow for large |x|.
    x.relu()? + ((x.abs()?.neg()?.exp()? + 1.0)?.log()?)
}

/// log σ(x).
fn log_sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    softplus(&x.neg()?)?.neg()
}

fn pick(x: &Tensor, idx: &[u32]) -> candle_core::Result<Tensor> {
    let i = Tensor::from_slice(idx, idx.len(), x.device())?;
    x.index_select(&i, 0)
}

fn mean(x: &Tensor) -> candle_core::Result<f64> {
    if x.elem_count() == 0 {
        return Ok(0.0);
    }
    x.to_dtype(DType::F64)?.mean_all()?.to_scalar::<f64>()
}

/// The weighted loss of a batch and its metrics. `logps`, `ref_logps` and `lengths` are per
/// row (`[n]`), in the batch's row order.
///
/// # Errors
/// A loss that needs pairs on a batch without any, or tensor failures.
pub fn compute(
    cfg: &LossConfig,
    logps: &Tensor,
    ref_logps: &Tensor,
    lengths: &Tensor,
    roles: &[Role],
) -> Result<(Tensor, Metrics)> {
    let device = logps.device();
    let beta = cfg.beta;
    let mut chosen = Vec::new();
    let mut rejected = Vec::new();
    let mut confidence = Vec::new();
    let mut kto_rows = Vec::new();
    let mut kto_sign = Vec::new();
    for (k, role) in roles.iter().enumerate() {
        let k = k as u32;
        match role {
            Role::Chosen {
                pair,
                confidence: c,
            } => {
                if chosen.len() <= *pair {
                    chosen.resize(pair + 1, 0);
                    confidence.resize(pair + 1, 1.0);
                }
                chosen[*pair] = k;
                confidence[*pair] = *c;
            }
            Role::Rejected { pair } => {
                if rejected.len() <= *pair {
                    rejected.resize(pair + 1, 0);
                }
                rejected[*pair] = k;
            }
            Role::Unpaired { desirable } => {
                kto_rows.push(k);
                kto_sign.push(if *desirable { 1.0_f32 } else { -1.0 });
            }
        }
    }
    let pairs = chosen.len();
    let ratio = (logps - ref_logps)?;
    let lens = lengths.clamp(1.0, f64::INFINITY)?;
    let mut total: Option<Tensor> = None;
    let mut add = |t: Tensor, w: f64| -> candle_core::Result<()> {
        let t = (t * w)?;
        total = Some(match total.take() {
            Some(acc) => (acc + t)?,
            None => t,
        });
        Ok(())
    };
    let mut metrics = Metrics::default();
    if pairs > 0 {
        let (pc, pr) = (pick(logps, &chosen)?, pick(logps, &rejected)?);
        let (dc, dr) = (pick(&ratio, &chosen)?, pick(&ratio, &rejected)?);
        let (lc, lr) = (pick(&lens, &chosen)?, pick(&lens, &rejected)?);
        let d = (&dc - &dr)?;
        let eps: Vec<f32> = confidence
            .iter()
            .map(|&c| {
                if c < 1.0 {
                    (1.0 - c) as f32
                } else {
                    cfg.label_smoothing as f32
                }
            })
            .collect();
        let eps = Tensor::from_vec(eps, pairs, device)?;
        for &(loss, w) in &cfg.losses {
            let per = match loss {
                LossType::Sigmoid => {
                    let bd = (&d * beta)?;
                    let keep = (eps.affine(-1.0, 1.0)? * log_sigmoid(&bd)?.neg()?)?;
                    let flip = (&eps * log_sigmoid(&bd.neg()?)?.neg()?)?;
                    (keep + flip)?
                }
                LossType::Robust => {
                    let e = cfg.label_smoothing;
                    if !(0.0..0.5).contains(&e) {
                        bail!("the robust loss needs 0 ≤ label smoothing < 0.5, not {e}");
                    }
                    let bd = (&d * beta)?;
                    let clean = (log_sigmoid(&bd)? * -(1.0 - e))?;
                    let flipped = (log_sigmoid(&bd.neg()?)? * e)?;
                    ((clean + flipped)? / (1.0 - 2.0 * e))?
                }
                LossType::Hinge => (d.affine(-beta, 1.0)?).relu()?,
                LossType::Ipo => {
                    let dn = ((&dc / &lc)? - (&dr / &lr)?)?;
                    (dn - 1.0 / (2.0 * beta))?.sqr()?
                }
                LossType::SigmoidNorm => {
                    let dn = ((&dc / &lc)? - (&dr / &lr)?)?;
                    log_sigmoid(&(dn * beta)?)?.neg()?
                }
                LossType::Simpo => {
                    let x = ((((&pc / &lc)? - (&pr / &lr)?)? * beta)? - cfg.simpo_gamma)?;
                    let e = cfg.label_smoothing;
                    ((log_sigmoid(&x)? * -(1.0 - e))? - (log_sigmoid(&x.neg()?)? * e)?)?
                }
                LossType::Sft => {
                    let nll = (pc.sum_all()?.neg()? / lc.sum_all()?.to_scalar::<f32>()? as f64)?;
                    nll.broadcast_as(pairs)?.contiguous()?
                }
                LossType::Kto => continue,
            };
            add(per.mean_all()?, w)?;
        }
        let (rc, rr) = ((&dc * beta)?, (&dr * beta)?);
        let margin = (&rc - &rr)?;
        metrics.rewards_chosen = mean(&rc)?;
        metrics.rewards_rejected = mean(&rr)?;
        metrics.rewards_margins = mean(&margin)?;
        metrics.rewards_accuracies = mean(&margin.gt(0.0)?.to_dtype(DType::F32)?)?;
        metrics.logps_chosen = mean(&pc)?;
        metrics.logps_rejected = mean(&pr)?;
    }
    if let Some(&(_, w)) = cfg.losses.iter().find(|(l, _)| *l == LossType::Kto) {
        // Paired rows count as one desirable and one undesirable completion.
        let mut rows = kto_rows.clone();
        let mut signs = kto_sign.clone();
        rows.extend(&chosen);
        signs.extend(std::iter::repeat_n(1.0_f32, chosen.len()));
        rows.extend(&rejected);
        signs.extend(std::iter::repeat_n(-1.0_f32, rejected.len()));
        if rows.is_empty() {
            bail!("the kto loss needs rows");
        }
        let r = pick(&ratio, &rows)?;
        // The reference point z: the batch's mean log-ratio, detached and at least 0.
        let z = r.detach().mean_all()?.to_scalar::<f32>()?.max(0.0);
        let s = Tensor::from_vec(signs, rows.len(), device)?;
        let x = ((r - f64::from(z))? * &s)?;
        let per = candle_nn::ops::sigmoid(&(x * beta)?)?.affine(-1.0, 1.0)?;
        add(per.mean_all()?, w)?;
        if pairs == 0 {
            let pos: Vec<u32> = kto_rows
                .iter()
                .zip(&kto_sign)
                .filter(|(_, s)| **s > 0.0)
                .map(|(r, _)| *r)
                .collect();
            let neg: Vec<u32> = kto_rows
                .iter()
                .zip(&kto_sign)
                .filter(|(_, s)| **s < 0.0)
                .map(|(r, _)| *r)
                .collect();
            if !pos.is_empty() {
                metrics.rewards_chosen = mean(&(pick(&ratio, &pos)? * beta)?)?;
                metrics.logps_chosen = mean(&pick(logps, &pos)?)?;
            }
            if !neg.is_empty() {
                metrics.rewards_rejected = mean(&(pick(&ratio, &neg)? * beta)?)?;
                metrics.logps_rejected = mean(&pick(logps, &neg)?)?;
            }
            metrics.rewards_margins = metrics.rewards_chosen - metrics.rewards_rejected;
        }
    } else if pairs == 0 {
        bail!(
            "the losses {:?} need preference pairs (chosen and rejected)",
            cfg.losses
        );
    }
    let loss = total.ok_or_else(|| anyhow::anyhow!("no loss configured"))?;
    metrics.loss = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((loss, metrics))
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn sp(x: f64) -> f64 {
        (1.0 + x.exp()).ln()
    }

    /// Two pairs: Δc = [0.5, 0], Δr = [−0.5, 0.5], so d = [1, −0.5]; lengths 2 and 4.
    fn run(losses: Vec<(LossType, f64)>, smoothing: f64, confidence: f64) -> (f64, Metrics) {
        let d = Device::Cpu;
        let logps = Tensor::new(&[-1.0_f32, -2.0, -3.0, -3.0], &d).unwrap();
        let refs = Tensor::new(&[-1.5_f32, -2.0, -2.5, -3.5], &d).unwrap();
        let lens = Tensor::new(&[2.0_f32, 4.0, 2.0, 4.0], &d).unwrap();
        let roles = [
            Role::Chosen {
                pair: 0,
                confidence,
            },
            Role::Chosen {
                pair: 1,
                confidence: 1.0,
            },
            Role::Rejected { pair: 0 },
            Role::Rejected { pair: 1 },
        ];
        let cfg = LossConfig {
            losses,
            beta: 0.1,
            label_smoothing: smoothing,
            simpo_gamma: 0.5,
        };
        let (loss, m) = compute(&cfg, &logps, &refs, &lens, &roles).unwrap();
        (f64::from(loss.to_scalar::<f32>().unwrap()), m)
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }

    #[test]
    fn each_loss_matches_its_formula() {
        let (l, m) = run(vec![(LossType::Sigmoid, 1.0)], 0.0, 1.0);
        close(l, (sp(-0.1) + sp(0.05)) / 2.0);
        close(m.rewards_chosen, 0.025);
        close(m.rewards_rejected, 0.0);
        close(m.rewards_margins, 0.025);
        close(m.rewards_accuracies, 0.5);
        close(m.logps_chosen, -1.5);
        close(m.logps_rejected, -3.0);
        // cDPO: ε = 0.1 on both pairs; a confidence of 0.75 sets pair 0's ε to 0.25.
        let (l, _) = run(vec![(LossType::Sigmoid, 1.0)], 0.1, 1.0);
        close(
            l,
            (0.9 * sp(-0.1) + 0.1 * sp(0.1) + 0.9 * sp(0.05) + 0.1 * sp(-0.05)) / 2.0,
        );
        let (l, _) = run(vec![(LossType::Sigmoid, 1.0)], 0.0, 0.75);
        close(l, (0.75 * sp(-0.1) + 0.25 * sp(0.1) + sp(0.05)) / 2.0);
        let (l, _) = run(vec![(LossType::Robust, 1.0)], 0.1, 1.0);
        close(
            l,
            ((0.9 * sp(-0.1) - 0.1 * sp(0.1)) + (0.9 * sp(0.05) - 0.1 * sp(-0.05))) / 0.8 / 2.0,
        );
        let (l, _) = run(vec![(LossType::Hinge, 1.0)], 0.0, 1.0);
        close(l, (0.9 + 1.05) / 2.0);
        // Δc/lc − Δr/lr = [0.5, −0.125].
        let (l, _) = run(vec![(LossType::Ipo, 1.0)], 0.0, 1.0);
        close(
            l,
            ((0.5_f64 - 5.0).powi(2) + (-0.125_f64 - 5.0).powi(2)) / 2.0,
        );
        let (l, _) = run(vec![(LossType::SigmoidNorm, 1.0)], 0.0, 1.0);
        close(l, (sp(-0.05) + sp(0.0125)) / 2.0);
        // SimPO: β(pc/lc − pr/lr) − γ = [−0.4, −0.475].
        let (l, _) = run(vec![(LossType::Simpo, 1.0)], 0.0, 1.0);
        close(l, (sp(0.4) + sp(0.475)) / 2.0);
        let (l, _) = run(vec![(LossType::Sft, 1.0)], 0.0, 1.0);
        close(l, 3.0 / 6.0);
        // Weighted sums.
        let (l, _) = run(
            vec![(LossType::Sigmoid, 1.0), (LossType::Sft, 0.5)],
            0.0,
            1.0,
        );
        close(l, (sp(-0.1) + sp(0.05)) / 2.0 + 0.25);
    }

    #[test]
    fn kto_scores_completions_against_the_mean_log_ratio() {
        let d = Device::Cpu;
        // Three unpaired rows: log-ratios 1, −1, 0.6; z = mean = 0.2.
        let logps = Tensor::new(&[0.0_f32, -2.0, 0.0], &d).unwrap();
        let refs = Tensor::new(&[-1.0_f32, -1.0, -0.6], &d).unwrap();
        let lens = Tensor::new(&[1.0_f32, 1.0, 1.0], &d).unwrap();
        let roles = [
            Role::Unpaired { desirable: true },
            Role::Unpaired { desirable: false },
            Role::Unpaired { desirable: true },
        ];
        let cfg = LossConfig {
            losses: vec![(LossType::Kto, 1.0)],
            beta: 0.5,
            ..LossConfig::default()
        };
        let (loss, m) = compute(&cfg, &logps, &refs, &lens, &roles).unwrap();
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let want = ((1.0 - s(0.5 * 0.8)) + (1.0 - s(0.5 * 1.2)) + (1.0 - s(0.5 * 0.4))) / 3.0;
        close(f64::from(loss.to_scalar::<f32>().unwrap()), want);
        close(m.rewards_chosen, 0.5 * 0.8);
        close(m.rewards_rejected, -0.5);
        // Pair losses refuse unpaired data.
        let cfg = LossConfig::default();
        assert!(compute(&cfg, &logps, &refs, &lens, &roles).is_err());
    }
}
