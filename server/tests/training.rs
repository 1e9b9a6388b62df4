//! Training runs through the API and a real worker, on a tiny model and a fresh database per
//! test: launch, validation at launch, live metrics, the registered output model, cancelling,
//! and runs whose worker died.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use verdict_server::worker::{self, WorkerConfig};

/// Project "Prefs": six items of writer-x against writer-y with hand-picked votes, so that the
/// pairs are known: items 1–4 have a majority (x, x, y, x), item 5 is a 1–1 split, item 6 only
/// ties.
async fn seed_votes(pool: &sqlx::PgPool) -> i64 {
    sqlx::query(
        "insert into model (name, kind) values ('writer-x', 'dataset'), ('writer-y', 'dataset')",
    )
    .execute(pool)
    .await
    .unwrap();
    let (project,): (i64,) = sqlx::query_as(
        "insert into project (name, protocol) values ('Prefs', 'pairwise') returning project_id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    // (x votes, y votes, ties) per item, with x always shown as A.
    let plan = [
        (2, 1, 0),
        (3, 0, 1),
        (0, 2, 0),
        (1, 0, 0),
        (1, 1, 0),
        (0, 0, 2),
    ];
    for (k, (x, y, t)) in plan.into_iter().enumerate() {
        let text = format!("Question {k}?");
        sqlx::query(
            "with p as (insert into prompt (text, content_hash) values ($1, md5($1)) returning prompt_id), \
                  i as (insert into item (project_id, prompt_id, external_key) \
                        select $2, prompt_id, $3 from p returning item_id, prompt_id), \
                  rx as (insert into response (prompt_id, model_id, text, content_hash) \
                         select prompt_id, (select model_id from model where name = 'writer-x'), \
                                $1 || ' A careful answer.', md5($1 || 'x') from p returning response_id), \
                  ry as (insert into response (prompt_id, model_id, text, content_hash) \
                         select prompt_id, (select model_id from model where name = 'writer-y'), \
                                $1 || ' meh', md5($1 || 'y') from p returning response_id), \
                  ir as (insert into item_response (item_id, response_id, position) \
                         select item_id, response_id, 0 from i, rx \
                         union all select item_id, response_id, 1 from i, ry) \
             insert into vote (project_id, item_id, source, model_a_id, model_b_id, response_a_id, \
                               response_b_id, winner) \
             select $2, i.item_id, 'human', (select model_id from model where name = 'writer-x'), \
                    (select model_id from model where name = 'writer-y'), rx.response_id, \
                    ry.response_id, w.winner \
             from i, rx, ry, unnest($4::text[]) as w (winner)",
        )
        .bind(&text)
        .bind(project)
        .bind(format!("q{k}"))
        .bind(
            std::iter::repeat_n("a", x)
                .chain(std::iter::repeat_n("b", y))
                .chain(std::iter::repeat_n("tie", t))
                .collect::<Vec<_>>(),
        )
        .execute(pool)
        .await
        .unwrap();
    }
    project
}

/// A tiny local model registered as `tiny-base`; returns its id and keeps its folder alive.
async fn tiny_model(pool: &sqlx::PgPool) -> (i64, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    trainer::tiny::init_tiny(dir.path(), &trainer::tiny::TinySpec::default()).unwrap();
    let id = db::arena::register_model(
        pool,
        "tiny-base",
        "local",
        &json!({"path": dir.path(), "max_tokens": 8}),
    )
    .await
    .unwrap();
    (id, dir)
}

async fn admin(app: &Router, pool: &sqlx::PgPool) -> String {
    create_admin(pool, "boss", "boss-password").await;
    login(app, "boss", "boss-password")
        .await
        .session_cookie()
        .expect("admin session")
}

fn quick_config() -> Value {
    json!({"epochs": 2, "batch_size": 2, "learning_rate": 1e-3, "max_length": 64, "save_every": 0})
}

async fn wait_for(app: &Router, id: i64, cookie: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let run = send(
            app,
            get(&format!("/api/v1/training-runs/{id}"), Some(cookie)),
        )
        .await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);
        let run = run.json();
        if done(&run) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("run #{id} did not get there in 120 s");
}

