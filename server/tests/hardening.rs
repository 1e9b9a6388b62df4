//! Abuse paths an open arena invites, each closed: redirects after login, uploads and
//! arguments the framework cannot read, oversized bodies, NUL characters, path ids, the arena's
//! own project, formulas in CSV exports and the pages' security headers.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{annotator_cookie, create_admin, get, login, post_form, post_json, router, send};

/// `(status, code)` of a server function's error (`{"code", "message"}`).
fn server_fn_code(reply: &common::Reply) -> (StatusCode, String) {
    let code = reply.json()["code"].as_str().unwrap_or_default().to_owned();
    (reply.status, code)
}

/// `(status, code)` of a REST error (`{"error": {"code", "message"}}`).
fn rest_code(reply: &common::Reply) -> (StatusCode, String) {
    let body = reply.json();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (reply.status, code)
}

/// A pairwise project with one item (x's answer against y's).
async fn project(pool: &sqlx::PgPool) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    let project = db::imports::pairwise_project(&mut tx, "P").await.unwrap();
    let x = db::imports::model(&mut tx, "x").await.unwrap();
    let y = db::imports::model(&mut tx, "=HYPERLINK(\"http://evil.example\")")
        .await
        .unwrap();
    let prompt = db::imports::prompt(&mut tx, "question", None)
        .await
        .unwrap();
    let meta = serde_json::json!({});
    let a = db::imports::response(&mut tx, prompt, x, "x answers", &meta)
        .await
        .unwrap();
    let b = db::imports::response(&mut tx, prompt, y, "y answers", &meta)
        .await
        .unwrap();
    db::imports::item(&mut tx, project, prompt, "0", &[a, b])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    project
}

/// The annotator's next assignment in project `p`, through the page's server function.
async fn next_assignment(app: &axum::Router, p: i64, cookie: &str) -> i64 {
    let next = send(
        app,
        post_form("/api/annotate/next", &format!("project={p}"), Some(cookie)),
    )
    .await;
    next.json()["assignment_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no assignment: {}", next.body))
}

/// Votes `json` on an assignment through the REST API.
async fn rest_vote(app: &axum::Router, assignment: i64, json: &str, cookie: &str) -> common::Reply {
    send(
        app,
        post_json(
            &format!("/api/v1/assignments/{assignment}/vote"),
            json,
            Some(cookie),
        ),
    )
    .await
}

