//! `verdict bench generate`: tokens per second and peak memory of local-model generation,
//! Verdict's quantized GGUF path and its f32 decoder (and, when asked, candle-transformers'
//! quantized Llama on the same file, the path Verdict used before its own) beside llama.cpp (through
//! `llama-cpp-python`) on the same GGUF file, same prompt, greedy decoding. Each engine runs in
//! its own process, so that each peak memory is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// Which engine one measurement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Verdict, `model.gguf` run quantized.
    Quantized,
    /// Verdict, the folder's f32 weights on the training decoder.
    F32,
    /// candle-transformers' quantized Llama on `model.gguf` (Verdict's earlier quantized path).
    Candle,
    /// llama.cpp through llama-cpp-python.
    Llamacpp,
}

/// `verdict bench generate ...`.
#[derive(Debug, Args)]
pub struct BenchGenerateArgs {
    /// A model folder from `verdict model import-gguf` (holding `model.gguf`).
    #[arg(long)]
    pub model: PathBuf,
    /// The prompt (through the model's chat template).
    #[arg(
        long,
        default_value = "Explain why the sky is blue, in a few paragraphs."
    )]
    pub prompt: String,
    /// New tokens at most.
    #[arg(long, default_value_t = 200)]
    pub tokens: usize,
    /// Timed runs per engine (the best is reported; the model loads once, before them).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Engines to measure (default: quantized, f32 and llamacpp).
    #[arg(long, value_enum)]
    pub engine: Vec<Engine>,
    /// A Python with `llama_cpp` installed (`pip install llama-cpp-python`).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Measure one engine in this process and print its result as JSON (used by the parent).
    #[arg(long, hide = true)]
    pub child: bool,
}

/// One engine's best run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Measured {
    engine: Engine,
    tokens: usize,
    seconds: f64,
    load_seconds: f64,
    peak_rss_mib: f64,
}

/// Python that loads the GGUF with llama.cpp and times greedy completions of the same prompt
/// text (already rendered with the chat template), printing one JSON line.
const LLAMA_CPP: &str = r#"
import json, os, resource, sys, time
from llama_cpp import Llama
path, prompt, tokens, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t = time.perf_counter()
llm = Llama(model_path=path, n_ctx=2048, n_threads=os.cpu_count(), verbose=False)
load = time.perf_counter() - t
best = None
for _ in range(runs):
    llm.reset()
    t = time.perf_counter()
    out = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0, top_k=1)
    s = time.perf_counter() - t
    n = out["usage"]["completion_tokens"]
    if best is None or n / s > best[0] / best[1]:
        best = (n, s)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"engine": "llamacpp", "tokens": best[0], "seconds": best[1],
                  "load_seconds": load, "peak_rss_mib": rss}))
"#;

fn prompt_text(tok: &trainer::tokenizer::Tokenizer, prompt: &str) -> Result<String> {
    if tok.chat_template.is_none() {
        return Ok(prompt.to_owned());
    }
    trainer::chat::render(
        tok,
        &[trainer::data::ChatMessage {
            role: "user".into(),
            content: prompt.into(),
        }],
        true,
    )
}

/// Measures Verdict's engine in this process.
fn measure_verdict(args: &BenchGenerateArgs, engine: Engine) -> Result<Measured> {
    let device = trainer::device::pick();
    let started = Instant::now();
    let (model, tok) = if engine == Engine::Candle {
        let gguf = args.model.join(trainer::quantized::FILE_NAME);
        let q = trainer::quantized::Quantized::load_candle(&gguf, &device)?;
        use trainer::generate::Forward as _;
        let tok = trainer::tokenizer::Tokenizer::load(&args.model, &q.stop_ids())?;
        (trainer::generate::LocalModel::Quantized(q), tok)
    } else {
        trainer::generate::LocalModel::load(&args.model, &device, engine == Engine::F32)?
    };
    if engine != Engine::F32 && model.kind() != "quantized" {
        bail!(
            "{} holds no model.gguf (make it with `verdict model import-gguf`)",
            args.model.display()
        );
    }
    let load_seconds = started.elapsed().as_secs_f64();
    let ids = tok.encode(&prompt_text(&tok, &args.prompt)?)?;
    let cfg = trainer::generate::GenerateConfig {
        max_new_tokens: args.tokens,
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
    };
    let mut best: Option<(usize, f64)> = None;
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        let text =
            trainer::generate::generate_with(&mut *model.session(), &tok, &ids, &cfg, &mut |_| {
                true
            })?;
        let seconds = started.elapsed().as_secs_f64();
        let n = tok.encode(&text)?.len();
        if best.is_none_or(|(bn, bs)| n as f64 / seconds > bn as f64 / bs) {
            best = Some((n, seconds));
        }
    }
    let (tokens, seconds) = best.unwrap_or((0, 0.0));
    Ok(Measured {
        engine,
        tokens,
        seconds,
        load_seconds,
        peak_rss_mib: super::measure::peak_rss_mib().unwrap_or(f64::NAN),
    })
}

