//! The same action answers the same status and message at every edge: a server function (what
//! the pages call) and its REST twin go through one `service` function.

mod common;

use axum::http::StatusCode;
use common::{annotator_cookie, create_admin, login, post_form, post_json, router, send};

/// A `PATCH` with a JSON body.
fn patch_json(
    path: &str,
    json: &str,
    cookie: Option<&str>,
) -> axum::http::Request<axum::body::Body> {
    let mut req = post_json(path, json, cookie);
    *req.method_mut() = axum::http::Method::PATCH;
    req
}

/// `(status, code, message)` of a server function's error body (`{"code", "message"}`).
fn server_fn_error(reply: &common::Reply) -> (StatusCode, String, String) {
    let body = reply.json();
    (
        reply.status,
        body["code"].as_str().unwrap_or_default().to_owned(),
        body["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `(status, code, message)` of a REST error body (`{"error": {"code", "message"}}`).
fn rest_error(reply: &common::Reply) -> (StatusCode, String, String) {
    let body = reply.json();
    (
        reply.status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn creating_a_user_answers_alike_from_the_page_and_the_api(pool: sqlx::PgPool) {
    let app = router(&pool);
    create_admin(&pool, "root", "root-password").await;
    let cookie = login(&app, "root", "root-password")
        .await
        .session_cookie()
        .unwrap();

    // A short password: 422 from both (the server function used to answer 400).
    let page = send(
        &app,
        post_form(
            "/api/admin/create_user",
            "username=carol&password=short&role=researcher",
            Some(&cookie),
        ),
    )
    .await;
    let api = send(
        &app,
        post_json(
            "/api/v1/admin/users",
            r#"{"username":"carol","password":"short","role":"researcher"}"#,
            Some(&cookie),
        ),
    )
    .await;
    let expected = (
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable".to_owned(),
        "a password has at least 8 characters".to_owned(),
    );
    assert_eq!(server_fn_error(&page), expected, "{}", page.body);
    assert_eq!(rest_error(&api), expected, "{}", api.body);
    assert!(
        db::users::credentials(&pool, "carol")
            .await
            .unwrap()
            .is_none()
    );

    // A taken username: 409 with the same message from both.
    let page = send(
        &app,
        post_form(
            "/api/admin/create_user",
            "username=root&password=long-enough&role=researcher",
            Some(&cookie),
        ),
    )
    .await;
    let api = send(
        &app,
        post_json(
            "/api/v1/admin/users",
            r#"{"username":"root","password":"long-enough","role":"researcher"}"#,
            Some(&cookie),
        ),
    )
    .await;
    let expected = (
        StatusCode::CONFLICT,
        "conflict".to_owned(),
        "that username is taken".to_owned(),
    );
    assert_eq!(server_fn_error(&page), expected, "{}", page.body);
    assert_eq!(rest_error(&api), expected, "{}", api.body);
}

/// A pairwise project with one item, x's answer against y's.
async fn project(pool: &sqlx::PgPool) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    let project = db::imports::pairwise_project(&mut tx, "P").await.unwrap();
    let (x, y) = (
        db::imports::model(&mut tx, "x").await.unwrap(),
        db::imports::model(&mut tx, "y").await.unwrap(),
    );
    let prompt = db::imports::prompt(&mut tx, "question", None)
        .await
        .unwrap();
    let meta = serde_json::json!({});
    let ra = db::imports::response(&mut tx, prompt, x, "x answers", &meta)
        .await
        .unwrap();
    let rb = db::imports::response(&mut tx, prompt, y, "y answers", &meta)
        .await
        .unwrap();
    db::imports::item(&mut tx, project, prompt, "0", &[ra, rb])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    project
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_negative_vote_time_is_refused_by_the_page_and_the_api(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool).await;
    let alice = annotator_cookie(&app).await;
    let next = send(
        &app,
        post_json(
            &format!("/api/v1/projects/{p}/assignments/next"),
            "{}",
            Some(&alice),
        ),
    )
    .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    let id = next.json()["assignment_id"].as_i64().unwrap();

    // The server function used to drop the time silently and record the vote.
    let page = send(
        &app,
        post_form(
            "/api/annotate/vote",
            &format!("assignment_id={id}&choice=left&time_to_vote_ms=-5"),
            Some(&alice),
        ),
    )
    .await;
    let api = send(
        &app,
        post_json(
            &format!("/api/v1/assignments/{id}/vote"),
            r#"{"choice":"left","time_to_vote_ms":-5}"#,
            Some(&alice),
        ),
    )
    .await;
    let expected = (
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable".to_owned(),
        "time_to_vote_ms cannot be negative".to_owned(),
    );
    assert_eq!(server_fn_error(&page), expected, "{}", page.body);
    assert_eq!(rest_error(&api), expected, "{}", api.body);
    let votes: i64 = sqlx::query_scalar("select count(*) from vote")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(votes, 0, "nothing was recorded");

    // Without a session both answer 401 with the same message.
    let page = send(
        &app,
        post_form(
            "/api/annotate/vote",
            &format!("assignment_id={id}&choice=left"),
            None,
        ),
    )
    .await;
    let api = send(
        &app,
        post_json(
            &format!("/api/v1/assignments/{id}/vote"),
            r#"{"choice":"left"}"#,
            None,
        ),
    )
    .await;
    assert_eq!(server_fn_error(&page), rest_error(&api), "{}", page.body);
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn model_scheduling_answers_alike_from_the_page_and_the_api(pool: sqlx::PgPool) {
    let app = router(&pool);
    create_admin(&pool, "root", "root-password").await;
    let cookie = login(&app, "root", "root-password")
        .await
        .session_cookie()
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let model = db::imports::model(&mut tx, "m").await.unwrap();
    tx.commit().await.unwrap();

    // A negative weight: 422 with one message (the page used to word it differently).
    let page = send(
        &app,
        post_form(
            "/api/admin/update_model",
            &format!("model_id={model}&sampling_weight=-1"),
            Some(&cookie),
        ),
    )
    .await;
    let api = send(
        &app,
        patch_json(
            &format!("/api/v1/admin/models/{model}"),
            r#"{"sampling_weight":-1}"#,
            Some(&cookie),
        ),
    )
    .await;
    let expected = (
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable".to_owned(),
        "sampling_weight is a number from 0 to 1000".to_owned(),
    );
    assert_eq!(server_fn_error(&page), expected, "{}", page.body);
    assert_eq!(rest_error(&api), expected, "{}", api.body);

    // An unknown model: 404 "no such model" from both.
    let page = send(
        &app,
        post_form(
            "/api/admin/update_model",
            "model_id=999999&sampling_weight=1",
            Some(&cookie),
        ),
    )
    .await;
    let api = send(
        &app,
        patch_json(
            "/api/v1/admin/models/999999",
            r#"{"sampling_weight":1}"#,
            Some(&cookie),
        ),
    )
    .await;
    let expected = (
        StatusCode::NOT_FOUND,
        "not_found".to_owned(),
        "no such model".to_owned(),
    );
    assert_eq!(server_fn_error(&page), expected, "{}", page.body);
    assert_eq!(rest_error(&api), expected, "{}", api.body);
}
