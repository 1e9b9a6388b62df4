//! Operations of the generic path (GPUs, and the CPU below f32) that keep less for their
//! backward pass than candle's composed operations, on any device.
//!
//! Each value is computed first with candle's operations on detached tensors, so none of its
//! intermediates stay alive for the backward pass; a custom op then hands that value back as
//! its output and carries a backward pass written from tensors (README, "Training on NVIDIA
//! GPUs"). What the backward keeps is the op's input and output, in the compute dtype:
//!
//! - [`head_logps`], the output head's log-probs of the labels: it never keeps the
//!   `[positions, vocabulary]` logits; forward and backward recompute them by pieces of rows
//!   (about 64 MiB in f32 each) from the hidden states and the head's weight.
//! - [`logsumexp`] of logits' rows, for a head with an adapter or a bias: a composed log-softmax
//!   kept four f32 `[positions, vocabulary]` tensors; this keeps the logits only, and works
//!   through the rows by pieces, forward and backward.
//! - [`attention`]: composed, with its softmax in f32, it kept the scores and the weights in the
//!   compute dtype and four f32 tensors of their size (`[t, s]` per head); this keeps q, k, v and
//!   the output, and recomputes the weights in the backward pass.
//! - [`rms_norm`]: composed in f32, it kept four f32 tensors of the hidden states' size; this
//!   keeps its input and output.
//! - [`silu_mul`], the MLP's `silu(gate) · up`: composed, it kept σ(gate) and silu(gate) as
//!   well; this keeps gate, up and the product.

use candle_core::{
    CpuStorage, CudaStorage, CustomOp1, CustomOp2, CustomOp3, D, DType, Layout, Result, Shape,
    Storage, Tensor,
};

/// A value computed beforehand, handed back as a custom op's output.
fn stored(value: &Tensor) -> Result<(Storage, Shape)> {
    let (storage, layout) = value.storage_and_layout();
    // A fresh operation's result: its storage holds exactly these elements, in order.
    if !layout.is_contiguous() || layout.start_offset() != 0 {
        candle_core::bail!("a precomputed value must be a contiguous tensor of its own");
    }
    Ok((storage.try_clone(layout)?, value.shape().clone()))
}

fn on_cpu(name: &str, value: &Tensor) -> Result<(CpuStorage, Shape)> {
    match stored(value)? {
        (Storage::Cpu(s), shape) => Ok((s, shape)),
        _ => candle_core::bail!("{name}: the value is not on the CPU"),
    }
}

fn on_cuda(name: &str, value: &Tensor) -> Result<(CudaStorage, Shape)> {
    match stored(value)? {
        (Storage::Cuda(s), shape) => Ok((s, shape)),
        _ => candle_core::bail!("{name}: the value is not on a CUDA GPU"),
    }
}

/// The CPU and CUDA forward passes of an op whose value was computed beforehand
/// (`self.value`), given unused names for each input's storage and layout.
macro_rules! stored_forward {
    ($($storage:ident $layout:ident),+) => {
        fn cpu_fwd(
            &self,
            $($storage: &CpuStorage, $layout: &Layout),+
        ) -> Result<(CpuStorage, Shape)> {
            on_cpu(self.name(), &self.value)
        }

        fn cuda_fwd(
            &self,
            $($storage: &CudaStorage, $layout: &Layout),+
        ) -> Result<(CudaStorage, Shape)> {
            on_cuda(self.name(), &self.value)
        }
    };
}

/// Elements of one piece of the head's work ([`head_logps`], [`logsumexp`]): 64 MiB in f32.
const PIECE: usize = 1 << 24;

/// `f(start, len)` for consecutive pieces of `rows` rows of `cols` columns, each of about
/// `piece` elements, concatenated along the rows.
fn by_rows(
    rows: usize,
    cols: usize,
    piece: usize,
    f: impl Fn(usize, usize) -> Result<Tensor>,
) -> Result<Tensor> {
    let step = (piece / cols.max(1)).max(1);
    if rows <= step {
        return f(0, rows);
    }
    let pieces = (0..rows)
        .step_by(step)
        .map(|start| f(start, step.min(rows - start)))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&pieces, 0)
}

/// `log Σ exp(x)` over each row of `x` (`[rows, columns]`, any float dtype), in f32 (`[rows]`).
///
/// # Errors
/// Shape or device failures.
pub fn logsumexp(x: &Tensor) -> Result<Tensor> {
    logsumexp_by(x, PIECE)
}

