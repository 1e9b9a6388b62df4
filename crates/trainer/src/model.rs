//! A Llama/Qwen2-family decoder. On the CPU its hot blocks run as the fused kernels of
//! `fused.rs` and `fast.rs`, which carry their own backward passes; elsewhere (and with
//! `Decoder::set_fused(false)`) it uses operations candle can differentiate and the lean ops of
//! `lean.rs` (RMSNorm, SiLU gate, attention, the head's log-probs: candle's values,
//! backward passes that keep less), never candle's fused softmax, RMSNorm or rotary kernels
//! with the graph, which have no backward pass (docs/design.md §6).
//! Weights keep their Hugging Face names, are loaded from `*.safetensors` in f32, and are
//! trainable either all (full fine-tuning) or through LoRA adapters on chosen projections.
//!
//! Mixed precision ([`Decoder::set_dtype`]): the matrix products and activations run in bf16
//! (or f16) while the trainable weights stay f32 masters, cast at each use, so their gradients
//! and the optimiser's state are f32; norms, attention's softmax and the output log-softmax
//! are computed in f32. A frozen base (LoRA) is held in the compute dtype.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use candle_core::{D, DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use crate::config::ModelConfig;

/// LoRA settings: rank, alpha and the projections that get adapters.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank r.
    pub rank: usize,
    /// Scale numerator: the update is `alpha / r · B·A`.
    pub alpha: f64,
    /// Projection names, from [`LORA_TARGETS`]: e.g. `q_proj`, `k_proj`, `v_proj`, `o_proj`.
    pub targets: Vec<String>,
    /// Seed of A's initialisation (B starts at zero, so training starts from the base model).
    pub seed: u64,
}

/// The projections LoRA can target: attention's, the MLP's, and the output head where the
/// model does not tie it to the embeddings.
pub const LORA_TARGETS: [&str; 8] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "lm_head",
];

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 16,
            alpha: 32.0,
            targets: ["q_proj", "k_proj", "v_proj", "o_proj"]
                .map(String::from)
                .to_vec(),
            seed: 0,
        }
    }
}

/// A projection `x·Wᵀ (+ b)`, optionally with a LoRA adapter `scale · x·Aᵀ·Bᵀ`. The weight is
/// kept transposed (`Wᵀ`, `[in, out]`, contiguous): the forward product and its gradient then
/// need no transposed copies; checkpoints store `W` under its Hugging Face name.
#[derive(Debug, Clone)]
pub struct Linear {
    weight_t: Tensor,
    bias: Option<Tensor>,
    lora: Option<(Tensor, Tensor, f64)>,
    /// The weight is not trained (LoRA's base): its gradient is never computed.
    frozen: bool,
    /// A frozen weight also as `W` (`[out, in]`, contiguous), for fast backward products.
    weight: Option<Tensor>,
}

/// `t` in `dtype`: itself when it already is, else a cast that gradients flow back through.
fn cast(t: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    if t.dtype() == dtype {
        Ok(t.clone())
    } else {
        t.to_dtype(dtype)
    }
}

/// `x·R` (`R` is `[in, out]`); for a frozen f32 `R` on the CPU, through the op whose backward
/// skips `∂R`.
/// `rhs_t`, when given, is `Rᵀ` contiguous: the backward product `∂y·Rᵀ` then reads a
/// contiguous operand, which gemm multiplies up to twice as fast as a transposed view.
fn project(
    x: &Tensor,
    rhs: &Tensor,
    frozen: bool,
    rhs_t: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    if frozen && x.device().is_cpu() && x.dtype() == DType::F32 && rhs.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(crate::fast::FrozenMatmul {
            rhs: rhs.clone(),
            rhs_t: rhs_t.cloned(),
        })
    } else {
        x.matmul(rhs)
    }
}

