//! Fused CPU kernels with hand-written backward passes for the decoder's training path:
//! RMSNorm, the SiLU-gated product and the whole attention core (rotary embeddings,
//! grouped-query scores, masked softmax, weighted values).
//!
//! Written from candle's generic operations, each of these is a chain of a dozen tensor
//! operations, every one a full-size temporary in the forward pass and several more in the
//! backward pass. Here each is one pass over memory (plus candle's matrix products inside
//! attention), split over the CPU's threads. The generic versions remain the path on other
//! devices and for generation with a KV cache; tests check both give the same values and
//! gradients.

use crate::fast::{contiguous_f32 as slice, poisoned};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

/// A tensor's values, contiguous.
fn values(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// Runs `f` over a CPU tensor's values (made contiguous first).
fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    crate::fast::with_f32(&t.contiguous()?, f)
}

/// Rows per parallel task of the row-wise kernels.
const ROWS: usize = 16;

/// `x / sqrt(mean(x²) + eps) · w` over the last dimension.
pub struct RmsNorm {
    /// ε.
    pub eps: f32,
    /// Whether `w` is trained (its gradient is computed only then).
    pub w_grad: bool,
}

impl RmsNorm {
    fn inv_rms(&self, row: &[f32]) -> f32 {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
        1.0 / (ms + self.eps).sqrt()
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (slice(xs, xl)?, slice(ws, wl)?);
        let h = w.len();
        if xl.dims().last() != Some(&h) {
            candle_core::bail!("rms-norm: weight of {h} for rows of {:?}", xl.dims());
        }
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(h * ROWS)
            .zip(x.par_chunks(h * ROWS))
            .for_each(|(y, x)| {
                for (y, x) in y.chunks_mut(h).zip(x.chunks(h)) {
                    let r = self.inv_rms(x);
                    for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
                        *y = x * r * w;
                    }
                }
            });
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (x_v, w_v, dy_v) = (values(x)?, values(w)?, values(dy)?);
        let h = w_v.len();
        let mut dx = vec![0f32; x_v.len()];
        // Per task: ∂x of its rows and its share of ∂w.
        let dw_parts: Vec<Vec<f32>> = dx
            .par_chunks_mut(h * ROWS)
            .zip(x_v.par_chunks(h * ROWS))
            .zip(dy_v.par_chunks(h * ROWS))
            .map(|((dx, x), dy)| {
                let mut dw = vec![0f32; if self.w_grad { h } else { 0 }];
                for ((dx, x), dy) in dx.chunks_mut(h).zip(x.chunks(h)).zip(dy.chunks(h)) {
                    let r = self.inv_rms(x);
                    // c = mean(∂y·w·x̂)
                    let c = dy
                        .iter()
                        .zip(&w_v)
                        .zip(x)
                        .map(|((g, w), x)| g * w * x * r)
                        .sum::<f32>()
                        / h as f32;
                    for (i, dx) in dx.iter_mut().enumerate() {
                        let xhat = x[i] * r;
                        *dx = r * (dy[i] * w_v[i] - xhat * c);
                    }
                    if self.w_grad {
                        for ((dw, g), x) in dw.iter_mut().zip(dy).zip(x) {
                            *dw += g * x * r;
                        }
                    }
                }
                dw
            })
            .collect();
        let dx = Tensor::from_vec(dx, x.shape(), x.device())?;
        let dw = if self.w_grad {
            let mut dw = vec![0f32; h];
            for part in dw_parts {
                dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
            }
            Some(Tensor::from_vec(dw, h, w.device())?)
        } else {
            None
        };
        Ok((Some(dx), dw))
    }
}