async fn admin(app: &axum::Router, pool: &sqlx::PgPool) -> String {
    create_admin(pool, "root", "root-password").await;
    login(app, "root", "root-password")
        .await
        .session_cookie()
        .unwrap()
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_login_only_ever_leads_to_this_site(pool: sqlx::PgPool) {
    let app = router(&pool);
    create_admin(&pool, "root", "root-password").await;
    for (next, expected) in [
        ("%2Fadmin", "/admin"),
        // Browsers drop the tab from a Location: `//evil.example` is another site.
        ("%2F%09%2Fevil.example", "/"),
        // A line break cannot go into a header (it used to panic after the login).
        ("%2Fok%0D%0ASet-Cookie%3A%20x%3D1", "/"),
    ] {
        let reply = send(
            &app,
            post_form(
                "/api/login",
                &format!("username=root&password=root-password&next={next}"),
                None,
            ),
        )
        .await;
        assert!(
            reply.status.is_success() || reply.status.is_redirection(),
            "{next}: {} {}",
            reply.status,
            reply.body
        );
        assert_eq!(
            reply
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some(expected),
            "{next}"
        );
    }
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn unreadable_requests_answer_a_client_error(pool: sqlx::PgPool) {
    let app = router(&pool);
    // `curl -X POST /api/data/import -d x`: no multipart boundary (the decoder panicked).
    let import = send(&app, post_form("/api/data/import", "x", None)).await;
    assert_eq!(
        server_fn_code(&import),
        (StatusCode::BAD_REQUEST, "bad_request".into()),
        "{}",
        import.body
    );
    assert!(import.body.contains("multipart"), "{}", import.body);

    // Server-function arguments that are missing or of the wrong type: 400, not 500.
    for form in ["project=abc", "", "project=99999999999999999999999"] {
        let reply = send(&app, post_form("/api/annotate/next", form, None)).await;
        assert_eq!(
            server_fn_code(&reply),
            (StatusCode::BAD_REQUEST, "bad_request".into()),
            "{form:?}: {}",
            reply.body
        );
    }

    // A body over the limit: 413, from server functions and the REST API alike.
    let big = "x".repeat(3 << 20);
    let mut req = post_form("/api/annotate/vote", &big, None);
    req.headers_mut().insert(
        header::CONTENT_LENGTH,
        big.len().to_string().parse().unwrap(),
    );
    let reply = send(&app, req).await;
    assert_eq!(
        server_fn_code(&reply),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into()),
        "{}",
        reply.body
    );
    // Without a length (a streamed body), the server function's reader stops at the limit.
    let reply = send(&app, post_form("/api/annotate/vote", &big, None)).await;
    assert_eq!(
        server_fn_code(&reply),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into()),
        "{}",
        reply.body
    );
    let mut req = post_json("/api/v1/assignments/1/vote", &big, None);
    req.headers_mut().remove(header::CONTENT_LENGTH);
    let reply = send(&app, req).await;
    assert_eq!(
        rest_code(&reply),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into()),
        "{}",
        reply.body
    );

    // A path id that is not a number: the API's JSON error, not plain text.
    let cookie = annotator_cookie(&app).await;
    for path in [
        "/api/v1/training-runs/abc",
        "/api/v1/arena/battles/1x/events",
    ] {
        let reply = send(&app, get(path, Some(&cookie))).await;
        assert_eq!(
            rest_code(&reply),
            (StatusCode::BAD_REQUEST, "bad_request".into()),
            "{path}: {}",
            reply.body
        );
    }
    let skip = Request::post("/api/v1/assignments/abc/skip")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        rest_code(&send(&app, skip).await).0,
        StatusCode::BAD_REQUEST
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn nul_characters_are_refused_with_a_message(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool).await;
    let root = admin(&app, &pool).await;
    let user = send(
        &app,
        post_form(
            "/api/admin/create_user",
            "username=car%00ol&password=long-enough-password&role=researcher",
            Some(&root),
        ),
    )
    .await;
    assert!(
        user.status.is_client_error(),
        "{} {}",
        user.status,
        user.body
    );

    let pid = send(&app, post_form("/api/annotate/home", "pid=P%00X", None)).await;
    assert_eq!(pid.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", pid.body);
    assert!(pid.body.contains("NUL"), "{}", pid.body);

    let cookie = annotator_cookie(&app).await;
    let assignment = next_assignment(&app, p, &cookie).await;
    let vote = send(
        &app,
        post_form(
            "/api/annotate/vote",
            &format!("assignment_id={assignment}&choice=left&rationale=a%00b"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(
        server_fn_code(&vote),
        (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable".into()),
        "{}",
        vote.body
    );
    let rest = rest_vote(
        &app,
        assignment,
        r#"{"choice":"left","rationale":"a\u0000b"}"#,
        &cookie,
    )
    .await;
    assert_eq!(
        rest_code(&rest),
        (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable".into()),
        "{}",
        rest.body
    );
    // Nothing was half-recorded: the assignment still takes a proper vote.
    let ok = rest_vote(
        &app,
        assignment,
        r#"{"choice":"left","rationale":"fine"}"#,
        &cookie,
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_arena_project_is_not_handed_out_for_annotation(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool).await;
    let arena = db::arena::project(&pool).await.unwrap();
    let cookie = annotator_cookie(&app).await;
    let home = send(&app, post_form("/api/annotate/home", "", Some(&cookie))).await;
    let listed: Vec<i64> = home.json()["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [p]);
    let rest = send(&app, get("/api/v1/projects", Some(&cookie))).await;
    assert_eq!(rest.json().as_array().unwrap().len(), 1, "{}", rest.body);
    let next = Request::post(format!("/api/v1/projects/{arena}/assignments/next"))
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(rest_code(&send(&app, next).await).0, StatusCode::NOT_FOUND);
    let page = send(
        &app,
        post_form(
            "/api/annotate/next",
            &format!("project={arena}"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn csv_exports_never_carry_a_live_formula(pool: sqlx::PgPool) {
    let app = router(&pool);
    let p = project(&pool).await;
    let cookie = annotator_cookie(&app).await;
    let assignment = next_assignment(&app, p, &cookie).await;
    let vote = rest_vote(
        &app,
        assignment,
        r#"{"choice":"left","rationale":"=HYPERLINK(\"http://evil.example\",\"click\")"}"#,
        &cookie,
    )
    .await;
    assert_eq!(vote.status, StatusCode::CREATED, "{}", vote.body);
    let root = admin(&app, &pool).await;
    let csv = send(&app, get("/api/v1/exports/votes?format=csv", Some(&root))).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = headers
        .iter()
        .position(|h| h == "rationale")
        .expect("a rationale column");
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(
        &row[column],
        "'=HYPERLINK(\"http://evil.example\",\"click\")"
    );
    // The public leaderboard's CSV: the model name is text, numbers stay numbers.
    let board = send(
        &app,
        get("/api/v1/leaderboard?format=csv&ci=sandwich", None),
    )
    .await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.body);
    assert!(board.body.contains("'=HYPERLINK"), "{}", board.body);
    assert!(
        !board.body.contains(",=HYPERLINK") && !board.body.contains("\"=HYPERLINK"),
        "{}",
        board.body
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn pages_carry_security_headers(pool: sqlx::PgPool) {
    let app = router(&pool);
    let page = send(&app, get("/login", None)).await;
    assert_eq!(page.status, StatusCode::OK);
    let header = |reply: &common::Reply, name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "referrer-policy"), "same-origin");
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    // Every inline script of the page carries the nonce the policy names.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy");
    let scripts = page.body.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "{}",
        page.body
    );
    // A second page gets another nonce.
    let again = send(&app, get("/login", None)).await;
    assert_ne!(header(&again, "content-security-policy"), csp);

    // Pages and answers for a session are not kept by caches.
    let cookie = annotator_cookie(&app).await;
    let mine = send(&app, get("/annotate", Some(&cookie))).await;
    assert_eq!(header(&mine, "cache-control"), "no-store");
    let me = send(&app, get("/api/v1/me", Some(&cookie))).await;
    assert_eq!(header(&me, "cache-control"), "no-store");
    assert_eq!(header(&me, "x-content-type-options"), "nosniff");
}

/// Bundle files (`/pkg`) carry only the headers a script or wasm file uses: every header line
/// is paid again by each of the 75 files the leaderboard fetches. Pages keep theirs.
#[sqlx::test(migrator = "db::MIGRATOR")]
async fn bundle_files_carry_lean_headers(pool: sqlx::PgPool) {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("verdict.0123abcd.js"), "export default 1;\n").unwrap();
    let router_for = |hash_files: bool| {
        let options = leptos::config::LeptosOptions::builder()
            .output_name("verdict")
            .site_root(site.path().to_str().unwrap())
            .hash_files(hash_files)
            .build();
        verdict_server::http::app(
            verdict_server::services::state(pool.clone(), options, app::state::Settings::default()),
            verdict_server::http::CookieConfig::default(),
        )
    };
    let header = |reply: &common::Reply, name: &str| {
        reply
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let hashed = router_for(true);
    let file = send(&hashed, get("/pkg/verdict.0123abcd.js", None)).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, "export default 1;\n");
    assert_eq!(
        header(&file, "cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        header(&file, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    for dropped in [
        "x-request-id",
        "x-frame-options",
        "referrer-policy",
        "last-modified",
    ] {
        assert_eq!(header(&file, dropped), None, "{dropped} on a bundle file");
    }
    // A missing file is still an error.
    let missing = send(&hashed, get("/pkg/verdict.ffffffff.js", None)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Unhashed names (a development build) are revalidated, so they keep their date.
    let unhashed = router_for(false);
    let file = send(&unhashed, get("/pkg/verdict.0123abcd.js", None)).await;
    assert_eq!(header(&file, "cache-control").as_deref(), Some("no-cache"));
    assert!(header(&file, "last-modified").is_some());
    assert_eq!(header(&file, "x-request-id"), None);
    // Pages keep every header.
    let page = send(&unhashed, get("/login", None)).await;
    assert_eq!(page.status, StatusCode::OK);
    for kept in ["x-request-id", "x-frame-options", "referrer-policy"] {
        assert!(header(&page, kept).is_some(), "{kept} missing on a page");
    }
}

/// The router with a trusted proxy header (`X-Forwarded-For`), so that each request can name
/// its client, and small limits.
fn limited_router(pool: &sqlx::PgPool, limits: service::limits::Limits) -> axum::Router {
    let settings = app::state::Settings {
        client_ip_header: Some("x-forwarded-for".into()),
        limits,
        ..app::state::Settings::default()
    };
    let options = leptos::config::LeptosOptions::builder()
        .output_name("verdict")
        .build();
    verdict_server::http::app(
        verdict_server::services::state(pool.clone(), options, settings),
        verdict_server::http::CookieConfig::default(),
    )
}

/// `req` as the proxy forwards it for `client`; the first entry is whatever the client sent.
fn from(client: &str, spoofed: &str, mut req: Request<Body>) -> Request<Body> {
    req.headers_mut().insert(
        "x-forwarded-for",
        format!("{spoofed}, {client}").parse().unwrap(),
    );
    req
}

fn retry_after(reply: &common::Reply) -> u64 {
    reply
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", reply.headers))
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_client_is_rate_limited_per_action(pool: sqlx::PgPool) {
    let limits = service::limits::Limits {
        new_annotators: 3,
        battles: 2,
        judgements: 2,
        generations_per_model: 4,
    };
    let app = limited_router(&pool, limits);
    let client = "198.51.100.1";
    // New annotators: three, then 429 with Retry-After, whatever the spoofed first entry says.
    let mut cookie = None;
    for k in 0..3 {
        let reply = send(
            &app,
            from(
                client,
                &format!("10.0.0.{k}"),
                post_form("/api/annotate/home", "", None),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        cookie = reply.session_cookie();
    }
    let refused = send(
        &app,
        from(
            client,
            "10.0.0.9",
            post_form("/api/annotate/home", "", None),
        ),
    )
    .await;
    assert_eq!(
        server_fn_code(&refused),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_requests".into()),
        "{}",
        refused.body
    );
    // 3 per minute: the next one in 20 s.
    assert_eq!(retry_after(&refused), 20);
    // The page itself makes annotators too (server-side rendering), under the same limit.
    let page = send(&app, from(client, "10.0.0.9", get("/annotate", None))).await;
    assert!(
        !page.body.contains("You are"),
        "a page made a fourth annotator"
    );
    // Another client is not affected; a session that exists is not a new annotator.
    let other = send(
        &app,
        from(
            "198.51.100.2",
            "x",
            post_form("/api/annotate/home", "", None),
        ),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    let cookie = cookie.unwrap();
    let known = send(
        &app,
        from(
            client,
            "x",
            post_form("/api/annotate/home", "", Some(&cookie)),
        ),
    )
    .await;
    assert_eq!(known.status, StatusCode::OK, "{}", known.body);

    // Judgements and battles: two each, then 429 (REST and server functions share a bucket).
    let vote = || {
        post_json(
            "/api/v1/assignments/1/vote",
            r#"{"choice":"left"}"#,
            Some(&cookie),
        )
    };
    for _ in 0..2 {
        assert_ne!(
            send(&app, from(client, "x", vote())).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let page_vote = post_form(
        "/api/annotate/vote",
        "assignment_id=1&choice=left",
        Some(&cookie),
    );
    let refused = send(&app, from(client, "x", page_vote)).await;
    assert_eq!(
        server_fn_code(&refused),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_requests".into()),
        "{}",
        refused.body
    );
    assert_eq!(retry_after(&refused), 30);
    let battle = || post_form("/api/arena/start", "prompt=hi", Some(&cookie));
    for _ in 0..2 {
        assert_ne!(
            send(&app, from(client, "x", battle())).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    assert_eq!(
        send(&app, from(client, "x", battle())).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn concurrent_guesses_are_counted_and_never_lock_the_owner_out(pool: sqlx::PgPool) {
    let app = limited_router(&pool, service::limits::Limits::default());
    create_admin(&pool, "root", "root-password").await;
    let max = usize::try_from(app::state::Settings::default().login_max_failures).unwrap();
    let attacker = "203.0.113.66";
    let guesses = (0..30).map(|k| {
        let app = app.clone();
        tokio::spawn(async move {
            let form = format!("username=root&password=guess-{k}");
            send(
                &app,
                from(attacker, "x", post_form("/api/login", &form, None)),
            )
            .await
            .status
        })
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, limited), (max, 30 - max), "{statuses:?}");
    // Argon2 ran in its bounded slots.
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    assert!(
        service::users::hashing_peak() <= cores.clamp(2, 8),
        "{}",
        service::users::hashing_peak()
    );
    // The attacker is stopped; the admin, from their own address, logs in.
    let again = send(
        &app,
        from(
            attacker,
            "x",
            post_form("/api/login", "username=root&password=root-password", None),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    let owner = send(
        &app,
        from(
            "198.51.100.7",
            "x",
            post_form("/api/login", "username=root&password=root-password", None),
        ),
    )
    .await;
    assert!(
        owner.session_cookie().is_some(),
        "{} {}",
        owner.status,
        owner.body
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_leaderboard_is_computed_once_per_data_version(pool: sqlx::PgPool) {
    let options = leptos::config::LeptosOptions::builder()
        .output_name("verdict")
        .build();
    let state =
        verdict_server::services::state(pool.clone(), options, app::state::Settings::default());
    let cache = std::sync::Arc::clone(&state.leaderboards);
    let app = verdict_server::http::app(state, verdict_server::http::CookieConfig::default());
    let p = project(&pool).await;
    let cookie = annotator_cookie(&app).await;
    let assignment = next_assignment(&app, p, &cookie).await;
    let vote = rest_vote(&app, assignment, r#"{"choice":"left"}"#, &cookie).await;
    assert_eq!(vote.status, StatusCode::CREATED);
    let board = "/api/v1/leaderboard?style_control=false";
    let first = send(&app, get(board, None)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(cache.hits(), 0);
    // Nothing changed: the same answer, from the cache (the page's server function shares it).
    let second = send(&app, get(board, None)).await;
    assert_eq!(second.body, first.body);
    assert_eq!(cache.hits(), 1);
    // A model renamed: computed again.
    sqlx::query("update model set name = 'x2' where name = 'x'")
        .execute(&pool)
        .await
        .unwrap();
    let third = send(&app, get(board, None)).await;
    assert_eq!(cache.hits(), 1);
    assert!(third.body.contains("\"x2\""), "{}", third.body);
    // Excluding the annotator changes what the board reads: computed again.
    sqlx::query("update app_user set excluded = true where role = 'annotator'")
        .execute(&pool)
        .await
        .unwrap();
    let fourth = send(&app, get(board, None)).await;
    assert_eq!(cache.hits(), 1);
    assert_ne!(fourth.body, third.body);
    // A new vote (by someone else): computed again.
    let other = annotator_cookie(&app).await;
    let assignment = next_assignment(&app, p, &other).await;
    let vote = rest_vote(&app, assignment, r#"{"choice":"right"}"#, &other).await;
    assert_eq!(vote.status, StatusCode::CREATED);
    let fifth = send(&app, get(board, None)).await;
    assert_eq!(cache.hits(), 1);
    assert_ne!(fifth.body, fourth.body);
}

async fn pid(conn: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_connection_left_inside_a_transaction_never_goes_back_to_the_pool(pool: sqlx::PgPool) {
    let options = (*pool.connect_options()).clone();
    let pool = db::pool_options(1).connect_with(options).await.unwrap();
    // A clean connection is reused.
    let mut conn = pool.acquire().await.unwrap();
    let first = pid(&mut conn).await;
    drop(conn);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(pid(&mut conn).await, first, "a clean connection is kept");
    // What a `BEGIN` cancelled half-way leaves: the server inside a transaction sqlx does not
    // know of, holding a lock.
    sqlx::raw_sql("begin; select pg_advisory_xact_lock(42)")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let mut conn = pool.acquire().await.unwrap();
    assert_ne!(pid(&mut conn).await, first, "that connection was closed");
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock(42)")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(locked, "its transaction and lock ended with it");
}