impl Linear {
    /// `fused`: adapters go through the fused CPU op ([`crate::fused::LoraProject`]). Computes
    /// in `x`'s dtype, casting the weights to it.
    fn forward(&self, x: &Tensor, fused: bool) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let dt = x.dtype();
        let flat = x.reshape((b * t, d))?;
        let weight_t = cast(&self.weight_t, dt)?;
        let mut y = match &self.lora {
            Some((a, bb, scale)) if fused => {
                let flat = flat.contiguous()?;
                flat.apply_op3(
                    a,
                    bb,
                    crate::fused::LoraProject {
                        x: flat.detach(),
                        w_t: self.weight_t.detach(),
                        w: self.weight.clone(),
                        a: a.detach(),
                        b: bb.detach(),
                        scale: *scale as f32,
                        saved: std::sync::Mutex::new(None),
                    },
                )?
            }
            Some((a, bb, scale)) => {
                let delta = flat
                    .matmul(&cast(a, dt)?.t()?)?
                    .matmul(&cast(bb, dt)?.t()?)?;
                (project(&flat, &weight_t, self.frozen, self.weight.as_ref())? + (delta * *scale)?)?
            }
            None => project(&flat, &weight_t, self.frozen, self.weight.as_ref())?,
        };
        if let Some(bias) = &self.bias {
            y = y.broadcast_add(&cast(bias, dt)?)?;
        }
        y.reshape((b, t, ()))
    }

    /// The weight with the adapter merged in, in f32.
    fn merged(&self) -> candle_core::Result<Tensor> {
        let w = self.weight_t.t()?.to_dtype(DType::F32)?;
        match &self.lora {
            Some((a, b, scale)) => w.add(&(b.matmul(a)? * *scale)?),
            None => w.contiguous(),
        }
    }

    /// A frozen projection in `dtype` (its adapter stays f32: it trains).
    fn frozen_in(&mut self, dtype: DType) -> candle_core::Result<()> {
        self.weight_t = cast(&self.weight_t, dtype)?;
        self.weight = self.weight.as_ref().map(|w| cast(w, dtype)).transpose()?;
        self.bias = self.bias.as_ref().map(|b| cast(b, dtype)).transpose()?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Layer {
    input_norm: Tensor,
    post_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Keys and values of the positions seen so far, per layer (generation).
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    /// Positions already in the cache.
    pub len: usize,
}

/// The decoder and its trainable variables.
#[derive(Debug)]
pub struct Decoder {
    /// Its configuration.
    pub config: ModelConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Option<Linear>,
    cos: Tensor,
    sin: Tensor,
    params: Vec<(String, Var)>,
    device: Device,
    /// Only adapters train: the embeddings are frozen too.
    frozen: bool,
    /// Use the fused CPU kernels ([`crate::fused`], [`crate::fast::HeadLogps`]) where they
    /// apply; off, every device takes the generic operations (tests compare the two).
    fused: bool,
    /// The compute dtype (f32 unless [`Decoder::set_dtype`] says otherwise).
    dtype: DType,
}

/// What the attention of [`Decoder::run`] needs besides q, k and v, by path.
enum AttentionInputs {
    /// The fused op: rotary tables `[t, head_dim]` and the padding mask `[b·t]`.
    Fused {
        cos: Vec<f32>,
        sin: Vec<f32>,
        key_mask: Option<Vec<f32>>,
    },
    /// The generic operations: the additive causal and padding mask.
    Masked(Tensor),
}

/// RMSNorm from plain operations: `x / sqrt(mean(x²) + eps) · w` (the reference of
/// [`crate::lean::rms_norm`], which the decoder uses). Below f32 the
/// normalisation is computed in f32 and its result cast back before the weight is applied.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let dt = x.dtype();
    if dt == DType::F32 {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        return x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(weight);
    }
    let x = x.to_dtype(DType::F32)?;
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?
        .to_dtype(dt)?
        .broadcast_mul(&cast(weight, dt)?)
}

/// Reads every `*.safetensors` in a folder as f32 tensors by name.
///
/// # Errors
/// No weight files, or an unreadable one.
pub fn load_weights(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} has no *.safetensors weights", dir.display());
    }
    let mut out = HashMap::new();
    for f in files {
        for (name, t) in candle_core::safetensors::load(&f, device)
            .with_context(|| format!("reading {}", f.display()))?
        {
            out.insert(name, t.to_dtype(DType::F32)?);
        }
    }
    Ok(out)
}

