//! A quantized GGUF file (Q4, Q8, …) run as is for generation: no conversion to f32, a fraction
//! of the memory and several times the speed of the training decoder. Training still uses the
//! f32 folder that [`crate::gguf::import`] writes beside it.
//!
//! On the CPU the decoder is this module's own ([`CpuWeights`]): the query/key/value and gate/up
//! projections each fused into one product where their types match; Q8_0 weights multiplied by
//! an AVX2 kernel over a repacked copy ([`Q8Rows`]) where the CPU has AVX2, other types by
//! candle's quantized products; and plain loops over a growing KV cache for the attention, so
//! that a decoding step copies neither the cache nor repeated key/value heads (as
//! candle-transformers' quantized Llama does at every step). Other devices run
//! candle-transformers' quantized Llama.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{Device, Module, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

use crate::generate::Forward;

/// The file name [`crate::gguf::import`] gives the GGUF it leaves in the folder, so that
/// generation finds it.
pub const FILE_NAME: &str = "model.gguf";

/// A loaded quantized model. Cloning shares the weights; [`Self::session`] gives an empty KV
/// cache, so one loaded model serves any number of concurrent answers.
#[derive(Debug, Clone)]
pub struct Quantized {
    engine: Engine,
    device: Device,
    eos: Vec<u32>,
    context: usize,
}

#[derive(Debug, Clone)]
enum Engine {
    /// This module's CPU decoder and one sequence's cache.
    Cpu(Arc<CpuWeights>, Cache),
    /// candle-transformers' quantized Llama (other devices).
    Candle(Box<ModelWeights>),
}

impl Quantized {
    /// Loads a llama-architecture GGUF file.
    ///
    /// # Errors
    /// Not a GGUF file, another architecture, or a tensor that does not load.
    pub fn load(file: &Path, device: &Device) -> Result<Self> {
        Self::open(file, device, !device.is_cpu())
    }

    /// The same file run by candle-transformers' quantized Llama, whatever the device (tests
    /// compare the two decoders).
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_candle(file: &Path, device: &Device) -> Result<Self> {
        Self::open(file, device, true)
    }

    fn open(file: &Path, device: &Device, candle: bool) -> Result<Self> {
        let mut reader =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let content = Content::read(&mut reader)
            .with_context(|| format!("{} is not a GGUF file", file.display()))?;
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_default();
        if arch != "llama" {
            bail!("only llama-architecture GGUF files run quantized, not {arch:?}");
        }
        let eos = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
            .into_iter()
            .collect();
        let context = content
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .map_or(2048, |c| c as usize);
        let engine = if candle {
            Engine::Candle(Box::new(
                ModelWeights::from_gguf(content, &mut reader, device)
                    .with_context(|| format!("loading {}", file.display()))?,
            ))
        } else {
            let weights = CpuWeights::read(&content, &mut reader)
                .with_context(|| format!("loading {}", file.display()))?;
            Engine::Cpu(Arc::new(weights), Cache::default())
        };
        Ok(Self {
            engine,
            device: device.clone(),
            eos,
            context,
        })
    }

    /// A fresh sequence (shares the weights).
    #[must_use]
    pub fn session(&self) -> Self {
        let mut s = self.clone();
        match &mut s.engine {
            Engine::Cpu(_, cache) => *cache = Cache::default(),
            Engine::Candle(w) => w.clear_kv_cache(),
        }
        s
    }
}

