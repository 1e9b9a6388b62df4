//! The scale-out story, proven with real processes: one PostgreSQL, two `verdict serve` nodes
//! without in-process workers, and one `verdict worker`. A session made on node A works on B;
//! votes through both land once each; a battle started on A streams from B; a training run
//! launched on B is trained by the worker; both nodes give the same leaderboard; killing A
//! under vote load loses no acknowledged vote.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use common::{free_port, url_of};

/// A `verdict` process on the test database, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn verdict(url: &str, runs: &Path, args: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("VERDICT_RUNS_DIR", runs)
        .env("VERDICT_STALE_AFTER", "5")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

fn node(url: &str, runs: &Path) -> (Proc, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let proc = verdict(url, runs, &["serve", "--workers", "0", "--addr", &addr]);
    (proc, format!("http://{addr}"))
}

struct Client(reqwest::Client);

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        cookie: Option<&str>,
        body: Option<(&str, String)>,
    ) -> reqwest::Result<(StatusCode, Option<String>, String)> {
        let mut req = self.0.request(method, url);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some((content_type, body)) = body {
            req = req.header(header::CONTENT_TYPE, content_type).body(body);
        }
        let res = req.send().await?;
        let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
        let cookie = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("verdict_session="))
            .map(|v| v.split(';').next().unwrap().to_owned());
        Ok((status, cookie, res.text().await?))
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> (StatusCode, String) {
        let (s, _, b) = self
            .send(reqwest::Method::GET, url, cookie, None)
            .await
            .unwrap();
        (s, b)
    }

    async fn form(
        &self,
        url: &str,
        form: &str,
        cookie: Option<&str>,
    ) -> (StatusCode, Option<String>, String) {
        let body = Some(("application/x-www-form-urlencoded", form.to_owned()));
        self.send(reqwest::Method::POST, url, cookie, body)
            .await
            .unwrap()
    }

    async fn json(
        &self,
        url: &str,
        json: &Value,
        cookie: Option<&str>,
    ) -> reqwest::Result<(StatusCode, String)> {
        let body = Some(("application/json", json.to_string()));
        let (s, _, b) = self.send(reqwest::Method::POST, url, cookie, body).await?;
        Ok((s, b))
    }

    async fn wait_healthy(&self, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok((StatusCode::OK, _, _)) = self
                .send(reqwest::Method::GET, &format!("{base}/healthz"), None, None)
                .await
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{base} never became healthy");
    }
}

/// A pairwise project of `items` items, x's answer against y's.
async fn project(pool: &sqlx::PgPool, name: &str, items: usize) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    let project = db::imports::pairwise_project(&mut tx, name).await.unwrap();
    sqlx::query("update project set overlap_target = 1 where project_id = $1")
        .bind(project)
        .execute(&mut *tx)
        .await
        .unwrap();
    let x = db::imports::model(&mut tx, "x").await.unwrap();
    let y = db::imports::model(&mut tx, "y").await.unwrap();
    let meta = json!({});
    for k in 0..items {
        let prompt = db::imports::prompt(&mut tx, &format!("{name} {k}?"), None)
            .await
            .unwrap();
        let a = db::imports::response(&mut tx, prompt, x, &format!("x on {k}: careful"), &meta)
            .await
            .unwrap();
        let b = db::imports::response(&mut tx, prompt, y, &format!("y on {k}: meh"), &meta)
            .await
            .unwrap();
        db::imports::item(&mut tx, project, prompt, &k.to_string(), &[a, b])
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    project
}