/// RMSNorm through [`RmsNorm`] (contiguous f32 CPU tensors).
///
/// # Errors
/// Shape mismatches.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64, w_grad: bool) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2(
        &w.contiguous()?,
        RmsNorm {
            eps: eps as f32,
            w_grad,
        },
    )
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// `silu(gate) · up`, elementwise.
pub struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        us: &CpuStorage,
        ul: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, u) = (slice(gs, gl)?, slice(us, ul)?);
        if gl.shape() != ul.shape() {
            candle_core::bail!("silu-mul: shapes {:?} and {:?}", gl.dims(), ul.dims());
        }
        let mut y = vec![0f32; g.len()];
        y.par_chunks_mut(1 << 14)
            .zip(g.par_chunks(1 << 14).zip(u.par_chunks(1 << 14)))
            .for_each(|(y, (g, u))| {
                for ((y, g), u) in y.iter_mut().zip(g).zip(u) {
                    *y = g * sigmoid(*g) * u;
                }
            });
        Ok((CpuStorage::F32(y), gl.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (g, u, d) = (values(gate)?, values(up)?, values(dy)?);
        let mut dg = vec![0f32; g.len()];
        let mut du = vec![0f32; g.len()];
        const C: usize = 1 << 14;
        dg.par_chunks_mut(C)
            .zip(du.par_chunks_mut(C))
            .zip(g.par_chunks(C).zip(u.par_chunks(C)).zip(d.par_chunks(C)))
            .for_each(|((dg, du), ((g, u), d))| {
                for i in 0..g.len() {
                    let s = sigmoid(g[i]);
                    du[i] = d[i] * g[i] * s;
                    dg[i] = d[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
                }
            });
        Ok((
            Some(Tensor::from_vec(dg, gate.shape(), gate.device())?),
            Some(Tensor::from_vec(du, up.shape(), up.device())?),
        ))
    }
}

/// `silu(gate) · up` through [`SiluMul`].
///
/// # Errors
/// Shape mismatches.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, SiluMul)
}

/// Causal self-attention of a whole sequence (no cache), from the projections' outputs to the
/// input of the output projection: rotary embeddings on queries and keys, scores of each
/// query head against its key-value head (the `rep` query heads that share one are stacked,
/// so keys and values are never repeated), the masked softmax and the weighted sum of values.
///
/// Inputs `q` `[b, t, heads·d]`, `k` and `v` `[b, t, kv_heads·d]`; output `[b, t, heads·d]`.
pub struct Attention {
    /// Batch rows, positions, query heads, key-value heads, head size.
    pub dims: (usize, usize, usize, usize, usize),
    /// Rotary tables `[t, d]` (position p's angle for each dimension).
    pub cos: Vec<f32>,
    /// See `cos`.
    pub sin: Vec<f32>,
    /// Rotated pairs are adjacent (2i, 2i+1) rather than halves (i, i+d/2).
    pub interleaved: bool,
    /// 1 for a real key, 0 for padding, `[b, t]`.
    pub key_mask: Option<Vec<f32>>,
    /// Softmax temperature, 1/√d.
    pub scale: f32,
    /// Rotated queries, rotated keys, values (head-major) and the attention weights, kept by
    /// the forward pass for the backward one.
    pub saved: Mutex<Option<[Tensor; 4]>>,
}

impl Attention {
    /// The index pairs that rotate together and the table column of their angle.
    fn pairs(&self) -> Vec<(usize, usize)> {
        let d = self.dims.4;
        if self.interleaved {
            (0..d / 2).map(|i| (2 * i, 2 * i + 1)).collect()
        } else {
            (0..d / 2).map(|i| (i, i + d / 2)).collect()
        }
    }

    /// Rearranges `[b, t, heads·d]` into head-major `[b, kv, rep·t, d]` (or `[b, kv, t, d]`
    /// for keys and values, `rep` = 1), rotating by position when `rotate` is set
    /// (`inverse` rotates back: the transpose, for gradients).
    fn to_heads(&self, src: &[f32], heads: usize, rotate: bool) -> Vec<f32> {
        let (_, t, _, nkv, d) = self.dims;
        let rep = heads / nkv;
        let pairs = self.pairs();
        let mut out = vec![0f32; src.len()];
        // One task per (batch row, kv head): a block of rep·t·d values.
        out.par_chunks_mut(rep * t * d)
            .enumerate()
            .for_each(|(bk, block)| {
                let (bi, kv) = (bk / nkv, bk % nkv);
                for r in 0..rep {
                    let head = kv * rep + r;
                    for p in 0..t {
                        let from = &src[(bi * t + p) * heads * d + head * d..][..d];
                        let to = &mut block[(r * t + p) * d..][..d];
                        if rotate {
                            let (c, s) = (&self.cos[p * d..][..d], &self.sin[p * d..][..d]);
                            for &(a, z) in &pairs {
                                to[a] = from[a] * c[a] - from[z] * s[a];
                                to[z] = from[z] * c[a] + from[a] * s[a];
                            }
                        } else {
                            to.copy_from_slice(from);
                        }
                    }
                }
            });
        out
    }