impl Forward for Quantized {
    fn next_logits(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        match &mut self.engine {
            Engine::Cpu(weights, cache) => {
                let ids = ids.flatten_all()?.to_vec1::<u32>()?;
                let logits = weights.forward(&ids, pos, cache)?;
                let n = logits.len();
                Ok(Tensor::from_vec(logits, n, &self.device)?)
            }
            Engine::Candle(w) => Ok(w.forward(ids, pos)?.flatten_all()?),
        }
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn stop_ids(&self) -> Vec<u32> {
        self.eos.clone()
    }

    fn context_length(&self) -> usize {
        self.context
    }
}

/// Keys and values of one sequence's positions, per layer, each `[position, kv head, head dim]`
/// (appending a position is one copy of its own values).
#[derive(Debug, Clone, Default)]
struct Cache {
    layers: Vec<(Vec<f32>, Vec<f32>)>,
    len: usize,
}

/// A quantized weight `[n, k]` as the CPU decoder multiplies it: Q8_0 repacked for the AVX2
/// kernel ([`Q8Rows`]) where the CPU has AVX2 and FMA, else candle's quantized product.
#[derive(Debug)]
enum Matrix {
    Q8(Q8Rows),
    Candle(QMatMul),
}

impl Matrix {
    fn new(t: QTensor) -> Result<Self> {
        Ok(match Q8Rows::new(&t)? {
            Some(q) => Self::Q8(q),
            None => Self::Candle(QMatMul::from_qtensor(t)?),
        })
    }

    /// `x · Wᵀ` for `x` `[rows, k]`: `[rows, n]`.
    fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        match self {
            Self::Q8(q) => Ok(q.forward(x, rows)),
            Self::Candle(w) => {
                let k = x.len() / rows.max(1);
                let x = Tensor::from_slice(x, (rows, k), &Device::Cpu)?;
                Ok(w.forward(&x)?.flatten_all()?.to_vec1::<f32>()?)
            }
        }
    }
}

/// A Q8_0 matrix `[n, k]` repacked for decoding: each row's 32-value blocks of int8 and each
/// block's scale as f32 (the file keeps it as f16, whose conversion took 7% of a decoding
/// step in candle's kernel). The activations are quantized to Q8_0 as candle and llama.cpp
/// do, so the products are theirs up to the order of the additions.
#[derive(Debug)]
struct Q8Rows {
    n: usize,
    /// Blocks per row (`k / 32`).
    blocks: usize,
    qs: Vec<[i8; 32]>,
    scales: Vec<f32>,
    #[cfg(target_arch = "x86_64")]
    simd: pulp::x86::V3,
}

/// Bytes of a Q8_0 block in a GGUF file: the f16 scale, then 32 int8 values.
const Q8_0_BYTES: usize = 34;

impl Q8Rows {
    /// The repacked matrix, or `None` when `t` is not Q8_0 or the CPU lacks AVX2/FMA.
    fn new(t: &QTensor) -> Result<Option<Self>> {
        #[cfg(target_arch = "x86_64")]
        {
            let Some(simd) = pulp::x86::V3::try_new() else {
                return Ok(None);
            };
            if t.dtype() != GgmlDType::Q8_0 {
                return Ok(None);
            }
            let (n, k) = t.shape().dims2()?;
            if !k.is_multiple_of(32) {
                return Ok(None);
            }
            let blocks = k / 32;
            let data = t.data()?;
            if data.len() != n * blocks * Q8_0_BYTES {
                bail!("a Q8_0 tensor of {n}×{k} has {} bytes", data.len());
            }
            let mut qs = Vec::with_capacity(n * blocks);
            let mut scales = Vec::with_capacity(n * blocks);
            for block in data.chunks_exact(Q8_0_BYTES) {
                scales.push(half::f16::from_le_bytes([block[0], block[1]]).to_f32());
                let mut q = [0i8; 32];
                for (q, b) in q.iter_mut().zip(&block[2..]) {
                    *q = i8::from_le_bytes([*b]);
                }
                qs.push(q);
            }
            Ok(Some(Self {
                n,
                blocks,
                qs,
                scales,
                simd,
            }))
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = t;
            Ok(None)
        }
    }