/// [`logsumexp`] in pieces of `piece` elements.
fn logsumexp_by(x: &Tensor, piece: usize) -> Result<Tensor> {
    let (rows, cols) = x.dims2()?;
    let detached = x.detach();
    let value = by_rows(rows, cols, piece, |start, len| {
        let x = detached.narrow(0, start, len)?.to_dtype(DType::F32)?;
        let max = x.max_keepdim(D::Minus1)?;
        (x.broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + max)?
            .squeeze(D::Minus1)
    })?;
    x.apply_op1(LogSumExp { value, piece })
}

struct LogSumExp {
    value: Tensor,
    piece: usize,
}

impl CustomOp1 for LogSumExp {
    fn name(&self) -> &'static str {
        "logsumexp"
    }

    stored_forward!(_s _l);

    /// `∂/∂x = softmax(x) · g`, the softmax recomputed from `x` and the result, by pieces.
    fn bwd(&self, x: &Tensor, lse: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (rows, cols) = x.dims2()?;
        let dx = by_rows(rows, cols, self.piece, |start, len| {
            let p = x
                .narrow(0, start, len)?
                .to_dtype(DType::F32)?
                .broadcast_sub(&lse.narrow(0, start, len)?.unsqueeze(D::Minus1)?)?
                .exp()?;
            p.broadcast_mul(&grad.narrow(0, start, len)?.unsqueeze(D::Minus1)?)?
                .to_dtype(x.dtype())
        })?;
        Ok(Some(dx))
    }
}

/// `log softmax(x · wᵀ)[label]` for each row of `x` (`[rows, hidden]`, the compute dtype) with
/// the head `w` (`[vocabulary, hidden]`, cast to `x`'s dtype), in f32 (`[rows]`). `w_grad`:
/// whether `w` trains (a frozen head gets no gradient computed).
///
/// # Errors
/// Shape or device failures.
pub fn head_logps(x: &Tensor, w: &Tensor, labels: &[u32], w_grad: bool) -> Result<Tensor> {
    head_logps_by(x, w, labels, w_grad, PIECE)
}

/// [`head_logps`] in pieces of about `piece` logits.
fn head_logps_by(
    x: &Tensor,
    w: &Tensor,
    labels: &[u32],
    w_grad: bool,
    piece: usize,
) -> Result<Tensor> {
    let (rows, _) = x.dims2()?;
    let (vocab, _) = w.dims2()?;
    let labels = Tensor::from_slice(labels, (rows, 1), x.device())?;
    let (xd, wd) = (x.detach(), w.detach().to_dtype(x.dtype())?);
    // Log-sum-exp and the label's logit, piece by piece.
    let both = by_rows(rows, vocab, piece, |start, len| {
        let logits = xd
            .narrow(0, start, len)?
            .matmul(&wd.t()?)?
            .to_dtype(DType::F32)?;
        let picked = logits.gather(&labels.narrow(0, start, len)?, D::Minus1)?;
        let max = logits.max_keepdim(D::Minus1)?;
        let lse = (logits
            .broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + max)?;
        Tensor::cat(&[&picked, &lse], D::Minus1)
    })?;
    let lse = both.narrow(D::Minus1, 1, 1)?.contiguous()?;
    let value = (both.narrow(D::Minus1, 0, 1)? - &lse)?
        .squeeze(D::Minus1)?
        .contiguous()?;
    x.apply_op2(
        w,
        HeadLogps {
            value,
            lse,
            labels,
            w_grad,
            piece,
        },
    )
}

struct HeadLogps {
    value: Tensor,
    /// `[rows, 1]`, f32.
    lse: Tensor,
    /// `[rows, 1]`, u32.
    labels: Tensor,
    w_grad: bool,
    piece: usize,
}

