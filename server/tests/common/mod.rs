//! Helpers shared by the HTTP test files: the real router on the test's database, requests,
//! logins.
#![allow(dead_code)]

use app::state::{AppState, Settings};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use tower::ServiceExt;
use verdict_server::http::{self as web, CookieConfig};

pub fn state(pool: sqlx::PgPool) -> AppState {
    let leptos_options = LeptosOptions::builder().output_name("verdict").build();
    verdict_server::services::state(pool, leptos_options, Settings::default())
}

pub fn router(pool: &sqlx::PgPool) -> Router {
    web::app(state(pool.clone()), CookieConfig::default())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// `verdict_session=...` from Set-Cookie, ready for a Cookie header.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .find_map(|v| {
                let v = v.to_str().ok()?;
                v.starts_with(web::SESSION_COOKIE)
                    .then(|| v.split(';').next().unwrap_or(v).to_owned())
            })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app
        .clone()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

pub fn post_form(path: &str, form: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(form.to_owned())).unwrap()
}

pub fn post_json(path: &str, json: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(json.to_owned())).unwrap()
}

pub async fn create_admin(pool: &sqlx::PgPool, name: &str, password: &str) {
    let hash = service::users::hash_password(password.to_owned())
        .await
        .unwrap();
    db::users::create_with_password(pool, name, db::users::Role::Admin, &hash)
        .await
        .unwrap();
}

/// Logs in through the `login` server function and returns the session cookie.
pub async fn login(app: &Router, name: &str, password: &str) -> Reply {
    send(
        app,
        post_form(
            "/api/login",
            &format!("username={name}&password={password}"),
            None,
        ),
    )
    .await
}

/// Opens the annotate page's server function, which binds an anonymous annotator.
pub async fn annotator_cookie(app: &Router) -> String {
    let reply = send(app, post_form("/api/annotate/home", "", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["annotator"]["role"], "annotator");
    reply.session_cookie().expect("annotator session cookie")
}

/// The test database's URL: `DATABASE_URL` with the database `sqlx::test` made for this test
/// (for a `verdict` process started by the test).
pub fn url_of(pool: &sqlx::PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = pool.connect_options().get_database().unwrap().to_owned();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{db}")
}

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