    /// `x · Wᵀ` for `x` `[rows, k]`: `[rows, n]`, each row's output split across rayon's
    /// threads.
    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        use rayon::prelude::*;
        let k = self.blocks * 32;
        let mut out = vec![0f32; rows * self.n];
        // A few chunks per thread, so that a thread slowed by the other side of a battle does
        // not hold the product up.
        let chunk = self.n.div_ceil(4 * rayon::current_num_threads()).max(64);
        for (xr, dst) in x.chunks_exact(k).zip(out.chunks_exact_mut(self.n)) {
            let (xq, xs) = quantize_q8_0(xr);
            dst.par_chunks_mut(chunk).enumerate().for_each(|(c, dst)| {
                let first = c * chunk * self.blocks;
                let last = first + dst.len() * self.blocks;
                self.rows(
                    &self.qs[first..last],
                    &self.scales[first..last],
                    &xq,
                    &xs,
                    dst,
                );
            });
        }
        out
    }

    /// One output per weight row of `w` (`dst.len()` rows of `blocks` blocks).
    #[cfg(target_arch = "x86_64")]
    fn rows(&self, w: &[[i8; 32]], ws: &[f32], x: &[[i8; 32]], xs: &[f32], dst: &mut [f32]) {
        self.simd.vectorize(Avx2Rows {
            simd: self.simd,
            w,
            ws,
            x,
            xs,
            dst,
        });
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn rows(&self, _: &[[i8; 32]], _: &[f32], _: &[[i8; 32]], _: &[f32], _: &mut [f32]) {
        unreachable!("Q8Rows is only built on x86_64");
    }
}

/// Q8_0 quantization of one row of activations, as ggml does it: per block of 32 the scale
/// `max |x| / 127` (stored as f16, so rounded to it) and the values rounded to int8.
fn quantize_q8_0(x: &[f32]) -> (Vec<[i8; 32]>, Vec<f32>) {
    let mut qs = Vec::with_capacity(x.len() / 32);
    let mut scales = Vec::with_capacity(x.len() / 32);
    for block in x.chunks_exact(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = half::f16::from_f32(amax / 127.0);
        let inv = if amax == 0.0 { 0.0 } else { 127.0 / amax };
        let mut q = [0i8; 32];
        for (q, v) in q.iter_mut().zip(block) {
            // |v · 127 / amax| ≤ 127: the cast never saturates.
            *q = (v * inv).round() as i8;
        }
        qs.push(q);
        scales.push(d.to_f32());
    }
    (qs, scales)
}

/// The AVX2 kernel: for each weight row, Σ over blocks of `ws·xs · Σ w·x`, the int8 products
/// summed by `maddubs` (unsigned × signed, so |x| times w with x's sign) and `madd`.
#[cfg(target_arch = "x86_64")]
struct Avx2Rows<'a> {
    simd: pulp::x86::V3,
    w: &'a [[i8; 32]],
    ws: &'a [f32],
    x: &'a [[i8; 32]],
    xs: &'a [f32],
    dst: &'a mut [f32],
}

#[cfg(target_arch = "x86_64")]
impl pulp::NullaryFnOnce for Avx2Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        use core::arch::x86_64::{__m256, __m256i};
        use pulp::bytemuck::cast;
        let simd = self.simd;
        let blocks = self.x.len();
        let ones = simd.avx._mm256_set1_epi16(1);
        for (r, out) in self.dst.iter_mut().enumerate() {
            let w = &self.w[r * blocks..(r + 1) * blocks];
            let ws = &self.ws[r * blocks..(r + 1) * blocks];
            let mut acc = simd.avx._mm256_setzero_ps();
            for (((wb, ws), xb), xs) in w.iter().zip(ws).zip(self.x).zip(self.xs) {
                let wv: __m256i = cast(*wb);
                let xv: __m256i = cast(*xb);
                let ax = simd.avx2._mm256_sign_epi8(xv, xv);
                let sw = simd.avx2._mm256_sign_epi8(wv, xv);
                let pairs = simd.avx2._mm256_maddubs_epi16(ax, sw);
                let sums = simd.avx2._mm256_madd_epi16(pairs, ones);
                let scale = simd.avx._mm256_set1_ps(ws * xs);
                acc = simd
                    .fma
                    ._mm256_fmadd_ps(simd.avx._mm256_cvtepi32_ps(sums), scale, acc);
            }
            let lanes: [f32; 8] = cast::<__m256, [f32; 8]>(acc);
            *out = lanes.iter().sum();
        }
    }
}

