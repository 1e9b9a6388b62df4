//! Model backends: how a contestant answers a prompt in the open arena.
//!
//! - `dataset`: no generation (such models only compete with imported responses; the arena
//!   leaves them out).
//! - `openai`: any OpenAI-compatible `/v1/chat/completions` endpoint, streamed (server-sent
//!   events). The model's `config` names the base URL, the remote model, and the environment
//!   variable holding the API key (never the key itself).
//! - `local`: a Hugging Face folder run by Verdict's own trainer crate (candle), loaded once
//!   per process and sampled with a KV cache on a blocking thread.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tokio::sync::mpsc;

/// A chat turn.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Something that answers a conversation, streaming text pieces into `tokens` as they come and
/// returning the whole answer.
pub trait ModelBackend: Send + Sync {
    /// Generates an answer to `messages`.
    ///
    /// # Errors
    /// A message for the annotator's pane: the endpoint refused, timed out or broke off.
    fn generate<'a>(
        &'a self,
        messages: &'a [Message],
        tokens: mpsc::Sender<String>,
    ) -> BoxFuture<'a, Result<String>>;
}

/// Settings of an `openai` model (`model.config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// E.g. `https://api.openai.com/v1` or `http://localhost:8000/v1`.
    pub base_url: String,
    /// The remote model name.
    pub model: String,
    /// Environment variable with the API key; no key is sent when absent.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Seconds allowed for the whole answer.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Seconds allowed between two pieces of the stream.
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// Answer length limit.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Sampling temperature.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
}

fn default_timeout() -> u64 {
    120
}
fn default_idle() -> u64 {
    30
}
fn default_max_tokens() -> u32 {
    1024
}
fn default_temperature() -> f64 {
    0.7
}

/// An OpenAI-compatible chat endpoint.
#[derive(Debug, Clone)]
pub struct OpenAi {
    config: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAi {
    /// A backend for `config`.
    ///
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        install_crypto();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .read_timeout(Duration::from_secs(config.idle_timeout_secs.max(1)))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { config, client })
    }

    fn url(&self) -> String {
        let base = self.config.base_url.trim_end_matches('/');
        if base.ends_with("/chat/completions") {
            base.to_owned()
        } else if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        }
    }

    async fn run(&self, messages: &[Message], tokens: mpsc::Sender<String>) -> Result<String> {
        let mut request = self.client.post(self.url()).json(&serde_json::json!({
            "model": self.config.model,
            "messages": messages,
            "stream": true,
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }));
        if let Some(var) = &self.config.api_key_env {
            let key = std::env::var(var)
                .with_context(|| format!("the API key variable {var} is not set on the server"))?;
            request = request.bearer_auth(key);
        }
        let mut response = request.send().await.map_err(describe)?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| body.chars().take(200).collect());
            bail!("the endpoint answered {status}: {detail}");
        }
        let mut text = String::new();
        let mut pending = String::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            // Server-sent events: one `data: ...` line per event, events end with a blank line.
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let line = line.trim_end_matches(['\r', '\n']);
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    return Ok(text);
                }
                let event: serde_json::Value = serde_json::from_str(data)
                    .with_context(|| format!("the endpoint sent an unreadable event: {data}"))?;
                if let Some(message) = event["error"]["message"].as_str() {
                    bail!("the endpoint reported an error: {message}");
                }
                if let Some(piece) = event["choices"][0]["delta"]["content"].as_str()
                    && !piece.is_empty()
                {
                    text.push_str(piece);
                    // The listener may have gone; the answer is still completed and returned.
                    let _ = tokens.send(piece.to_owned()).await;
                }
            }
        }
        if text.is_empty() {
            bail!("the endpoint closed the stream without an answer");
        }
        Ok(text)
    }
}

/// A whole answer with the endpoint's token counts (judges ask for these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The answer.
    pub text: String,
    /// Tokens of the prompt, when the endpoint says.
    pub prompt_tokens: Option<i32>,
    /// Tokens of the answer, when the endpoint says (a local model: pieces generated).
    pub completion_tokens: Option<i32>,
}

/// Why asking for a completion failed, and whether asking again may work (429, 5xx, a timeout
/// or a refused connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// Asking again may work.
    pub retryable: bool,
    /// What happened.
    pub message: String,
}

impl CallError {
    fn fatal(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
        }
    }
}

impl OpenAi {
    /// The whole answer to `messages` in one response (not streamed), with the token counts.
    ///
    /// # Errors
    /// A [`CallError`], retryable for 429, 5xx, timeouts and refused connections.
    pub async fn complete(&self, messages: &[Message]) -> Result<Completion, CallError> {
        let mut request = self.client.post(self.url()).json(&serde_json::json!({
            "model": self.config.model,
            "messages": messages,
            "stream": false,
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }));
        if let Some(var) = &self.config.api_key_env {
            let key = std::env::var(var)
                .map_err(|_| CallError::fatal(format!("the API key variable {var} is not set")))?;
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| CallError {
            retryable: e.is_timeout() || e.is_connect(),
            message: format!("{:#}", describe(e)),
        })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| CallError {
            retryable: true,
            message: format!("{:#}", describe(e)),
        })?;
        let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        if !status.is_success() {
            let detail = json
                .as_ref()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| body.chars().take(200).collect());
            return Err(CallError {
                retryable: status.as_u16() == 429 || status.is_server_error(),
                message: format!("the endpoint answered {status}: {detail}"),
            });
        }
        let json =
            json.ok_or_else(|| CallError::fatal("the endpoint sent a body that is not JSON"))?;
        let text = json["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| {
                CallError::fatal("the endpoint's answer has no choices[0].message.content")
            })?;
        let count = |k: &str| {
            json["usage"][k]
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
        };
        Ok(Completion {
            text: text.to_owned(),
            prompt_tokens: count("prompt_tokens"),
            completion_tokens: count("completion_tokens"),
        })
    }
}

