//! The open arena: the `openai` backend against a fake OpenAI-compatible server started here
//! (a real HTTP server on loopback), and whole battles through the router.

use std::time::Duration;

use app::state::Settings;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower::ServiceExt;
use verdict_server::backends::{Message, ModelBackend, OpenAi, OpenAiConfig};
use verdict_server::http::{self as web, CookieConfig};

/// What the fake endpoint does, by the requested model name: `echo*` streams an answer split
/// awkwardly across chunks (`nul*` the same with a NUL character in it); `broken` answers 500; `slow` waits 5 s; `keyed` wants the bearer
/// token that equals this process's `PATH` (an environment variable that is always set).
async fn completions(
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> axum::response::Response {
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][0]["role"], "user");
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "broken" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": {"message": "model overloaded"}})),
        )
            .into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        "keyed"
            if headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                != Some(&format!("Bearer {}", std::env::var("PATH").unwrap())) =>
        {
            StatusCode::UNAUTHORIZED.into_response()
        }
        _ => {
            let prompt = body["messages"][0]["content"].as_str().unwrap_or_default();
            // `nul*` models put a NUL character in their answer, as some models do.
            let nul = if model.starts_with("nul") { "\0" } else { "" };
            let chunks = vec![
                "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n".to_owned(),
                "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi"
                    .to_owned(),
                format!(
                    "ces\":[{{\"delta\":{{\"content\":{}}}}}]}}\r\n\r\n",
                    serde_json::to_string(&format!("lo{nul} from {model}: {prompt}")).unwrap()
                ),
                "data: [DONE]\n\n".to_owned(),
            ];
            let stream = futures_util::stream::iter(
                chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
            );
            (
                [(header::CONTENT_TYPE, "text/event-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
    }
}

/// Starts the fake endpoint; returns its base URL (`http://127.0.0.1:PORT/v1`).
async fn fake_openai() -> String {
    let app = Router::new().route("/v1/chat/completions", axum::routing::post(completions));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn config(base_url: &str, model: &str) -> OpenAiConfig {
    serde_json::from_value(json!({"base_url": base_url, "model": model, "timeout_secs": 2}))
        .unwrap()
}

async fn ask(backend: &OpenAi) -> (anyhow::Result<String>, Vec<String>) {
    let messages = [Message {
        role: "user".into(),
        content: "Hi?".into(),
    }];
    let (tx, mut rx) = mpsc::channel(16);
    let result = backend.generate(&messages, tx).await;
    let mut pieces = vec![];
    while let Ok(p) = rx.try_recv() {
        pieces.push(p);
    }
    (result, pieces)
}

#[tokio::test]
async fn the_openai_backend_streams_and_reports_failures() {
    let base = fake_openai().await;
    let (answer, pieces) = ask(&OpenAi::new(config(&base, "echo")).unwrap()).await;
    assert_eq!(answer.unwrap(), "Hello from echo: Hi?");
    assert_eq!(pieces, ["Hel", "lo from echo: Hi?"]);

    let (err, _) = ask(&OpenAi::new(config(&base, "broken")).unwrap()).await;
    let err = err.unwrap_err().to_string();
    assert!(
        err.contains("500") && err.contains("model overloaded"),
        "{err}"
    );

    let (err, _) = ask(&OpenAi::new(config(&base, "slow")).unwrap()).await;
    assert_eq!(
        err.unwrap_err().to_string(),
        "the endpoint did not answer in time"
    );

    let mut keyed = config(&base, "keyed");
    let (err, _) = ask(&OpenAi::new(keyed.clone()).unwrap()).await;
    assert!(err.unwrap_err().to_string().contains("401"));
    keyed.api_key_env = Some("PATH".into());
    let (answer, _) = ask(&OpenAi::new(keyed.clone()).unwrap()).await;
    assert!(answer.unwrap().starts_with("Hello from keyed"));
    keyed.api_key_env = Some("VERDICT_TEST_SURELY_UNSET".into());
    let (err, _) = ask(&OpenAi::new(keyed).unwrap()).await;
    assert!(
        err.unwrap_err()
            .to_string()
            .contains("VERDICT_TEST_SURELY_UNSET is not set")
    );

    let (err, _) = ask(&OpenAi::new(config("http://127.0.0.1:9", "echo")).unwrap()).await;
    assert_eq!(
        err.unwrap_err().to_string(),
        "could not connect to the endpoint"
    );

    let bad = serde_json::from_value::<OpenAiConfig>(json!({"base_url": "x", "modle": "y"}));
    assert!(bad.unwrap_err().to_string().contains("modle"));
}

fn router(pool: &sqlx::PgPool) -> Router {
    let leptos_options = LeptosOptions::builder().output_name("verdict").build();
    web::app(
        verdict_server::services::state(pool.clone(), leptos_options, Settings::default()),
        CookieConfig::default(),
    )
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String, Option<String>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            v.starts_with(web::SESSION_COOKIE)
                .then(|| v.split(';').next().unwrap().to_owned())
        });
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), cookie)
}

