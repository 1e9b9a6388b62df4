//! Training learns: a tiny model DPO-trained on 200 pairs of Anthropic's HH-RLHF (harmless-base
//! test split, from the outside test data: crates/testdata) ranks the chosen answer above the rejected one on more
//! than 90% of its training pairs by the end.

use std::io::Read;
use std::path::Path;

use trainer::data::Row;
use trainer::loss::{LossConfig, LossType};
use trainer::optim::{OptimizerKind, Schedule};
use trainer::tiny::{TinySpec, init_tiny};
use trainer::{StepReport, TrainConfig};

const DATA: &str = "hh-rlhf/harmless-base-test.jsonl.gz";

/// Anthropic's rows are whole conversations; the prompt is everything up to the last
/// "\n\nAssistant:" (as TRL's `extract_prompt`).
fn split(chosen: &str, rejected: &str) -> Option<Row> {
    const TURN: &str = "\n\nAssistant:";
    let cut = chosen.rfind(TURN)? + TURN.len();
    let prompt = &chosen[..cut];
    let rejected = rejected.strip_prefix(prompt)?;
    serde_json::from_value(serde_json::json!({
        "prompt": prompt, "chosen": &chosen[cut..], "rejected": rejected
    }))
    .ok()
}

fn pairs(n: usize, max_chars: usize) -> Vec<Row> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(testdata::path(DATA)).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let (c, r) = (v["chosen"].as_str()?, v["rejected"].as_str()?);
            (c.len() <= max_chars && r.len() <= max_chars && c != r)
                .then(|| split(c, r))
                .flatten()
        })
        .take(n)
        .collect()
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: HH-RLHF (see crates/testdata)"
)]
#[test]
fn dpo_on_hh_rlhf_ranks_the_chosen_answers_higher() {
    let rows = pairs(200, 400);
    assert_eq!(rows.len(), 200);
    let model = tempfile::tempdir().unwrap();
    init_tiny(
        model.path(),
        &TinySpec {
            seed: 1,
            ..TinySpec::default()
        },
    )
    .unwrap();
    let cfg = TrainConfig {
        loss: LossConfig {
            losses: vec![(LossType::Sigmoid, 1.0)],
            beta: 0.1,
            ..LossConfig::default()
        },
        lr: 2e-3,
        optimizer: OptimizerKind::Adamw,
        schedule: Schedule::Cosine,
        warmup_steps: 5,
        epochs: 6,
        batch_size: 8,
        max_length: Some(256),
        seed: 7,
        ..TrainConfig::default()
    };
    let out = tempfile::tempdir().unwrap();
    let mut steps: Vec<StepReport> = Vec::new();
    trainer::train(
        &cfg,
        model.path(),
        &rows,
        out.path(),
        &mut |r| steps.push(r.clone()),
        None,
    )
    .unwrap();
    let per_epoch = 200 / 8;
    let first: f64 = steps[..per_epoch]
        .iter()
        .map(|s| s.metrics.rewards_accuracies)
        .sum::<f64>()
        / per_epoch as f64;
    let last: f64 = steps[steps.len() - per_epoch..]
        .iter()
        .map(|s| s.metrics.rewards_accuracies)
        .sum::<f64>()
        / per_epoch as f64;
    assert!(
        last > 0.9,
        "rewards/accuracies in the last epoch: {last} (first epoch {first})"
    );
    assert!(last > first, "{first} -> {last}");
    assert!(Path::new(&out.path().join("model.safetensors")).exists());
}
