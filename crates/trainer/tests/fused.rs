//! The fused CPU kernels (RMSNorm, SiLU-gate, attention, the blockwise output log-probs) give
//! the values and gradients of the generic candle operations they replace, for tied and
//! untied embeddings, both rotary layouts, grouped-query attention, padding and LoRA.

use candle_core::{Device, Tensor};
use trainer::data::{Example, batch};
use trainer::tiny::{TinySpec, init_tiny};
use trainer::{Decoder, LoraConfig};

fn tokens(s: &str) -> Vec<u32> {
    s.bytes().map(u32::from).collect()
}

/// Two pairs of different lengths (so one row is padded), completions ending in EOS.
fn inputs() -> (Tensor, Tensor, Tensor) {
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
    let d = Device::Cpu;
    (
        Tensor::from_slice(&b.ids, (b.rows, b.len), &d).unwrap(),
        Tensor::from_slice(&b.attention, (b.rows, b.len), &d).unwrap(),
        Tensor::from_slice(&b.completion, (b.rows, b.len), &d).unwrap(),
    )
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Completion log-probs of the four rows, and a loss that weighs them differently (so every
/// row's gradient differs), from one model.
fn run(model: &Decoder) -> (Tensor, Tensor, Tensor) {
    let (ids, attn, comp) = inputs();
    let logits = model.forward(&ids, Some(&attn)).unwrap();
    let (sums, lengths) = model.completion_logps(&ids, &attn, &comp).unwrap();
    assert_eq!(lengths.to_vec1::<f32>().unwrap(), [13.0, 19.0, 4.0, 4.0]);
    let weights = Tensor::new(&[1.0f32, -0.5, 2.0, 0.3], &Device::Cpu).unwrap();
    let loss = (&sums * weights).unwrap().sum_all().unwrap();
    (logits, sums, loss)
}

#[test]
fn fused_kernels_match_the_generic_operations() {
    let dir = tempfile::tempdir().unwrap();
    for (tied, interleaved, lora) in [
        (false, false, false),
        (true, false, false),
        (true, true, false),
        (false, true, true),
        (true, false, true),
    ] {
        init_tiny(
            dir.path(),
            &TinySpec {
                tied,
                seed: 11,
                ..TinySpec::default()
            },
        )
        .unwrap();
        let config = dir.path().join("config.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        json["rope_interleaved"] = serde_json::json!(interleaved);
        std::fs::write(&config, json.to_string()).unwrap();
        let lora = lora.then(|| LoraConfig {
            rank: 4,
            ..LoraConfig::default()
        });
        let fused = Decoder::load(dir.path(), &Device::Cpu, lora.as_ref()).unwrap();
        let mut generic = Decoder::load(dir.path(), &Device::Cpu, lora.as_ref()).unwrap();
        generic.set_fused(false);
        // B starts at zero; give it values (the same on both models) so that A's gradient and
        // the adapters' contribution to the output are exercised too.
        for model in [&fused, &generic] {
            for (k, (name, var)) in model.params().iter().enumerate() {
                if name.contains("lora_B") {
                    let n = var.elem_count();
                    let values: Vec<f32> = (0..n)
                        .map(|i| ((i * 7 + k) as f32 * 0.37).sin() * 0.05)
                        .collect();
                    var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap())
                        .unwrap();
                }
            }
        }
        let case = format!(
            "tied {tied}, interleaved {interleaved}, lora {}",
            lora.is_some()
        );

        let (logits_f, sums_f, loss_f) = run(&fused);
        let (logits_g, sums_g, loss_g) = run(&generic);
        let d = max_abs(&(&logits_f - &logits_g).unwrap());
        assert!(d < 1e-4, "{case}: logits differ by {d}");
        let d = max_abs(&(&sums_f - &sums_g).unwrap());
        assert!(d < 1e-4, "{case}: log-probs differ by {d}");
        // And both equal the log-softmax of the full logits.
        let (ids, _, comp) = inputs();
        let (reference, _) = trainer::loss::sequence_logps(&logits_g, &ids, &comp).unwrap();
        let d = max_abs(&(&sums_f - &reference).unwrap());
        assert!(
            d < 1e-4,
            "{case}: log-probs differ from the full log-softmax by {d}"
        );

        let grads_f = loss_f.backward().unwrap();
        let grads_g = loss_g.backward().unwrap();
        assert_eq!(fused.params().len(), generic.params().len());
        for ((name, vf), (_, vg)) in fused.params().iter().zip(generic.params()) {
            let gf = grads_f
                .get(vf.as_tensor())
                .unwrap_or_else(|| panic!("{case}: {name} has no fused gradient"));
            let gg = grads_g
                .get(vg.as_tensor())
                .unwrap_or_else(|| panic!("{case}: {name} has no generic gradient"));
            let scale = max_abs(gg);
            assert!(scale > 0.0, "{case}: {name} has a zero gradient");
            let d = max_abs(&(gf - gg).unwrap()) / scale;
            assert!(
                d < 1e-3,
                "{case}: {name} gradients differ by {d} (relative)"
            );
        }
    }
}