fn form(path: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// Registers OpenAI-compatible models served by the fake endpoint.
async fn models(pool: &sqlx::PgPool, base: &str, remote: &[&str]) {
    for r in remote {
        db::arena::register_model(
            pool,
            &format!("fake-{r}"),
            "openai",
            &json!({"base_url": base, "model": r}),
        )
        .await
        .unwrap();
    }
}

/// `(event, data)` pairs of a server-sent event stream.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data = serde_json::from_str(d.trim()).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

/// The event stream of a battle, read to its end.
async fn watch(app: &Router, battle: i64, cookie: &str) -> (StatusCode, String, Option<String>) {
    call(
        app,
        get(&format!("/api/v1/arena/battles/{battle}/events"), cookie),
    )
    .await
}

async fn start(app: &Router, cookie: Option<&str>) -> (i64, String) {
    let (status, body, set) = call(app, form("/api/arena/start", "prompt=Why%3F", cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body.parse().unwrap(),
        set.or(cookie.map(str::to_owned)).unwrap(),
    )
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_battle_streams_both_answers_then_takes_one_vote(pool: sqlx::PgPool) {
    let base = fake_openai().await;
    models(&pool, &base, &["echo-a", "echo-b"]).await;
    // A dataset model is never drawn into a battle.
    sqlx::query("insert into model (name, kind) values ('imported', 'dataset')")
        .execute(&pool)
        .await
        .unwrap();
    let app = router(&pool);
    let (battle, cookie) = start(&app, None).await;
    let (status, body, _) = watch(&app, battle, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let evs = events(&body);
    let deltas: String = evs
        .iter()
        .filter(|(n, d)| n == "delta" && d["side"] == "left")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert!(
        deltas.starts_with("Hello from echo-") && deltas.ends_with(": Why?"),
        "{deltas}"
    );
    assert!(evs.iter().all(|(n, _)| n != "failed"), "{body}");
    let ready = &evs
        .iter()
        .find(|(n, _)| n == "ready")
        .expect("ready event")
        .1;
    assert!(
        ready["left_html"]
            .as_str()
            .unwrap()
            .starts_with("<p>Hello from echo-")
    );
    assert_eq!(evs.last().unwrap().0, "end");
    let assignment = ready["assignment_id"].as_i64().unwrap();

    let vote = Request::post(format!("/api/v1/assignments/{assignment}/vote"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, &cookie)
        .body(Body::from(r#"{"choice":"left"}"#))
        .unwrap();
    let (status, body, _) = call(&app, vote).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reveal: Value = serde_json::from_str(&body).unwrap();
    let left_model = reveal["left_model"].as_str().unwrap();
    assert!(deltas.starts_with(&format!(
        "Hello from {}",
        left_model.trim_start_matches("fake-")
    )));
    let (project, source): (String, String) =
        sqlx::query_as("select p.name, v.source from vote v join project p using (project_id)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((project.as_str(), source.as_str()), ("Arena", "human"));

    // The same battle does not generate twice: a reconnecting client gets the stored answers
    // and the same assignment. Another annotator cannot watch it.
    let (_, again, _) = watch(&app, battle, &cookie).await;
    let again = events(&again);
    assert!(again.iter().all(|(n, _)| n != "delta"), "{again:?}");
    let replay = &again.iter().find(|(n, _)| n == "ready").expect("ready").1;
    assert_eq!(replay["assignment_id"], assignment);
    assert_eq!(replay["left_html"], ready["left_html"]);
    assert_eq!(again.last().unwrap().0, "end");
    let (_, _, other) = call(&app, form("/api/annotate/home", "", None)).await;
    let (status, _, _) = watch(&app, battle, &other.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_failed_answer_shows_in_its_pane_and_the_battle_is_not_counted(pool: sqlx::PgPool) {
    let base = fake_openai().await;
    models(&pool, &base, &["echo", "broken"]).await;
    let app = router(&pool);
    let (battle, cookie) = start(&app, None).await;
    let (_, body, _) = watch(&app, battle, &cookie).await;
    let evs = events(&body);
    let failed: Vec<&Value> = evs
        .iter()
        .filter(|(n, _)| n == "failed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(failed.len(), 1, "{body}");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("model overloaded")
    );
    assert!(evs.iter().all(|(n, _)| n != "ready"));
    let (status, error): (String, Option<String>) =
        sqlx::query_as("select status, error from arena_battle where battle_id = $1")
            .bind(battle)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("fake-broken"));
    let items: i64 = sqlx::query_scalar("select count(*) from item")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(items, 0, "a failed battle never becomes votable");

    // With fewer than two generating models the arena refuses to start.
    sqlx::query("update model set enabled = false where name = 'fake-broken'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body, _) = call(&app, form("/api/arena/start", "prompt=Hi", Some(&cookie))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body, _) = call(&app, form("/api/arena/start", "prompt=%20", Some(&cookie))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn local_models_answer_in_the_arena(pool: sqlx::PgPool) {
    // Two tiny local models (Verdict's own candle generation).
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for (k, dir) in dirs.iter().enumerate() {
        trainer::tiny::init_tiny(
            dir.path(),
            &trainer::tiny::TinySpec {
                seed: k as u64,
                ..Default::default()
            },
        )
        .unwrap();
        db::arena::register_model(
            &pool,
            &format!("tiny-{k}"),
            "local",
            &json!({"path": dir.path(), "max_tokens": 12, "temperature": 0.0}),
        )
        .await
        .unwrap();
    }
    let app = router(&pool);
    let (battle, cookie) = start(&app, None).await;
    let (_, body, _) = watch(&app, battle, &cookie).await;
    let evs = events(&body);
    assert!(evs.iter().all(|(n, _)| n != "failed"), "{body}");
    assert!(
        evs.iter().any(|(n, _)| n == "delta"),
        "answers stream: {body}"
    );
    assert!(evs.iter().any(|(n, _)| n == "ready"), "{body}");
    // Both answers are in this node's generation counters (other tests of this binary may
    // add to them, never take away).
    let deltas = evs.iter().filter(|(n, _)| n == "delta").count();
    let (status, metrics, _) = call(&app, get("/metrics", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let counter = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{kind=\"local\"}} ")))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert!(
        counter("verdict_generation_answers_total") >= 2.0,
        "{metrics}"
    );
    assert!(
        counter("verdict_generation_pieces_total") >= deltas as f64,
        "{metrics}"
    );
    assert!(
        counter("verdict_generation_seconds_total") > 0.0,
        "{metrics}"
    );

    // A local model whose folder is gone fails in its pane, and the battle is not counted.
    sqlx::query(
        "update model set config = '{\"path\": \"/nonexistent/model\"}' where name = 'tiny-1'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (battle, _) = start(&app, Some(&cookie)).await;
    let (_, body, _) = watch(&app, battle, &cookie).await;
    let failed: Vec<String> = events(&body)
        .into_iter()
        .filter(|(n, _)| n == "failed")
        .map(|(_, d)| d["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failed.len(), 1, "{body}");
    // The annotator is told it failed, not where the server keeps its files (that is logged).
    assert!(failed[0].contains("failed to answer"), "{}", failed[0]);
    assert!(!body.contains("/nonexistent"), "{body}");
    let stored: Option<String> =
        sqlx::query_scalar("select error from arena_battle where battle_id = $1")
            .bind(battle)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!stored.unwrap_or_default().contains("/nonexistent"));
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn an_answer_with_a_nul_character_still_makes_a_votable_battle(pool: sqlx::PgPool) {
    let base = fake_openai().await;
    models(&pool, &base, &["nul-a", "nul-b"]).await;
    let app = router(&pool);
    let (battle, cookie) = start(&app, None).await;
    let (_, body, _) = watch(&app, battle, &cookie).await;
    let evs = events(&body);
    assert!(evs.iter().all(|(n, _)| n != "failed"), "{body}");
    assert!(evs.iter().any(|(n, _)| n == "ready"), "{body}");
    let (status, texts): (String, Vec<String>) = sqlx::query_as(
        "select b.status, array(select text from response order by response_id) \
         from arena_battle b where battle_id = $1",
    )
    .bind(battle)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "ready");
    assert!(
        texts.iter().all(|t| t.starts_with("Hello from nul-")),
        "{texts:?}"
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn stuck_battles_fail_and_a_second_stream_waits_for_the_first(pool: sqlx::PgPool) {
    let base = fake_openai().await;
    models(&pool, &base, &["echo-a", "echo-b"]).await;
    let app = router(&pool);

    // A battle claimed by a stream whose server died: the reaper fails it once it is too old.
    let (dead, cookie) = start(&app, None).await;
    assert!(db::arena::claim(&pool, dead).await.unwrap());
    let timeout = verdict_server::http::arena::GENERATION_TIMEOUT;
    let unclaimed = verdict_server::http::arena::UNCLAIMED_TIMEOUT;
    assert_eq!(db::arena::reap(&pool, timeout, unclaimed).await.unwrap(), 0);
    sqlx::query(
        "update arena_battle set started_at = now() - interval '11 minutes' where battle_id = $1",
    )
    .bind(dead)
    .execute(&pool)
    .await
    .unwrap();
    // A battle nobody opened for over an hour goes too; a fresh one stays.
    let (abandoned, _) = start(&app, Some(&cookie)).await;
    let (fresh, _) = start(&app, Some(&cookie)).await;
    sqlx::query(
        "update arena_battle set created_at = now() - interval '2 hours' where battle_id = $1",
    )
    .bind(abandoned)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(db::arena::reap(&pool, timeout, unclaimed).await.unwrap(), 2);
    let status = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("select status from arena_battle where battle_id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(dead).await, "failed");
    assert_eq!(status(abandoned).await, "failed");
    assert_eq!(status(fresh).await, "generating");
    let (_, body, _) = watch(&app, dead, &cookie).await;
    let failed = events(&body);
    assert!(
        failed.iter().any(|(n, d)| n == "failed"
            && d["message"]
                .as_str()
                .unwrap()
                .contains("did not finish in time")),
        "{body}"
    );

    // A stream on a battle that another stream is generating (a reconnect, another node)
    // waits for it and ends with its outcome.
    assert!(db::arena::claim(&pool, fresh).await.unwrap());
    let follower = {
        let (app, cookie) = (app.clone(), cookie.clone());
        tokio::spawn(async move { watch(&app, fresh, &cookie).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!follower.is_finished());
    db::arena::fail(&pool, fresh, "echo-a: the endpoint went away")
        .await
        .unwrap();
    let (_, body, _) = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower ends")
        .unwrap();
    assert!(
        events(&body)
            .iter()
            .any(|(n, d)| n == "failed" && d["message"] == "echo-a: the endpoint went away"),
        "{body}"
    );
}
