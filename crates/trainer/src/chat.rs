//! Chat messages rendered with the model's Jinja chat template (`tokenizer_config.json`), as
//! `transformers`' `apply_chat_template` does.

use anyhow::{Context, Result, bail};

use crate::tokenizer::Tokenizer;

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
}

/// Renders `messages`; with `generation_prompt`, the template's assistant opening is appended.
///
/// # Errors
/// No chat template, or a template that fails.
pub fn render(
    tok: &Tokenizer,
    messages: &[ChatMessage],
    generation_prompt: bool,
) -> Result<String> {
    let Some(template) = &tok.chat_template else {
        bail!("the model has no chat template (tokenizer_config.json): use plain-text rows");
    };
    let mut env = minijinja::Environment::new();
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                msg,
            ))
        },
    );
    env.add_template("chat", template)
        .context("the chat template does not parse")?;
    let eos = tok.eos.as_ref().map(|e| e.0.clone()).unwrap_or_default();
    env.get_template("chat")?
        .render(minijinja::context! {
            messages => messages,
            add_generation_prompt => generation_prompt,
            eos_token => eos,
            bos_token => "",
        })
        .context("rendering the chat template")
}