impl CustomOp2 for HeadLogps {
    fn name(&self) -> &'static str {
        "head-logps"
    }

    stored_forward!(_s1 _l1, _s2 _l2);

    /// `∂logits = g · (onehot(label) − softmax)`, recomputed by pieces of rows; `∂x = ∂logits · w`
    /// and `∂w = Σ ∂logitsᵀ · x` over the pieces (in f32).
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, _) = x.dims2()?;
        let (vocab, _) = w.dims2()?;
        let (xd, wd) = (x.detach(), w.detach().to_dtype(x.dtype())?);
        let grad = grad.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
        let mut dw: Option<Tensor> = None;
        let mut dx = Vec::new();
        let step = (self.piece / vocab.max(1)).max(1);
        for start in (0..rows).step_by(step) {
            let len = step.min(rows - start);
            let xp = xd.narrow(0, start, len)?;
            let g = grad.narrow(0, start, len)?;
            let p = xp
                .matmul(&wd.t()?)?
                .to_dtype(DType::F32)?
                .broadcast_sub(&self.lse.narrow(0, start, len)?)?
                .exp()?;
            let dlogits = p
                .broadcast_mul(&g.neg()?)?
                .scatter_add(&self.labels.narrow(0, start, len)?, &g, D::Minus1)?
                .to_dtype(x.dtype())?;
            dx.push(dlogits.matmul(&wd)?);
            if self.w_grad {
                let part = dlogits.t()?.matmul(&xp)?.to_dtype(DType::F32)?;
                dw = Some(match dw {
                    Some(acc) => (acc + part)?,
                    None => part,
                });
            }
        }
        let dx = Tensor::cat(&dx, 0)?;
        let dw = dw.map(|d| d.to_dtype(w.dtype())).transpose()?;
        Ok((Some(dx), dw))
    }
}

/// Attention, `softmax(scale · q·kᵀ + mask) · v`, for grouped queries: `q` is
/// `[batch, groups, rep · t, d]` (the `rep` query heads that share a key/value head, stacked),
/// `k` and `v` are `[batch, groups, s, d]`, and `mask` (f32, additive) broadcasts to
/// `[batch, groups · rep, t, s]`. The softmax is computed in f32, the products in `q`'s dtype;
/// the result is `[batch, groups, rep · t, d]`. The backward pass recomputes the attention
/// weights from `q` and `k`, so no `[t, s]` tensor is kept.
///
/// # Errors
/// Shape or device failures.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let value = attention_weights(&q.detach(), &k.detach(), mask, scale)?
        .to_dtype(q.dtype())?
        .matmul(&v.detach())?
        .contiguous()?;
    q.apply_op3(
        k,
        v,
        Attention {
            mask: mask.clone(),
            scale,
            value,
        },
    )
}

/// [`attention`]'s weights in f32, `[batch, groups, rep · t, s]`.
fn attention_weights(q: &Tensor, k: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let (b, g, rt, _) = q.dims4()?;
    let s = k.dim(2)?;
    let (_, _, t, _) = mask.dims4()?;
    let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
    let scores = (scores.reshape((b, g * rt / t, t, s))? * scale)?.broadcast_add(mask)?;
    candle_nn::ops::softmax_last_dim(&scores.contiguous()?)?.reshape((b, g, rt, s))
}

struct Attention {
    mask: Tensor,
    scale: f64,
    value: Tensor,
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }

    stored_forward!(_s1 _l1, _s2 _l2, _s3 _l3);

    /// With `P` the weights recomputed: `∂v = Pᵀ·g`, `∂P = g·vᵀ`,
    /// `∂S = P ⊙ (∂P − Σ ∂P ⊙ P)` in f32, `∂q = scale · ∂S·k`, `∂k = scale · ∂Sᵀ·q`; the
    /// products in the inputs' dtype.
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dt = q.dtype();
        let (q, k, v) = (q.detach(), k.detach(), v.detach());
        let p = attention_weights(&q, &k, &self.mask, self.scale)?;
        let g = grad.to_dtype(dt)?;
        let dv = p.to_dtype(dt)?.t()?.matmul(&g)?;
        let dp = g.matmul(&v.t()?)?.to_dtype(DType::F32)?;
        let dot = (&dp * &p)?.sum_keepdim(D::Minus1)?;
        let ds = ((p * dp.broadcast_sub(&dot)?)? * self.scale)?.to_dtype(dt)?;
        let dq = ds.matmul(&k)?;
        let dk = ds.t()?.matmul(&q)?;
        Ok((Some(dq), Some(dk), Some(dv.to_dtype(v.dtype())?)))
    }
}

