//! Verdict's DPO trainer on candle (docs/design.md §6): a Llama/Qwen2-family decoder written from
//! differentiable operations with Hugging Face tensor names, TRL's DPO loss family, LoRA,
//! SGD/AdamW with warmup and decay, checkpoints as Hugging Face folders, and sampling with a
//! KV cache for the arena.

pub mod chat;
pub mod config;
pub mod data;
pub mod device;
pub mod fast;
pub mod fused;
pub mod generate;
pub mod gguf;
pub mod lean;
pub mod loss;
pub mod model;
pub mod optim;
pub mod quantized;
pub mod tiny;
pub mod tokenizer;
pub mod train;

pub use candle_core::Device;
pub use config::ModelConfig;
pub use model::{Decoder, LoraConfig};
pub use train::{StepReport, TrainConfig, TrainSummary, train};