/// Takes the next assignment on `next_on` and votes it on `vote_on`; the assignment id when the
/// vote was acknowledged (201), `None` when nothing is left.
async fn vote_once(
    c: &Client,
    next_on: &str,
    vote_on: &str,
    project: i64,
    cookie: &str,
) -> Result<Option<i64>, String> {
    let next = c
        .json(
            &format!("{next_on}/api/v1/projects/{project}/assignments/next"),
            &json!({}),
            Some(cookie),
        )
        .await
        .map_err(|e| e.to_string())?;
    if next.0 == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    let id = serde_json::from_str::<Value>(&next.1).map_err(|e| format!("{e}: {next:?}"))?["assignment_id"]
        .as_i64()
        .ok_or_else(|| format!("{next:?}"))?;
    let (status, body) = c
        .json(
            &format!("{vote_on}/api/v1/assignments/{id}/vote"),
            &json!({"choice": "left"}),
            Some(cookie),
        )
        .await
        .map_err(|e| e.to_string())?;
    if status == StatusCode::CREATED {
        Ok(Some(id))
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// A fake OpenAI-compatible endpoint that streams a short answer.
async fn fake_openai() -> String {
    async fn completions(axum::Json(body): axum::Json<Value>) -> axum::response::Response {
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let chunk = json!({"choices": [{"delta": {"content": format!("an answer from {model}")}}]});
        let text = format!("data: {chunk}\n\ndata: [DONE]\n\n");
        (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from(text),
        )
            .into_response()
    }
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn two_web_nodes_and_a_worker_share_one_database(pool: sqlx::PgPool) {
    let url = url_of(&pool);
    let runs = tempfile::tempdir().unwrap();
    let prefs = project(&pool, "Shared", 12).await;
    let load = project(&pool, "Load", 400).await;
    let hash = service::users::hash_password("root-password".into())
        .await
        .unwrap();
    db::users::create_with_password(&pool, "root", db::users::Role::Admin, &hash)
        .await
        .unwrap();
    let openai = fake_openai().await;
    for m in ["remote-a", "remote-b"] {
        db::arena::register_model(&pool, m, "openai", &json!({"base_url": openai, "model": m}))
            .await
            .unwrap();
    }
    let tiny = tempfile::tempdir().unwrap();
    trainer::tiny::init_tiny(tiny.path(), &trainer::tiny::TinySpec::default()).unwrap();
    let base = db::arena::register_model(
        &pool,
        "tiny-base",
        "local",
        &json!({"path": tiny.path(), "max_tokens": 8}),
    )
    .await
    .unwrap();
    // The tiny model is for training only: it stays out of the arena's draw.
    sqlx::query("update model set enabled = false where model_id = $1")
        .bind(base)
        .execute(&pool)
        .await
        .unwrap();

    let (mut node_a, a) = node(&url, runs.path());
    let (_node_b, b) = node(&url, runs.path());
    let _worker = verdict(&url, runs.path(), &["worker"]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = Client(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    c.wait_healthy(&a).await;
    c.wait_healthy(&b).await;

    // A session made on A works on B.
    let (status, admin, body) = c
        .form(
            &format!("{a}/api/login"),
            "username=root&password=root-password",
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let admin = admin.expect("a session cookie from A");
    let (status, me) = c.get(&format!("{b}/api/v1/me"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&me).unwrap()["username"],
        "root",
        "{me}"
    );

    // Votes through both nodes land once each: assignments from one node, votes on the other.
    let (_, annotator, _) = c.form(&format!("{a}/api/annotate/home"), "", None).await;
    let annotator = annotator.expect("an annotator session");
    let mut voted = BTreeSet::new();
    for k in 0.. {
        let (next_on, vote_on) = if k % 2 == 0 { (&a, &b) } else { (&b, &a) };
        match vote_once(&c, next_on, vote_on, prefs, &annotator)
            .await
            .unwrap()
        {
            Some(id) => assert!(voted.insert(id)),
            None => break,
        }
    }
    assert_eq!(voted.len(), 12);
    let stored: i64 = sqlx::query_scalar("select count(*) from vote where project_id = $1")
        .bind(prefs)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 12);

    // A battle started on A streams from B and ends ready.
    let (status, _, battle) = c
        .form(
            &format!("{a}/api/arena/start"),
            "prompt=Hello%3F",
            Some(&annotator),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{battle}");
    let (status, events) = c
        .get(
            &format!("{b}/api/v1/arena/battles/{battle}/events"),
            Some(&annotator),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        events.contains("event: ready") && events.contains("an answer from remote-"),
        "{events}"
    );

    // A training run launched on B is trained by the worker.
    let launch = json!({"base_model_id": base, "filter": {"projects": [prefs]},
        "config": {"epochs": 1, "batch_size": 2, "learning_rate": 1e-3, "max_length": 64, "save_every": 0}});
    let (status, run) = c
        .json(&format!("{b}/api/v1/training-runs"), &launch, Some(&admin))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let run_id = serde_json::from_str::<Value>(&run).unwrap()["id"]
        .as_i64()
        .expect("a run id");
    let deadline = Instant::now() + Duration::from_secs(300);
    let run = loop {
        let (_, run) = c
            .get(&format!("{a}/api/v1/training-runs/{run_id}"), Some(&admin))
            .await;
        let run: Value = serde_json::from_str(&run).unwrap();
        if matches!(
            run["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            break run;
        }
        assert!(Instant::now() < deadline, "the run never ended: {run}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");

    // Both nodes give the same leaderboard.
    let board = |n: &str| format!("{n}/api/v1/leaderboard?project={prefs}");
    let (sa, la) = c.get(&board(&a), None).await;
    let (sb, lb) = c.get(&board(&b), None).await;
    assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK));
    assert_eq!(la, lb);

    // Killing A under vote load loses no acknowledged vote: every 201 is in the table.
    let (_, voter, _) = c.form(&format!("{b}/api/annotate/home"), "", None).await;
    let voter = voter.unwrap();
    let loader = {
        let (a, b, voter) = (a.clone(), b.clone(), voter.clone());
        tokio::spawn(async move {
            let c = Client(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap(),
            );
            let (mut acknowledged, mut refused) = (Vec::new(), 0_usize);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(6) {
                for (next_on, vote_on) in [(&b, &a), (&a, &a)] {
                    match vote_once(&c, next_on, vote_on, load, &voter).await {
                        Ok(Some(id)) => acknowledged.push(id),
                        Ok(None) => return (acknowledged, refused),
                        Err(_) => refused += 1,
                    }
                }
            }
            (acknowledged, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node_a.0.kill().unwrap();
    let (acknowledged, refused) = loader.await.unwrap();
    assert!(
        acknowledged.len() > 5,
        "too few votes before the kill: {}",
        acknowledged.len()
    );
    assert!(refused > 0, "the load never reached the killed node");
    let stored: Vec<i64> = sqlx::query_scalar(
        "select assignment_id from vote where project_id = $1 and assignment_id is not null",
    )
    .bind(load)
    .fetch_all(&pool)
    .await
    .unwrap();
    let stored: BTreeSet<i64> = stored.into_iter().collect();
    let lost: Vec<&i64> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    // B carries on.
    assert_eq!(c.get(&format!("{b}/healthz"), None).await.0, StatusCode::OK);
}
