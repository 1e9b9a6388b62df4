//! The axum router: Leptos pages and server functions, the REST API, health check, sessions,
//! request ids, tracing and the cross-site request guard. The REST handlers live one file per
//! resource beside it.

pub mod api;
pub mod arena;
pub mod assets;
pub mod exports;
pub mod extract;
pub mod openapi;
pub mod quality;
pub mod training;

use std::net::SocketAddr;

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

    Router::new()
        .route("/healthz", get(healthz))
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
        .with_state(state)
        .layer(sessions)
        .layer(middleware::from_fn(client_ip))
        .layer(middleware::from_fn(cross_site_guard))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    match db::ping(&state.pool).await {
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

/// Records the peer address for handlers (login rate limiting).
async fn client_ip(mut req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string());
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
        return app::error::AppError::Forbidden("cross-site request refused".into())
            .into_response();
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
