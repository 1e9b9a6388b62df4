//! Sampling for the arena: temperature and nucleus (top-p) sampling with a KV cache, stopping
//! at an end-of-sequence token or the token limit, streaming text pieces through a callback.
//! One loop serves both kinds of local model: the training decoder (f32, for trained
//! checkpoints) and a quantized GGUF file run as is ([`crate::quantized`]).

use anyhow::{Result, bail};
use candle_core::{D, DType, Device, Tensor};
use rand::{Rng, SeedableRng};

use crate::model::{Decoder, KvCache};
use crate::tokenizer::Tokenizer;

/// A model that continues a sequence one forward pass at a time, keeping its own KV cache.
pub trait Forward {
    /// Logits `[vocab]` of the position after `ids` (`[1, n]`), which start at position `pos`
    /// of the sequence (0 starts a new one).
    ///
    /// # Errors
    /// Model failures.
    fn next_logits(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor>;
    /// Where its tensors live.
    fn device(&self) -> &Device;
    /// Token ids that end an answer.
    fn stop_ids(&self) -> Vec<u32>;
    /// The longest sequence it takes.
    fn context_length(&self) -> usize;
}

/// The training decoder with a KV cache.
pub struct Dense<'a> {
    model: &'a Decoder,
    cache: KvCache,
}

impl<'a> Dense<'a> {
    /// A fresh sequence on `model`.
    #[must_use]
    pub fn new(model: &'a Decoder) -> Self {
        Self {
            model,
            cache: KvCache::default(),
        }
    }
}

impl Forward for Dense<'_> {
    fn next_logits(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        if pos == 0 {
            self.cache = KvCache::default();
        }
        let logits = self.model.forward_cached(ids, &mut self.cache)?;
        Ok(logits.narrow(1, logits.dim(1)? - 1, 1)?.flatten_all()?)
    }

    fn device(&self) -> &Device {
        self.model.device()
    }

    fn stop_ids(&self) -> Vec<u32> {
        self.model.config.eos_ids()
    }

    fn context_length(&self) -> usize {
        self.model.config.max_position_embeddings
    }
}

/// Sampling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    /// New tokens at most.
    pub max_new_tokens: usize,
    /// 0 for greedy decoding.
    pub temperature: f64,
    /// Nucleus mass kept (1 keeps everything).
    pub top_p: f64,
    /// Seed of the sampler.
    pub seed: u64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 256,
            temperature: 0.7,
            top_p: 0.9,
            seed: 0,
        }
    }
}

/// Picks the next token from logits `[vocab]`.
fn sample(logits: &Tensor, cfg: &GenerateConfig, rng: &mut impl Rng) -> Result<u32> {
    if cfg.temperature <= 0.0 {
        return Ok(logits.argmax(D::Minus1)?.to_scalar::<u32>()?);
    }
    let probs = candle_nn::ops::softmax(&(logits / cfg.temperature)?, D::Minus1)?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_unstable_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let mut kept = Vec::new();
    let mut mass = 0.0_f32;
    for i in order {
        kept.push(i);
        mass += probs[i];
        if f64::from(mass) >= cfg.top_p {
            break;
        }
    }
    let mut r = rng.random::<f32>() * mass;
    for &i in &kept {
        r -= probs[i];
        if r <= 0.0 {
            return Ok(i as u32);
        }
    }
    Ok(*kept.last().unwrap_or(&0) as u32)
}

/// Continues `prompt_ids` with the training decoder; see [`generate_with`].
///
/// # Errors
/// Model or tokenizer failures, or an empty prompt.
pub fn generate(
    model: &Decoder,
    tok: &Tokenizer,
    prompt_ids: &[u32],
    cfg: &GenerateConfig,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<String> {
    generate_with(&mut Dense::new(model), tok, prompt_ids, cfg, on_text)
}

/// Continues `prompt_ids`, calling `on_text` with each new piece of text; returns the whole
/// answer. `on_text` returning false stops early.
///
/// # Errors
/// Model or tokenizer failures, or an empty prompt.
pub fn generate_with(
    model: &mut dyn Forward,
    tok: &Tokenizer,
    prompt_ids: &[u32],
    cfg: &GenerateConfig,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<String> {
    if prompt_ids.is_empty() {
        bail!("the prompt has no tokens");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut stop: Vec<u32> = model.stop_ids();
    if let Some((_, id)) = &tok.eos {
        stop.push(*id);
    }
    let mut input = Tensor::from_slice(prompt_ids, (1, prompt_ids.len()), model.device())?;
    let mut pos = 0;
    let mut out: Vec<u32> = Vec::new();
    let mut text = String::new();
    let limit = model.context_length().saturating_sub(prompt_ids.len());
    for _ in 0..cfg.max_new_tokens.min(limit) {
        let last = model.next_logits(&input, pos)?;
        pos += input.dim(1)?;
        let next = sample(&last, cfg, &mut rng)?;
        if stop.contains(&next) {
            break;
        }
        out.push(next);
        let decoded = tok.decode(&out)?;
        // Only whole characters go out: a multi-byte character may still be incomplete.
        if decoded.len() > text.len() && !decoded.ends_with('\u{FFFD}') {
            let piece = decoded[text.len()..].to_owned();
            text = decoded;
            if !on_text(&piece) {
                break;
            }
        }
        input = Tensor::from_slice(&[next], (1, 1), model.device())?;
    }
    let decoded = tok.decode(&out)?;
    if decoded.len() > text.len() {
        let _ = on_text(&decoded[text.len()..]);
    }
    Ok(decoded)
}

/// A local model as generation loads it: the quantized GGUF of the folder (`model.gguf`, as
/// `verdict model import-gguf` leaves it) when there is one, else the training decoder (trained
/// checkpoints, tiny models).
pub enum LocalModel {
    /// `model.gguf`, run quantized.
    Quantized(crate::quantized::Quantized),
    /// The folder's safetensors on the training decoder.
    Dense(Box<Decoder>),
}

impl LocalModel {
    /// Loads the folder `dir` and its tokenizer; `dense` skips the quantized file.
    ///
    /// # Errors
    /// What failed to load.
    pub fn load(dir: &std::path::Path, device: &Device, dense: bool) -> Result<(Self, Tokenizer)> {
        use anyhow::Context as _;
        let gguf = dir.join(crate::quantized::FILE_NAME);
        let model = if gguf.is_file() && !dense {
            Self::Quantized(crate::quantized::Quantized::load(&gguf, device)?)
        } else {
            Self::Dense(Box::new(Decoder::load(dir, device, None).with_context(
                || format!("loading the model in {}", dir.display()),
            )?))
        };
        let tok = Tokenizer::load(dir, &model.session().stop_ids())?;
        Ok((model, tok))
    }

    /// What runs: `quantized` or `f32`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Quantized(_) => "quantized",
            Self::Dense(_) => "f32",
        }
    }

    /// A fresh sequence; any number may run at once (the weights are shared).
    #[must_use]
    pub fn session(&self) -> Box<dyn Forward + '_> {
        match self {
            Self::Quantized(q) => Box::new(q.session()),
            Self::Dense(d) => Box::new(Dense::new(d)),
        }
    }
}
