//! The model's `config.json` (Hugging Face Llama / Qwen2 / Mistral / SmolLM family).

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_max_pos() -> usize {
    2048
}
fn default_model_type() -> String {
    "llama".into()
}

/// The decoder's shape and numerics. Unknown keys are kept, so a saved checkpoint carries
/// the original's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `llama`, `qwen2`, `mistral`...
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); defaults to the query heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Head width; defaults to `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rotary base.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Rotary layout: false (Hugging Face's halves, `rotate_half`) or true (pairs of adjacent
    /// dimensions, as GPT-J and llama.cpp).
    #[serde(default)]
    pub rope_interleaved: bool,
    /// The output projection is the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Bias on the attention projections (Llama's key; Qwen2 always has q/k/v biases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Longest sequence.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Beginning-of-sequence token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token(s): a number or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    /// Everything else in the file.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ModelConfig {
    /// Reads `config.json` from a model folder.
    ///
    /// # Errors
    /// A missing or malformed file, or an inconsistent shape.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let config: Self = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a decoder config", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the shape is consistent.
    ///
    /// # Errors
    /// Naming the inconsistent field.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.num_attention_heads > 0,
            "num_attention_heads must be positive"
        );
        ensure!(
            self.num_attention_heads.is_multiple_of(self.kv_heads()),
            "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
            self.num_attention_heads,
            self.kv_heads()
        );
        ensure!(
            self.head_dim().is_multiple_of(2),
            "the head width must be even for rotary embeddings"
        );
        Ok(())
    }

    /// Key/value heads.
    #[must_use]
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Head width.
    #[must_use]
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q/k/v projections have biases.
    #[must_use]
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias.unwrap_or(self.model_type == "qwen2")
    }

    /// Whether the output projection has a bias (Llama's `attention_bias`; never in Qwen2).
    #[must_use]
    pub fn o_bias(&self) -> bool {
        self.model_type != "qwen2" && self.attention_bias.unwrap_or(false)
    }

    /// End-of-sequence ids.
    #[must_use]
    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(serde_json::Value::Number(n)) => {
                n.as_u64().map(|v| vec![v as u32]).unwrap_or_default()
            }
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as u32)
                .collect(),
            _ => Vec::new(),
        }
    }
}