    /// The inverse of [`Self::to_heads`] for gradients: head-major back to `[b, t, heads·d]`,
    /// applying the transposed rotation when `rotate` is set.
    fn heads_back(&self, src: &[f32], heads: usize, rotate: bool) -> Vec<f32> {
        let (_, t, _, nkv, d) = self.dims;
        let rep = heads / nkv;
        let pairs = self.pairs();
        let mut out = vec![0f32; src.len()];
        // One task per (batch row, position): heads·d values.
        out.par_chunks_mut(heads * d)
            .enumerate()
            .for_each(|(bp, row)| {
                let (bi, p) = (bp / t, bp % t);
                for head in 0..heads {
                    let (kv, r) = (head / rep, head % rep);
                    let from = &src[((bi * nkv + kv) * rep * t + r * t + p) * d..][..d];
                    let to = &mut row[head * d..][..d];
                    if rotate {
                        let (c, s) = (&self.cos[p * d..][..d], &self.sin[p * d..][..d]);
                        for &(a, z) in &pairs {
                            to[a] = from[a] * c[a] + from[z] * s[a];
                            to[z] = from[z] * c[a] - from[a] * s[a];
                        }
                    } else {
                        to.copy_from_slice(from);
                    }
                }
            });
        out
    }

    /// Whether query position `i` may attend to key `j` of batch row `bi`.
    fn visible(&self, bi: usize, i: usize, j: usize) -> bool {
        j <= i
            && self
                .key_mask
                .as_ref()
                .is_none_or(|m| m[bi * self.dims.1 + j] > 0.0)
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, t, nh, nkv, d) = self.dims;
        if ql.dims() != [b, t, nh * d] || kl.dims() != [b, t, nkv * d] || vl.dims() != kl.dims() {
            candle_core::bail!(
                "attention: q {:?}, k {:?}, v {:?} for {:?}",
                ql.dims(),
                kl.dims(),
                vl.dims(),
                self.dims
            );
        }
        if nkv == 0 || nh % nkv != 0 || self.cos.len() < t * d {
            candle_core::bail!("attention: bad head counts or rotary tables");
        }
        let rep = nh / nkv;
        let dev = candle_core::Device::Cpu;
        let q = Tensor::from_vec(
            self.to_heads(slice(qs, ql)?, nh, true),
            (b, nkv, rep * t, d),
            &dev,
        )?;
        let k = Tensor::from_vec(
            self.to_heads(slice(ks, kl)?, nkv, true),
            (b, nkv, t, d),
            &dev,
        )?;
        let v = Tensor::from_vec(
            self.to_heads(slice(vs, vl)?, nkv, false),
            (b, nkv, t, d),
            &dev,
        )?;
        let scores = q.matmul(&k.t()?)?;
        // Masked softmax of each row (one query of one head).
        let mut p = vec![0f32; b * nkv * rep * t * t];
        with_values(&scores, |s| {
            p.par_chunks_mut(t)
                .zip(s.par_chunks(t))
                .enumerate()
                .for_each(|(row, (p, s))| {
                    let bi = row / (nkv * rep * t);
                    let i = row % t;
                    let mut top = f32::NEG_INFINITY;
                    for (j, s) in s.iter().enumerate() {
                        if self.visible(bi, i, j) {
                            top = top.max(s * self.scale);
                        }
                    }
                    if top == f32::NEG_INFINITY {
                        return; // nothing visible: a padding query, left at zero
                    }
                    let mut sum = 0.0;
                    for j in 0..t {
                        if self.visible(bi, i, j) {
                            p[j] = (s[j] * self.scale - top).exp();
                            sum += p[j];
                        }
                    }
                    p.iter_mut().for_each(|v| *v /= sum);
                });
        })?;
        let p = Tensor::from_vec(p, (b, nkv, rep * t, t), &dev)?;
        let o = p.matmul(&v)?;
        let out = with_values(&o, |o| self.heads_back(o, nh, false))?;
        *self.saved.lock().map_err(poisoned)? = Some([q, k, v, p]);
        Ok((CpuStorage::F32(out), Shape::from((b, t, nh * d))))
    }

    fn bwd(
        &self,
        q_in: &Tensor,
        k_in: &Tensor,
        v_in: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, t, nh, nkv, d) = self.dims;
        let rep = nh / nkv;
        let dev = candle_core::Device::Cpu;
        let Some([q, k, v, p]) = self.saved.lock().map_err(poisoned)?.take() else {
            candle_core::bail!("attention: backward without a forward pass");
        };
        let d_o = with_values(grad, |g| self.to_heads(g, nh, false))?;
        let d_o = Tensor::from_vec(d_o, (b, nkv, rep * t, d), &dev)?;
        let dv = p.t()?.matmul(&d_o)?;
        let dp = d_o.matmul(&v.t()?)?;
        // ∂s = scale · p ⊙ (∂p − Σⱼ ∂p·p), row by row.
        let mut ds = vec![0f32; b * nkv * rep * t * t];
        with_values(&p, |p| {
            with_values(&dp, |dp| {
                ds.par_chunks_mut(t)
                    .zip(p.par_chunks(t).zip(dp.par_chunks(t)))
                    .for_each(|(ds, (p, dp))| {
                        let dot = p.iter().zip(dp).map(|(a, b)| a * b).sum::<f32>();
                        for j in 0..t {
                            ds[j] = self.scale * p[j] * (dp[j] - dot);
                        }
                    });
            })
        })??;
        let ds = Tensor::from_vec(ds, (b, nkv, rep * t, t), &dev)?;
        let dq = ds.matmul(&k)?;
        let dk = ds.t()?.matmul(&q)?;
        let dq = with_values(&dq, |x| self.heads_back(x, nh, true))?;
        let dk = with_values(&dk, |x| self.heads_back(x, nkv, true))?;
        let dv = with_values(&dv, |x| self.heads_back(x, nkv, false))?;
        Ok((
            Some(Tensor::from_vec(dq, q_in.shape(), q_in.device())?),
            Some(Tensor::from_vec(dk, k_in.shape(), k_in.device())?),
            Some(Tensor::from_vec(dv, v_in.shape(), v_in.device())?),
        ))
    }
}

