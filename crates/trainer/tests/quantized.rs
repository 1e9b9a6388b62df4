//! The CPU decoder of quantized GGUF files against candle-transformers' quantized Llama on the
//! same random files: the same logits for a prompt and each decoding step after it, with grouped
//! or plain attention heads, a tied or separate output head, and fused or separate projections.
//! And a trained child of a GGUF base, quantized like it, runs what was trained.

mod common;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use trainer::generate::Forward;
use trainer::quantized::Quantized;

struct Shape {
    heads: usize,
    kv_heads: usize,
    tied: bool,
    /// The value projection's type (Q8_0 like the others fuses q, k and v into one product).
    v_type: GgmlDType,
}

const HIDDEN: usize = 64;
const FFN: usize = 128;
const LAYERS: usize = 2;
const VOCAB: usize = 300;

fn random(rows: usize, cols: usize, seed: usize, std: f32) -> Tensor {
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919 + seed * 104_729) as f32 * 0.618_034).sin() * std * 1.7)
        .collect();
    Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap()
}

fn write_gguf(path: &std::path::Path, shape: &Shape) {
    let hd = HIDDEN / shape.heads;
    let q8 = |t: Tensor| QTensor::quantize(&t, GgmlDType::Q8_0).unwrap();
    let norm = |seed: usize| {
        let t = (random(1, HIDDEN, seed, 0.1) + 1.0)
            .unwrap()
            .flatten_all()
            .unwrap();
        QTensor::quantize(&t, GgmlDType::F32).unwrap()
    };
    let mut tensors: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            q8(random(VOCAB, HIDDEN, 1, 0.5)),
        ),
        ("output_norm.weight".into(), norm(2)),
    ];
    if !shape.tied {
        tensors.push(("output.weight".into(), q8(random(VOCAB, HIDDEN, 3, 0.2))));
    }
    for l in 0..LAYERS {
        let s = 10 * (l + 1);
        let p = |name: &str| format!("blk.{l}.{name}.weight");
        tensors.extend([
            (p("attn_norm"), norm(s)),
            (p("attn_q"), q8(random(HIDDEN, HIDDEN, s + 1, 0.2))),
            (
                p("attn_k"),
                q8(random(shape.kv_heads * hd, HIDDEN, s + 2, 0.2)),
            ),
            (
                p("attn_v"),
                QTensor::quantize(
                    &random(shape.kv_heads * hd, HIDDEN, s + 3, 0.2),
                    shape.v_type,
                )
                .unwrap(),
            ),
            (p("attn_output"), q8(random(HIDDEN, HIDDEN, s + 4, 0.1))),
            (p("ffn_norm"), norm(s + 5)),
            (p("ffn_gate"), q8(random(FFN, HIDDEN, s + 6, 0.2))),
            (p("ffn_up"), q8(random(FFN, HIDDEN, s + 7, 0.2))),
            (p("ffn_down"), q8(random(HIDDEN, FFN, s + 8, 0.1))),
        ]);
    }
    use gguf_file::Value;
    let metadata = [
        ("general.architecture", Value::String("llama".into())),
        ("llama.attention.head_count", Value::U32(shape.heads as u32)),
        (
            "llama.attention.head_count_kv",
            Value::U32(shape.kv_heads as u32),
        ),
        ("llama.block_count", Value::U32(LAYERS as u32)),
        ("llama.embedding_length", Value::U32(HIDDEN as u32)),
        ("llama.rope.dimension_count", Value::U32(hd as u32)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(10_000.0)),
        ("llama.context_length", Value::U32(256)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("llama.feed_forward_length", Value::U32(FFN as u32)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array((0..VOCAB).map(|i| Value::String(format!("t{i}"))).collect()),
        ),
    ];
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
}

