//! `verdict bench votes`: vote throughput and latency through the real router (in-process, so
//! no HTTP parsing or sockets), against the configured database with its usual durability.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use app::state::Settings;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::database::{DatabaseArgs, open_database};
use crate::http::{self as web, CookieConfig};

/// One request through the router in-process: `(status, body, session cookie it set)`.
/// `json` sends a JSON body; without it the request is an empty form post (as server
/// functions take).
///
/// # Errors
/// If the request cannot be built or the body cannot be read.
pub async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    json: Option<String>,
) -> Result<(StatusCode, String, Option<String>)> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT, "application/json");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    let body = match json {
        Some(j) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(j)
        }
        None => {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::empty()
        }
    };
    let res = app.clone().oneshot(b.body(body)?).await?;
    let status = res.status();
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            v.starts_with(web::SESSION_COOKIE)
                .then(|| v.split(';').next().unwrap_or(v).to_owned())
        });
    let bytes = res.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned(), cookie))
}

/// Runs the benchmark: `clients` annotators each judge `per_client` items of a fresh project.
/// With `vote_only`, every assignment is issued before the clock starts and only the vote
/// requests are timed; otherwise each vote first asks for its assignment.
///
/// # Errors
/// On database failure or if any request fails.
pub async fn run(
    database: &DatabaseArgs,
    clients: usize,
    per_client: usize,
    vote_only: bool,
    connections: u32,
) -> Result<()> {
    let pool = open_database(database, connections.max(1)).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let name = format!(
        "bench-votes-{}",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let project = service::bench::votes_project(&pool, &name, per_client).await?;

    let leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("verdict")
        .build();
    let state = crate::services::state(pool.clone(), leptos_options, Settings::default());
    let app = web::app(state, CookieConfig::default());
    let mut cookies = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (status, body, cookie) = call(&app, "POST", "/api/annotate/home", None, None).await?;
        if status != StatusCode::OK {
            bail!("could not open an annotator session: {status} {body}");
        }
        cookies.push(cookie.context("no session cookie")?);
    }
    // Vote-only: the assignments each client will vote on, issued up front.
    let mut issued: Vec<Vec<i64>> = vec![Vec::new(); clients];
    if vote_only {
        for (c, cookie) in cookies.iter().enumerate() {
            let (_, me, _) = call(&app, "GET", "/api/v1/me", Some(cookie), None).await?;
            let user: i64 = serde_json::from_str::<serde_json::Value>(&me)?["user_id"]
                .as_i64()
                .context("no user id")?;
            issued[c] = service::bench::issue_all(&pool, project, user).await?;
        }
    }
    let started = Instant::now();
    let tasks: Vec<_> = cookies
        .into_iter()
        .enumerate()
        .map(|(c, cookie)| {
            let app = app.clone();
            let mine = std::mem::take(&mut issued[c]);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                let mut errors = 0usize;
                for k in 0..per_client {
                    let id = if vote_only {
                        mine[k]
                    } else {
                        let (status, body, _) = call(
                            &app,
                            "POST",
                            &format!("/api/v1/projects/{project}/assignments/next"),
                            Some(&cookie),
                            None,
                        )
                        .await?;
                        if status != StatusCode::OK {
                            errors += 1;
                            continue;
                        }
                        serde_json::from_str::<serde_json::Value>(&body)?["assignment_id"]
                            .as_i64()
                            .unwrap_or(0)
                    };
                    let choice = ["left", "right", "tie", "both_bad"][(c + k) % 4];
                    let t = Instant::now();
                    let (status, _, _) = call(
                        &app,
                        "POST",
                        &format!("/api/v1/assignments/{id}/vote"),
                        Some(&cookie),
                        Some(format!(r#"{{"choice":"{choice}"}}"#)),
                    )
                    .await?;
                    latencies.push(t.elapsed());
                    if status != StatusCode::CREATED {
                        errors += 1;
                    }
                }
                anyhow::Ok((latencies, errors))
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |q: f64| {
        latencies[((latencies.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
    };
    let votes = service::bench::votes(&pool, project).await?;
    println!(
        "clients {clients}, connections {connections}, votes recorded {votes}, errors {errors}, \
         wall {elapsed:.2} s"
    );
    println!(
        "throughput: {:.0} votes/s ({})",
        votes as f64 / elapsed,
        if vote_only {
            "vote requests only; assignments issued before the clock started"
        } else {
            "each vote also fetched its assignment first"
        }
    );
    println!(
        "vote request latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