fn describe(e: reqwest::Error) -> anyhow::Error {
    if e.is_timeout() {
        anyhow::anyhow!("the endpoint did not answer in time")
    } else if e.is_connect() {
        anyhow::anyhow!("could not connect to the endpoint")
    } else {
        anyhow::anyhow!("the request to the endpoint failed: {e}")
    }
}

/// Installs rustls' ring provider once per process (reqwest is built without a default one).
fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl ModelBackend for OpenAi {
    fn generate<'a>(
        &'a self,
        messages: &'a [Message],
        tokens: mpsc::Sender<String>,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(self.run(messages, tokens))
    }
}

/// A backend that cannot generate, with the reason.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

impl ModelBackend for Unavailable {
    fn generate<'a>(
        &'a self,
        _messages: &'a [Message],
        _tokens: mpsc::Sender<String>,
    ) -> BoxFuture<'a, Result<String>> {
        let reason = self.0.clone();
        Box::pin(async move { Err(anyhow::anyhow!(reason)) })
    }
}

/// A backend's whole answer to `messages` when nobody watches it stream, with the number of
/// pieces it came in (a local model's tokens).
///
/// # Errors
/// The backend's failure.
pub async fn generate_whole(
    backend: &dyn ModelBackend,
    messages: &[Message],
) -> Result<(String, i32)> {
    let (pieces, mut received) = mpsc::channel::<String>(256);
    // Draining the pieces keeps the generation going (it stops once nobody listens).
    let count = async {
        let mut n = 0i32;
        while received.recv().await.is_some() {
            n += 1;
        }
        n
    };
    let (text, n) = tokio::join!(backend.generate(messages, pieces), count);
    Ok((text?, n))
}

/// The backend of a model, from its kind and config.
///
/// # Errors
/// An `openai` config that does not parse, naming the field.
pub fn for_model(kind: &str, config: &serde_json::Value) -> Result<Box<dyn ModelBackend>> {
    Ok(match kind {
        "openai" => {
            let config: OpenAiConfig = serde_json::from_value(config.clone())
                .context("the model's OpenAI settings are invalid")?;
            Box::new(OpenAi::new(config)?)
        }
        "local" => {
            let config: LocalConfig = serde_json::from_value(config.clone())
                .context("the local model's settings are invalid (it needs a `path`)")?;
            Box::new(Local { config })
        }
        _ => Box::new(Unavailable(
            "dataset models do not generate; they only compete with imported responses".into(),
        )),
    })
}

/// Settings of a `local` model (`model.config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// The Hugging Face folder (config.json, *.safetensors, tokenizer.json).
    pub path: std::path::PathBuf,
    /// Answer length limit.
    #[serde(default = "default_local_tokens")]
    pub max_tokens: usize,
    /// Sampling temperature (0: greedy).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Nucleus mass.
    #[serde(default = "default_top_p")]
    pub top_p: f64,
}

fn default_local_tokens() -> usize {
    256
}
fn default_top_p() -> f64 {
    0.9
}

/// A loaded local model (quantized when its folder holds `model.gguf`) and its tokenizer.
type Loaded = std::sync::Arc<(trainer::generate::LocalModel, trainer::tokenizer::Tokenizer)>;

/// Local models stay loaded (by folder) for the life of the process.
fn loaded(path: &std::path::Path) -> Result<Loaded> {
    static CACHE: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Loaded>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut cache = CACHE
        .lock()
        .map_err(|_| anyhow::anyhow!("model cache poisoned"))?;
    if let Some(m) = cache.get(path) {
        return Ok(m.clone());
    }
    let device = trainer::device::pick();
    let m: Loaded = std::sync::Arc::new(
        trainer::generate::LocalModel::load(path, &device, false)
            .with_context(|| format!("loading the local model in {}", path.display()))?,
    );
    cache.insert(path.to_path_buf(), m.clone());
    Ok(m)
}

/// A model run by Verdict itself.
#[derive(Debug, Clone)]
pub struct Local {
    config: LocalConfig,
}

impl ModelBackend for Local {
    fn generate<'a>(
        &'a self,
        messages: &'a [Message],
        tokens: mpsc::Sender<String>,
    ) -> BoxFuture<'a, Result<String>> {
        let config = self.config.clone();
        let chat: Vec<trainer::data::ChatMessage> = messages
            .iter()
            .map(|m| trainer::data::ChatMessage {
                role: m.role.clone(),
                content: m.content.clone(),
            })
            .collect();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> Result<String> {
                let m = loaded(&config.path)?;
                let tok = &m.1;
                let prompt = if tok.chat_template.is_some() {
                    trainer::chat::render(tok, &chat, true)?
                } else {
                    chat.iter()
                        .map(|m| m.content.as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                let ids = tok.encode(&prompt)?;
                let cfg = trainer::generate::GenerateConfig {
                    max_new_tokens: config.max_tokens,
                    temperature: config.temperature,
                    top_p: config.top_p,
                    seed: rand::random(),
                };
                let mut model = m.0.session();
                trainer::generate::generate_with(&mut *model, tok, &ids, &cfg, &mut |piece| {
                    // Stop early once nobody listens.
                    tokens.blocking_send(piece.to_owned()).is_ok()
                })
            })
            .await
            .context("the generation thread failed")?
        })
    }
}
