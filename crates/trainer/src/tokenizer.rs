//! Tokenizers: the model folder's `tokenizer.json` (Hugging Face `tokenizers`), its special
//! tokens from `tokenizer_config.json`, and the byte-level tokenizer of tiny test models.

use std::path::Path;

use anyhow::{Context, Result, anyhow};

/// A loaded tokenizer with the tokens training and generation need.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// End-of-sequence token text and id.
    pub eos: Option<(String, u32)>,
    /// Padding id (the EOS when the model has no padding token).
    pub pad_id: u32,
    /// The chat template from `tokenizer_config.json`, if any.
    pub chat_template: Option<String>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("eos", &self.eos)
            .field("pad_id", &self.pad_id)
            .finish_non_exhaustive()
    }
}

fn token_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            o.get("content").and_then(|c| c.as_str()).map(str::to_owned)
        }
        _ => None,
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` (and `tokenizer_config.json` when present) from a model folder;
    /// `eos_ids` from `config.json` are the fallback for the end-of-sequence token.
    ///
    /// # Errors
    /// A missing or unreadable `tokenizer.json`.
    pub fn load(dir: &Path, eos_ids: &[u32]) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
        let config: serde_json::Value =
            match std::fs::read_to_string(dir.join("tokenizer_config.json")) {
                Ok(text) => {
                    serde_json::from_str(&text).context("tokenizer_config.json is not JSON")?
                }
                Err(_) => serde_json::Value::Null,
            };
        let eos = config
            .get("eos_token")
            .and_then(token_text)
            .and_then(|t| inner.token_to_id(&t).map(|id| (t, id)))
            .or_else(|| {
                eos_ids
                    .first()
                    .and_then(|&id| inner.id_to_token(id).map(|t| (t, id)))
            });
        let pad_id = config
            .get("pad_token")
            .and_then(token_text)
            .and_then(|t| inner.token_to_id(&t))
            .or(eos.as_ref().map(|e| e.1))
            .unwrap_or(0);
        let chat_template = config
            .get("chat_template")
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        Ok(Self {
            inner,
            eos,
            pad_id,
            chat_template,
        })
    }

    /// Token ids of `text` (with the tokenizer's own special-token post-processing, as
    /// `transformers` does by default).
    ///
    /// # Errors
    /// If the tokenizer fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens left out.
    ///
    /// # Errors
    /// If the tokenizer fails.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| anyhow!("decoding: {e}"))
    }

    /// Vocabulary size including added tokens.
    #[must_use]
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// GPT-2's byte-to-character map used by byte-level BPE.
#[must_use]
pub fn byte_chars() -> Vec<char> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut extra = 0;
    for b in 0..256_u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    let mut map = vec!['\0'; 256];
    for (b, c) in printable.iter().zip(chars) {
        map[*b as usize] = char::from_u32(c).unwrap_or('?');
    }
    map
}

/// A byte-level BPE `tokenizer.json` with no merges: one token per byte (ids 0–255) and the
/// special tokens after them. Used by tiny test models; real models bring their own.
#[must_use]
pub fn byte_level_json(specials: &[&str]) -> serde_json::Value {
    let mut vocab = serde_json::Map::new();
    for (id, c) in byte_chars().into_iter().enumerate() {
        vocab.insert(c.to_string(), serde_json::json!(id));
    }
    let added: Vec<serde_json::Value> = specials
        .iter()
        .enumerate()
        .map(|(k, s)| {
            vocab.insert((*s).to_owned(), serde_json::json!(256 + k));
            serde_json::json!({"id": 256 + k, "content": s, "single_word": false, "lstrip": false,
                               "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": []}
    })
}