/// Logits after the prompt and after each of the following tokens, fed one at a time.
fn logits(model: &mut dyn Forward, prompt: &[u32], then: &[u32]) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    let ids = Tensor::from_slice(prompt, (1, prompt.len()), &Device::Cpu).unwrap();
    out.push(model.next_logits(&ids, 0).unwrap().to_vec1().unwrap());
    for (i, &t) in then.iter().enumerate() {
        let ids = Tensor::from_slice(&[t], (1, 1), &Device::Cpu).unwrap();
        let l = model.next_logits(&ids, prompt.len() + i).unwrap();
        out.push(l.to_vec1().unwrap());
    }
    out
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn the_cpu_decoder_matches_candle_transformers_quantized_llama() {
    let shapes = [
        Shape {
            heads: 4,
            kv_heads: 2,
            tied: true,
            v_type: GgmlDType::Q8_0,
        },
        Shape {
            heads: 2,
            kv_heads: 2,
            tied: false,
            v_type: GgmlDType::Q4_0,
        },
    ];
    let prompt = [5, 17, 250, 3, 99, 42, 7];
    let then = [11, 299, 64, 0, 128, 33];
    for shape in &shapes {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.gguf");
        write_gguf(&file, shape);
        let model = Quantized::load(&file, &Device::Cpu).unwrap();
        let reference = Quantized::load_candle(&file, &Device::Cpu).unwrap();
        let ours = logits(&mut model.session(), &prompt, &then);
        let theirs = logits(&mut reference.session(), &prompt, &then);
        let spread = theirs[0].iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(spread > 0.1, "the logits are not all alike: {spread}");
        let diff = max_diff(&ours, &theirs);
        let case = format!(
            "{} heads, {} kv, tied {}, v {:?}",
            shape.heads, shape.kv_heads, shape.tied, shape.v_type
        );
        assert!(diff < 1e-3, "{case}: logits differ by {diff}");
        // The prompt in two pieces gives what it gives at once, and a new session starts over.
        let mut split = model.session();
        let head = Tensor::from_slice(&prompt[..3], (1, 3), &Device::Cpu).unwrap();
        split.next_logits(&head, 0).unwrap();
        let tail = Tensor::from_slice(&prompt[3..], (1, prompt.len() - 3), &Device::Cpu).unwrap();
        let pieces = split
            .next_logits(&tail, 3)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let diff = max_diff(&[pieces], &ours[..1]);
        assert!(diff < 1e-4, "{case}: prompt in pieces differs by {diff}");
        let again = logits(&mut model.session(), &prompt, &then);
        assert_eq!(again, ours, "{case}: sessions do not share a cache");
        // A position that does not follow the cache, and a token outside the vocabulary.
        let mut s = model.session();
        s.next_logits(&head, 0).unwrap();
        let one = Tensor::from_slice(&[1u32], (1, 1), &Device::Cpu).unwrap();
        let err = s.next_logits(&one, 7).unwrap_err();
        assert!(err.to_string().contains("does not follow"), "{err}");
        let bad = Tensor::from_slice(&[VOCAB as u32], (1, 1), &Device::Cpu).unwrap();
        let err = s.next_logits(&bad, 3).unwrap_err();
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    }
}

/// A random Q8_0 GGUF (grouped heads, separate output head) imported into `dir/base`, which
/// keeps the file as its `model.gguf`.
fn quantized_base(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("src.gguf");
    write_gguf(
        &src,
        &Shape {
            heads: 4,
            kv_heads: 2,
            tied: false,
            v_type: GgmlDType::Q8_0,
        },
    );
    let base = dir.join("base");
    trainer::gguf::import(&src, &base).unwrap();
    base
}

