//! What the tests that compare two ways of running the decoder share (`fused.rs`, `cuda.rs`,
//! `precision.rs`): two padded pairs, the five model cases, and a loss that weighs every row
//! differently; and small preference rows for the tests that train.

// Each test binary uses some of these helpers, not all.
#![allow(dead_code)]

use std::path::Path;

use candle_core::{Device, Tensor};
use trainer::data::{Example, batch};
use trainer::tiny::{TinySpec, init_tiny};
use trainer::{Decoder, LoraConfig};

/// Tied or untied embeddings, interleaved or half-split rotary, with or without LoRA (on the
/// attention projections, and on the output head where it is untied).
pub const CASES: [(bool, bool, bool); 5] = [
    (false, false, false),
    (true, false, false),
    (true, true, false),
    (false, true, true),
    (true, false, true),
];

fn tokens(s: &str) -> Vec<u32> {
    s.bytes().map(u32::from).collect()
}

/// Two pairs of different lengths (so one row is padded), completions ending in EOS.
pub fn inputs(d: &Device) -> (Tensor, Tensor, Tensor) {
    let eos = |s: &str| tokens(s).into_iter().chain([256]).collect::<Vec<_>>();
    let examples = vec![
        Example::Paired {
            prompt: tokens("Hi there, how are you"),
            chosen: eos(" hello! fine"),
            rejected: eos(" go"),
            confidence: 1.0,
        },
        Example::Paired {
            prompt: tokens("Q?"),
            chosen: eos(" yes, sure, gladly"),
            rejected: eos(" no"),
            confidence: 1.0,
        },
    ];
    let b = batch(&examples, &[0, 1], None, 256);
    assert!(b.attention.contains(&0.0), "the batch has padding");
    (
        Tensor::from_slice(&b.ids, (b.rows, b.len), d).unwrap(),
        Tensor::from_slice(&b.attention, (b.rows, b.len), d).unwrap(),
        Tensor::from_slice(&b.completion, (b.rows, b.len), d).unwrap(),
    )
}

/// `n` small preference rows.
pub fn rows(n: usize) -> Vec<trainer::data::Row> {
    (0..n)
        .map(|k| {
            serde_json::from_value(serde_json::json!({
                "prompt": format!("Q{k}?"), "chosen": format!(" good {k}"), "rejected": " bad"
            }))
            .unwrap()
        })
        .collect()
}

/// The largest absolute value, read on the CPU.
pub fn max_abs(t: &Tensor) -> f32 {
    t.to_device(&Device::Cpu)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Writes the tiny model of one case into `dir`; the LoRA settings when the case has them.
fn write_case(dir: &Path, tied: bool, interleaved: bool, lora: bool) -> Option<LoraConfig> {
    init_tiny(
        dir,
        &TinySpec {
            tied,
            seed: 11,
            ..TinySpec::default()
        },
    )
    .unwrap();
    let config = dir.join("config.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["rope_interleaved"] = serde_json::json!(interleaved);
    std::fs::write(&config, json.to_string()).unwrap();
    // An untied head gets an adapter too, so the head's LoRA path is compared as well.
    lora.then(|| {
        let mut config = LoraConfig {
            rank: 4,
            ..LoraConfig::default()
        };
        if !tied {
            config.targets.push("lm_head".into());
        }
        config
    })
}

/// One case's model loaded twice, on `first` and `second`, adapters filled alike; with the
/// case's name for messages.
pub fn load_pair(
    dir: &Path,
    (tied, interleaved, lora): (bool, bool, bool),
    first: &Device,
    second: &Device,
) -> (Decoder, Decoder, String) {
    let lora = write_case(dir, tied, interleaved, lora);
    let a = Decoder::load(dir, first, lora.as_ref()).unwrap();
    let b = Decoder::load(dir, second, lora.as_ref()).unwrap();
    fill_lora_b(&a);
    fill_lora_b(&b);
    let case = format!(
        "tied {tied}, interleaved {interleaved}, lora {}",
        lora.is_some()
    );
    (a, b, case)
}

/// B starts at zero; gives it values (the same for every model of a case) so that A's
/// gradient and the adapters' contribution to the output are exercised too.
fn fill_lora_b(model: &Decoder) {
    for (k, (name, var)) in model.params().iter().enumerate() {
        if name.contains("lora_B") {
            let n = var.elem_count();
            let values: Vec<f32> = (0..n)
                .map(|i| ((i * 7 + k) as f32 * 0.37).sin() * 0.05)
                .collect();
            var.set(&Tensor::from_vec(values, var.shape(), model.device()).unwrap())
                .unwrap();
        }
    }
}

/// Logits, completion log-probs of the four rows, and a loss that weighs them differently
/// (so every row's gradient differs), from one model on its device.
pub fn run(model: &Decoder) -> (Tensor, Tensor, Tensor) {
    let (ids, attn, comp) = inputs(model.device());
    let logits = model.forward(&ids, Some(&attn)).unwrap();
    let (sums, lengths) = model.completion_logps(&ids, &attn, &comp).unwrap();
    assert_eq!(
        lengths
            .to_device(&Device::Cpu)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        [13.0, 19.0, 4.0, 4.0]
    );
    let weights = Tensor::new(&[1.0f32, -0.5, 2.0, 0.3], model.device()).unwrap();
    let loss = (&sums * weights).unwrap().sum_all().unwrap();
    (logits, sums, loss)
}

/// Asserts that two models of one case give the same gradient to every parameter, within
/// `tol` relative to the largest entry of the second's.
pub fn same_gradients(
    case: &str,
    a: &Decoder,
    loss_a: &Tensor,
    b: &Decoder,
    loss_b: &Tensor,
    tol: f32,
) {
    let grads_a = loss_a.backward().unwrap();
    let grads_b = loss_b.backward().unwrap();
    assert_eq!(a.params().len(), b.params().len());
    for ((name, va), (_, vb)) in a.params().iter().zip(b.params()) {
        let ga = grads_a
            .get(va.as_tensor())
            .unwrap_or_else(|| panic!("{case}: {name} has no gradient in the first model"));
        let gb = grads_b
            .get(vb.as_tensor())
            .unwrap_or_else(|| panic!("{case}: {name} has no gradient in the second model"));
        let scale = max_abs(gb);
        assert!(scale > 0.0, "{case}: {name} has a zero gradient");
        let ga = ga.to_device(&Device::Cpu).unwrap();
        let gb = gb.to_device(&Device::Cpu).unwrap();
        let d = max_abs(&(ga - gb).unwrap()) / scale;
        assert!(d < tol, "{case}: {name} gradients differ by {d} (relative)");
    }
}