/// Takes named tensors out of a weight map, making them trainable variables or frozen
/// tensors, and adds LoRA adapters where configured.
struct Loader<'a> {
    weights: &'a mut HashMap<String, Tensor>,
    params: &'a mut Vec<(String, Var)>,
    rng: &'a mut rand_chacha::ChaCha8Rng,
    device: &'a Device,
    lora: Option<&'a LoraConfig>,
}

impl Loader<'_> {
    /// Removes a tensor from the map, checking its shape.
    fn remove(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self
            .weights
            .remove(name)
            .with_context(|| format!("the weights have no tensor {name}"))?;
        if t.dims() != shape {
            bail!("tensor {name} has shape {:?}, expected {shape:?}", t.dims());
        }
        Ok(t)
    }

    fn take(&mut self, name: &str, shape: &[usize], trainable: bool) -> Result<Tensor> {
        let t = self.remove(name, shape)?;
        if trainable {
            let v = Var::from_tensor(&t)?;
            let tensor = v.as_tensor().clone();
            self.params.push((name.to_owned(), v));
            Ok(tensor)
        } else {
            Ok(t.detach())
        }
    }

    /// Like [`Self::take`] for a projection weight `[out, in]`, kept transposed.
    fn take_t(&mut self, name: &str, shape: &[usize], trainable: bool) -> Result<Tensor> {
        let t = self.remove(name, shape)?;
        self.weights.insert(name.to_owned(), t.t()?.contiguous()?);
        let [out, inp] = shape else {
            bail!("{name} is not a matrix");
        };
        self.take(name, &[*inp, *out], trainable)
    }

    fn linear(
        &mut self,
        prefix: &str,
        short: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Linear> {
        let full = self.lora.is_none();
        // The output head has no prefix: `lm_head.weight`.
        let name = if prefix.is_empty() {
            short.to_owned()
        } else {
            format!("{prefix}.{short}")
        };
        let weight_t = self.take_t(&format!("{name}.weight"), &[out, inp], full)?;
        let bias = if bias {
            Some(self.take(&format!("{name}.bias"), &[out], full)?)
        } else {
            None
        };
        let adapter = match self.lora {
            Some(l) if l.targets.iter().any(|t| t == short) => {
                let bound = 1.0 / (inp as f64).sqrt();
                let a: Vec<f32> = (0..l.rank * inp)
                    .map(|_| self.rng.random_range(-bound..bound) as f32)
                    .collect();
                let a = Var::from_tensor(&Tensor::from_vec(a, (l.rank, inp), self.device)?)?;
                let b = Var::zeros((out, l.rank), DType::F32, self.device)?;
                let (ta, tb) = (a.as_tensor().clone(), b.as_tensor().clone());
                self.params.push((format!("{name}.lora_A.weight"), a));
                self.params.push((format!("{name}.lora_B.weight"), b));
                Some((ta, tb, l.alpha / l.rank as f64))
            }
            _ => None,
        };
        let weight = if full {
            None
        } else {
            Some(weight_t.t()?.contiguous()?)
        };
        Ok(Linear {
            weight_t,
            bias,
            lora: adapter,
            frozen: !full,
            weight,
        })
    }
}

impl Decoder {
    /// Loads a Hugging Face folder (`config.json`, `*.safetensors`) in f32.
    ///
    /// # Errors
    /// A missing file or tensor, or a tensor of the wrong shape (named).
    pub fn load(dir: &Path, device: &Device, lora: Option<&LoraConfig>) -> Result<Self> {
        let config = ModelConfig::load(dir)?;
        let weights = load_weights(dir, device)?;
        Self::from_weights(config, weights, device, lora)
    }