/// Measures llama.cpp on the folder's `model.gguf`.
fn measure_llama_cpp(args: &BenchGenerateArgs) -> Result<Measured> {
    let gguf = args.model.join(trainer::quantized::FILE_NAME);
    if !gguf.is_file() {
        bail!("{} is missing", gguf.display());
    }
    let tok = trainer::tokenizer::Tokenizer::load(&args.model, &[])?;
    let prompt = prompt_text(&tok, &args.prompt)?;
    let out = Command::new(&args.python)
        .args(["-c", LLAMA_CPP])
        .arg(&gguf)
        .arg(&prompt)
        .arg(args.tokens.to_string())
        .arg(args.runs.max(1).to_string())
        .output()
        .with_context(|| format!("running {}", args.python.display()))?;
    if !out.status.success() {
        bail!(
            "llama.cpp did not run (is llama-cpp-python installed for {}?): {}",
            args.python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("reading llama.cpp's result")
}

fn child(exe: &Path, args: &BenchGenerateArgs, engine: Engine) -> Result<Measured> {
    let name = engine
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let out = Command::new(exe)
        .args(["bench", "generate", "--child", "--engine", &name])
        .arg("--model")
        .arg(&args.model)
        .args(["--prompt", &args.prompt])
        .args(["--tokens", &args.tokens.to_string()])
        .args(["--runs", &args.runs.to_string()])
        .arg("--python")
        .arg(&args.python)
        .output()
        .context("running the benchmark's child process")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    serde_json::from_slice(&out.stdout).context("reading the child's result")
}

/// Runs `verdict bench generate`.
///
/// # Errors
/// A model that does not load; llama.cpp missing (named).
pub fn run(args: &BenchGenerateArgs) -> Result<()> {
    let engines = if args.engine.is_empty() {
        vec![Engine::Quantized, Engine::F32, Engine::Llamacpp]
    } else {
        args.engine.clone()
    };
    if args.child {
        let [engine] = engines[..] else {
            bail!("--child measures one engine");
        };
        let m = match engine {
            Engine::Llamacpp => measure_llama_cpp(args)?,
            e => measure_verdict(args, e)?,
        };
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    println!(
        "{} new tokens at most, greedy, best of {} runs, {} CPU threads; prompt through the chat template",
        args.tokens,
        args.runs,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "{:<28} {:>7} {:>9} {:>9} {:>8} {:>10}",
        "engine", "tokens", "seconds", "tokens/s", "load s", "peak MiB"
    );
    let mut reference = None;
    let mut rows = Vec::new();
    for engine in engines {
        let label = match engine {
            Engine::Quantized => "verdict (quantized GGUF)",
            Engine::F32 => "verdict (f32 decoder)",
            Engine::Candle => "candle-transformers (GGUF)",
            Engine::Llamacpp => "llama.cpp (llama-cpp-python)",
        };
        match child(&exe, args, engine) {
            Ok(m) => {
                let tps = m.tokens as f64 / m.seconds.max(1e-9);
                if engine == Engine::Llamacpp {
                    reference = Some(tps);
                }
                println!(
                    "{label:<28} {:>7} {:>9.2} {:>9.1} {:>8.2} {:>10.0}",
                    m.tokens, m.seconds, tps, m.load_seconds, m.peak_rss_mib
                );
                rows.push((label, tps));
            }
            Err(e) => println!("{label:<28} failed: {e:#}"),
        }
    }
    if let Some(r) = reference {
        for (label, tps) in rows.iter().filter(|(l, _)| !l.starts_with("llama.cpp")) {
            println!("{label}: {:.0}% of llama.cpp's tokens/s", 100.0 * tps / r);
        }
    }
    Ok(())
}
