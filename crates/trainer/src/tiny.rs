//! `verdict model init-tiny`: a small random model of the same family, with a byte-level
//! tokenizer, for tests and demos (the loading code is the one real models go through).

use std::collections::HashMap;
use std::path::Path;

use self::rand_distr_free::normal;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;

use crate::config::ModelConfig;

/// Shape of a tiny model.
#[derive(Debug, Clone, PartialEq)]
pub struct TinySpec {
    /// Width.
    pub hidden: usize,
    /// Layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// MLP width.
    pub intermediate: usize,
    /// Tie the output projection to the embeddings.
    pub tied: bool,
    /// Weight initialisation seed.
    pub seed: u64,
    /// Rows of the embedding and output head: at least the tokenizer's 259; more gives a real
    /// model's head shape (the tokenizer never produces the extra ids).
    pub vocab: usize,
}

impl Default for TinySpec {
    fn default() -> Self {
        Self {
            hidden: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            intermediate: 128,
            tied: false,
            seed: 0,
            vocab: 256 + SPECIALS.len(),
        }
    }
}

/// Special tokens of tiny models, after the 256 byte tokens.
pub const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

mod rand_distr_free {
    //! A normal sample from two uniforms (Box–Muller), to avoid another dependency.
    use rand::Rng;

    pub fn normal(rng: &mut impl Rng, std: f32) -> f32 {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
}

/// Writes a tiny random model (config.json, model.safetensors, tokenizer.json,
/// tokenizer_config.json with a ChatML template) to `dir`.
///
/// # Errors
/// Write failures.
pub fn init_tiny(dir: &Path, spec: &TinySpec) -> Result<ModelConfig> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let vocab = spec.vocab.max(256 + SPECIALS.len());
    if spec.heads == 0
        || spec.kv_heads == 0
        || !spec.hidden.is_multiple_of(spec.heads)
        || !spec.heads.is_multiple_of(spec.kv_heads)
    {
        anyhow::bail!(
            "{} heads and {} key/value heads do not divide a width of {}",
            spec.heads,
            spec.kv_heads,
            spec.hidden
        );
    }
    let head_dim = spec.hidden / spec.heads;
    let config: ModelConfig = serde_json::from_value(serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "max_position_embeddings": 512,
        "tie_word_embeddings": spec.tied,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": 256,
        "eos_token_id": 256,
        "pad_token_id": 256,
        "torch_dtype": "float32"
    }))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed);
    let device = Device::Cpu;
    let mut weights: HashMap<String, Tensor> = HashMap::new();
    let mut random = |shape: (usize, usize)| -> Result<Tensor> {
        let v: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| normal(&mut rng, 0.02))
            .collect();
        Ok(Tensor::from_vec(v, shape, &device)?)
    };
    let h = spec.hidden;
    weights.insert("model.embed_tokens.weight".into(), random((vocab, h))?);
    for i in 0..spec.layers {
        let p = format!("model.layers.{i}");
        for (name, shape) in [
            ("self_attn.q_proj", (spec.heads * head_dim, h)),
            ("self_attn.k_proj", (spec.kv_heads * head_dim, h)),
            ("self_attn.v_proj", (spec.kv_heads * head_dim, h)),
            ("self_attn.o_proj", (h, spec.heads * head_dim)),
            ("mlp.gate_proj", (spec.intermediate, h)),
            ("mlp.up_proj", (spec.intermediate, h)),
            ("mlp.down_proj", (h, spec.intermediate)),
        ] {
            weights.insert(format!("{p}.{name}.weight"), random(shape)?);
        }
        weights.insert(
            format!("{p}.input_layernorm.weight"),
            Tensor::ones(h, candle_core::DType::F32, &device)?,
        );
        weights.insert(
            format!("{p}.post_attention_layernorm.weight"),
            Tensor::ones(h, candle_core::DType::F32, &device)?,
        );
    }
    weights.insert(
        "model.norm.weight".into(),
        Tensor::ones(h, candle_core::DType::F32, &device)?,
    );
    if !spec.tied {
        weights.insert("lm_head.weight".into(), random((vocab, h))?);
    }
    candle_core::safetensors::save(&weights, dir.join("model.safetensors"))?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string(&crate::tokenizer::byte_level_json(&SPECIALS))?,
    )?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<|endoftext|>",
            "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "model_max_length": 512,
            "chat_template": CHATML,
        }))?,
    )?;
    Ok(config)
}