#[test]
fn a_child_quantized_like_its_base_runs_its_own_weights() {
    let dir = tempfile::tempdir().unwrap();
    let base = quantized_base(dir.path());
    let child = dir.path().join("child");
    std::fs::create_dir_all(&child).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(base.join(f), child.join(f)).unwrap();
    }
    let prompt = [5, 17, 250, 3, 99];
    let then = [11, 299, 64];
    let gguf = |d: &std::path::Path| {
        let m = Quantized::load(&d.join("model.gguf"), &Device::Cpu).unwrap();
        logits(&mut m.session(), &prompt, &then)
    };
    // Unchanged weights give back the base's file, values and row order alike.
    assert!(trainer::gguf::quantize_like_base(&base, &child).unwrap());
    let round_trip = max_diff(&gguf(&child), &gguf(&base));
    assert!(
        round_trip < 1e-5,
        "the round trip moves logits by {round_trip}"
    );
    // Training changed the queries' and keys' rows unevenly: the child's file holds the trained
    // values, in llama.cpp's row order (each head's pairs (2i, 2i+1) are Hugging Face's rows
    // (i, i + head_dim/2)), to within Q8_0's rounding.
    let mut weights = trainer::model::load_weights(&child, &Device::Cpu).unwrap();
    let changed = [
        (
            "model.layers.0.self_attn.q_proj.weight",
            "blk.0.attn_q.weight",
            4,
        ),
        (
            "model.layers.1.self_attn.k_proj.weight",
            "blk.1.attn_k.weight",
            2,
        ),
    ];
    for (name, _, _) in changed {
        let t = &weights[name];
        let (rows, cols) = t.dims2().unwrap();
        weights.insert(name.to_owned(), (t + random(rows, cols, 77, 0.3)).unwrap());
    }
    candle_core::safetensors::save(&weights, child.join("model.safetensors")).unwrap();
    assert!(trainer::gguf::quantize_like_base(&base, &child).unwrap());
    let mut file = std::fs::File::open(child.join("model.gguf")).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    for (hf, gguf, heads) in changed {
        let q = content.tensor(&mut file, gguf, &Device::Cpu).unwrap();
        assert_eq!(q.dtype(), GgmlDType::Q8_0);
        let t = q.dequantize(&Device::Cpu).unwrap();
        let (rows, cols) = t.dims2().unwrap();
        let hd = rows / heads;
        let reordered = t
            .reshape((heads, hd / 2, 2, cols))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((rows, cols))
            .unwrap();
        let diff = (reordered - &weights[hf])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 0.01, "{gguf} is {diff} from the trained {hf}");
    }
    let moved = max_diff(&gguf(&child), &gguf(&base));
    assert!(moved > 0.01, "the child's logits are the base's: {moved}");
    // No model.gguf beside the base: nothing to follow.
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    assert!(!trainer::gguf::quantize_like_base(&plain, &child).unwrap());
}

#[test]
fn training_a_quantized_base_leaves_a_quantized_child() {
    let dir = tempfile::tempdir().unwrap();
    let base = quantized_base(dir.path());
    let rows = common::rows(4);
    let cfg = trainer::TrainConfig {
        batch_size: 2,
        max_steps: Some(1),
        lr: 1e-3,
        ..trainer::TrainConfig::default()
    };
    let child = dir.path().join("child");
    let summary = trainer::train(&cfg, &base, &rows, &child, &mut |_| {}, None).unwrap();
    assert_eq!(summary.steps, 1);
    assert!(summary.quantized, "{summary:?}");
    // The child's file loads and generates (the worker and `verdict train` both get it).
    let m = Quantized::load(&child.join("model.gguf"), &Device::Cpu).unwrap();
    let out = logits(&mut m.session(), &[5, 17, 250], &[11]);
    assert!(out.iter().all(|row| row.iter().all(|x| x.is_finite())));
    // A base without the file: no quantized child.
    std::fs::remove_file(base.join("model.gguf")).unwrap();
    let plain = dir.path().join("plain");
    let summary = trainer::train(&cfg, &base, &rows, &plain, &mut |_| {}, None).unwrap();
    assert!(!summary.quantized);
    assert!(!plain.join("model.gguf").exists());
}