/// `x / sqrt(mean(x²) + eps) · w` over the last dimension: the normalisation in f32, the
/// result in `x`'s dtype (the weight cast to it), as [`crate::model::rms_norm`] composes it.
///
/// # Errors
/// Shape or device failures.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let value = {
        let n = normalized(&x.detach(), eps)?.to_dtype(x.dtype())?;
        n.broadcast_mul(&w.detach().to_dtype(x.dtype())?)?
            .contiguous()?
    };
    x.apply_op2(w, RmsNorm { value, eps })
}

/// `x / sqrt(mean(x²) + eps)` in f32.
fn normalized(x: &Tensor, eps: f64) -> Result<Tensor> {
    let x = x.to_dtype(DType::F32)?;
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)
}

struct RmsNorm {
    value: Tensor,
    eps: f64,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    stored_forward!(_s1 _l1, _s2 _l2);

    /// With `n = x·r`, `r = 1/sqrt(mean(x²) + eps)`: `∂w = Σ g ⊙ n` over every position and
    /// `∂x = r · (g⊙w − n · mean(g⊙w⊙n))`, recomputed in f32 from `x`.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let xf = x.to_dtype(DType::F32)?;
        let r = (xf.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
            .sqrt()?
            .recip()?;
        let n = xf.broadcast_mul(&r)?;
        let g = grad.to_dtype(DType::F32)?;
        let h = n.dim(D::Minus1)?;
        let dw = (&g * &n)?.reshape(((), h))?.sum(0)?.to_dtype(w.dtype())?;
        let gw = g.broadcast_mul(&w.to_dtype(DType::F32)?)?;
        let dot = (&gw * &n)?.mean_keepdim(D::Minus1)?;
        let dx = gw
            .broadcast_sub(&n.broadcast_mul(&dot)?)?
            .broadcast_mul(&r)?
            .to_dtype(x.dtype())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// `silu(gate) · up` (`silu(x) = x·σ(x)`), in the inputs' dtype.
///
/// # Errors
/// Shape or device failures.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    let value = (gate.detach().silu()? * up.detach())?.contiguous()?;
    gate.apply_op2(up, SiluMul { value })
}

struct SiluMul {
    value: Tensor,
}

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul"
    }

    stored_forward!(_s1 _l1, _s2 _l2);

    /// `∂up = g · silu(gate)`, `∂gate = g · up · σ(gate) · (1 + gate · (1 − σ(gate)))`, in f32.
    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let a = gate.to_dtype(DType::F32)?;
        let s = candle_nn::ops::sigmoid(&a)?;
        let g = grad.to_dtype(DType::F32)?;
        let dup = (&g * (&a * &s)?)?.to_dtype(up.dtype())?;
        let slope = (&s * ((&a * (1.0 - &s)?)? + 1.0)?)?;
        let dgate = ((g * up.to_dtype(DType::F32)?)? * slope)?.to_dtype(gate.dtype())?;
        Ok((Some(dgate), Some(dup)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{D, DType, Device, Tensor, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < tol, "differ by {d}");
    }

    fn input(dims: &[usize]) -> Var {
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 * 0.13).sin() * 3.0)
            .collect();
        Var::from_tensor(&Tensor::from_vec(v, dims, &Device::Cpu).unwrap()).unwrap()
    }

    #[test]
    fn logsumexp_and_its_gradient_match_the_composed_operations() {
        let x = input(&[5, 7]);
        let w = Tensor::new(&[1.0f32, -2.0, 0.5, 3.0, 0.1], &Device::Cpu).unwrap();
        let composed = x
            .as_tensor()
            .exp()
            .unwrap()
            .sum(D::Minus1)
            .unwrap()
            .log()
            .unwrap();
        let g2 = (&composed * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        // In one piece, in pieces of two rows (the last of one), and row by row.
        for piece in [super::PIECE, 14, 1] {
            let lean = super::logsumexp_by(x.as_tensor(), piece).unwrap();
            assert_eq!(lean.dtype(), DType::F32);
            close(&lean, &composed, 1e-5);
            let g1 = (&lean * &w).unwrap().sum_all().unwrap().backward().unwrap();
            close(g1.get(&x).unwrap(), g2.get(&x).unwrap(), 1e-5);
        }
    }

    #[test]
    fn head_logps_and_its_gradients_match_the_composed_operations() {
        let (x, w) = (input(&[5, 4]), input(&[7, 4]));
        let labels = [3u32, 0, 6, 6, 1];
        let weights = Tensor::new(&[1.0f32, -2.0, 0.5, 3.0, 0.1], &Device::Cpu).unwrap();
        let composed = candle_nn::ops::log_softmax(
            &x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap(),
            D::Minus1,
        )
        .unwrap()
        .gather(
            &Tensor::new(&labels, &Device::Cpu)
                .unwrap()
                .unsqueeze(1)
                .unwrap(),
            1,
        )
        .unwrap()
        .squeeze(1)
        .unwrap();
        let g2 = (&composed * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        // In one piece, in pieces of two rows (the last of one), and row by row.
        for (w_grad, piece) in [(true, super::PIECE), (true, 14), (false, 14), (true, 7)] {
            let lean =
                super::head_logps_by(x.as_tensor(), w.as_tensor(), &labels, w_grad, piece).unwrap();
            assert_eq!(lean.dtype(), DType::F32);
            close(&lean, &composed, 1e-5);
            let g1 = (&lean * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            close(g1.get(&x).unwrap(), g2.get(&x).unwrap(), 1e-5);
            match g1.get(&w) {
                Some(gw) => {
                    assert!(w_grad);
                    close(gw, g2.get(&w).unwrap(), 1e-5);
                }
                None => assert!(!w_grad),
            }
        }
    }

    #[test]
    fn rms_norm_and_silu_mul_and_their_gradients_match_the_composed_operations() {
        let (x, w) = (input(&[2, 3, 8]), input(&[8]));
        let up = input(&[2, 3, 8]);
        let weights = input(&[2, 3, 8]).as_tensor().sin().unwrap();
        let check = |lean: Tensor, composed: Tensor, vars: &[&Var]| {
            close(&lean, &composed, 1e-5);
            let g1 = (&lean * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (&composed * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in vars {
                close(g1.get(v).unwrap(), g2.get(v).unwrap(), 1e-4);
            }
        };
        check(
            super::rms_norm(x.as_tensor(), w.as_tensor(), 1e-5).unwrap(),
            crate::model::rms_norm(x.as_tensor(), w.as_tensor(), 1e-5).unwrap(),
            &[&x, &w],
        );
        let gate = x.as_tensor();
        let composed = (gate * candle_nn::ops::sigmoid(gate).unwrap())
            .unwrap()
            .mul(up.as_tensor())
            .unwrap();
        check(
            super::silu_mul(gate, up.as_tensor()).unwrap(),
            composed,
            &[&x, &up],
        );
    }

    #[test]
    fn attention_and_its_gradients_match_the_composed_operations() {
        // Two batches, two key/value heads with two query heads each, 4 queries, 6 keys.
        let (b, g, rep, t, s, d) = (2, 2, 2, 4, 6, 3);
        let q = input(&[b, g, rep * t, d]);
        let k = input(&[b, g, s, d]);
        let v = input(&[b, g, s, d]);
        // Causal with two cached keys, and one padded key in the second batch.
        let mut mask = vec![0f32; b * t * s];
        for bi in 0..b {
            for i in 0..t {
                for j in 0..s {
                    if j > i + 2 || (bi == 1 && j == 0) {
                        mask[(bi * t + i) * s + j] = -1e9;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(mask, (b, 1, t, s), &Device::Cpu).unwrap();
        let weights = input(&[b, g, rep * t, d]).as_tensor().sin().unwrap();
        let lean =
            super::attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), &mask, 0.5).unwrap();
        // The composed operations, with keys and values repeated for each query head.
        let heads = |x: &Tensor, n: usize| {
            x.unsqueeze(2)
                .unwrap()
                .broadcast_as((b, g, rep, n, d))
                .unwrap()
                .reshape((b, g * rep, n, d))
                .unwrap()
        };
        let q4 = q.as_tensor().reshape((b, g * rep, t, d)).unwrap();
        let scores = (q4.matmul(&heads(k.as_tensor(), s).t().unwrap()).unwrap() * 0.5)
            .unwrap()
            .broadcast_add(&mask)
            .unwrap();
        let composed = candle_nn::ops::softmax(&scores, D::Minus1)
            .unwrap()
            .matmul(&heads(v.as_tensor(), s))
            .unwrap()
            .reshape((b, g, rep * t, d))
            .unwrap();
        close(&lean, &composed, 1e-5);
        let g1 = (&lean * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (&composed * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for x in [&q, &k, &v] {
            close(g1.get(x).unwrap(), g2.get(x).unwrap(), 1e-5);
        }
    }
}
