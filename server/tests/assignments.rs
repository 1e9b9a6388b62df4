//! The annotation loop over HTTP: next assignment, vote once, skip, expiry, permissions.

use app::state::Settings;
use axum::Router;
use axum::http::StatusCode;
use leptos::config::LeptosOptions;
use verdict_server::http::{self as web, CookieConfig};

fn router(pool: &sqlx::PgPool) -> Router {
    let leptos_options = LeptosOptions::builder().output_name("verdict").build();
    let state = verdict_server::services::state(pool.clone(), leptos_options, Settings::default());
    web::app(state, CookieConfig::default())
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    json: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    verdict_server::cli::bench_votes::call(app, method, path, cookie, json.map(str::to_owned))
        .await
        .expect("in-process request")
}

async fn annotator(app: &Router) -> String {
    let (status, body, cookie) = call(app, "POST", "/api/annotate/home", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    cookie.unwrap()
}

/// A pairwise project with `items` items, each x's answer (position 0) against y's.
async fn project(pool: &sqlx::PgPool, name: &str, items: usize, rationale: &str) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    let project = db::imports::pairwise_project(&mut tx, name).await.unwrap();
    sqlx::query("update project set overlap_target = 2, rationale_mode = $2 where project_id = $1")
        .bind(project)
        .bind(rationale)
        .execute(&mut *tx)
        .await
        .unwrap();
    let (x, y) = (
        db::imports::model(&mut tx, "x").await.unwrap(),
        db::imports::model(&mut tx, "y").await.unwrap(),
    );
    for k in 0..items {
        let prompt = db::imports::prompt(&mut tx, &format!("{name} question {k}"), None)
            .await
            .unwrap();
        let meta = serde_json::json!({});
        let ra = db::imports::response(&mut tx, prompt, x, &format!("x answers {k}"), &meta)
            .await
            .unwrap();
        let rb = db::imports::response(&mut tx, prompt, y, &format!("y answers {k}"), &meta)
            .await
            .unwrap();
        db::imports::item(&mut tx, project, prompt, &k.to_string(), &[ra, rb])
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    project
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_vote_is_recorded_once_with_its_display_side(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool, "P", 3, "optional").await;
    let alice = annotator(&app).await;
    let next = format!("/api/v1/projects/{p}/assignments/next");
    let (status, body, _) = call(&app, "POST", &next, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let issued = json(&body);
    let id = issued["assignment_id"].as_i64().unwrap();
    assert_eq!(issued["responses"].as_array().unwrap().len(), 2);
    let left_text = issued["responses"][0][1].as_str().unwrap().to_owned();
    // Asking again resumes the open assignment.
    let (_, again, _) = call(&app, "POST", &next, Some(&alice), None).await;
    assert_eq!(json(&again)["assignment_id"].as_i64(), Some(id));

    let vote = r#"{"choice":"left","rationale":"more precise","time_to_vote_ms":4200}"#;
    let path = format!("/api/v1/assignments/{id}/vote");
    let (status, body, _) = call(&app, "POST", &path, Some(&alice), Some(vote)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first = json(&body);
    let left_model = if left_text.starts_with('x') { "x" } else { "y" };
    assert_eq!(
        first["left_model"], left_model,
        "the reveal names the left model"
    );
    assert_eq!(first["winner"], if left_model == "x" { "a" } else { "b" });

    let (status, body, _) = call(&app, "POST", &path, Some(&alice), Some(vote)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a repeat answers with the same vote"
    );
    assert_eq!(json(&body)["vote_id"], first["vote_id"]);
    let (n, a_was_left, time): (i64, bool, i32) = sqlx::query_as(
        "select count(*) over (), a_was_left, time_to_vote_ms from vote where assignment_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((n, a_was_left, time), (1, left_model == "x", 4200));

    let bob = annotator(&app).await;
    let (status, _, _) = call(&app, "POST", &path, Some(&bob), Some(vote)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a vote for someone else's assignment"
    );
    let (status, _, _) = call(&app, "POST", &path, None, Some(vote)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(
        &app,
        "POST",
        &path,
        Some(&alice),
        Some(r#"{"choice":"up"}"#),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown choice is refused"
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn expiry_skips_and_exhaustion(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool, "P", 2, "optional").await;
    let alice = annotator(&app).await;
    let next = format!("/api/v1/projects/{p}/assignments/next");
    let first = json(&call(&app, "POST", &next, Some(&alice), None).await.1)["assignment_id"]
        .as_i64()
        .unwrap();
    sqlx::query("update assignment set issued_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' where assignment_id = $1")
        .bind(first)
        .execute(&pool)
        .await
        .unwrap();
    let (status, body, _) = call(
        &app,
        "POST",
        &format!("/api/v1/assignments/{first}/vote"),
        Some(&alice),
        Some(r#"{"choice":"tie"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("expired"));

    let second = json(&call(&app, "POST", &next, Some(&alice), None).await.1)["assignment_id"]
        .as_i64()
        .unwrap();
    assert_ne!(second, first, "never the same item twice");
    let (status, _, _) = call(
        &app,
        "POST",
        &format!("/api/v1/assignments/{second}/skip"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&app, "POST", &next, Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "nothing left for alice");

    // The expired and the skipped items go to others.
    let bob = annotator(&app).await;
    let b1 = json(&call(&app, "POST", &next, Some(&bob), None).await.1)["assignment_id"]
        .as_i64()
        .unwrap();
    let (status, _, _) = call(
        &app,
        "POST",
        &format!("/api/v1/assignments/{b1}/vote"),
        Some(&bob),
        Some(r#"{"choice":"both_bad"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = call(
        &app,
        "POST",
        "/api/v1/projects/999/assignments/next",
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn project_rules_are_enforced(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool, "Strict", 1, "required").await;
    let alice = annotator(&app).await;
    let id = json(
        &call(
            &app,
            "POST",
            &format!("/api/v1/projects/{p}/assignments/next"),
            Some(&alice),
            None,
        )
        .await
        .1,
    )["assignment_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/assignments/{id}/vote");
    let (status, body, _) = call(
        &app,
        "POST",
        &path,
        Some(&alice),
        Some(r#"{"choice":"left"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("rationale"));
    let (status, _, _) = call(
        &app,
        "POST",
        &path,
        Some(&alice),
        Some(r#"{"choice":"left","rationale":"x","strength":"clear"}"#),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no strength scale in this project"
    );
    let (status, _, _) = call(
        &app,
        "POST",
        &path,
        Some(&alice),
        Some(r#"{"choice":"sideways","rationale":"x"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = call(
        &app,
        "POST",
        &path,
        Some(&alice),
        Some(r#"{"choice":"left","rationale":"clearer"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn concurrent_submissions_make_one_vote(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool, "P", 1, "optional").await;
    let alice = annotator(&app).await;
    let id = json(
        &call(
            &app,
            "POST",
            &format!("/api/v1/projects/{p}/assignments/next"),
            Some(&alice),
            None,
        )
        .await
        .1,
    )["assignment_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/assignments/{id}/vote");
    let body = r#"{"choice":"right"}"#;
    let (a, b, c) = tokio::join!(
        call(&app, "POST", &path, Some(&alice), Some(body)),
        call(&app, "POST", &path, Some(&alice), Some(body)),
        call(&app, "POST", &path, Some(&alice), Some(body)),
    );
    let mut statuses = vec![a.0, b.0, c.0];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::OK, StatusCode::OK, StatusCode::CREATED]
    );
    let ids: std::collections::HashSet<_> = [a.1, b.1, c.1]
        .iter()
        .map(|s| json(s)["vote_id"].clone())
        .collect();
    assert_eq!(ids.len(), 1);
    let n: i64 = sqlx::query_scalar("select count(*) from vote")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let counted: i64 = sqlx::query_scalar("select sum(n)::bigint from vote_count")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counted, 1, "the leaderboard counts the vote once");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn equally_loaded_items_go_out_where_the_ratings_are_least_known(pool: sqlx::PgPool) {
    // Twelve items over three pairs of models; x and y already met 40 times in this project,
    // z never: the active score sends annotators to z's pairs first (docs/design.md §5.18).
    let mut tx = pool.begin().await.unwrap();
    let project = db::imports::pairwise_project(&mut tx, "Active")
        .await
        .unwrap();
    let mut models = std::collections::HashMap::new();
    for name in ["x", "y", "z"] {
        models.insert(name, db::imports::model(&mut tx, name).await.unwrap());
    }
    let meta = serde_json::json!({});
    for (k, (a, b)) in [("x", "y"), ("x", "z"), ("y", "z")]
        .iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let prompt = db::imports::prompt(&mut tx, &format!("question {k}"), None)
            .await
            .unwrap();
        let ra = db::imports::response(
            &mut tx,
            prompt,
            models[a],
            &format!("{a} answers {k}"),
            &meta,
        )
        .await
        .unwrap();
        let rb = db::imports::response(
            &mut tx,
            prompt,
            models[b],
            &format!("{b} answers {k}"),
            &meta,
        )
        .await
        .unwrap();
        db::imports::item(&mut tx, project, prompt, &k.to_string(), &[ra, rb])
            .await
            .unwrap();
    }
    sqlx::query(
        "insert into vote (project_id, source, model_a_id, model_b_id, winner) \
         select $1, 'human', $2, $3, case when k % 3 = 0 then 'b' else 'a' end \
         from generate_series(1, 40) k",
    )
    .bind(project)
    .bind(models["x"])
    .bind(models["y"])
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let app = router(&pool);
    let next = format!("/api/v1/projects/{project}/assignments/next");
    // Eight items hold z; six fresh annotators each get one of them (at random, all six would
    // avoid x–y about 3% of the time).
    for _ in 0..6 {
        let cookie = annotator(&app).await;
        let (status, body, _) = call(&app, "POST", &next, Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let texts: Vec<String> = json(&body)["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[1].as_str().unwrap().to_owned())
            .collect();
        assert!(
            texts.iter().any(|t| t.starts_with("z answers")),
            "{texts:?}"
        );
    }
}