/// Projections that read the same input, as one product when their types allow (the outputs'
/// widths say where each part starts), else one product each.
#[derive(Debug)]
enum Projections {
    Fused(Matrix, Vec<usize>),
    Separate(Vec<Matrix>),
}

impl Projections {
    /// Fuses the row-major quantized matrices `[out_i, k]` into one `[Σ out_i, k]` when they
    /// share a block type (their rows then concatenate as bytes).
    fn new(parts: Vec<QTensor>) -> Result<Self> {
        let dtype = parts[0].dtype();
        let k = parts[0].shape().dims2()?.1;
        let fusable = !matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
            && parts
                .iter()
                .all(|p| p.dtype() == dtype && p.shape().dims2().is_ok_and(|(_, pk)| pk == k));
        if !fusable {
            return Ok(Self::Separate(
                parts.into_iter().map(Matrix::new).collect::<Result<_>>()?,
            ));
        }
        let mut widths = Vec::with_capacity(parts.len());
        let mut bytes = Vec::new();
        for p in &parts {
            widths.push(p.shape().dims2()?.0);
            bytes.extend_from_slice(&p.data()?);
        }
        let total: usize = widths.iter().sum();
        let storage = QStorage::from_data(Cow::Owned(bytes), &Device::Cpu, dtype)?;
        let fused = QTensor::new(storage, (total, k))?;
        Ok(Self::Fused(Matrix::new(fused)?, widths))
    }

    /// The products of `x` (`[rows, k]`), one `[rows, out_i]` buffer per part.
    fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Separate(ws) => ws.iter().map(|w| w.forward(x, rows)).collect(),
            Self::Fused(w, widths) => {
                let y = w.forward(x, rows)?;
                let total: usize = widths.iter().sum();
                let mut out: Vec<Vec<f32>> = widths
                    .iter()
                    .map(|w| Vec::with_capacity(rows * w))
                    .collect();
                for row in y.chunks_exact(total) {
                    let mut start = 0;
                    for (o, w) in out.iter_mut().zip(widths) {
                        o.extend_from_slice(&row[start..start + w]);
                        start += w;
                    }
                }
                Ok(out)
            }
        }
    }
}

#[derive(Debug)]
struct Layer {
    attn_norm: Vec<f32>,
    /// Query, key and value.
    qkv: Projections,
    out: Matrix,
    ffn_norm: Vec<f32>,
    /// Gate and up.
    gate_up: Projections,
    down: Matrix,
}

/// The weights of a llama-architecture GGUF on the CPU, shared by every session.
#[derive(Debug)]
pub struct CpuWeights {
    /// Token embeddings `[vocab, hidden]`, dequantized (rows are read one token at a time).
    embed: Vec<f32>,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    output: Matrix,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f32,
    /// Rotary frequencies, one per pair of dimensions.
    inv_freq: Vec<f32>,
}

