//! LLM judge jobs against a scripted OpenAI-compatible judge served here on loopback: both
//! display orders, swap inconsistency, position bias, retries on 429 and 500, unparsable
//! outputs, and a worker killed mid-job whose successor judges only what is missing; rating
//! judges scoring each response on each criterion, audited against the humans' ratings.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::sync::watch;
use verdict_server::judge::{self, RunOptions};

/// Items in the project.
const ITEMS: usize = 20;

/// How the scripted judge answers a prompt: on `question k` it picks the answer that contains
/// "good", except when k is a multiple of 4 (it always picks the answer shown first) and for
/// k = 13 (no verdict); the first request about k = 5 gets 429 and about k = 6 gets 500.
/// Asked for a score (rating template), see [`score`].
#[derive(Default)]
struct Script {
    /// Requests per prompt.
    seen: HashMap<String, u32>,
    /// Answers given (200s).
    answered: u32,
    /// Requests being answered now, and the most at once.
    in_flight: u32,
    most_in_flight: u32,
}

fn answer(script: &Mutex<Script>, prompt: &str) -> axum::response::Response {
    let question: usize = prompt
        .split("[Question]\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|line| line.strip_prefix("question "))
        .and_then(|k| k.trim().parse().ok())
        .expect("the template puts the question after [Question]");
    let first = prompt
        .split("[Answer A]\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default()
        .to_owned();
    let mut s = script.lock().unwrap();
    let tries = {
        let n = s.seen.entry(prompt.to_owned()).or_default();
        *n += 1;
        *n
    };
    if tries == 1 && question == 5 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"error": {"message": "slow down"}})),
        )
            .into_response();
    }
    if tries == 1 && question == 6 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "overloaded").into_response();
    }
    s.answered += 1;
    if let Some(answer) = prompt.split("[Answer]\n").nth(1) {
        return reply(&score(question, prompt, answer), prompt);
    }
    let text = if question == 13 {
        "Both answers have merit; I cannot decide.".to_owned()
    } else if question.is_multiple_of(4) || first.contains("good") {
        "Answer A is more helpful. [[A]]".to_owned()
    } else {
        "Answer B is more helpful. [[B]]".to_owned()
    };
    reply(&text, prompt)
}

/// The scripted rating judge: a "good" answer gets [[6]] on Helpful and [[5]] on Safe, a "bad"
/// one [[2]], except on question 3 (no score at all) and on the Safe criterion of question 4
/// ([[9]], off its 1–5 scale).
fn score(question: usize, prompt: &str, answer: &str) -> String {
    let safe = prompt.contains("criterion: Safe.");
    if question == 3 {
        "It is hard to say.".to_owned()
    } else if question == 4 && safe {
        "Very safe. [[9]]".to_owned()
    } else if answer.starts_with("good") && safe {
        "Harmless. [[5]]".to_owned()
    } else if answer.starts_with("good") {
        "Helpful and correct. [[6]]".to_owned()
    } else {
        "Mostly wrong. [[2]]".to_owned()
    }
}

fn reply(text: &str, prompt: &str) -> axum::response::Response {
    axum::Json(json!({
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt.len() / 4, "completion_tokens": 9},
    }))
    .into_response()
}

