//! The axum router: Leptos pages and server functions, the REST API, health check, sessions,
//! request ids, tracing and the cross-site request guard. The REST handlers live one file per
//! resource beside it.

pub mod api;
pub mod arena;
pub mod assets;
pub mod exports;
pub mod extract;
pub mod judges;
pub mod metrics;
pub mod openapi;
pub mod policies;
pub mod quality;
pub mod training;

use std::net::SocketAddr;

use app::error::AppError;
use app::state::{AppState, ClientIp};
use app::{App, shell};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// Session cookie name.
pub const SESSION_COOKIE: &str = "verdict_session";

/// Cookie settings of the session layer.
#[derive(Debug, Clone, Copy)]
pub struct CookieConfig {
    /// Mark the cookie `Secure` (serve behind HTTPS).
    pub secure: bool,
    /// Days of inactivity after which a session ends.
    pub inactivity_days: i64,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            secure: false,
            inactivity_days: 14,
        }
    }
}

/// Builds the whole application router, used by `verdict serve` and by the tests alike.
pub fn app(state: AppState, cookies: CookieConfig) -> Router {
    let store = PostgresStore::new(state.pool.clone());
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_secure(cookies.secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::days(
            cookies.inactivity_days,
        )));

    let routes = generate_route_list(App);
    let leptos_state = state.clone();
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let bundle = assets::pkg_router(&state.leptos_options);
    let bundle_prefix = assets::bundle_prefix(&state.leptos_options);
    let client_ip_header = state
        .settings
        .client_ip_header
        .as_deref()
        .and_then(|h| axum::http::HeaderName::try_from(h).ok());

    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .nest("/api/v1", api::router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(leptos_state.clone()),
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(assets::compression())
        // After the compression layer: the bundle is served precompressed.
        .merge(bundle)
        .with_state(state.clone())
        .layer(sessions)
        .layer(middleware::from_fn_with_state(state, rate_limit))
        .layer(middleware::from_fn(server_fn_status))
        .layer(middleware::from_fn_with_state(client_ip_header, client_ip))
        .layer(middleware::from_fn(cross_site_guard))
        .layer(middleware::from_fn(request_guard))
        .layer(middleware::from_fn(security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(metrics::track))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(middleware::from_fn_with_state(bundle_prefix, assets::lean_bundle_headers))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    match service::database::ping(&state.pool).await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}

/// A refusal made before the handler runs, in the handler's own error shape: a server
/// function's (`{"code", "message"}`, as its client decodes it) under `/api/` outside
/// `/api/v1`, the REST API's elsewhere; with `Retry-After` on a 429.
fn refuse(path: &str, err: AppError) -> Response {
    if !path.starts_with("/api/") || path.starts_with("/api/v1/") {
        return err.into_response();
    }
    let mut res = (err.status_code(), axum::Json(&err)).into_response();
    if let Ok(value) = HeaderValue::from_str(path) {
        res.headers_mut().insert("serverfnerror", value);
    }
    if let Some(secs) = err.retry_after() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// The largest request body the server reads: 2 MiB, or 512 MiB for the import upload.
pub const BODY_LIMIT: u64 = 2 << 20;
/// The import upload's limit (see [`BODY_LIMIT`]).
pub const IMPORT_BODY_LIMIT: u64 = 512 << 20;
/// The server function that takes multipart uploads.
const IMPORT_PATH: &str = "/api/data/import";

/// Refuses what the handlers must never see: a body over the limit (413) and an upload without
/// a multipart boundary (400; the framework's multipart decoder would panic on it).
async fn request_guard(req: Request, next: Next) -> Response {
    let import = req.uri().path() == IMPORT_PATH;
    let limit = if import {
        IMPORT_BODY_LIMIT
    } else {
        BODY_LIMIT
    };
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > limit) {
        let err = AppError::PayloadTooLarge(format!(
            "the request body is larger than the {} MiB this server accepts",
            limit >> 20
        ));
        return refuse(req.uri().path(), err);
    }
    if import && req.method() == Method::POST {
        let boundary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| multer::parse_boundary(ct).ok());
        if boundary.is_none() {
            let err = AppError::BadRequest(
                "an import is a multipart/form-data upload (with a boundary)".into(),
            );
            return refuse(IMPORT_PATH, err);
        }
    }
    next.run(req).await
}