/// A 1-D f32 tensor of the file.
fn vector(content: &Content, reader: &mut std::fs::File, name: &str) -> Result<Vec<f32>> {
    let t = content.tensor(reader, name, &Device::Cpu)?;
    Ok(t.dequantize(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

impl CpuWeights {
    fn read(content: &Content, reader: &mut std::fs::File) -> Result<Self> {
        let meta = |key: &str| {
            content
                .metadata
                .get(key)
                .with_context(|| format!("the GGUF metadata have no {key}"))
        };
        let uint = |key: &str| -> Result<usize> { Ok(meta(key)?.to_u32()? as usize) };
        if content
            .metadata
            .get("llama.expert_count")
            .and_then(|v| v.to_u32().ok())
            .is_some_and(|n| n > 1)
        {
            bail!("mixture-of-experts GGUF files do not run on the CPU decoder");
        }
        let heads = uint("llama.attention.head_count")?;
        let kv_heads = uint("llama.attention.head_count_kv")?;
        let layers_n = uint("llama.block_count")?;
        let hidden = uint("llama.embedding_length")?;
        if heads == 0 || kv_heads == 0 || !hidden.is_multiple_of(heads) {
            bail!("{heads} attention heads do not divide a width of {hidden}");
        }
        if !heads.is_multiple_of(kv_heads) {
            bail!("{kv_heads} key/value heads do not divide {heads} query heads");
        }
        let head_dim = hidden / heads;
        let rope_dim = uint("llama.rope.dimension_count")?;
        if rope_dim != head_dim {
            bail!(
                "partial rotary embeddings ({rope_dim} of {head_dim} dimensions) are not supported"
            );
        }
        let eps = meta("llama.attention.layer_norm_rms_epsilon")?.to_f32()?;
        let base = content
            .metadata
            .get("llama.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        let inv_freq = (0..head_dim / 2)
            .map(|i| 1.0 / base.powf(2.0 * i as f32 / head_dim as f32))
            .collect();
        let embed_q = content.tensor(reader, "token_embd.weight", &Device::Cpu)?;
        let embed = embed_q
            .dequantize(&Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let output = match content.tensor(reader, "output.weight", &Device::Cpu) {
            Ok(t) => t,
            Err(_) => embed_q,
        };
        let mut layers = Vec::with_capacity(layers_n);
        for i in 0..layers_n {
            let mut q =
                |name: &str| content.tensor(reader, &format!("blk.{i}.{name}"), &Device::Cpu);
            let qkv = vec![
                q("attn_q.weight")?,
                q("attn_k.weight")?,
                q("attn_v.weight")?,
            ];
            let gate_up = vec![q("ffn_gate.weight")?, q("ffn_up.weight")?];
            let out = Matrix::new(q("attn_output.weight")?)?;
            let down = Matrix::new(q("ffn_down.weight")?)?;
            layers.push(Layer {
                attn_norm: vector(content, reader, &format!("blk.{i}.attn_norm.weight"))?,
                qkv: Projections::new(qkv)?,
                out,
                ffn_norm: vector(content, reader, &format!("blk.{i}.ffn_norm.weight"))?,
                gate_up: Projections::new(gate_up)?,
                down,
            });
        }
        Ok(Self {
            embed,
            layers,
            norm: vector(content, reader, "output_norm.weight")?,
            output: Matrix::new(output)?,
            hidden,
            heads,
            kv_heads,
            head_dim,
            eps,
            inv_freq,
        })
    }

    /// Logits after `ids`, which take positions `pos..` of the sequence in `cache`.
    ///
    /// The step runs on one of rayon's threads, so that the products it splits across them
    /// are shared out by work stealing instead of each one waking this thread when it ends.
    fn forward(&self, ids: &[u32], pos: usize, cache: &mut Cache) -> Result<Vec<f32>> {
        rayon::scope(|_| self.step(ids, pos, cache))
    }

    fn step(&self, ids: &[u32], pos: usize, cache: &mut Cache) -> Result<Vec<f32>> {
        let (h, hd) = (self.hidden, self.head_dim);
        let n = ids.len();
        if n == 0 {
            bail!("no tokens to run");
        }
        if pos == 0 {
            *cache = Cache::default();
        } else if pos != cache.len {
            bail!("position {pos} does not follow the {} cached", cache.len);
        }
        // A step that failed half-way may have appended to some layers: only `len` positions
        // count.
        let kv_width = self.kv_heads * hd;
        cache
            .layers
            .resize_with(self.layers.len(), Default::default);
        for (k, v) in &mut cache.layers {
            k.truncate(cache.len * kv_width);
            v.truncate(cache.len * kv_width);
        }
        let vocab = self.embed.len() / h;
        let mut x = Vec::with_capacity(n * h);
        for &id in ids {
            let id = id as usize;
            if id >= vocab {
                bail!("token id {id} is outside the vocabulary of {vocab}");
            }
            x.extend_from_slice(&self.embed[id * h..(id + 1) * h]);
        }
        // Rotation angles of the new positions: cos and sin per pair of dimensions.
        let half = hd / 2;
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for t in 0..n {
            for f in &self.inv_freq {
                let a = (pos + t) as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        let group = self.heads / self.kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut scores = Vec::new();
        for (layer, (k_cache, v_cache)) in self.layers.iter().zip(&mut cache.layers) {
            let normed = rms_norm(&x, &layer.attn_norm, self.eps);
            let mut parts = layer.qkv.forward(&normed, n)?.into_iter();
            let (Some(mut q), Some(mut k), Some(v)) = (parts.next(), parts.next(), parts.next())
            else {
                bail!("the attention projections are incomplete");
            };
            for t in 0..n {
                let (c, s) = (&cos[t * half..][..half], &sin[t * half..][..half]);
                for head in q[t * h..(t + 1) * h].chunks_exact_mut(hd) {
                    rotate(head, c, s);
                }
                for head in k[t * kv_width..(t + 1) * kv_width].chunks_exact_mut(hd) {
                    rotate(head, c, s);
                }
            }
            k_cache.extend_from_slice(&k);
            v_cache.extend_from_slice(&v);
            // Causal attention of each new position over the cache, one head at a time.
            let mut attended = vec![0f32; n * h];
            for t in 0..n {
                let seen = pos + t + 1;
                scores.resize(seen, 0.0);
                for head in 0..self.heads {
                    let kvh = head / group;
                    let qh = &q[t * h + head * hd..][..hd];
                    let mut max = f32::NEG_INFINITY;
                    for (p, score) in scores.iter_mut().enumerate() {
                        let kh = &k_cache[p * kv_width + kvh * hd..][..hd];
                        *score = dot(qh, kh) * scale;
                        max = max.max(*score);
                    }
                    let mut sum = 0.0;
                    for score in &mut scores {
                        *score = (*score - max).exp();
                        sum += *score;
                    }
                    let out = &mut attended[t * h + head * hd..][..hd];
                    for (p, score) in scores.iter().enumerate() {
                        let vh = &v_cache[p * kv_width + kvh * hd..][..hd];
                        let w = score / sum;
                        for (o, v) in out.iter_mut().zip(vh) {
                            *o += w * v;
                        }
                    }
                }
            }
            let o = layer.out.forward(&attended, n)?;
            add(&mut x, &o);
            let normed = rms_norm(&x, &layer.ffn_norm, self.eps);
            let mut parts = layer.gate_up.forward(&normed, n)?.into_iter();
            let (Some(mut gate), Some(up)) = (parts.next(), parts.next()) else {
                bail!("the MLP projections are incomplete");
            };
            for (g, u) in gate.iter_mut().zip(&up) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            let d = layer.down.forward(&gate, n)?;
            add(&mut x, &d);
        }
        cache.len = pos + n;
        let last = rms_norm(&x[(n - 1) * h..], &self.norm, self.eps);
        self.output.forward(&last, 1)
    }
}

/// RMSNorm of each row of `x` (rows as wide as `w`).
fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(w.len()) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        let r = 1.0 / (ms + eps).sqrt();
        out.extend(row.iter().zip(w).map(|(v, w)| v * r * w));
    }
    out
}

/// Rotary embedding of one head, pairs `(2i, 2i+1)` as GGUF's llama layout has them.
fn rotate(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    for ((pair, c), s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
        let (a, b) = (pair[0], pair[1]);
        pair[0] = a * c - b * s;
        pair[1] = a * s + b * c;
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums, so that the compiler can keep them in vector lanes.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