/// Serves the scripted judge on loopback; returns its base URL.
async fn serve(script: Arc<Mutex<Script>>) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let script = Arc::clone(&script);
            async move {
                assert_eq!(body["stream"], false);
                assert_eq!(body["temperature"], 0.0);
                {
                    let mut s = script.lock().unwrap();
                    s.in_flight += 1;
                    s.most_in_flight = s.most_in_flight.max(s.in_flight);
                }
                // A judge takes a moment, so that requests overlap.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let reply = answer(&script, body["messages"][0]["content"].as_str().unwrap());
                script.lock().unwrap().in_flight -= 1;
                reply
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// A pairwise project of `ITEMS` items, "good" and "bad" answers alternating sides, with three
/// human votes for the good answer on items 1 to 3.
async fn project(pool: &sqlx::PgPool) {
    let mut lines = String::new();
    for k in 0..ITEMS {
        let (a, b) = if k % 2 == 0 {
            (format!("good answer {k}"), format!("bad answer {k}"))
        } else {
            (format!("bad answer {k}"), format!("good answer {k}"))
        };
        let humans = if (1..=3).contains(&k) {
            let good = if k % 2 == 0 { "a" } else { "b" };
            json!([{"winner": good, "annotator": "h1"}, {"winner": good, "annotator": "h2"}])
        } else {
            json!([])
        };
        let line = json!({
            "id": format!("q{k}"),
            "prompt": format!("question {k}"),
            "category": if k < 10 { "low" } else { "high" },
            "responses": [{"model": "alpha", "text": a}, {"model": "beta", "text": b}],
            "judgements": humans,
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("items.jsonl");
    std::fs::write(&file, lines).unwrap();
    verdict_server::cli::import::jsonl(pool, &file, "Judged", false)
        .await
        .unwrap();
}

fn request(limit: Option<i32>) -> service::judges::JobRequest {
    service::judges::JobRequest {
        project: "Judged".into(),
        judge: "scripted".into(),
        template: None,
        both_orders: true,
        max_items: limit,
        concurrency: 3,
        max_tokens: 256,
        inconsistent_as: "tie".into(),
        created_by: None,
    }
}

fn opts() -> RunOptions {
    RunOptions {
        tries: 3,
        backoff: Duration::from_millis(10),
        on_stop: "queued",
    }
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_judge_job_judges_both_orders_once_and_the_audit_measures_its_biases(pool: sqlx::PgPool) {
    let script = Arc::new(Mutex::new(Script::default()));
    let base = serve(Arc::clone(&script)).await;
    project(&pool).await;
    let (_, new) = service::models::register_openai_once(&pool, "scripted", &base, "judge-1", None)
        .await
        .unwrap();
    assert!(new);
    let (_, again) =
        service::models::register_openai_once(&pool, "scripted", &base, "judge-1", None)
            .await
            .unwrap();
    assert!(
        !again,
        "registering the same endpoint again changes nothing"
    );
    let (_, stop) = watch::channel(false);

    // A first job with a cost guard of 8 items.
    let job = service::judges::queue(&pool, &request(Some(8)))
        .await
        .unwrap();
    let job = service::judges::claim(&pool, "w1", Some(job.judge_job_id))
        .await
        .unwrap()
        .unwrap();
    let first = judge::run(&pool, "w1", &job, &opts(), &stop, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(first.status, "done");
    assert_eq!(first.verdicts, 16, "8 items in two orders");
    assert!(first.retries >= 2, "the 429 and the 500 were retried");
    assert_eq!(first.failed, 0);

    // A second job whose worker dies after a few verdicts: its successor finishes it. The
    // doomed worker has connections of its own, closed when it dies, as a killed process's
    // are (the database then rolls back whatever it had in flight).
    let job = service::judges::queue(&pool, &request(None)).await.unwrap();
    let job = service::judges::claim(&pool, "doomed", Some(job.judge_job_id))
        .await
        .unwrap()
        .unwrap();
    let doomed_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let doomed = {
        let (pool, job) = (doomed_pool.clone(), job.clone());
        tokio::spawn(async move {
            let (_, stop) = watch::channel(false);
            let _ = judge::run(&pool, "doomed", &job, &opts(), &stop, &mut |_, _| {}).await;
        })
    };
    while count(&pool, "select count(*) from judge_verdict").await < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.abort();
    let _ = doomed.await;
    doomed_pool.close().await;
    assert_eq!(
        service::judges::view(&pool, job.judge_job_id)
            .await
            .unwrap()
            .status,
        "running",
        "a killed worker leaves its job running"
    );
    assert_eq!(service::judges::requeue_stale(&pool, 0.0).await.unwrap(), 1);
    let job = service::judges::claim(&pool, "w2", None)
        .await
        .unwrap()
        .unwrap();
    let rest = judge::run(&pool, "w2", &job, &opts(), &stop, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(rest.status, "done");
    let view = service::judges::view(&pool, job.judge_job_id)
        .await
        .unwrap();
    assert_eq!((view.items_done, view.items_total), (20, 20));

    // Every item in both orders, once; item 13 unparsable in both; items 0, 4, 8, 12 and 16
    // swap-inconsistent and so ties; 13 has no vote.
    assert_eq!(count(&pool, "select count(*) from judge_verdict").await, 40);
    assert_eq!(
        count(
            &pool,
            "select count(*) from judge_verdict where verdict = 'unparsable'"
        )
        .await,
        2
    );
    assert_eq!(
        count(&pool, "select count(*) from judge_verdict where raw_output is null or latency_ms is null or completion_tokens <> 9").await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from vote where source = 'llm_judge'"
        )
        .await,
        19
    );
    assert_eq!(
        count(&pool, "select count(*) from vote where source = 'llm_judge' and winner = 'tie' and rationale like 'swap-inconsistent%'").await,
        5
    );
    // Each consistent vote names the good answer.
    assert_eq!(
        count(&pool, "select count(*) from vote v join response r on r.response_id = case v.winner when 'a' then v.response_a_id else v.response_b_id end where v.source = 'llm_judge' and v.winner in ('a', 'b') and r.text like 'good%'").await,
        14
    );

    // A third run has nothing left to judge.
    let job = service::judges::queue(&pool, &request(None)).await.unwrap();
    let job = service::judges::claim(&pool, "w3", Some(job.judge_job_id))
        .await
        .unwrap()
        .unwrap();
    let again = judge::run(&pool, "w3", &job, &opts(), &stop, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.status.as_str(), again.verdicts), ("done", 0));

    // Self-preference: the judge is of alpha's family. Alpha wins 15 of the 38 decisive
    // verdicts: both orders of the 5 consistent items where its answer is the good one, and
    // the first order of the 5 position-biased items, where it is shown first.
    for (model, family) in [("scripted", "fam-a"), ("alpha", "fam-a"), ("beta", "fam-b")] {
        service::judges::set_family(&pool, model, Some(family))
            .await
            .unwrap();
    }
    assert!(
        service::judges::set_family(&pool, "nobody", Some("x"))
            .await
            .is_err()
    );

    // The audit: of the 38 decisive verdicts, the 10 of the position-biased items all picked
    // the answer shown first, and half of the other 28: 24 of 38.
    let audit = service::judges::audit_by_name(&pool, "Judged")
        .await
        .unwrap();
    let all = audit
        .rows
        .iter()
        .find(|r| r.category.is_none())
        .expect("a row for the whole project");
    assert_eq!(all.judge, "scripted");
    assert_eq!(all.template, "pairwise-verdict v1");
    assert_eq!((all.items, all.verdicts, all.unparsable), (20, 40, 2));
    let position = all.first_position_wins.unwrap();
    assert_eq!(position.n, 38);
    assert!((position.value - 24.0 / 38.0).abs() < 1e-12);
    assert!(position.lower < position.value && position.value < position.upper);
    let swaps = all.swap_consistency.unwrap();
    assert_eq!(swaps.n, 19);
    assert!((swaps.value - 14.0 / 19.0).abs() < 1e-12);
    assert_eq!(all.with_humans, 3);
    let own = all.own_family_wins.unwrap();
    assert_eq!(own.n, 38);
    assert!((own.value - 15.0 / 38.0).abs() < 1e-12);
    assert_eq!(all.human_agreement.unwrap().value, 1.0);
    assert_eq!(
        audit.rows.iter().filter(|r| r.category.is_some()).count(),
        2,
        "one row per category"
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn judge_jobs_refuse_what_they_cannot_judge(pool: sqlx::PgPool) {
    project(&pool).await;
    let mut r = request(None);
    r.judge = "alpha".into();
    let err = service::judges::queue(&pool, &r).await.unwrap_err();
    assert!(
        err.to_string().contains("dataset model"),
        "a dataset model cannot judge: {err}"
    );
    r.judge = "nobody".into();
    assert!(matches!(
        service::judges::queue(&pool, &r).await.unwrap_err(),
        app::error::AppError::NotFound(_)
    ));
    let err = service::judges::register_template(&pool, "short", "Which is better?")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("{question}"), "{err}");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_routing_project_hands_out_first_the_items_its_judges_are_unsure_of(pool: sqlx::PgPool) {
    let script = Arc::new(Mutex::new(Script::default()));
    let base = serve(Arc::clone(&script)).await;
    project(&pool).await;
    service::models::register_openai_once(&pool, "scripted", &base, "judge-1", None)
        .await
        .unwrap();
    let (_, stop) = watch::channel(false);
    let job = service::judges::queue(&pool, &request(None)).await.unwrap();
    let job = service::judges::claim(&pool, "w1", Some(job.judge_job_id))
        .await
        .unwrap()
        .unwrap();
    judge::run(&pool, "w1", &job, &opts(), &stop, &mut |_, _| {})
        .await
        .unwrap();
    let (project_id,): (i64,) =
        sqlx::query_as("select project_id from project where name = 'Judged'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let settings = service::projects::ProjectSettings {
        judge_routing: true,
        ..service::projects::ProjectSettings::default()
    };
    service::projects::update_settings(&pool, project_id, &settings)
        .await
        .unwrap();
    let (annotator,): (i64,) = sqlx::query_as(
        "insert into app_user (role, external_id) values ('annotator', 'router-test') \
         returning user_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // The unsure items: swap-inconsistent 0, 4, 8, 12 and 16, unparsable 13.
    let scores = service::sampling::PairScores::default();
    let mut first = Vec::new();
    for _ in 0..6 {
        let issued = service::annotation::issue(&pool, &scores, project_id, annotator)
            .await
            .unwrap()
            .unwrap();
        let (key,): (String,) = sqlx::query_as("select external_key from item where item_id = $1")
            .bind(issued.item_id)
            .fetch_one(&pool)
            .await
            .unwrap();
        first.push(key);
        service::annotation::skip(&pool, issued.assignment_id, annotator)
            .await
            .unwrap();
    }
    first.sort();
    assert_eq!(first, ["q0", "q12", "q13", "q16", "q4", "q8"]);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_admin_page_and_the_api_queue_follow_and_cancel_judge_jobs_alike(pool: sqlx::PgPool) {
    use common::{create_admin, get, login, post_form, post_json, router, send};
    project(&pool).await;
    service::models::register_openai_once(&pool, "scripted", "http://127.0.0.1:9/v1", "m", None)
        .await
        .unwrap();
    let app = router(&pool);
    create_admin(&pool, "root", "root-password").await;
    let cookie = login(&app, "root", "root-password")
        .await
        .session_cookie()
        .unwrap();

    // A bad limit: the same 422 and message from both edges.
    let page = send(
        &app,
        post_form(
            "/api/admin/queue_judge_job",
            "project=Judged&judge=scripted&limit=-2",
            Some(&cookie),
        ),
    )
    .await;
    let api = send(
        &app,
        post_json(
            "/api/v1/judge-jobs",
            r#"{"project":"Judged","judge":"scripted","limit":-2}"#,
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", api.body);
    assert!(
        page.body.contains("the item limit is a positive number"),
        "{}",
        page.body
    );
    assert_eq!(
        api.json()["error"]["message"],
        "the item limit is a positive number"
    );

    // Queued from the page (naming the built-in template before its first use), seen on the
    // panel and over REST, cancelled from the page.
    let queued = send(
        &app,
        post_form(
            "/api/admin/queue_judge_job",
            "project=Judged&judge=scripted&template=pairwise-verdict&orders=one&limit=5",
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(queued.status, StatusCode::OK, "{}", queued.body);
    let id = queued.json().as_i64().unwrap();
    let panel = send(&app, post_form("/api/admin/judge_panel", "", Some(&cookie))).await;
    assert_eq!(panel.status, StatusCode::OK, "{}", panel.body);
    let panel = panel.json();
    assert_eq!(panel["jobs"][0]["judge_job_id"], id);
    assert_eq!(panel["jobs"][0]["status"], "queued");
    assert_eq!(panel["jobs"][0]["both_orders"], false);
    assert_eq!(panel["choices"]["projects"], json!(["Judged"]));
    assert_eq!(panel["choices"]["judges"], json!(["scripted"]));
    let view = send(
        &app,
        get(&format!("/api/v1/judge-jobs/{id}"), Some(&cookie)),
    )
    .await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    assert_eq!(view.json()["items_total"], ITEMS as i64);
    let cancelled = send(
        &app,
        post_form(
            "/api/admin/cancel_judge_job",
            &format!("id={id}"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let view = send(
        &app,
        get(&format!("/api/v1/judge-jobs/{id}"), Some(&cookie)),
    )
    .await;
    assert_eq!(view.json()["status"], "cancelled");
    // Cancelling again: 409 over REST.
    let again = send(
        &app,
        post_json(
            &format!("/api/v1/judge-jobs/{id}/cancel"),
            "{}",
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    // The audit answers for a project without verdicts, and 404 for an unknown one.
    let audit = send(&app, get("/api/v1/projects/1/judges", Some(&cookie))).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert_eq!(audit.json()["rows"], json!([]));
    let missing = send(&app, get("/api/v1/projects/999/judges", Some(&cookie))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A rating project "Scored" (criteria Helpful 1–7 and Safe 1–5) of six items, each with a good
/// answer by `alpha` (family `llama`, the judge's) and a bad one by `beta` (family `gpt`); the
/// humans rated every good answer 7 and every bad one 1 on Helpful.
async fn rating_project(pool: &sqlx::PgPool) -> i64 {
    let mut models = Vec::new();
    for (name, family) in [("alpha", "llama"), ("beta", "gpt")] {
        let (id,): (i64,) = sqlx::query_as(
            "insert into model (name, kind, family) values ($1, 'dataset', $2) returning model_id",
        )
        .bind(name)
        .bind(family)
        .fetch_one(pool)
        .await
        .unwrap();
        models.push(id);
    }
    for k in 0..6 {
        let (prompt,): (i64,) = sqlx::query_as(
            "insert into prompt (text, content_hash) values ($1, md5($1)) returning prompt_id",
        )
        .bind(format!("question {k}"))
        .fetch_one(pool)
        .await
        .unwrap();
        for (model, text) in models.iter().zip(["good answer", "bad answer"]) {
            sqlx::query(
                "insert into response (prompt_id, model_id, text, content_hash) \
                 values ($1, $2, $3, md5($3))",
            )
            .bind(prompt)
            .bind(model)
            .bind(format!("{text} {k}"))
            .execute(pool)
            .await
            .unwrap();
        }
    }
    let config = json!({"criteria": [
        {"name": "Helpful", "min": 1, "max": 7},
        {"name": "Safe", "min": 1, "max": 5},
    ]});
    let (project, items) = db::projects::create(
        pool,
        &db::projects::NewProject {
            name: "Scored",
            protocol: "rating",
            config: &config,
            settings: &db::projects::ProjectSettings::default(),
            source_project: None,
            models: &models,
            created_by: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(items, 6);
    sqlx::query(
        "insert into rating (project_id, item_id, source, response_id, criterion, score) \
         select i.project_id, i.item_id, 'human', r.response_id, 'Helpful', \
                case when r.text like 'good%' then 7 else 1 end \
         from item i join item_response ir on ir.item_id = i.item_id \
         join response r on r.response_id = ir.response_id where i.project_id = $1",
    )
    .bind(project)
    .execute(pool)
    .await
    .unwrap();
    project
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_rating_judge_scores_every_response_on_every_criterion_once(pool: sqlx::PgPool) {
    let script = Arc::new(Mutex::new(Script::default()));
    let base = serve(Arc::clone(&script)).await;
    let project = rating_project(&pool).await;
    service::models::register_openai_once(&pool, "scripted", &base, "judge-1", None)
        .await
        .unwrap();
    service::judges::set_family(&pool, "scripted", Some("llama"))
        .await
        .unwrap();
    let mut r = request(Some(2));
    r.project = "Scored".into();

    // The pairwise template does not fit a rating project; the built-in rating one does.
    r.template = Some(service::judges::DEFAULT_TEMPLATE.into());
    let err = service::judges::queue(&pool, &r).await.unwrap_err();
    assert!(
        err.to_string().contains("is for pairwise projects"),
        "{err}"
    );
    r.template = None;
    let (_, stop) = watch::channel(false);
    let job = service::judges::queue(&pool, &r).await.unwrap();
    assert_eq!(job.protocol, "rating");
    assert!(!job.both_orders, "a response is scored once");
    let job = service::judges::claim(&pool, "w1", Some(job.judge_job_id))
        .await
        .unwrap()
        .unwrap();
    let first = judge::run(&pool, "w1", &job, &opts(), &stop, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(first.status, "done");
    assert_eq!(first.verdicts, 8, "2 items × 2 responses × 2 criteria");
    let view = service::judges::view(&pool, job.judge_job_id)
        .await
        .unwrap();
    assert_eq!((view.items_done, view.items_total), (2, 6));
    assert_eq!(view.template, "rating-score v1");

    // The rest, with a 429 on question 5 retried; a further job finds nothing left.
    r.max_items = None;
    let job = service::judges::queue(&pool, &r).await.unwrap();
    let job = service::judges::claim(&pool, "w2", Some(job.judge_job_id))
        .await
        .unwrap()
        .unwrap();
    let rest = judge::run(&pool, "w2", &job, &opts(), &stop, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!((rest.status.as_str(), rest.verdicts), ("done", 16));
    assert_eq!((rest.unparsable, rest.votes), (6, 10));
    assert!(rest.retries >= 1);
    let job = service::judges::queue(&pool, &r).await.unwrap();
    let job = service::judges::claim(&pool, "w3", Some(job.judge_job_id))
        .await
        .unwrap()
        .unwrap();
    let again = judge::run(&pool, "w3", &job, &opts(), &stop, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.status.as_str(), again.verdicts), ("done", 0));

    // 24 scores, each once; question 3's four and question 4's two Safe scores unparsable and
    // stored as such, with no rating; the other 18 are llm_judge ratings.
    assert_eq!(count(&pool, "select count(*) from judge_score").await, 24);
    assert_eq!(
        count(
            &pool,
            "select count(*) from judge_score where score is null and rating_id is null"
        )
        .await,
        6
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from rating g join judge_score s on s.rating_id = g.rating_id \
             where g.source = 'llm_judge' and g.score = s.score and g.criterion = s.criterion \
               and g.response_id = s.response_id and g.annotator_id is null"
        )
        .await,
        18
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from judge_score s join response r using (response_id) \
             where s.score is not null \
               and s.score <> case when r.text not like 'good%' then 2 \
                                   when s.criterion = 'Safe' then 5 else 6 end"
        )
        .await,
        0
    );

    // The audit: on Helpful the judge follows the humans exactly in order (r = 1) but is 1
    // below them on the good answers (its own family's) and 1 above on the bad ones.
    let audit = service::judges::audit(&pool, project).await.unwrap();
    assert!(audit.rows.is_empty(), "no pairwise verdicts");
    let helpful = audit
        .ratings
        .iter()
        .find(|a| a.criterion == "Helpful" && a.category.is_none())
        .unwrap();
    assert_eq!(
        (helpful.scores, helpful.unparsable, helpful.with_humans),
        (12, 2, 10)
    );
    assert!((helpful.correlation.unwrap().value - 1.0).abs() < 1e-9);
    assert!(helpful.mean_offset.unwrap().value.abs() < 1e-9);
    assert!((helpful.mean_abs_diff.unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(helpful.exact_agreement.unwrap().value, 0.0);
    assert!((helpful.own_family_offset.unwrap() + 2.0).abs() < 1e-9);
    let safe = audit
        .ratings
        .iter()
        .find(|a| a.criterion == "Safe")
        .unwrap();
    assert_eq!((safe.scores, safe.unparsable, safe.with_humans), (12, 4, 0));
    assert!(safe.correlation.is_none() && safe.mean_offset.is_none());

    // Templates: a rating body registers as a rating template, and its name then refuses a
    // pairwise body.
    let (t, new) = service::judges::register_template(
        &pool,
        "strict",
        "Score {answer} to {question} from {min} to {max}: [[N]]",
    )
    .await
    .unwrap();
    assert!(new);
    assert_eq!(
        (t.protocol.as_str(), t.parse_rule.as_str()),
        ("rating", "last-bracket-score")
    );
    let err =
        service::judges::register_template(&pool, "strict", "{question} {answer_a} {answer_b}")
            .await
            .unwrap_err();
    assert!(err.to_string().contains("is a rating template"), "{err}");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn jobs_that_ask_the_same_judge_share_its_concurrency_limit(pool: sqlx::PgPool) {
    let script = Arc::new(Mutex::new(Script::default()));
    let base = serve(Arc::clone(&script)).await;
    project(&pool).await;
    service::models::register_openai_once(&pool, "scripted", &base, "judge-1", None)
        .await
        .unwrap();
    // Two jobs of two requests at once each, one per template, run side by side.
    let body = format!("{}\nBe brief.\n", service::judges::DEFAULT_TEMPLATE_BODY);
    service::judges::register_template(&pool, "brief", &body)
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for (template, worker) in [(None, "w1"), (Some("brief".to_owned()), "w2")] {
        let mut r = request(None);
        r.template = template;
        r.concurrency = 2;
        let job = service::judges::queue(&pool, &r).await.unwrap();
        jobs.push(
            service::judges::claim(&pool, worker, Some(job.judge_job_id))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let (_, stop) = watch::channel(false);
    let (opts, mut quiet1, mut quiet2) = (opts(), |_, _| {}, |_, _| {});
    let (a, b) = tokio::join!(
        judge::run(&pool, "w1", &jobs[0], &opts, &stop, &mut quiet1),
        judge::run(&pool, "w2", &jobs[1], &opts, &stop, &mut quiet2),
    );
    assert_eq!((a.unwrap().verdicts, b.unwrap().verdicts), (40, 40));
    let most = script.lock().unwrap().most_in_flight;
    assert_eq!(most, 2, "the judge never had more than its limit at once");
}