/// A frozen projection with a LoRA adapter, `x·Wᵀ + scale · (x·Aᵀ)·Bᵀ`, as one op: `x`
/// `[rows, in]`, `A` `[r, in]`, `B` `[out, r]`, the frozen weight kept as `Wᵀ` `[in, out]`.
/// The backward pass computes `∂x`, `∂A` and `∂B` only (never the frozen weight's gradient),
/// with the rank-r products shared between them.
pub struct LoraProject {
    /// The input, detached.
    pub x: Tensor,
    /// The frozen weight as `[in, out]`.
    pub w_t: Tensor,
    /// The frozen weight as `[out, in]`, contiguous, when kept (a faster backward product).
    pub w: Option<Tensor>,
    /// The adapter's A, detached.
    pub a: Tensor,
    /// The adapter's B, detached.
    pub b: Tensor,
    /// alpha / r.
    pub scale: f32,
    /// `x·Aᵀ`, kept by the forward pass for the backward one.
    pub saved: Mutex<Option<Tensor>>,
}

/// `p + scale · q` elementwise, into a new vector.
fn add_scaled(p: &Tensor, q: &Tensor, scale: f32) -> candle_core::Result<Vec<f32>> {
    with_values(p, |p| {
        with_values(q, |q| {
            let mut out = vec![0f32; p.len()];
            out.par_chunks_mut(1 << 14)
                .zip(p.par_chunks(1 << 14).zip(q.par_chunks(1 << 14)))
                .for_each(|(o, (p, q))| {
                    for ((o, p), q) in o.iter_mut().zip(p).zip(q) {
                        *o = p + scale * q;
                    }
                });
            out
        })
    })?
}

impl CustomOp3 for LoraProject {
    fn name(&self) -> &'static str {
        "lora-project"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let base = self.x.matmul(&self.w_t)?;
        let u = self.x.matmul(&self.a.t()?)?;
        let delta = u.matmul(&self.b.t()?)?;
        let out = add_scaled(&base, &delta, self.scale)?;
        *self.saved.lock().map_err(poisoned)? = Some(u);
        Ok((CpuStorage::F32(out), base.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(u) = self.saved.lock().map_err(poisoned)?.take() else {
            candle_core::bail!("lora-project: backward without a forward pass");
        };
        let g = grad.contiguous()?;
        let gb = g.matmul(&self.b)?;
        let w = match &self.w {
            Some(w) => w.clone(),
            None => self.w_t.t()?,
        };
        let dx = add_scaled(&g.matmul(&w)?, &gb.matmul(&self.a)?, self.scale)?;
        let s = f64::from(self.scale);
        let da = (gb.t()?.matmul(&self.x)? * s)?;
        let db = (g.t()?.matmul(&u)? * s)?;
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(da),
            Some(db),
        ))
    }
}
