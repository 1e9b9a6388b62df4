//! Sampling for the arena: temperature and nucleus (top-p) sampling with a KV cache, stopping
//! at an end-of-sequence token or the token limit, streaming text pieces through a callback.

use anyhow::{Result, bail};
use candle_core::{D, DType, Tensor};
use rand::{Rng, SeedableRng};

use crate::model::{Decoder, KvCache};
use crate::tokenizer::Tokenizer;

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

/// Continues `prompt_ids`, calling `on_text` with each new piece of text; returns the whole
/// answer. `on_text` returning false stops early.
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
    if prompt_ids.is_empty() {
        bail!("the prompt has no tokens");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut stop: Vec<u32> = model.config.eos_ids();
    if let Some((_, id)) = &tok.eos {
        stop.push(*id);
    }
    let mut cache = KvCache::default();
    let mut input = Tensor::from_slice(prompt_ids, (1, prompt_ids.len()), model.device())?;
    let mut out: Vec<u32> = Vec::new();
    let mut text = String::new();
    let limit = model
        .config
        .max_position_embeddings
        .saturating_sub(prompt_ids.len());
    for _ in 0..cfg.max_new_tokens.min(limit) {
        let logits = model.forward_cached(&input, &mut cache)?;
        let last = logits.narrow(1, logits.dim(1)? - 1, 1)?.flatten_all()?;
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
