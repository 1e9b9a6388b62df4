//! The first admin is created in the browser with the one-time token the server logs while no
//! admin exists: it works once, a wrong token is refused, and it stops once an admin exists.

mod common;

use axum::http::StatusCode;
use common::{get, post_form, router, send};

async fn admins(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from app_user where role = 'admin'")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_setup_token_creates_one_admin_once(pool: sqlx::PgPool) {
    let app = router(&pool);
    assert!(service::users::first_admin_needed(&pool).await.unwrap());
    let token = service::users::first_admin_token(&pool)
        .await
        .unwrap()
        .expect("a token while no admin exists");
    assert_eq!(token.len(), 32);

    // A wrong token: 403, nothing created.
    let wrong = send(
        &app,
        post_form(
            "/api/first_admin",
            "token=not-the-token&username=root&password=root-password",
            None,
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(
        wrong.body.contains("setup token is wrong"),
        "{}",
        wrong.body
    );
    // A short password: 422, the token still works afterwards.
    let short = send(
        &app,
        post_form(
            "/api/first_admin",
            &format!("token={token}&username=root&password=short"),
            None,
        ),
    )
    .await;
    assert_eq!(
        short.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        short.body
    );
    assert_eq!(admins(&pool).await, 0);

    let made = send(
        &app,
        post_form(
            "/api/first_admin",
            &format!("token={token}&username=root&password=root-password"),
            None,
        ),
    )
    .await;
    assert!(
        made.status.is_success() || made.status.is_redirection(),
        "{}",
        made.body
    );
    assert_eq!(admins(&pool).await, 1);
    // The new admin is logged in.
    let cookie = made.session_cookie().expect("a session");
    let users = send(&app, get("/api/v1/admin/users", Some(&cookie))).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);

    // The same token again: refused, and no second admin.
    let again = send(
        &app,
        post_form(
            "/api/first_admin",
            &format!("token={token}&username=root2&password=root-password"),
            None,
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(admins(&pool).await, 1);
    assert!(!service::users::first_admin_needed(&pool).await.unwrap());
    assert_eq!(
        service::users::first_admin_token(&pool).await.unwrap(),
        None
    );
    let (tokens,): (i64,) = sqlx::query_as("select count(*) from first_admin_token")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tokens, 0, "creating the admin deletes every token");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn two_requests_with_one_token_make_one_admin(pool: sqlx::PgPool) {
    let app = router(&pool);
    let token = service::users::first_admin_token(&pool)
        .await
        .unwrap()
        .unwrap();
    let form = |name: &str| {
        post_form(
            "/api/first_admin",
            &format!("token={token}&username={name}&password=root-password"),
            None,
        )
    };
    let (a, b) = tokio::join!(send(&app, form("first")), send(&app, form("second")));
    let ok = [&a, &b]
        .iter()
        .filter(|r| r.status.is_success() || r.status.is_redirection())
        .count();
    assert_eq!(ok, 1, "{} / {}", a.body, b.body);
    assert_eq!(admins(&pool).await, 1);
}