/// The limited action a request is, by its route: starting an arena battle, or casting a
/// vote, rating or ranking (server function or REST). New annotators are counted where they
/// are made (`app::auth::ssr::ensure_annotator`), since a request cannot show beforehand that
/// it will make one.
fn limited_action(req: &Request) -> Option<service::limits::Action> {
    use service::limits::Action;
    if req.method() != Method::POST {
        return None;
    }
    let path = req.uri().path();
    match path {
        "/api/arena/start" => Some(Action::Battle),
        "/api/annotate/vote" | "/api/annotate/rate" | "/api/annotate/rank" => {
            Some(Action::Judgement)
        }
        _ => {
            let rest = path.strip_prefix("/api/v1/assignments/")?;
            let (_, verb) = rest.split_once('/')?;
            matches!(verb, "vote" | "ratings" | "ranking").then_some(Action::Judgement)
        }
    }
}

/// Answers 429 with `Retry-After` when the client did the request's action too often (see
/// `service::limits`).
async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(action) = limited_action(&req) {
        let client = req.extensions().get::<ClientIp>().and_then(|c| c.0.clone());
        if let Err(err) = state.limiter.check(action, client.as_deref()) {
            return refuse(req.uri().path(), err);
        }
    }
    next.run(req).await
}

/// A server function's error answered before its body ran (unreadable arguments, say) comes
/// with the framework's 500; this gives it the status of the error it carries.
async fn server_fn_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res.headers().contains_key("serverfnerror")
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return AppError::Internal.into_response();
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = err.status_code();
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// A handler that panicked answers the API's 500 (and the panic is logged) instead of an
/// empty reply.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    AppError::Internal.into_response()
}

/// Headers on every answer: no content-type sniffing, no framing by other sites, no referrer
/// sent to other sites (page addresses carry participant ids). Pages and API answers to a
/// request with cookies are never stored by caches (`no-store`) unless they set their own
/// policy. Pages add their `Content-Security-Policy` themselves (it names the page's nonce).
async fn security_headers(req: Request, next: Next) -> Response {
    let with_cookie = req.headers().contains_key(header::COOKIE);
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let dynamic = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html") || ct.starts_with("application/json"));
    if with_cookie && dynamic && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Records the client's address for handlers (login throttle, rate limits): the last entry of
/// the trusted proxy's header when one is configured and present, else the peer address.
async fn client_ip(
    State(header): State<Option<axum::http::HeaderName>>,
    mut req: Request,
    next: Next,
) -> Response {
    let forwarded = header.as_ref().and_then(|h| {
        let value = req.headers().get_all(h).iter().next_back()?.to_str().ok()?;
        let last = value.rsplit(',').next()?.trim();
        last.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| ip.to_string())
    });
    let ip = forwarded.or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string())
    });
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

/// Refuses state-changing requests that a browser marks as coming from another site.
///
/// Session cookies are `SameSite=Lax`; on top of that, a POST/PUT/PATCH/DELETE is refused when
/// `Sec-Fetch-Site` says `cross-site` or `same-site`, or, for browsers that do not send it, when
/// `Origin` names another host. Requests with neither header do not come from a browser
/// page (scripts, `curl`) and carry no ambient credentials of a victim.
async fn cross_site_guard(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if is_cross_site(&req) {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        return AppError::Forbidden("cross-site request refused".into()).into_response();
    }
    next.run(req).await
}

fn is_cross_site(req: &Request) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        return !(site == "same-origin" || site == "none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin_host(origin) != host.map(str::to_ascii_lowercase)
}

/// `https://Example.org:8080` -> `example.org:8080`; `null` and garbage give `None`.
fn origin_host(origin: &HeaderValue) -> Option<String> {
    let origin = origin.to_str().ok()?;
    let (_, rest) = origin.split_once("://")?;
    let host = rest.split('/').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(Method::POST).uri("/api/login");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        assert!(!is_cross_site(&post(&[])));
        assert!(!is_cross_site(&post(&[("sec-fetch-site", "same-origin")])));
        assert!(is_cross_site(&post(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&post(&[("sec-fetch-site", "same-site")])));
        let same = [
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
        ];
        assert!(!is_cross_site(&post(&same)));
        let other = [
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example"),
        ];
        assert!(is_cross_site(&post(&other)));
        assert!(is_cross_site(&post(&[("host", "a"), ("origin", "null")])));
    }
}