    /// Builds the model from named tensors. Without `lora` every weight is trainable; with it
    /// only the adapters are.
    ///
    /// # Errors
    /// A missing tensor or a wrong shape, named.
    pub fn from_weights(
        config: ModelConfig,
        mut weights: HashMap<String, Tensor>,
        device: &Device,
        lora: Option<&LoraConfig>,
    ) -> Result<Self> {
        config.validate()?;
        if let Some(unknown) = lora
            .iter()
            .flat_map(|l| &l.targets)
            .find(|t| !LORA_TARGETS.contains(&t.as_str()))
        {
            bail!(
                "unknown LoRA target {unknown:?} (known: {})",
                LORA_TARGETS.join(", ")
            );
        }
        let mut params: Vec<(String, Var)> = Vec::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(lora.map_or(0, |l| l.seed));
        let (h, hd) = (config.hidden_size, config.head_dim());
        let (nh, nkv) = (config.num_attention_heads, config.kv_heads());
        let full = lora.is_none();
        let mut ctx = Loader {
            weights: &mut weights,
            params: &mut params,
            rng: &mut rng,
            device,
            lora,
        };
        let embed = ctx.take("model.embed_tokens.weight", &[config.vocab_size, h], full)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let attn = format!("{p}.self_attn");
            let mlp = format!("{p}.mlp");
            layers.push(Layer {
                input_norm: ctx.take(&format!("{p}.input_layernorm.weight"), &[h], full)?,
                post_norm: ctx.take(&format!("{p}.post_attention_layernorm.weight"), &[h], full)?,
                q: ctx.linear(&attn, "q_proj", nh * hd, h, config.qkv_bias())?,
                k: ctx.linear(&attn, "k_proj", nkv * hd, h, config.qkv_bias())?,
                v: ctx.linear(&attn, "v_proj", nkv * hd, h, config.qkv_bias())?,
                o: ctx.linear(&attn, "o_proj", h, nh * hd, config.o_bias())?,
                gate: ctx.linear(&mlp, "gate_proj", config.intermediate_size, h, false)?,
                up: ctx.linear(&mlp, "up_proj", config.intermediate_size, h, false)?,
                down: ctx.linear(&mlp, "down_proj", h, config.intermediate_size, false)?,
            });
        }
        let norm = ctx.take("model.norm.weight", &[h], full)?;
        let head_adapter = lora.is_some_and(|l| l.targets.iter().any(|t| t == "lm_head"));
        let lm_head = if config.tie_word_embeddings {
            if head_adapter {
                bail!(
                    "LoRA cannot target lm_head: this model ties its output head to the \
                     embeddings"
                );
            }
            None
        } else if head_adapter {
            Some(ctx.linear("", "lm_head", config.vocab_size, h, false)?)
        } else {
            Some(Linear {
                weight_t: ctx.take_t("lm_head.weight", &[config.vocab_size, h], full)?,
                bias: None,
                lora: None,
                frozen: !full,
                weight: None,
            })
        };
        // Rotary tables, [positions, head_dim].
        let half = hd / 2;
        let inv: Vec<f32> = (0..half)
            .map(|i| 1.0 / config.rope_theta.powf(2.0 * i as f64 / hd as f64) as f32)
            .collect();
        let positions = config.max_position_embeddings.max(1);
        let mut angles = Vec::with_capacity(positions * hd);
        for pos in 0..positions {
            if config.rope_interleaved {
                for f in &inv {
                    angles.extend([pos as f32 * f, pos as f32 * f]);
                }
            } else {
                for _ in 0..2 {
                    angles.extend(inv.iter().map(|f| pos as f32 * f));
                }
            }
        }
        let angles = Tensor::from_vec(angles, (positions, hd), device)?;
        Ok(Self {
            cos: angles.cos()?,
            sin: angles.sin()?,
            config,
            embed,
            layers,
            norm,
            lm_head,
            params,
            device: device.clone(),
            frozen: lora.is_some(),
            fused: device.is_cpu(),
            dtype: DType::F32,
        })
    }

    /// Computes in `dtype` from now on: `bf16` (CUDA only: candle's CPU matrix product has
    /// none), `f16` or `f32` (the default). The trainable weights stay f32 (their gradients and
    /// the optimiser's state too); a frozen LoRA base is converted to `dtype`, so a LoRA child
    /// is saved with its base rounded to it, as when a base is loaded in bf16. Below f32 the
    /// fused CPU kernels, which are f32 only, give way to the generic operations.
    ///
    /// # Errors
    /// Another dtype, or bf16 on the CPU.
    pub fn set_dtype(&mut self, dtype: DType) -> Result<()> {
        match dtype {
            DType::F32 | DType::F16 => {}
            DType::BF16 if !self.device.is_cpu() => {}
            DType::BF16 => bail!(
                "bf16 needs a CUDA GPU: candle has no bf16 matrix product on the CPU (use f32, \
                 or f16)"
            ),
            other => bail!("cannot compute in {}: use bf16, f16 or f32", other.as_str()),
        }
        if self.frozen {
            self.embed = cast(&self.embed, dtype)?;
            self.norm = cast(&self.norm, dtype)?;
            for l in &mut self.layers {
                l.input_norm = cast(&l.input_norm, dtype)?;
                l.post_norm = cast(&l.post_norm, dtype)?;
                for lin in [
                    &mut l.q,
                    &mut l.k,
                    &mut l.v,
                    &mut l.o,
                    &mut l.gate,
                    &mut l.up,
                    &mut l.down,
                ] {
                    lin.frozen_in(dtype)?;
                }
            }
            if let Some(head) = &mut self.lm_head {
                head.frozen_in(dtype)?;
            }
        }
        self.dtype = dtype;
        self.fused = self.fused && dtype == DType::F32;
        Ok(())
    }

    /// The compute dtype.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The trainable variables with their names (adapters are named `….lora_A.weight` /
    /// `….lora_B.weight`).
    #[must_use]
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// Turns the fused CPU kernels off (or back on, on the CPU): the generic operations give
    /// the same numbers, slower.
    pub fn set_fused(&mut self, on: bool) {
        self.fused = on && self.device.is_cpu() && self.dtype == DType::F32;
    }

    /// The device the weights live on.
    #[must_use]
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn rotate(&self, x: &Tensor, offset: usize) -> candle_core::Result<Tensor> {
        let (_, _, t, d) = x.dims4()?;
        let cos = cast(&self.cos.narrow(0, offset, t)?, x.dtype())?;
        let sin = cast(&self.sin.narrow(0, offset, t)?, x.dtype())?;
        let rotated = if self.config.rope_interleaved {
            let pairs = x.reshape(((), d / 2, 2))?;
            let even = pairs.narrow(D::Minus1, 0, 1)?;
            let odd = pairs.narrow(D::Minus1, 1, 1)?;
            Tensor::cat(&[&odd.neg()?, &even], D::Minus1)?.reshape(x.dims())?
        } else {
            let first = x.narrow(D::Minus1, 0, d / 2)?;
            let second = x.narrow(D::Minus1, d / 2, d / 2)?;
            Tensor::cat(&[&second.neg()?, &first], D::Minus1)?
        };
        x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?
    }

    /// Logits `[batch, time, vocab]` for every position. `key_mask` (`[batch, time]`, 1 for a
    /// real token, 0 for padding) keeps padding out of attention.
    ///
    /// # Errors
    /// Shape or device mismatches.
    pub fn forward(&self, ids: &Tensor, key_mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let x = self.run(ids, key_mask, None)?;
        self.logits(&x)
    }

    /// Per-row sums of completion-token log-probs and completion lengths, for a batch
    /// `ids` (`[rows, time]`) with its padding mask and completion mask (1 on completion
    /// tokens): position p predicts token p+1 and counts when token p+1 is a completion token.
    /// The same numbers as [`crate::loss::sequence_logps`] on [`Self::forward`]'s logits, but
    /// only the positions that count go through the final norm and the output projection, and
    /// on the CPU without materialising the `[positions, vocab]` logits ([`crate::fast::HeadLogps`]).
    ///
    /// # Errors
    /// Shape or device mismatches.
    pub fn completion_logps(
        &self,
        ids: &Tensor,
        key_mask: &Tensor,
        completion: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, t) = ids.dims2()?;
        let ids_host = ids.to_vec2::<u32>()?;
        let comp_host = completion.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        // Counted positions: flat index, label and row.
        let mut index = Vec::new();
        let mut labels = Vec::new();
        let mut owner = Vec::new();
        let mut lengths = vec![0f32; b];
        for (r, (ids_row, comp_row)) in ids_host.iter().zip(&comp_host).enumerate() {
            for p in 0..t.saturating_sub(1) {
                if comp_row[p + 1] > 0.0 {
                    index.push((r * t + p) as u32);
                    labels.push(ids_row[p + 1]);
                    owner.push(r);
                    lengths[r] += 1.0;
                }
            }
        }
        let lengths = Tensor::from_vec(lengths, b, &self.device)?;
        if index.is_empty() {
            return Ok((Tensor::zeros(b, DType::F32, &self.device)?, lengths));
        }
        let n = index.len();
        let hidden = self.run(ids, Some(key_mask), None)?;
        let h = hidden.dim(D::Minus1)?;
        let picked = hidden
            .reshape((b * t, h))?
            .index_select(&Tensor::from_vec(index, n, &self.device)?, 0)?;
        let x = if self.fused {
            crate::fused::rms_norm(&picked, &self.norm, self.config.rms_norm_eps, !self.frozen)?
        } else {
            crate::lean::rms_norm(&picked, &self.norm, self.config.rms_norm_eps)?
        };
        // The output projection as [vocab, hidden].
        let (w, w_trained) = match &self.lm_head {
            Some(head) => (head.weight_t.t()?, !head.frozen),
            None => (self.embed.clone(), !self.frozen),
        };
        let plain_head = self
            .lm_head
            .as_ref()
            .is_none_or(|h| h.lora.is_none() && h.bias.is_none());
        let logps = if self.fused && plain_head {
            x.apply_op2(
                &w,
                crate::fast::HeadLogps {
                    x: x.detach(),
                    w: w.detach(),
                    labels,
                    w_grad: w_trained,
                    lse: std::sync::Mutex::new(Vec::new()),
                },
            )?
        } else if plain_head {
            // Elsewhere the same without the logits ever kept (crate::lean).
            crate::lean::head_logps(&x, &w, &labels, w_trained)?
        } else {
            let logits = match &self.lm_head {
                Some(head) => head.forward(&x.unsqueeze(0)?, self.fused)?.squeeze(0)?,
                None => project(
                    &x,
                    &cast(&self.embed, self.dtype)?.t()?,
                    self.frozen,
                    Some(&self.embed),
                )?,
            };
            // The label's logit minus the row's log-sum-exp: only the logits stay for the
            // backward pass (crate::lean).
            let picked = logits
                .gather(&Tensor::from_vec(labels, (n, 1), &self.device)?, D::Minus1)?
                .squeeze(D::Minus1)?
                .to_dtype(DType::F32)?;
            (picked - crate::lean::logsumexp(&logits)?)?
        };
        // Sums per row: a [rows, positions] 0/1 matrix times the log-probs.
        let mut sel = vec![0f32; b * n];
        for (j, r) in owner.iter().enumerate() {
            sel[r * n + j] = 1.0;
        }
        let sums = Tensor::from_vec(sel, (b, n), &self.device)?
            .matmul(&logps.unsqueeze(1)?)?
            .squeeze(1)?;
        Ok((sums, lengths))
    }

    /// Logits of new tokens `[batch, new, vocab]`, attending to the cache and extending it.
    ///
    /// # Errors
    /// Shape or device mismatches, or a sequence longer than the rotary tables.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> candle_core::Result<Tensor> {
        let x = self.run(ids, None, Some(cache))?;
        self.logits(&x)
    }

    /// The final norm and the output projection: `[batch, time, hidden]` to f32 logits.
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = crate::lean::rms_norm(x, &self.norm, self.config.rms_norm_eps)?;
        match &self.lm_head {
            Some(head) => head.forward(&x, self.fused),
            None => {
                let (b, t, hdim) = x.dims3()?;
                project(
                    &x.reshape((b * t, hdim))?,
                    &cast(&self.embed, self.dtype)?.t()?,
                    self.frozen,
                    Some(&self.embed),
                )?
                .reshape((b, t, ()))
            }
        }?
        .to_dtype(DType::F32)
    }

    /// The decoder layers: hidden states `[batch, time, hidden]` before the final norm.
    fn run(
        &self,
        ids: &Tensor,
        key_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let offset = cache.as_ref().map_or(0, |c| c.len);
        if offset + t > self.cos.dim(0)? {
            candle_core::bail!(
                "sequence of {} tokens is longer than max_position_embeddings ({})",
                offset + t,
                self.cos.dim(0)?
            );
        }
        let (nh, nkv, hd) = (
            self.config.num_attention_heads,
            self.config.kv_heads(),
            self.config.head_dim(),
        );
        let eps = self.config.rms_norm_eps;
        let s = offset + t;
        let mut x = cast(&self.embed, self.dtype)?
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, ()))?;
        if let Some(c) = cache.as_mut()
            && c.layers.len() < self.layers.len()
        {
            c.layers.resize(self.layers.len(), None);
        }
        let scale = 1.0 / (hd as f64).sqrt();
        // Training and scoring on the CPU go through the fused kernels; generation with a
        // cache and other devices through the generic operations.
        let fused = self.fused && cache.is_none();
        let attention = if fused {
            AttentionInputs::Fused {
                cos: self.cos.narrow(0, 0, t)?.flatten_all()?.to_vec1::<f32>()?,
                sin: self.sin.narrow(0, 0, t)?.flatten_all()?.to_vec1::<f32>()?,
                key_mask: key_mask
                    .map(|m| m.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>())
                    .transpose()?,
            }
        } else {
            // Additive mask [b or 1, 1, t, s]: causal, plus padded keys.
            let causal: Vec<f32> = (0..t)
                .flat_map(|i| (0..s).map(move |j| if j <= offset + i { 0.0 } else { -1e9 }))
                .collect();
            let mut mask = Tensor::from_vec(causal, (1, 1, t, s), &self.device)?;
            if let Some(km) = key_mask {
                let pad = ((km.to_dtype(DType::F32)?.affine(-1.0, 1.0)?) * -1e9)?
                    .reshape((b, 1, 1, s))?;
                mask = mask.broadcast_add(&pad)?;
            }
            AttentionInputs::Masked(mask)
        };
        let norm = |x: &Tensor, w: &Tensor| {
            if fused {
                crate::fused::rms_norm(x, w, eps, !self.frozen)
            } else {
                crate::lean::rms_norm(x, w, eps)
            }
        };
        for (li, layer) in self.layers.iter().enumerate() {
            let h = norm(&x, &layer.input_norm)?;
            let mask = match &attention {
                AttentionInputs::Masked(mask) => mask,
                AttentionInputs::Fused { cos, sin, key_mask } => {
                    let q = layer.q.forward(&h, self.fused)?;
                    let k = layer.k.forward(&h, self.fused)?;
                    let v = layer.v.forward(&h, self.fused)?;
                    let attn = q.contiguous()?.apply_op3(
                        &k.contiguous()?,
                        &v.contiguous()?,
                        crate::fused::Attention {
                            dims: (b, t, nh, nkv, hd),
                            cos: cos.clone(),
                            sin: sin.clone(),
                            interleaved: self.config.rope_interleaved,
                            key_mask: key_mask.clone(),
                            scale: scale as f32,
                            saved: std::sync::Mutex::new(None),
                        },
                    )?;
                    x = (x + layer.o.forward(&attn, self.fused)?)?;
                    let h = norm(&x, &layer.post_norm)?;
                    let act = crate::fused::silu_mul(
                        &layer.gate.forward(&h, self.fused)?,
                        &layer.up.forward(&h, self.fused)?,
                    )?;
                    x = (x + layer.down.forward(&act, self.fused)?)?;
                    continue;
                }
            };
            let q = layer
                .q
                .forward(&h, self.fused)?
                .reshape((b, t, nh, hd))?
                .transpose(1, 2)?;
            let k = layer
                .k
                .forward(&h, self.fused)?
                .reshape((b, t, nkv, hd))?
                .transpose(1, 2)?;
            let v = layer
                .v
                .forward(&h, self.fused)?
                .reshape((b, t, nkv, hd))?
                .transpose(1, 2)?
                .contiguous()?;
            let q = self.rotate(&q.contiguous()?, offset)?;
            let mut k = self.rotate(&k.contiguous()?, offset)?;
            let mut v = v;
            if let Some(c) = cache.as_mut() {
                if let Some((pk, pv)) = &c.layers[li] {
                    k = Tensor::cat(&[pk, &k], 2)?;
                    v = Tensor::cat(&[pv, &v], 2)?;
                }
                c.layers[li] = Some((k.clone(), v.clone()));
            }
            // Grouped-query attention without repeating keys and values: query head h reads
            // key/value head h / rep, so a group's query rows stack into one product with it.
            // The weights are recomputed in the backward pass, not kept (crate::lean).
            let rep = nh / nkv;
            let attn =
                crate::lean::attention(&q.reshape((b, nkv, rep * t, hd))?, &k, &v, mask, scale)?
                    .reshape((b, nh, t, hd))?
                    .transpose(1, 2)?
                    .reshape((b, t, nh * hd))?;
            x = (x + layer.o.forward(&attn, self.fused)?)?;
            let h = norm(&x, &layer.post_norm)?;
            let gate = layer.gate.forward(&h, self.fused)?;
            let act = crate::lean::silu_mul(&gate, &layer.up.forward(&h, self.fused)?)?;
            x = (x + layer.down.forward(&act, self.fused)?)?;
        }
        if let Some(c) = cache {
            c.len = s;
        }
        Ok(x)
    }

    /// The model's weights under their Hugging Face names, adapters merged in: what a
    /// checkpoint stores.
    ///
    /// # Errors
    /// Only on tensor failures.
    pub fn merged_weights(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        let f32 = |t: &Tensor| t.to_dtype(DType::F32).map(|t| t.detach());
        out.insert("model.embed_tokens.weight".to_owned(), f32(&self.embed)?);
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.insert(format!("{p}.input_layernorm.weight"), f32(&l.input_norm)?);
            out.insert(
                format!("{p}.post_attention_layernorm.weight"),
                f32(&l.post_norm)?,
            );
            for (group, short, lin) in [
                ("self_attn", "q_proj", &l.q),
                ("self_attn", "k_proj", &l.k),
                ("self_attn", "v_proj", &l.v),
                ("self_attn", "o_proj", &l.o),
                ("mlp", "gate_proj", &l.gate),
                ("mlp", "up_proj", &l.up),
                ("mlp", "down_proj", &l.down),
            ] {
                out.insert(
                    format!("{p}.{group}.{short}.weight"),
                    lin.merged()?.detach(),
                );
                if let Some(bias) = &lin.bias {
                    out.insert(format!("{p}.{group}.{short}.bias"), f32(bias)?);
                }
            }
        }
        out.insert("model.norm.weight".to_owned(), f32(&self.norm)?);
        if let Some(head) = &self.lm_head {
            out.insert("lm_head.weight".to_owned(), head.merged()?.detach());
        }
        Ok(out)
    }

    /// Writes `config.json` and `model.safetensors` (adapters merged) to `dir`.
    ///
    /// # Errors
    /// On write failure.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let weights = self.merged_weights()?;
        // Written to a temporary name first, so that a crash never leaves a half-written file
        // under the real name.
        let tmp = dir.join("model.safetensors.partial");
        candle_core::safetensors::save(&weights, &tmp)?;
        std::fs::rename(&tmp, dir.join("model.safetensors"))?;
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_string_pretty(&self.config)?,
        )?;
        Ok(())
    }
}
