//! What the browser downloads besides the pages: the bundle under `/pkg` (wasm, JS, CSS) served
//! from the precompressed files the release build writes beside each one (`.br`, `.gz`), and
//! compression of every other response on the fly. README, "Page weight", has the measured
//! figures.
//!
//! With hashed file names (`hash-files` in Cargo.toml's Leptos metadata) a name changes when its
//! content does, so the bundle is cached for a year and never revalidated (`immutable`); a
//! deploy that leaves a file unchanged leaves its name, and browsers keep their copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Response, header};
use axum::middleware::Next;
use leptos::config::LeptosOptions;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// How long a hashed bundle file may be kept: a year, without revalidation.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unhashed files (a development build) are revalidated on every use (a 304 when unchanged).
const REVALIDATE: &str = "no-cache";

/// `/pkg/*`: the bundle, precompressed variants first (`ServeDir` sets `Content-Encoding`; the
/// `Vary: Accept-Encoding` is ours), with the cache policy above on success.
pub fn pkg_router<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let dir = Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let policy = HeaderValue::from_static(if options.hash_files {
        IMMUTABLE
    } else {
        REVALIDATE
    });
    let serve = tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            move |res: &Response<_>| res.status().is_success().then(|| policy.clone()),
        ))
        .service(ServeDir::new(dir).precompressed_br().precompressed_gzip());
    Router::new().nest_service(&format!("/{}", options.site_pkg_dir), serve)
}

/// Headers a bundle file does without, dropped from `/pkg` answers by the outermost layers
/// (the leaderboard fetches about 75 such files, most of them chunks of a few hundred bytes,
/// and each header line costs every one of them): the request id (for logs, and the log keeps it), the framing and referrer policies
/// (they govern documents, and a bundle file is never one), and, on an immutable file, its
/// modification date (nothing revalidates it). `nosniff` stays: it guards scripts and styles.
pub async fn lean_bundle_headers(
    State(prefix): State<Arc<str>>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    let bundle = req.uri().path().starts_with(&*prefix);
    let mut res = next.run(req).await;
    if bundle {
        let headers = res.headers_mut();
        headers.remove(HeaderName::from_static("x-request-id"));
        headers.remove(header::X_FRAME_OPTIONS);
        headers.remove(header::REFERRER_POLICY);
        if headers
            .get(header::CACHE_CONTROL)
            .is_some_and(|v| v == IMMUTABLE)
        {
            headers.remove(header::LAST_MODIFIED);
        }
    }
    res
}

/// The path prefix of the bundle (`/pkg/`), for [`lean_bundle_headers`].
pub fn bundle_prefix(options: &LeptosOptions) -> Arc<str> {
    format!("/{}/", options.site_pkg_dir).into()
}

/// Compression of the pages, server-function answers and REST responses, at a quality cheap
/// enough to run per request (`/annotate/1`'s page: 4,743 bytes, 1,964 at brotli 4, 1,602 at
/// brotli 11, as the README's probe measured it).
/// Server-sent events, images and responses that already carry a `Content-Encoding` pass
/// untouched, so the arena's streams still arrive token by token.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .quality(CompressionLevel::Precise(4))
        .compress_when(
            DefaultPredicate::new()
                .and(NotForContentType::const_new("application/octet-stream"))
                .and(NotForContentType::const_new(
                    "application/vnd.apache.parquet",
                )),
        )
}

/// Whether the bundle has hashed names: `LEPTOS_HASH_FILES` when set, otherwise whether
/// cargo-leptos left a hash file beside the binary whose wasm is in the site folder (so that
/// `verdict serve` after `cargo leptos build` needs no extra setting).
pub fn hashed_bundle(options: &LeptosOptions) -> bool {
    if let Ok(v) = std::env::var("LEPTOS_HASH_FILES") {
        return v.trim().eq_ignore_ascii_case("true");
    }
    let Some(hash_file) = hash_file_path(options) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(hash_file) else {
        return false;
    };
    let pkg = Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(kind, _)| kind.trim() == "wasm")
        .is_some_and(|(_, hash)| {
            pkg.join(format!("{}.{}.wasm", options.output_name, hash.trim()))
                .is_file()
        })
}

/// Where Leptos reads the hash file: beside the running binary.
fn hash_file_path(options: &LeptosOptions) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(&*options.hash_file))
}