fn start_worker(
    pool: &sqlx::PgPool,
    runs: &std::path::Path,
    stale_after: Duration,
) -> tokio::sync::watch::Sender<bool> {
    let mut cfg = WorkerConfig::new(runs.to_path_buf());
    // The policy tests move the loop themselves, one step at a time.
    cfg.policies = false;
    cfg.poll = Duration::from_millis(100);
    cfg.heartbeat = Duration::from_millis(500);
    cfg.stale_after = stale_after;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    worker::spawn(pool, &cfg, 1, &shutdown);
    stop
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_run_launched_through_the_api_trains_and_registers_a_child_model(pool: sqlx::PgPool) {
    let project = seed_votes(&pool).await;
    let (base, model_dir) = tiny_model(&pool).await;
    let app = router(&pool);
    let cookie = admin(&app, &pool).await;

    // The preview: items 1-4 have a majority; the split and the ties give no pair.
    let launch =
        json!({"base_model_id": base, "filter": {"projects": [project]}, "config": quick_config()});
    let reply = send(
        &app,
        post_json(
            "/api/v1/training-runs/preview",
            &launch.to_string(),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let preview = reply.json();
    assert_eq!(preview["pairs"], 4, "{preview}");
    assert_eq!(preview["matched_votes"], 14);
    // The snapshot holds only the votes behind the pairs: 3 + 4 + 2 + 1.
    assert_eq!(preview["votes"], 10);
    assert_eq!(preview["examples"][0]["chosen_model"], "writer-x");
    assert_eq!(
        preview["examples"][0]["chosen"],
        "Question 0? A careful answer."
    );
    // Agreement of at least 0.7 drops item 1 (2 of 3); soft labels count ties half.
    let strict = json!({"base_model_id": base, "filter": {"projects": [project], "min_agreement": 0.7}, "policy": "soft"});
    let reply = send(
        &app,
        post_json(
            "/api/v1/training-runs/preview",
            &strict.to_string(),
            Some(&cookie),
        ),
    )
    .await;
    let strict = reply.json();
    assert_eq!(strict["pairs"], 3, "{strict}");
    assert!((strict["examples"][0]["confidence"].as_f64().unwrap() - 3.5 / 4.0).abs() < 1e-12);

    // Bad launches are refused with the reason, and nothing is queued.
    let bad = [
        (
            json!({"base_model_id": base, "filter": {"projects": [project + 99]}}),
            "no preference pairs",
        ),
        (
            json!({"base_model_id": base, "config": {"beta": 0}}),
            "config.beta",
        ),
        (
            json!({"base_model_id": base, "config": {"loss": "dpo++"}}),
            "config.loss",
        ),
        (
            json!({"base_model_id": base, "filter": {"from": "yesterday"}}),
            "filter.from",
        ),
        (json!({"base_model_id": 1}), "only local models"),
        (json!({"base_model_id": 123_456}), "no model #123456"),
    ];
    // The preview checks the settings and the base model as the launch does.
    let bad_previews = [
        (
            json!({"base_model_id": base, "config": {"beta": 0}}),
            "config.beta",
        ),
        (json!({"base_model_id": 1}), "only local models"),
        (json!({"base_model_id": 123_456}), "no model #123456"),
    ];
    let launches = bad.into_iter().map(|b| ("/api/v1/training-runs", b));
    let previews = bad_previews
        .into_iter()
        .map(|b| ("/api/v1/training-runs/preview", b));
    for (path, (body, message)) in launches.chain(previews) {
        let reply = send(&app, post_json(path, &body.to_string(), Some(&cookie))).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {}",
            reply.body
        );
        assert!(
            reply.body.contains(message),
            "{path} {body}: {}",
            reply.body
        );
    }
    let broken = db::arena::register_model(
        &pool,
        "broken",
        "local",
        &json!({"path": "/nonexistent/model"}),
    )
    .await
    .unwrap();
    let reply = send(
        &app,
        post_json(
            "/api/v1/training-runs",
            &json!({"base_model_id": broken}).to_string(),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("does not load"), "{}", reply.body);
    // A LoRA setting the base model cannot take is refused at launch, not by the worker.
    let tied_dir = tempfile::tempdir().unwrap();
    let spec = trainer::tiny::TinySpec {
        tied: true,
        ..trainer::tiny::TinySpec::default()
    };
    trainer::tiny::init_tiny(tied_dir.path(), &spec).unwrap();
    let tied = db::arena::register_model(&pool, "tied", "local", &json!({"path": tied_dir.path()}))
        .await
        .unwrap();
    let head = json!({"base_model_id": tied, "filter": {"projects": [project]},
                      "config": {"lora_rank": 4, "lora_head": true}});
    let reply = send(
        &app,
        post_json("/api/v1/training-runs", &head.to_string(), Some(&cookie)),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("ties its output head"),
        "{}",
        reply.body
    );
    let (runs,): (i64,) = sqlx::query_as("select count(*) from training_run")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(runs, 0);
    // Annotators and anonymous callers may not launch.
    let reply = send(
        &app,
        post_json("/api/v1/training-runs", &launch.to_string(), None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    let reply = send(
        &app,
        post_json("/api/v1/training-runs", &launch.to_string(), Some(&cookie)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let run = reply.json();
    let id = run["id"].as_i64().unwrap();
    assert_eq!(
        (run["status"].as_str(), run["snapshot_pairs"].as_u64()),
        (Some("queued"), Some(4))
    );
    assert_eq!(run["snapshot_votes"], 10);

    // Votes cast after launch do not change the frozen snapshot.
    sqlx::query("insert into vote (project_id, item_id, source, model_a_id, model_b_id, response_a_id, response_b_id, winner) \
                 select project_id, item_id, source, model_a_id, model_b_id, response_a_id, response_b_id, 'b' \
                 from vote where vote_id = (select min(vote_id) from vote)")
        .execute(&pool)
        .await
        .unwrap();

    let runs_dir = tempfile::tempdir().unwrap();
    let stop = start_worker(&pool, runs_dir.path(), Duration::from_secs(60));
    let run = wait_for(&app, id, &cookie, |r| {
        !matches!(r["status"].as_str(), Some("queued" | "running"))
    })
    .await;
    stop.send(true).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    // 4 pairs, batch 2, 2 epochs: 4 steps, each stored with TRL's metric names.
    assert_eq!(run["total_steps"], 4);
    assert_eq!(run["step"], 4);
    // Before the first step the starting model scored the 4 pairs' completions.
    assert_eq!(
        run["reference"],
        json!({"done": 4, "total": 4, "eta_seconds": null}),
        "{run}"
    );
    let metrics = run["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 4, "{run}");
    for (k, m) in metrics.iter().enumerate() {
        assert_eq!(m["step"], k as i64 + 1);
        for name in [
            "loss",
            "rewards/accuracies",
            "rewards/margins",
            "logps/chosen",
            "tokens_per_second",
            "learning_rate",
        ] {
            assert!(
                m["values"][name].as_f64().is_some(),
                "step {k} lacks {name}: {m}"
            );
        }
    }
    // Where it trained, at the top of the run (a CPU here: no GPU memory).
    assert_eq!(run["device"], "cpu", "{run}");
    assert_eq!(run["dtype"], "f32", "{run}");
    assert!(run["gpu_memory_mib"].is_null(), "{run}");
    assert_eq!(
        run["tokens_per_second"], metrics[3]["values"]["tokens_per_second"],
        "{run}"
    );
    // The first step's loss is measured before its update: ln 2.
    assert!((metrics[0]["values"]["loss"].as_f64().unwrap() - std::f64::consts::LN_2).abs() < 1e-4);

    // The child model: local, from the run's folder, parent = base, not yet in the arena.
    let child: (String, String, Option<i64>, Option<i64>, bool, Value) = sqlx::query_as(
        "select name, kind, parent_model_id, training_run_id, enabled, config from model where model_id = $1",
    )
    .bind(run["output_model_id"].as_i64().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(child.0, format!("tiny-base-dpo-{id}"));
    assert_eq!(
        (child.1.as_str(), child.2, child.3, child.4),
        ("local", Some(base), Some(id), false)
    );
    assert_eq!(
        child.5["max_tokens"], 8,
        "generation settings come from the parent"
    );
    worker::check_model(&child.5, None).expect("the child loads");
    let folder = std::path::Path::new(child.5["path"].as_str().unwrap());
    assert!(folder.starts_with(runs_dir.path()));
    assert!(
        !std::fs::read_dir(folder).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("checkpoint-")),
        "no checkpoint folders are left next to the model"
    );

    // The snapshot export has the 4 frozen pairs in TRL's columns.
    let export = send(
        &app,
        get(
            &format!("/api/v1/training-runs/{id}/snapshot.jsonl"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(export.status, StatusCode::OK);
    let rows: Vec<Value> = export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter().all(|r| r["prompt"].is_string()
            && r["chosen"].is_string()
            && r["rejected"].is_string())
    );
    assert_eq!(
        rows[0]["votes_chosen"], 2,
        "the vote cast after launch is not in the snapshot"
    );

    // Enabled in the arena (one PATCH, as the run page's button does), the child meets its
    // parent before anyone else, on random sides.
    let child_id = run["output_model_id"].as_i64().unwrap();
    db::arena::register_model(
        &pool,
        "tiny-other",
        "local",
        &json!({"path": model_dir.path()}),
    )
    .await
    .unwrap();
    let mut patch = axum::http::Request::patch(format!("/api/v1/admin/models/{child_id}"))
        .header(axum::http::header::CONTENT_TYPE, "application/json");
    patch = patch.header(axum::http::header::COOKIE, &cookie);
    let reply = send(
        &app,
        patch
            .body(axum::body::Body::from(r#"{"enabled": true}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut left_child = 0;
    for _ in 0..12 {
        let pair = send(&app, get("/api/v1/arena/next-pair", Some(&cookie)))
            .await
            .json();
        let ids = [
            pair["left"]["model_id"].as_i64().unwrap(),
            pair["right"]["model_id"].as_i64().unwrap(),
        ];
        assert!(ids == [base, child_id] || ids == [child_id, base], "{pair}");
        left_child += usize::from(ids[0] == child_id);
    }
    assert!(left_child > 0 && left_child < 12, "sides are random");

    // The leaderboard shows the head-to-head with its interval: 7 wins, 3 losses, 2 ties.
    for (winner, n) in [("a", 7), ("b", 3), ("tie", 2)] {
        for _ in 0..n {
            db::leaderboard::insert_plain_vote(&pool, None, None, "human", child_id, base, winner)
                .await
                .unwrap();
        }
    }
    let board = send(&app, get("/api/v1/leaderboard", None)).await.json();
    let h2h = &board["lineage"][0];
    assert_eq!(h2h["child"], format!("tiny-base-dpo-{id}"));
    assert_eq!(h2h["parent"], "tiny-base");
    assert_eq!(
        (h2h["child_wins"].as_u64(), h2h["parent_wins"].as_u64()),
        (Some(7), Some(3))
    );
    assert!((h2h["win_rate"].as_f64().unwrap() - 0.7).abs() < 1e-12);
    let (lo, hi) = ranking::leaderboard::wilson(7.0, 10.0, 1.959_963_984_540_054).unwrap();
    assert!(
        (h2h["lower"].as_f64().unwrap() - lo).abs() < 1e-12
            && (h2h["upper"].as_f64().unwrap() - hi).abs() < 1e-12
    );
    assert!(
        (lo - 0.3968).abs() < 1e-3 && (hi - 0.8922).abs() < 1e-3,
        "{lo} {hi}"
    );

    // A finished run cannot be cancelled.
    let reply = send(
        &app,
        post_json(
            &format!("/api/v1/training-runs/{id}/cancel"),
            "",
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn cancelling_stops_queued_and_running_runs(pool: sqlx::PgPool) {
    let project = seed_votes(&pool).await;
    let (base, _model_dir) = tiny_model(&pool).await;
    let app = router(&pool);
    let cookie = admin(&app, &pool).await;
    let launch = json!({"base_model_id": base, "filter": {"projects": [project]},
                        "config": {"epochs": 100, "batch_size": 1, "max_length": 64, "save_every": 0}});
    let queued = send(
        &app,
        post_json("/api/v1/training-runs", &launch.to_string(), Some(&cookie)),
    )
    .await
    .json();
    let reply = send(
        &app,
        post_json(
            &format!("/api/v1/training-runs/{}/cancel", queued["id"]),
            "",
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["status"], "cancelled");

    let running = send(
        &app,
        post_json("/api/v1/training-runs", &launch.to_string(), Some(&cookie)),
    )
    .await
    .json();
    let id = running["id"].as_i64().unwrap();
    let runs_dir = tempfile::tempdir().unwrap();
    let stop = start_worker(&pool, runs_dir.path(), Duration::from_secs(60));
    wait_for(&app, id, &cookie, |r| r["step"].as_i64() >= Some(2)).await;
    send(
        &app,
        post_json(
            &format!("/api/v1/training-runs/{id}/cancel"),
            "",
            Some(&cookie),
        ),
    )
    .await;
    let run = wait_for(&app, id, &cookie, |r| r["status"] != "running").await;
    stop.send(true).unwrap();
    assert_eq!(run["status"], "cancelled", "{run}");
    assert!(
        run["step"].as_i64().unwrap() < 400,
        "stopped between steps: {run}"
    );
    assert!(
        run["output_model_id"].is_null(),
        "a cancelled run registers no model"
    );
    let (models,): (i64,) =
        sqlx::query_as("select count(*) from model where parent_model_id is not null")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(models, 0);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_run_whose_worker_died_is_failed_or_resumed_never_stuck(pool: sqlx::PgPool) {
    let project = seed_votes(&pool).await;
    let (base, _model_dir) = tiny_model(&pool).await;
    let app = router(&pool);
    let cookie = admin(&app, &pool).await;
    let runs_dir = tempfile::tempdir().unwrap();
    let mut plain = json!({"base_model_id": base, "filter": {"projects": [project]},
                           "config": {"epochs": 3, "batch_size": 1, "max_length": 64, "save_every": 1}});
    let doomed = send(
        &app,
        post_json("/api/v1/training-runs", &plain.to_string(), Some(&cookie)),
    )
    .await
    .json();
    plain["config"]["resume_on_failure"] = json!(true);
    let resumable = send(
        &app,
        post_json("/api/v1/training-runs", &plain.to_string(), Some(&cookie)),
    )
    .await
    .json();

    // A worker claims both and dies: the first before training, the second after 5 of its 12
    // steps (with a checkpoint per step), as a SIGKILL would leave them.
    for _ in 0..2 {
        db::training::claim(&pool, "dead-host:1:0")
            .await
            .unwrap()
            .unwrap();
    }
    let run = db::training::get(&pool, resumable["id"].as_i64().unwrap())
        .await
        .unwrap();
    let mut cfg = WorkerConfig::new(runs_dir.path().to_path_buf());
    cfg.stale_after = Duration::from_secs(1);
    let (model_dir, out, rows, train_cfg) = worker::prepare(&pool, &cfg, &run).await.unwrap();
    let cancel = AtomicBool::new(false);
    let summary = trainer::train(
        &train_cfg,
        &model_dir,
        &rows,
        &out,
        &mut |r| {
            if r.step == 5 {
                cancel.store(true, Ordering::Relaxed);
            }
        },
        Some(&cancel),
    )
    .unwrap();
    assert_eq!(summary.steps, 5);
    assert!(out.join("checkpoint-5").is_dir());
    sqlx::query("update training_run set heartbeat_at = now() - interval '10 minutes'")
        .execute(&pool)
        .await
        .unwrap();

    // A live worker declares them dead: the first fails with the reason, the second resumes from
    // its checkpoint and finishes.
    let stop = start_worker(&pool, runs_dir.path(), Duration::from_secs(30));
    let failed = wait_for(&app, doomed["id"].as_i64().unwrap(), &cookie, |r| {
        r["status"] != "running"
    })
    .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("dead-host:1:0") && error.contains("stopped sending heartbeats"),
        "{error}"
    );
    let resumed = wait_for(&app, resumable["id"].as_i64().unwrap(), &cookie, |r| {
        !matches!(r["status"].as_str(), Some("queued" | "running"))
    })
    .await;
    stop.send(true).unwrap();
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    assert_eq!(resumed["attempts"], 2);
    // 4 pairs × 3 epochs at batch 1: 12 steps; the live worker trained (and stored) 6 to 12.
    let steps: Vec<i64> = resumed["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, (6..=12).collect::<Vec<_>>());
    assert!(resumed["output_model_id"].is_i64());
    let (running,): (i64,) =
        sqlx::query_as("select count(*) from training_run where status in ('running', 'queued')")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(running, 0);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn rankings_and_ratings_become_pairs_by_their_policies(pool: sqlx::PgPool) {
    let project = seed_votes(&pool).await;
    let (base, _model_dir) = tiny_model(&pool).await;
    // Item q1 gets a third response (writer-z) so that ranking policies differ.
    sqlx::query(
        "with m as (insert into model (name, kind) values ('writer-z', 'dataset') returning model_id), \
              i as (select item_id, prompt_id from item where external_key = 'q1'), \
              r as (insert into response (prompt_id, model_id, text, content_hash) \
                    select i.prompt_id, m.model_id, 'Z answers.', md5('z') from i, m returning response_id) \
         insert into item_response (item_id, response_id, position) select i.item_id, r.response_id, 2 from i, r",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (rater,): (i64,) = sqlx::query_as(
        "insert into app_user (role, external_id) values ('annotator', 'r') returning user_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let resp = |key: &'static str, model: &'static str| {
        let pool = pool.clone();
        async move {
            let (item, id): (i64, i64) = sqlx::query_as(
                "select i.item_id, r.response_id from item i join item_response ir using (item_id) \
                 join response r using (response_id) join model m using (model_id) \
                 where i.external_key = $1 and m.name = $2",
            )
            .bind(key)
            .bind(model)
            .fetch_one(&pool)
            .await
            .unwrap();
            (item, id)
        }
    };
    let (q0, x0) = resp("q0", "writer-x").await;
    let (_, y0) = resp("q0", "writer-y").await;
    let (q1, x1) = resp("q1", "writer-x").await;
    let (_, y1) = resp("q1", "writer-y").await;
    let (_, z1) = resp("q1", "writer-z").await;
    for (item, groups, none) in [
        (q0, json!([[y0], [x0]]), false),
        (q1, json!([[z1], [x1], [y1]]), false),
        (q1, json!([[y1], [x1], [z1]]), true),
    ] {
        sqlx::query("insert into ranking (project_id, item_id, annotator_id, tie_groups, not_rankable) values ($1, $2, $3, $4, $5)")
            .bind(project)
            .bind(item)
            .bind(rater)
            .bind(groups)
            .bind(none)
            .execute(&pool)
            .await
            .unwrap();
    }
    for (key, x, y) in [("q2", 6, 2), ("q3", 4, 5)] {
        let (item, rx) = resp(key, "writer-x").await;
        let (_, ry) = resp(key, "writer-y").await;
        sqlx::query(
            "insert into rating (project_id, item_id, annotator_id, response_id, criterion, score) \
             values ($1, $2, $3, $4, 'Overall quality', $5), ($1, $2, $3, $6, 'Overall quality', $7)",
        )
        .bind(project)
        .bind(item)
        .bind(rater)
        .bind(rx)
        .bind(x)
        .bind(ry)
        .bind(y)
        .execute(&pool)
        .await
        .unwrap();
    }
    let app = router(&pool);
    let cookie = admin(&app, &pool).await;
    let preview = |ranking: &str, margin: f64| {
        let body = json!({"base_model_id": base, "filter": {"projects": [project]},
                          "ranking_pairs": ranking, "rating_margin": margin})
        .to_string();
        let (app, cookie) = (app.clone(), cookie.clone());
        async move {
            let reply = send(
                &app,
                post_json("/api/v1/training-runs/preview", &body, Some(&cookie)),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            reply.json()
        }
    };
    // Votes give 4 pairs. Rankings (the "none is acceptable" one left out): q0 gives y > x;
    // q1 z > x > y gives 2 adjacent pairs, 3 for all pairs, 1 for best vs worst. Ratings: q2
    // differs by 4, q3 by 1.
    let p = preview("adjacent", 2.0).await;
    assert_eq!(
        (
            p["pairs"].as_u64(),
            p["rankings"].as_u64(),
            p["ratings"].as_u64()
        ),
        (Some(4 + 3 + 1), Some(2), Some(2)),
        "{p}"
    );
    let p = preview("all_pairs", 1.0).await;
    assert_eq!(
        (p["pairs"].as_u64(), p["ratings"].as_u64()),
        (Some(4 + 4 + 2), Some(4)),
        "{p}"
    );
    let p = preview("best_vs_worst", 5.0).await;
    assert_eq!(
        (p["pairs"].as_u64(), p["ratings"].as_u64()),
        (Some(4 + 2), Some(0)),
        "{p}"
    );
    let reply = send(
        &app,
        post_json(
            "/api/v1/training-runs/preview",
            &json!({"base_model_id": base, "ranking_pairs": "every"}).to_string(),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("ranking_pairs"), "{}", reply.body);

    let body = json!({"base_model_id": base, "filter": {"projects": [project]},
                      "ranking_pairs": "adjacent", "rating_margin": 2.0, "config": quick_config()});
    let run = send(
        &app,
        post_json("/api/v1/training-runs", &body.to_string(), Some(&cookie)),
    )
    .await
    .json();
    assert_eq!(run["snapshot_pairs"], 8, "{run}");
    assert_eq!(run["snapshot_judgements"], 10 + 2 + 2);
    assert_eq!(
        run["policy"],
        "majority, rankings: adjacent, ratings: margin 2"
    );
    let export = send(
        &app,
        get(
            &format!("/api/v1/training-runs/{}/snapshot.jsonl", run["id"]),
            Some(&cookie),
        ),
    )
    .await;
    let rows: Vec<Value> = export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let policies: Vec<&str> = rows.iter().map(|r| r["policy"].as_str().unwrap()).collect();
    assert_eq!(
        policies,
        [
            "majority",
            "majority",
            "majority",
            "majority",
            "ranking:adjacent",
            "ranking:adjacent",
            "ranking:adjacent",
            "rating:margin=2"
        ]
    );
    assert_eq!(
        rows[4]["chosen"], "Question 0? meh",
        "q0 was ranked y over x"
    );
    assert_eq!(rows[5]["chosen"], "Z answers.");
    assert_eq!(rows[7]["chosen"], "Question 2? A careful answer.");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn votes_weighted_by_reliability_decide_a_contested_item(pool: sqlx::PgPool) {
    let project = seed_votes(&pool).await;
    // On item q4 (one vote each way so far), a careful annotator picks writer-x wherever it is
    // shown (10 votes), and one who always clicks the right-hand side picks writer-y 16 times
    // and writer-x 4 times. Counted plainly, writer-y wins q4 by 17 to 15.
    let mut tx = pool.begin().await.unwrap();
    for (who, plan) in [
        ("careful", [(true, "a", 5), (false, "a", 5)]),
        ("right-clicker", [(true, "b", 16), (false, "a", 4)]),
    ] {
        let (user,): (i64,) = sqlx::query_as(
            "insert into app_user (role, username) values ('annotator', $1) returning user_id",
        )
        .bind(who)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        // `x_left`: writer-x shown on the left; the winner names the stored side (A = x).
        for (x_left, winner, n) in plan {
            sqlx::query(
                "insert into vote (project_id, item_id, annotator_id, source, model_a_id, \
                                   model_b_id, response_a_id, response_b_id, winner, a_was_left) \
                 select $1, i.item_id, $2, 'human', rx.model_id, ry.model_id, rx.response_id, \
                        ry.response_id, $3, $4 \
                 from item i \
                 join item_response ix on ix.item_id = i.item_id \
                 join response rx on rx.response_id = ix.response_id \
                 join item_response iy on iy.item_id = i.item_id \
                 join response ry on ry.response_id = iy.response_id, \
                 generate_series(1, $5) \
                 where i.external_key = 'q4' \
                   and rx.model_id = (select model_id from model where name = 'writer-x') \
                   and ry.model_id = (select model_id from model where name = 'writer-y')",
            )
            .bind(project)
            .bind(user)
            .bind(winner)
            .bind(x_left)
            .bind(n)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    let (base, _model_dir) = tiny_model(&pool).await;
    let request = |weighted: bool| -> api::training::LaunchRequest {
        serde_json::from_value(json!({
            "base_model_id": base,
            "filter": {"projects": [project], "weight_annotators": weighted},
        }))
        .unwrap()
    };
    let q4 = |d: &service::training::Derived| {
        d.pairs
            .iter()
            .find(|p| p.item == "q4")
            .map(|p| p.chosen_model.clone())
    };
    let (_, plain) = service::training::preview(&pool, &request(false))
        .await
        .unwrap();
    assert_eq!(q4(&plain).as_deref(), Some("writer-y"));
    assert!(plain.snapshot.annotator_weights.is_empty());
    let (_, weighted) = service::training::preview(&pool, &request(true))
        .await
        .unwrap();
    assert_eq!(q4(&weighted).as_deref(), Some("writer-x"));
    // The snapshot records the weights: the right-clicker's far below the careful one's.
    let names: std::collections::HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "select username, user_id from app_user where username is not null",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let w = &weighted.snapshot.annotator_weights;
    let (careful, clicker) = (w[&names["careful"]], w[&names["right-clicker"]]);
    assert!(clicker < 0.5 && careful > clicker + 0.3, "{w:?}");
    assert!(
        weighted
            .snapshot
            .policy_label()
            .contains("reliability of 2 annotators"),
        "{}",
        weighted.snapshot.policy_label()
    );
    // The other items' pairs are those of the plain count.
    let others = |d: &service::training::Derived| {
        d.pairs
            .iter()
            .filter(|p| p.item != "q4")
            .map(|p| (p.item.clone(), p.chosen_model.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&plain), others(&weighted));
}

/// `n` new votes for writer-x on the "Prefs" item `q0`.
async fn more_votes(pool: &sqlx::PgPool, n: usize) {
    sqlx::query(
        "insert into vote (project_id, item_id, source, model_a_id, model_b_id, response_a_id, \
                           response_b_id, winner) \
         select i.project_id, i.item_id, 'human', ra.model_id, rb.model_id, ra.response_id, \
                rb.response_id, 'a' \
         from item i \
         join item_response ia on ia.item_id = i.item_id and ia.position = 0 \
         join response ra on ra.response_id = ia.response_id \
         join item_response ib on ib.item_id = i.item_id and ib.position = 1 \
         join response rb on rb.response_id = ib.response_id \
         cross join generate_series(1, $1) \
         where i.external_key = 'q0'",
    )
    .bind(i32::try_from(n).unwrap())
    .execute(pool)
    .await
    .unwrap();
}

/// Arena votes of `child` against `parent` in "Prefs": `wins` for the child, `losses` for the
/// parent, one tie.
async fn head_to_head(pool: &sqlx::PgPool, child: i64, parent: i64, wins: usize, losses: usize) {
    let winners: Vec<&str> = std::iter::repeat_n("a", wins)
        .chain(std::iter::repeat_n("b", losses))
        .chain(["tie"])
        .collect();
    sqlx::query(
        "insert into vote (project_id, source, model_a_id, model_b_id, winner) \
         select project_id, 'human', $1, $2, w from project, unnest($3::text[]) as w \
         where name = 'Prefs'",
    )
    .bind(child)
    .bind(parent)
    .bind(&winners)
    .execute(pool)
    .await
    .unwrap();
}

fn loop_policy() -> api::policies::NewPolicy {
    api::policies::NewPolicy {
        name: "loop".into(),
        project: "Prefs".into(),
        base_model: "tiny-base".into(),
        min_new_votes: Some(3),
        every_minutes: None,
        daily_cap: Some(10),
        gate_min_battles: Some(4),
        gate_max_battles: Some(10),
        sources: vec![],
        policy: api::training::PairPolicy::Majority,
        config: serde_json::from_value(quick_config()).unwrap(),
    }
}

async fn wait_for_run(pool: &sqlx::PgPool, run: i64, status: &str) {
    for _ in 0..600 {
        if service::training::view(pool, run).await.unwrap().status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("run #{run} is not {status} after 120 s");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_policy_starts_rounds_on_new_votes_and_its_gate_promotes_or_retires(pool: sqlx::PgPool) {
    seed_votes(&pool).await;
    let (base, _dir) = tiny_model(&pool).await;
    let runs = tempfile::tempdir().unwrap();
    let check = verdict_server::services::TrainerModelCheck;
    let mut bad = loop_policy();
    bad.base_model = "writer-x".into();
    let err = service::policies::create(&pool, &bad, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only local models"), "{err}");
    let policy = service::policies::create(&pool, &loop_policy(), None)
        .await
        .unwrap();
    assert_eq!(
        (policy.champion.as_str(), policy.new_votes),
        ("tiny-base", 0)
    );
    let again = service::policies::create(&pool, &loop_policy(), None).await;
    assert!(matches!(again, Err(app::error::AppError::Conflict(_))));

    // The votes from before the policy do not count; three new ones start round 1, once.
    assert_eq!(
        service::policies::tick(&pool, &check).await.unwrap(),
        Default::default()
    );
    more_votes(&pool, 3).await;
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(t.started.len(), 1);
    let (_, round, run) = t.started[0].clone();
    assert_eq!(round, 1);
    assert!(
        service::policies::tick(&pool, &check)
            .await
            .unwrap()
            .started
            .is_empty()
    );
    let view = service::training::view(&pool, run).await.unwrap();
    assert_eq!(view.base_model_id, base);
    assert_eq!(view.snapshot_votes, 3, "only the new votes");

    // A worker trains it; the child goes to the gate against its parent, both in the arena.
    let stop = start_worker(&pool, runs.path(), Duration::from_secs(30));
    wait_for_run(&pool, run, "succeeded").await;
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert!(
        t.advanced.contains(&(t.advanced[0].0, "gating".to_owned())),
        "{t:?}"
    );
    let p = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap();
    let child = p.rounds[0].child_model_id.unwrap();
    assert_eq!(p.rounds[0].status, "gating");
    assert!(p.rounds[0].loss.is_some() && p.rounds[0].reward_accuracy.is_some());

    // 3–0 is not enough battles; 6–0 (Wilson lower bound 0.61) promotes the child.
    head_to_head(&pool, child, base, 3, 0).await;
    assert!(
        service::policies::tick(&pool, &check)
            .await
            .unwrap()
            .decided
            .is_empty()
    );
    head_to_head(&pool, child, base, 3, 0).await;
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(t.decided.len(), 1);
    assert!(t.decided[0].2.contains("6–0 (ties 2)"), "{:?}", t.decided);
    let p = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap();
    assert_eq!(
        (p.champion_model_id, p.rounds[0].status.as_str()),
        (child, "promoted")
    );
    assert!(p.rounds[0].win_lower.unwrap() > 0.5);
    let enabled: Vec<(i64, bool)> = sqlx::query_as(
        "select model_id, enabled from model where model_id in ($1, $2) order by model_id",
    )
    .bind(base)
    .bind(child)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        enabled,
        vec![(base, false), (child, true)],
        "the old champion leaves the arena"
    );

    // Round 2 trains from the new champion on the votes since; its child loses 0–6: retired.
    more_votes(&pool, 3).await;
    let t = service::policies::tick(&pool, &check).await.unwrap();
    let run2 = t.started[0].2;
    assert_eq!(
        service::training::view(&pool, run2)
            .await
            .unwrap()
            .base_model_id,
        child
    );
    wait_for_run(&pool, run2, "succeeded").await;
    service::policies::tick(&pool, &check).await.unwrap();
    let grandchild = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap()
        .rounds[1]
        .child_model_id
        .unwrap();
    head_to_head(&pool, grandchild, child, 0, 6).await;
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(t.decided[0].1, "retired");
    let p = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap();
    assert_eq!(
        p.champion_model_id, child,
        "a retired child changes nothing"
    );
    assert_eq!(
        p.rounds
            .iter()
            .map(|r| r.status.as_str())
            .collect::<Vec<_>>(),
        ["promoted", "retired"]
    );
    assert_eq!(p.rounds[1].parent_model_id, child);

    // A child taken out of the arena by hand before its gate decided is retired, not left
    // waiting for battles it cannot have.
    more_votes(&pool, 3).await;
    let run3 = service::policies::tick(&pool, &check)
        .await
        .unwrap()
        .started[0]
        .2;
    wait_for_run(&pool, run3, "succeeded").await;
    service::policies::tick(&pool, &check).await.unwrap();
    let third = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap()
        .rounds[2]
        .child_model_id
        .unwrap();
    service::models::update_scheduling(&pool, third, Some(false), None)
        .await
        .unwrap();
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(t.decided[0].1, "retired");
    assert!(
        t.decided[0].2.contains("taken out of the arena"),
        "{:?}",
        t.decided
    );

    // Paused, a policy starts nothing.
    service::policies::set_paused(&pool, policy.policy_id, true)
        .await
        .unwrap();
    more_votes(&pool, 5).await;
    assert!(
        service::policies::tick(&pool, &check)
            .await
            .unwrap()
            .started
            .is_empty()
    );
    stop.send(true).unwrap();
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn racing_workers_and_killed_ones_never_leave_two_rounds_two_champions_or_a_stuck_round(
    pool: sqlx::PgPool,
) {
    seed_votes(&pool).await;
    let (base, _dir) = tiny_model(&pool).await;
    let check = verdict_server::services::TrainerModelCheck;
    let policy = service::policies::create(&pool, &loop_policy(), None)
        .await
        .unwrap();
    more_votes(&pool, 3).await;

    // Four workers pass at once: one round.
    let (a, b, c, d) = tokio::join!(
        service::policies::tick(&pool, &check),
        service::policies::tick(&pool, &check),
        service::policies::tick(&pool, &check),
        service::policies::tick(&pool, &check),
    );
    let started: usize = [a, b, c, d]
        .iter()
        .map(|t| t.as_ref().unwrap().started.len())
        .sum();
    assert_eq!(started, 1);
    let p = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap();
    assert_eq!(p.rounds.len(), 1);
    let run = p.rounds[0].training_run_id;

    // The worker that claims the run dies: the run is failed (not resumable), and so is the
    // round; the policy is free for the next round.
    let claimed = service::queue::claim(&pool, "doomed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.training_run_id, run);
    service::queue::reap_stale(&pool, 0.0).await.unwrap();
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(t.advanced.len(), 1);
    assert_eq!(t.advanced[0].1, "failed");
    let p = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap();
    assert!(
        p.rounds[0]
            .decision
            .as_deref()
            .unwrap()
            .starts_with("the run failed")
    );

    // A round at the gate whose deciding worker dies before committing: nothing changed, and
    // the next pass decides it once.
    more_votes(&pool, 3).await;
    let t = service::policies::tick(&pool, &check).await.unwrap();
    let run2 = t.started[0].2;
    let child = db::arena::register_model(&pool, "loop-r2", "local", &json!({}))
        .await
        .unwrap();
    sqlx::query(
        "update training_run set status = 'succeeded', output_model_id = $2, finished_at = now() \
         where training_run_id = $1",
    )
    .bind(run2)
    .bind(child)
    .execute(&pool)
    .await
    .unwrap();
    service::policies::tick(&pool, &check).await.unwrap();
    head_to_head(&pool, child, base, 8, 0).await;
    {
        let round_id = db::policies::gating(&pool).await.unwrap()[0];
        let mut tx = pool.begin().await.unwrap();
        let (round, _) = db::policies::lock_gating(&mut tx, round_id)
            .await
            .unwrap()
            .unwrap();
        let record = db::policies::head_to_head(&mut *tx, child, base, &["human".to_owned()])
            .await
            .unwrap();
        assert_eq!(record, [8, 0, 1]);
        let verdict = db::policies::Verdict {
            record,
            interval: Some((0.68, 1.0)),
            status: Some("promoted"),
            decision: Some("promoted".into()),
        };
        db::policies::decide(&mut tx, &round, &verdict)
            .await
            .unwrap();
        // Meanwhile another worker skips the locked round; then the decider dies (its
        // connection closes, and the database rolls its transaction back).
        assert!(
            service::policies::tick(&pool, &check)
                .await
                .unwrap()
                .decided
                .is_empty()
        );
        tx.rollback().await.unwrap();
    }
    let p = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap();
    assert_eq!(
        (p.champion_model_id, p.rounds[1].status.as_str()),
        (base, "gating")
    );
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(t.decided.len(), 1);
    let p = service::policies::show(&pool, policy.policy_id)
        .await
        .unwrap();
    assert_eq!(
        (p.champion_model_id, p.rounds[1].status.as_str()),
        (child, "promoted")
    );
    let champions: i64 =
        sqlx::query_scalar("select count(distinct champion_model_id) from training_policy")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(champions, 1);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_schedule_starts_rounds_on_few_votes_and_a_daily_cap_holds_rounds_back(
    pool: sqlx::PgPool,
) {
    seed_votes(&pool).await;
    let (_base, _dir) = tiny_model(&pool).await;
    let check = verdict_server::services::TrainerModelCheck;
    // "loop" waits for 1000 votes, or an hour with any; "capped" starts on every vote, once a
    // day.
    let mut scheduled = loop_policy();
    scheduled.min_new_votes = Some(1000);
    scheduled.every_minutes = Some(60);
    service::policies::create(&pool, &scheduled, None)
        .await
        .unwrap();
    let mut capped = loop_policy();
    capped.name = "capped".into();
    capped.min_new_votes = Some(1);
    capped.daily_cap = Some(1);
    service::policies::create(&pool, &capped, None)
        .await
        .unwrap();
    let started = |t: &service::policies::Tick| {
        let mut names: Vec<String> = t.started.iter().map(|s| s.0.clone()).collect();
        names.sort();
        names
    };
    assert!(
        service::policies::tick(&pool, &check)
            .await
            .unwrap()
            .started
            .is_empty()
    );

    // One new vote: the schedule is due (no round yet), and so is the count.
    more_votes(&pool, 1).await;
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(started(&t), ["capped", "loop"]);
    for (_, _, run) in &t.started {
        service::training::cancel(&pool, *run).await.unwrap();
    }
    assert_eq!(
        service::policies::tick(&pool, &check)
            .await
            .unwrap()
            .advanced
            .len(),
        2
    );

    // Another vote: the hour has not passed, and today's one round is the cap.
    more_votes(&pool, 1).await;
    assert!(
        service::policies::tick(&pool, &check)
            .await
            .unwrap()
            .started
            .is_empty()
    );
    // An hour later the schedule is due again; with a higher cap the other starts too.
    sqlx::query("update training_policy set last_round_at = now() - interval '61 minutes' where name = 'loop'")
        .execute(&pool)
        .await
        .unwrap();
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(started(&t), ["loop"]);
    sqlx::query("update training_policy set daily_cap = 2 where name = 'capped'")
        .execute(&pool)
        .await
        .unwrap();
    let t = service::policies::tick(&pool, &check).await.unwrap();
    assert_eq!(started(&t), ["capped"]);
    // The list (one query for every policy's rounds) gives each policy its own rounds, in
    // order, as showing it alone does.
    let all = service::policies::list(&pool).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["capped", "loop"]
    );
    for p in &all {
        assert_eq!(
            p.rounds.iter().map(|r| r.round).collect::<Vec<_>>(),
            [1, 2],
            "{}",
            p.name
        );
        assert_eq!(
            *p,
            service::policies::show(&pool, p.policy_id).await.unwrap()
        );
    }
}
