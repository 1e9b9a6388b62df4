//! What the use cases need from the binary's model backends, as small traits: the server
//! implements them with the trainer, so that candle stays out of the UI and this crate.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, as the traits' methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Can this `local` model load?
pub trait ModelCheck: Send + Sync + 'static {
    /// Checks that a `local` model's settings name a folder the trainer can load (config,
    /// weights' shapes and tokenizer); the error says what is wrong.
    fn check_model(&self, config: serde_json::Value) -> BoxFuture<'static, Result<(), String>>;
}
