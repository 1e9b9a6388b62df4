//! HTTP tests through the real router on a fresh PostgreSQL database per test.

mod common;

use app::state::Settings;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn health_check_reports_the_database(pool: sqlx::PgPool) {
    let app = router(&pool);
    let reply = send(&app, get("/healthz", None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "ok");
    assert!(reply.headers.contains_key("x-request-id"));
    pool.close().await;
    let reply = send(&app, get("/healthz", None)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn unknown_routes_get_a_styled_page_or_json(pool: sqlx::PgPool) {
    let app = router(&pool);
    let page = send(&app, get("/no/such/page", None)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"), "{}", page.body);
    assert!(
        page.body.contains("<nav"),
        "the 404 page keeps the site's header"
    );
    let api = send(&app, get("/api/v1/no/such/route", None)).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["error"]["code"], "not_found");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn home_page_is_rendered_on_the_server(pool: sqlx::PgPool) {
    let app = router(&pool);
    let page = send(&app, get("/", None)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Learn from human preferences",
        "Arena",
        "Annotate",
        "Leaderboard",
        "Admin",
    ] {
        assert!(page.body.contains(text), "missing {text}");
    }
    assert!(
        page.body.contains("/pkg/verdict.js"),
        "hydration script is linked"
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn annotators_get_403_from_admin_routes_and_server_functions(pool: sqlx::PgPool) {
    let app = router(&pool);
    let cookie = annotator_cookie(&app).await;

    let api = send(&app, get("/api/v1/admin/users", Some(&cookie))).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.body);
    assert_eq!(api.json()["error"]["code"], "forbidden");

    let server_fn = send(&app, post_form("/api/admin/list_users", "", Some(&cookie))).await;
    assert_eq!(
        server_fn.status,
        StatusCode::FORBIDDEN,
        "{}",
        server_fn.body
    );

    let create = "username=mallory&password=12345678&role=admin";
    let server_fn = send(
        &app,
        post_form("/api/admin/create_user", create, Some(&cookie)),
    )
    .await;
    assert_eq!(server_fn.status, StatusCode::FORBIDDEN);
    assert!(
        db::users::credentials(&pool, "mallory")
            .await
            .unwrap()
            .is_none()
    );

    let page = send(&app, get("/admin", Some(&cookie))).await;
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "the admin page itself is refused"
    );

    let anonymous = send(&app, get("/api/v1/admin/users", None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn admins_log_in_and_sessions_survive_a_restart(pool: sqlx::PgPool) {
    create_admin(&pool, "root", "correct horse").await;
    let app = router(&pool);

    let wrong = login(&app, "root", "wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("wrong username or password"));
    let unknown = login(&app, "nobody", "wrong").await;
    assert_eq!(
        unknown.body, wrong.body,
        "the same message whether or not the user exists"
    );

    let ok = login(&app, "root", "correct%20horse").await;
    assert!(
        ok.status.is_success() || ok.status.is_redirection(),
        "{} {}",
        ok.status,
        ok.body
    );
    let cookie = ok.session_cookie().expect("session cookie");
    let set_cookie = ok
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );

    let users = send(&app, get("/api/v1/admin/users", Some(&cookie))).await;
    assert_eq!(users.status, StatusCode::OK);
    assert_eq!(users.json()[0]["username"], "root");

    // A new router and session store on the same database: the server restarted.
    drop(app);
    let restarted = router(&pool);
    let me = send(&restarted, get("/api/v1/me", Some(&cookie))).await;
    assert_eq!(me.json()["username"], "root", "{}", me.body);

    let out = send(&restarted, post_form("/api/logout", "", Some(&cookie))).await;
    assert!(out.status.is_success() || out.status.is_redirection());
    let me = send(&restarted, get("/api/v1/me", Some(&cookie))).await;
    assert_eq!(me.json(), serde_json::Value::Null);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn failed_logins_are_rate_limited(pool: sqlx::PgPool) {
    create_admin(&pool, "root", "correct horse").await;
    let app = router(&pool);
    for _ in 0..Settings::default().login_max_failures {
        assert_eq!(
            login(&app, "root", "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = login(&app, "root", "correct%20horse").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn cross_site_posts_are_refused(pool: sqlx::PgPool) {
    create_admin(&pool, "root", "correct horse").await;
    let app = router(&pool);
    let mut req = post_form("/api/login", "username=root&password=correct%20horse", None);
    req.headers_mut()
        .insert(header::HOST, "127.0.0.1:3000".parse().unwrap());
    req.headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    let reply = send(&app, req).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.session_cookie().is_none());
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn api_bodies_are_validated(pool: sqlx::PgPool) {
    create_admin(&pool, "root", "correct horse").await;
    let app = router(&pool);
    let cookie = login(&app, "root", "correct%20horse")
        .await
        .session_cookie()
        .unwrap();

    let broken = send(
        &app,
        post_json("/api/v1/admin/users", "{not json", Some(&cookie)),
    )
    .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert_eq!(broken.json()["error"]["code"], "bad_request");

    let shape = r#"{"username":"ann","password":"12345678","role":"king"}"#;
    let wrong = send(&app, post_json("/api/v1/admin/users", shape, Some(&cookie))).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );

    let good = r#"{"username":"ann","password":"12345678","role":"researcher"}"#;
    let created = send(&app, post_json("/api/v1/admin/users", good, Some(&cookie))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let again = send(&app, post_json("/api/v1/admin/users", good, Some(&cookie))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("taken")
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn external_ids_are_recorded_on_first_arrival_only(pool: sqlx::PgPool) {
    let app = router(&pool);
    let first = send(
        &app,
        post_form("/api/annotate/home", "pid=PROLIFIC-7", None),
    )
    .await;
    assert_eq!(first.json()["annotator"]["external_id"], "PROLIFIC-7");
    let id = first.json()["annotator"]["user_id"].clone();
    let cookie = first.session_cookie().unwrap();
    // The same browser comes back as the same annotator.
    let back = send(
        &app,
        post_form("/api/annotate/home", "pid=PROLIFIC-7", Some(&cookie)),
    )
    .await;
    assert_eq!(back.json()["annotator"]["user_id"], id);
    // Someone else sending the id is not that annotator: the id is not a password.
    let again = send(
        &app,
        post_form("/api/annotate/home", "pid=PROLIFIC-7", None),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_ne!(again.json()["annotator"]["user_id"], id);
    assert!(again.json()["annotator"]["external_id"].is_null());
    // A session that has an annotator keeps it: a link cannot plant an id on it.
    let plain = send(&app, post_form("/api/annotate/home", "", None)).await;
    let plain_id = plain.json()["annotator"]["user_id"].clone();
    assert_ne!(plain_id, id);
    let planted = send(
        &app,
        post_form(
            "/api/annotate/home",
            "pid=ATTACKER-1",
            Some(&plain.session_cookie().unwrap()),
        ),
    )
    .await;
    assert_eq!(planted.json()["annotator"]["user_id"], plain_id);
    assert!(planted.json()["annotator"]["external_id"].is_null());
    let holders: i64 =
        sqlx::query_scalar("select count(*) from app_user where external_id = 'ATTACKER-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(holders, 0);
}

async fn seed_votes(pool: &sqlx::PgPool) {
    sqlx::query(
        "insert into model (name, kind) values ('alpha', 'dataset'), ('beta', 'dataset'), \
         ('gamma', 'dataset')",
    )
    .execute(pool)
    .await
    .unwrap();
    // alpha > beta > gamma, with ties and some upsets; a few LLM-judge votes.
    let plan = [
        ("alpha", "beta", "a", 30),
        ("alpha", "beta", "b", 12),
        ("alpha", "beta", "tie", 8),
        ("beta", "gamma", "a", 28),
        ("beta", "gamma", "b", 10),
        ("beta", "gamma", "both_bad", 6),
        ("gamma", "alpha", "a", 7),
        ("gamma", "alpha", "b", 33),
    ];
    let mut tx = pool.begin().await.unwrap();
    for (a, b, winner, n) in plan {
        for _ in 0..n {
            sqlx::query(
                "insert into vote (source, model_a_id, model_b_id, winner) \
                 select 'human', ma.model_id, mb.model_id, $3 from model ma, model mb \
                 where ma.name = $1 and mb.name = $2",
            )
            .bind(a)
            .bind(b)
            .bind(winner)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    sqlx::query(
        "insert into vote (source, model_a_id, model_b_id, winner) \
         select 'llm_judge', ma.model_id, mb.model_id, 'a' from model ma, model mb \
         where ma.name = 'gamma' and mb.name = 'alpha'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn leaderboard_weights_votes_by_annotator_reliability(pool: sqlx::PgPool) {
    seed_votes(&pool).await;
    // A careful annotator who agrees with the seeded order whichever side a model is shown
    // on, and one who always picks the right-hand side (half their votes wrong).
    let careful = [
        ("alpha", "gamma", "a", 40),
        ("gamma", "alpha", "b", 40),
        ("beta", "gamma", "a", 30),
        ("gamma", "beta", "b", 30),
        ("alpha", "beta", "a", 30),
        ("beta", "alpha", "b", 30),
    ];
    let right_clicker = [
        ("alpha", "gamma", "b", 30),
        ("gamma", "alpha", "b", 30),
        ("beta", "gamma", "b", 20),
        ("gamma", "beta", "b", 20),
    ];
    let mut tx = pool.begin().await.unwrap();
    for (who, plan) in [
        ("careful", &careful[..]),
        ("right-clicker", &right_clicker[..]),
    ] {
        let (user,): (i64,) = sqlx::query_as(
            "insert into app_user (role, username) values ('annotator', $1) returning user_id",
        )
        .bind(who)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        for &(a, b, winner, n) in plan {
            for _ in 0..n {
                sqlx::query(
                    "insert into vote (source, annotator_id, model_a_id, model_b_id, winner, \
                     a_was_left) select 'human', $4, ma.model_id, mb.model_id, $3, true \
                     from model ma, model mb where ma.name = $1 and mb.name = $2",
                )
                .bind(a)
                .bind(b)
                .bind(winner)
                .bind(user)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
    }
    tx.commit().await.unwrap();
    let app = router(&pool);
    let gap = |v: &serde_json::Value| {
        let rating = |m: &str| {
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["model"] == m)
                .unwrap()["rating"]
                .as_f64()
                .unwrap()
        };
        rating("alpha") - rating("gamma")
    };
    let plain = send(&app, get("/api/v1/leaderboard", None)).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    let plain = plain.json();
    assert!(plain["annotator_weights"].as_array().unwrap().is_empty());
    let weighted = send(
        &app,
        get("/api/v1/leaderboard?weight_annotators=true", None),
    )
    .await;
    assert_eq!(weighted.status, StatusCode::OK, "{}", weighted.body);
    let w = weighted.json();
    let weights = w["annotator_weights"].as_array().unwrap();
    assert_eq!(weights.len(), 2, "{weights:?}");
    // Least reliable first, with the votes they cast in the slice.
    assert_eq!(weights[0]["annotator"], "right-clicker");
    assert_eq!(weights[0]["votes"], 100);
    assert_eq!(weights[1]["annotator"], "careful");
    let (low, high) = (
        weights[0]["weight"].as_f64().unwrap(),
        weights[1]["weight"].as_f64().unwrap(),
    );
    assert!(low < 0.5 && high > low + 0.3, "{weights:?}");
    // The right-clicker's votes for gamma count for less: alpha's lead over gamma grows.
    assert!(
        gap(&w) > gap(&plain) + 10.0,
        "{} vs {}",
        gap(&w),
        gap(&plain)
    );
    assert_eq!(w["total_votes"], plain["total_votes"]);
    let both = send(
        &app,
        get(
            "/api/v1/leaderboard?weight_annotators=true&ci=bootstrap",
            None,
        ),
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert!(both.body.contains("sandwich"), "{}", both.body);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn arena_battles_are_reweighted_by_default(pool: sqlx::PgPool) {
    seed_votes(&pool).await;
    let app = router(&pool);
    let board = |query: &'static str| {
        let app = app.clone();
        async move {
            let reply = send(&app, get(&format!("/api/v1/leaderboard{query}"), None)).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
            reply.json()
        }
    };
    // No arena battles yet: the plain fit, unless reweighting is asked for.
    assert_eq!(board("").await["reweighted"], false);
    assert_eq!(board("?reweight=true").await["reweighted"], true);
    // 60 arena battles of alpha and beta, whose pair the arena's sampler chose often: the
    // board now reweights by default, and `reweight=false` turns it off.
    let arena = db::arena::project(&pool).await.unwrap();
    sqlx::query(
        "insert into vote (project_id, source, model_a_id, model_b_id, winner) \
         select $1, 'human', ma.model_id, mb.model_id, case when k % 3 = 0 then 'b' else 'a' end \
         from model ma, model mb, generate_series(1, 60) k \
         where ma.name = 'alpha' and mb.name = 'beta'",
    )
    .bind(arena)
    .execute(&pool)
    .await
    .unwrap();
    let auto = board("").await;
    let plain = board("?reweight=false").await;
    assert_eq!(
        (auto["reweighted"].as_bool(), plain["reweighted"].as_bool()),
        (Some(true), Some(false))
    );
    // alpha–beta now has 110 votes, the other pairs 44 and 40 (under the floor of 50): each
    // of its votes weighs less than theirs, which moves alpha's lead over beta.
    let gap = |v: &serde_json::Value| {
        let rating = |name: &str| {
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["model"] == name)
                .unwrap()["rating"]
                .as_f64()
                .unwrap()
        };
        rating("alpha") - rating("beta")
    };
    assert!(
        (gap(&auto) - gap(&plain)).abs() > 1.0,
        "{} vs {}",
        gap(&auto),
        gap(&plain)
    );
    // Options that take plain votes stay plain, and the slice of a project without arena
    // battles too.
    assert_eq!(
        board("?style_control=false&audit=true").await["reweighted"],
        false
    );
    assert_eq!(board("?tie_model=davidson").await["reweighted"], false);
    assert_eq!(board("?source=llm_judge").await["reweighted"], false);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn leaderboard_api_ranks_models_with_intervals(pool: sqlx::PgPool) {
    seed_votes(&pool).await;
    let app = router(&pool);
    let reply = send(&app, get("/api/v1/leaderboard", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let v = reply.json();
    assert_eq!(v["total_votes"], 135);
    let names: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    let top = &v["rows"][0];
    assert!(top["lower"].as_f64().unwrap() < top["rating"].as_f64().unwrap());
    assert!(top["upper"].as_f64().unwrap() > top["rating"].as_f64().unwrap());
    assert_eq!(
        v["battles"][0][1], 42.0,
        "alpha-beta decided battles, ties excluded"
    );
    assert_eq!(v["rows"][2]["rank_ub"], 3);
    // Sandwich intervals by default; the rank spread starts at Rank (UB); 135 votes in all, so
    // every model is provisional.
    assert_eq!(v["ci"], "sandwich");
    assert_eq!(v["bootstrap_rounds"], 0);
    assert_eq!(v["rows"][2]["rank_spread"][0], 3);
    assert_eq!(v["rows"][0]["tier"], 1);
    assert_eq!(v["rows"][0]["provisional"], true);

    let boot = send(
        &app,
        get("/api/v1/leaderboard?ci=bootstrap&reweight=true", None),
    )
    .await;
    assert_eq!(boot.status, StatusCode::OK, "{}", boot.body);
    let b = boot.json();
    assert_eq!(
        (b["ci"].as_str(), b["reweighted"].as_bool()),
        (Some("bootstrap"), Some(true))
    );
    assert_eq!(b["bootstrap_rounds"], 100);
    assert!(b["rows"][0]["lower"].as_f64().unwrap() < b["rows"][0]["rating"].as_f64().unwrap());
    let dav = send(&app, get("/api/v1/leaderboard?tie_model=davidson", None)).await;
    assert_eq!(dav.status, StatusCode::OK, "{}", dav.body);
    let d = dav.json();
    assert_eq!(d["tie_model"], "davidson");
    assert!(
        d["tie_param"].as_f64().unwrap() > 0.0,
        "15 of the 135 votes are ties"
    );
    // Five models: the 6 "both bad" votes let the grounded one be scored too.
    assert_eq!(d["tie_model_scores"].as_array().unwrap().len(), 5);
    assert_eq!(d["rows"][0]["model"], "alpha");
    let grounded = send(
        &app,
        get("/api/v1/leaderboard?tie_model=grounded-rao-kupper", None),
    )
    .await;
    assert_eq!(grounded.status, StatusCode::OK, "{}", grounded.body);
    let g = grounded.json();
    assert_eq!(g["tie_model"], "grounded-rao-kupper");
    assert!(g["tie_param"].as_f64().unwrap() > 0.0, "8 plain ties");
    assert_eq!(g["rows"][0]["model"], "alpha");
    assert!(g["rows"][0]["lower"].as_f64().unwrap() < g["rows"][0]["rating"].as_f64().unwrap());
    let only_decided = send(
        &app,
        get(
            "/api/v1/leaderboard?tie_model=grounded-rao-kupper&exclude_ties=true",
            None,
        ),
    )
    .await;
    assert_eq!(only_decided.status, StatusCode::BAD_REQUEST);
    assert!(
        only_decided.body.contains("both bad"),
        "{}",
        only_decided.body
    );
    let mixed = send(
        &app,
        get("/api/v1/leaderboard?tie_model=davidson&ci=bootstrap", None),
    )
    .await;
    assert_eq!(mixed.status, StatusCode::BAD_REQUEST);
    assert!(mixed.body.contains("sandwich"), "{}", mixed.body);
    let audited = send(&app, get("/api/v1/leaderboard?audit=true", None)).await;
    assert_eq!(audited.status, StatusCode::OK, "{}", audited.body);
    let a = audited.json();
    assert!(
        a["rows"][0]["votes_to_flip"].as_u64().unwrap() >= 1,
        "{}",
        a["rows"][0]
    );
    assert!(
        a["rows"][2]["votes_to_flip"].is_null(),
        "the last row has no model below"
    );
    let bad_ci = send(&app, get("/api/v1/leaderboard?ci=jackknife", None)).await;
    assert_eq!(bad_ci.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_ci.body.contains("sandwich or bootstrap"),
        "{}",
        bad_ci.body
    );

    let human = send(
        &app,
        get("/api/v1/leaderboard?source=human&exclude_ties=true", None),
    )
    .await;
    assert_eq!(human.json()["total_votes"], 120);

    let csv = send(&app, get("/api/v1/leaderboard?format=csv", None)).await;
    assert!(csv.body.starts_with("rank_ub,model,rating"), "{}", csv.body);
    assert_eq!(csv.body.lines().count(), 4);

    let bad = send(&app, get("/api/v1/leaderboard?from=yesterday", None)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from")
    );

    let page = send(&app, get("/leaderboard", None)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Rank (UB)",
        "alpha",
        "gamma",
        "Win fraction",
        "95% CI",
        "Rank spread",
        "Tier",
        "sandwich intervals",
        "provisional",
    ] {
        assert!(page.body.contains(text), "page lacks {text}");
    }
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_cohort_slice_shows_how_the_cohort_differs_from_everyone_else(pool: sqlx::PgPool) {
    // Everyone else: alpha > beta > gamma. The `experts` cohort likes gamma much more.
    seed_votes(&pool).await;
    sqlx::query("insert into app_user (role, cohorts) values ('annotator', '{experts}')")
        .execute(&pool)
        .await
        .unwrap();
    let plan = [
        ("alpha", "beta", "a", 15),
        ("alpha", "beta", "b", 10),
        ("beta", "gamma", "a", 10),
        ("beta", "gamma", "b", 15),
        ("gamma", "alpha", "a", 30),
        ("gamma", "alpha", "b", 10),
    ];
    for (a, b, winner, n) in plan {
        sqlx::query(
            "insert into vote (source, annotator_id, model_a_id, model_b_id, winner) \
             select 'human', u.user_id, ma.model_id, mb.model_id, $3 \
             from model ma, model mb, app_user u, generate_series(1, $4) \
             where ma.name = $1 and mb.name = $2 and 'experts' = any(u.cohorts)",
        )
        .bind(a)
        .bind(b)
        .bind(winner)
        .bind(n)
        .execute(&pool)
        .await
        .unwrap();
    }
    let app = router(&pool);
    let reply = send(&app, get("/api/v1/leaderboard?cohort=experts", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let v = reply.json();
    assert_eq!(v["total_votes"], 90, "the cohort's votes only");
    let offset = |model: &str| {
        let row = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == model)
            .unwrap();
        row["cohort_offset"].clone()
    };
    let gamma = offset("gamma");
    assert!(gamma["offset"].as_f64().unwrap() > 100.0, "{gamma}");
    assert!(gamma["lower"].as_f64().unwrap() > 0.0, "{gamma}");
    assert!(gamma["p_value"].as_f64().unwrap() < 0.01, "{gamma}");
    assert!(offset("alpha")["offset"].as_f64().unwrap() < 0.0);
    // Without a cohort there is nothing to compare.
    let all = send(&app, get("/api/v1/leaderboard", None)).await.json();
    assert!(all["rows"][0]["cohort_offset"].is_null());
    let page = send(&app, get("/leaderboard?cohort=experts", None)).await;
    assert!(page.body.contains("Cohort vs others"), "{}", page.body);
}

/// Three models (alpha > beta > gamma), one item per battle: 90 items with a human vote and
/// the judge's, 900 with the judge's only. The judge agrees with the human on every shared
/// item, so PPI narrows the human-only intervals without moving the order.
async fn seed_human_and_judge_votes(pool: &sqlx::PgPool) {
    let script = [
        "insert into model (name, kind) values ('alpha', 'dataset'), ('beta', 'dataset'), \
         ('gamma', 'dataset')",
        "insert into project (name, protocol) values ('ppi', 'pairwise')",
        "insert into prompt (text, content_hash) values ('q', 'h')",
        "insert into item (project_id, prompt_id, external_key) \
         select 1, 1, k::text from generate_series(1, 990) k",
        // Item k: the pair (k mod 3); the stronger model wins unless k mod 5 = 0 (a tie when
        // also k mod 3 = 0).
        "create temporary table plan as \
         select i.item_id as k, \
                (array['alpha','beta','gamma'])[i.item_id % 3 + 1] as a, \
                (array['beta','gamma','alpha'])[i.item_id % 3 + 1] as b, \
                case when i.item_id % 15 = 0 then 'tie' \
                     when i.item_id % 5 = 0 then (array['b','b','a'])[i.item_id % 3 + 1] \
                     else (array['a','a','b'])[i.item_id % 3 + 1] end as winner \
         from item i",
        "insert into vote (project_id, item_id, source, model_a_id, model_b_id, winner) \
         select 1, p.k, s.source, ma.model_id, mb.model_id, p.winner \
         from plan p join model ma on ma.name = p.a join model mb on mb.name = p.b \
         cross join (values ('human'), ('llm_judge')) s(source) \
         where s.source = 'llm_judge' or p.k <= 90",
    ];
    // One connection: the plan is a temporary table.
    let mut conn = pool.acquire().await.unwrap();
    for sql in script {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn ppi_ratings_rest_on_human_votes_made_more_precise_by_the_judge(pool: sqlx::PgPool) {
    seed_human_and_judge_votes(&pool).await;
    let app = router(&pool);
    let ppi = send(&app, get("/api/v1/leaderboard?source=ppi", None)).await;
    assert_eq!(ppi.status, StatusCode::OK, "{}", ppi.body);
    let p = ppi.json();
    assert_eq!(p["ci"], "ppi");
    let note = p["note"].as_str().unwrap();
    assert!(
        note.contains("90 human votes paired") && note.contains("900 judge votes"),
        "{note}"
    );
    let human = send(&app, get("/api/v1/leaderboard?source=human", None))
        .await
        .json();
    let width = |v: &serde_json::Value, k: usize| {
        v["rows"][k]["upper"].as_f64().unwrap() - v["rows"][k]["lower"].as_f64().unwrap()
    };
    for k in 0..3 {
        assert_eq!(p["rows"][k]["model"], human["rows"][k]["model"]);
        assert!(
            width(&p, k) < 0.8 * width(&human, k),
            "row {k}: {} vs {}",
            width(&p, k),
            width(&human, k)
        );
    }
    assert_eq!(p["rows"][0]["model"], "alpha");
    let page = send(&app, get("/leaderboard?source=ppi", None)).await;
    assert!(
        page.body.contains("prediction-powered intervals"),
        "{}",
        page.body
    );

    let mixed = send(
        &app,
        get("/api/v1/leaderboard?source=ppi&ci=bootstrap", None),
    )
    .await;
    assert_eq!(mixed.status, StatusCode::BAD_REQUEST);
    let none = send(
        &app,
        get("/api/v1/leaderboard?source=ppi&category=none", None),
    )
    .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(none.body.contains("PPI needs"), "{}", none.body);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_sampler_picks_two_schedulable_models(pool: sqlx::PgPool) {
    let app = router(&pool);
    let cookie = annotator_cookie(&app).await;
    let none = send(&app, get("/api/v1/arena/next-pair", Some(&cookie))).await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.body);

    sqlx::query(
        "insert into model (name, kind, enabled, sampling_weight) values \
         ('m1', 'openai', true, 1), ('m2', 'openai', true, 2), ('m3', 'openai', true, 0), \
         ('m4', 'openai', false, 1), ('m5', 'local', true, 1), ('d1', 'dataset', true, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let reply = send(&app, get("/api/v1/arena/next-pair", Some(&cookie))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let v = reply.json();
        let (l, r) = (
            v["left"]["name"].as_str().unwrap().to_owned(),
            v["right"]["name"].as_str().unwrap().to_owned(),
        );
        assert_ne!(l, r);
        for name in [&l, &r] {
            assert!(
                ["m1", "m2", "m5"].contains(&name.as_str()),
                "{name} must not be scheduled"
            );
        }
        seen.insert(l);
    }
    assert!(
        seen.len() >= 2,
        "different models get the left side: {seen:?}"
    );
    let anonymous = send(&app, get("/api/v1/arena/next-pair", None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn style_control_uses_the_responses_style_counts(pool: sqlx::PgPool) {
    seed_votes(&pool).await;
    let app = router(&pool);
    let refused = send(&app, get("/api/v1/leaderboard?style_control=true", None)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("style counts"), "{}", refused.body);

    // 200 battles between alpha and beta; the longer answer wins 3 times in 4.
    sqlx::query("insert into prompt (text, content_hash) values ('q', 'h1')")
        .execute(&pool)
        .await
        .unwrap();
    for (model, tokens) in [("alpha", 600), ("beta", 100)] {
        sqlx::query(
            "insert into response (prompt_id, model_id, text, content_hash, metadata) \
             select p.prompt_id, m.model_id, 'text', md5('text'), jsonb_build_object('style', jsonb_build_object( \
               'tokens', $2::int, 'headers', 1, 'lists', 2, 'bold', 0)) \
             from prompt p, model m where m.name = $1",
        )
        .bind(model)
        .bind(tokens)
        .execute(&pool)
        .await
        .unwrap();
    }
    for k in 0..200 {
        let (a, b) = if k % 2 == 0 {
            ("alpha", "beta")
        } else {
            ("beta", "alpha")
        };
        let long_wins = k % 4 != 3;
        let a_is_long = a == "alpha";
        let winner = if long_wins == a_is_long { "a" } else { "b" };
        sqlx::query(
            "insert into vote (source, model_a_id, model_b_id, response_a_id, response_b_id, winner) \
             select 'human', ma.model_id, mb.model_id, ra.response_id, rb.response_id, $3 \
             from model ma join response ra on ra.model_id = ma.model_id, \
                  model mb join response rb on rb.model_id = mb.model_id \
             where ma.name = $1 and mb.name = $2",
        )
        .bind(a)
        .bind(b)
        .bind(winner)
        .execute(&pool)
        .await
        .unwrap();
    }
    let reply = send(&app, get("/api/v1/leaderboard?style_control=true", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let v = reply.json();
    assert_eq!(v["style_coefficients"][0][0], "length");
    assert!(v["style_coefficients"][0][1].as_f64().unwrap() > 0.0);
    assert!(
        v["note"].as_str().unwrap().contains("200 of"),
        "{}",
        v["note"]
    );
    let gamma = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "gamma")
        .unwrap();
    assert!(
        gamma["rating"].is_null(),
        "gamma has no votes with style counts"
    );
    assert_eq!(v["win_fraction"].as_array().unwrap().len(), 3);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn admins_set_sampling_weights(pool: sqlx::PgPool) {
    create_admin(&pool, "root", "correct horse").await;
    let (id,): (i64,) =
        sqlx::query_as("insert into model (name, kind) values ('m', 'openai') returning model_id")
            .fetch_one(&pool)
            .await
            .unwrap();
    let app = router(&pool);
    let annotator = annotator_cookie(&app).await;
    let path = format!("/api/v1/admin/models/{id}");
    let patch = |cookie: String, body: &'static str| {
        Request::patch(path.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap()
    };
    let refused = send(&app, patch(annotator, r#"{"sampling_weight":5}"#)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let admin = login(&app, "root", "correct%20horse")
        .await
        .session_cookie()
        .unwrap();
    let ok = send(
        &app,
        patch(admin.clone(), r#"{"sampling_weight":2.5,"enabled":false}"#),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        (
            ok.json()["sampling_weight"].as_f64(),
            ok.json()["enabled"].as_bool()
        ),
        (Some(2.5), Some(false))
    );
    let bad = send(&app, patch(admin.clone(), r#"{"sampling_weight":-1}"#)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A weight so large that the sampler's sums overflow would take the arena down.
    let huge = send(&app, patch(admin.clone(), r#"{"sampling_weight":1e200}"#)).await;
    assert_eq!(
        huge.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        huge.body
    );
    let listed = send(&app, get("/api/v1/admin/models", Some(&admin))).await;
    assert_eq!(listed.json()[0]["sampling_weight"], 2.5);

    // The admin page's form: a checked box sends `enabled=on`, an unchecked one nothing.
    let form = format!("model_id={id}&sampling_weight=0.5&enabled=on");
    let saved = send(
        &app,
        post_form("/api/admin/update_model", &form, Some(&admin)),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let m: (bool, f64) =
        sqlx::query_as("select enabled, sampling_weight from model where model_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(m, (true, 0.5));
    let annotator = annotator_cookie(&app).await;
    let refused = send(
        &app,
        post_form("/api/admin/update_model", &form, Some(&annotator)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_openapi_document_lists_the_routes(pool: sqlx::PgPool) {
    let app = router(&pool);
    let doc = send(&app, get("/api/v1/openapi.json", None)).await;
    assert_eq!(doc.status, StatusCode::OK);
    let v = doc.json();
    assert_eq!(v["openapi"], "3.1.0");
    let paths = v["paths"].as_object().unwrap();
    for path in [
        "/api/v1/leaderboard",
        "/api/v1/assignments/{id}/vote",
        "/api/v1/projects/{id}/assignments/next",
        "/api/v1/training-runs",
        "/api/v1/assignments/{id}/ratings",
        "/api/v1/projects/{id}/consistency",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    // Every documented GET without path parameters answers (not 404).
    for path in [
        "/api/v1/me",
        "/api/v1/leaderboard",
        "/api/v1/admin/users",
        "/api/v1/admin/models",
        "/api/v1/projects",
        "/api/v1/exports/votes",
        "/api/v1/exports/dpo",
        "/api/v1/exports/dpo/card",
        "/api/v1/exports/ratings",
        "/api/v1/exports/rankings",
        "/api/v1/training-runs",
    ] {
        assert!(paths.contains_key(path), "{path} not documented");
        assert_ne!(
            send(&app, get(path, None)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn exports_are_for_staff_in_every_format(pool: sqlx::PgPool) {
    seed_votes(&pool).await;
    let app = router(&pool);
    let annotator = annotator_cookie(&app).await;
    assert_eq!(
        send(&app, get("/api/v1/exports/votes", Some(&annotator)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, get("/api/v1/exports/votes", None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let projects = send(&app, get("/api/v1/projects", Some(&annotator))).await;
    assert_eq!(projects.status, StatusCode::OK);
    assert!(projects.json().is_array());

    create_admin(&pool, "root", "correct horse").await;
    let admin = login(&app, "root", "correct%20horse")
        .await
        .session_cookie()
        .unwrap();
    let jsonl = send(&app, get("/api/v1/exports/votes", Some(&admin))).await;
    assert_eq!(jsonl.status, StatusCode::OK, "{}", jsonl.body);
    assert_eq!(
        jsonl.body.lines().count(),
        135,
        "every seeded vote, one per line"
    );
    assert!(
        jsonl.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("verdict-votes-all.jsonl")
    );
    let csv = send(&app, get("/api/v1/exports/votes?format=csv", Some(&admin))).await;
    assert!(
        csv.body.starts_with("vote_id,project,item,prompt,model_a"),
        "{}",
        csv.body
    );
    assert_eq!(csv.body.lines().count(), 136);
    let parquet = app
        .clone()
        .oneshot(get("/api/v1/exports/votes?format=parquet", Some(&admin)))
        .await
        .unwrap();
    assert_eq!(parquet.status(), StatusCode::OK);
    let bytes = parquet.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
    let bad = send(&app, get("/api/v1/exports/dpo?format=xml", Some(&admin))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let card = send(&app, get("/api/v1/exports/dpo/card", Some(&admin))).await;
    assert_eq!(card.status, StatusCode::OK);
    assert!(card.body.contains("Pair-derivation policy") && card.body.contains("- Pairs: 0"));
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn admins_create_projects_from_chosen_models_and_version_guidelines(pool: sqlx::PgPool) {
    let mut tx = pool.begin().await.unwrap();
    let mut models = vec![];
    for m in ["m1", "m2", "m3"] {
        models.push(db::imports::model(&mut tx, m).await.unwrap());
    }
    let p = db::imports::prompt(&mut tx, "Say hi.", None).await.unwrap();
    for (k, m) in models.iter().enumerate() {
        db::imports::response(&mut tx, p, *m, &format!("hi {k}"), &serde_json::json!({}))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let app = router(&pool);
    create_admin(&pool, "root", "correct horse").await;
    let admin = login(&app, "root", "correct%20horse")
        .await
        .session_cookie()
        .unwrap();
    let settings = "settings%5Bguidelines%5D=Prefer%20facts.&settings%5Boverlap_target%5D=2\
                    &settings%5Brationale_mode%5D=required\
                    &settings%5Bstrength_scale%5D=slight_clear\
                    &settings%5Bassignment_ttl_seconds%5D=600";
    // Checkboxes arrive as models[i]=id, with gaps where boxes are unticked.
    let form = format!(
        "name=Hi&source_project=&models%5B0%5D={}&models%5B2%5D={}&{settings}",
        models[0], models[2]
    );
    let created = send(
        &app,
        post_form("/api/admin/create_project", &form, Some(&admin)),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body, "1", "m1 against m3 on one prompt");
    let again = send(
        &app,
        post_form("/api/admin/create_project", &form, Some(&admin)),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let one = format!("name=Solo&models%5B0%5D={}&{settings}", models[0]);
    let solo = send(
        &app,
        post_form("/api/admin/create_project", &one, Some(&admin)),
    )
    .await;
    assert_eq!(
        solo.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        solo.body
    );
    assert!(solo.body.contains("at least two models"), "{}", solo.body);

    let project = db::projects::list(&pool).await.unwrap().remove(0);
    assert_eq!(
        (
            project.overlap_target,
            project.rationale_mode.as_str(),
            project.strength_scale.as_str()
        ),
        (2, "required", "slight_clear")
    );
    let update = format!(
        "project_id={}&settings%5Bguidelines%5D=Prefer%20facts%2C%20then%20style.\
         &settings%5Boverlap_target%5D=4&settings%5Brationale_mode%5D=optional\
         &settings%5Bstrength_scale%5D=off&settings%5Bassignment_ttl_seconds%5D=600",
        project.project_id
    );
    let updated = send(
        &app,
        post_form("/api/admin/update_project", &update, Some(&admin)),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body, "2");
    let versions = db::projects::guideline_versions(&pool, project.project_id)
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].1, "Prefer facts.");

    let annotator = annotator_cookie(&app).await;
    let refused = send(
        &app,
        post_form("/api/admin/update_project", &update, Some(&annotator)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

/// A multipart form body: `(name, file name, content)` per field.
fn multipart(fields: &[(&str, Option<&str>, &[u8])], cookie: &str) -> Request<Body> {
    let boundary = "verdict-test-boundary";
    let mut body = Vec::new();
    for (name, file, content) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Request::post("/api/data/import")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::ACCEPT, "application/json")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[sqlx::test(migrator = "db::MIGRATOR")]
async fn admins_upload_imports_with_a_preview_first(pool: sqlx::PgPool) {
    let pandalm = std::fs::read(testdata::path("pandalm/testset-v1.json")).unwrap();
    let app = router(&pool);
    create_admin(&pool, "root", "correct horse").await;
    let admin = login(&app, "root", "correct%20horse")
        .await
        .session_cookie()
        .unwrap();
    let items = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from item")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let form = |dry: &'static [u8]| {
        vec![
            ("kind", None, &b"pandalm"[..]),
            ("project", None, &b"Panda"[..]),
            ("dry_run", None, dry),
            ("file", Some("testset-v1.json"), &pandalm[..]),
        ]
    };
    let preview = send(&app, multipart(&form(b"true"), &admin)).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let p = preview.json();
    assert_eq!(
        (p["dry_run"].as_bool(), p["new_items"].as_u64()),
        (Some(true), Some(999))
    );
    assert_eq!(p["new_votes"], 2997);
    assert_eq!(p["rows"].as_array().unwrap().len(), 5);
    assert!(
        p["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "cmp_key")
    );
    assert_eq!(items().await, 0, "a preview writes nothing");

    let done = send(&app, multipart(&form(b"false"), &admin)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.json()["new_items"], 999);
    assert_eq!(items().await, 999);
    let again = send(&app, multipart(&form(b"false"), &admin)).await;
    assert_eq!(
        (
            again.json()["new_items"].as_u64(),
            again.json()["new_votes"].as_u64()
        ),
        (Some(0), Some(0))
    );

    let bad = b"{\"prompt\": \"hi\", \"responses\": [{\"model\": \"m\", \"text\": \"a\"}, {\"model\": \"n\"}]}\n";
    let refused = send(
        &app,
        multipart(
            &[
                ("kind", None, b"jsonl"),
                ("project", None, b"G"),
                ("file", Some("items.jsonl"), bad),
            ],
            &admin,
        ),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let message = refused.body;
    assert!(
        message.contains("items.jsonl") && message.contains("line 1"),
        "{message}"
    );
    assert!(!message.contains("/tmp"), "{message}");

    let annotator = annotator_cookie(&app).await;
    let forbidden = send(&app, multipart(&form(b"true"), &annotator)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn admins_register_local_models_by_folder(pool: sqlx::PgPool) {
    let app = router(&pool);
    create_admin(&pool, "root", "correct horse").await;
    let admin = login(&app, "root", "correct%20horse")
        .await
        .session_cookie()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    trainer::tiny::init_tiny(dir.path(), &trainer::tiny::TinySpec::default()).unwrap();
    let form = format!("name=tiny&path={}", dir.path().display());
    let ok = send(
        &app,
        post_form("/api/admin/register_local_model", &form, Some(&admin)),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let (kind, config): (String, serde_json::Value) =
        sqlx::query_as("select kind, config from model where name = 'tiny'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(kind, "local");
    assert_eq!(config["path"], dir.path().display().to_string());
    let missing = send(
        &app,
        post_form(
            "/api/admin/register_local_model",
            "name=ghost&path=/nonexistent",
            Some(&admin),
        ),
    )
    .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.body
    );
    assert!(missing.body.contains("no config.json"), "{}", missing.body);
    let again = send(
        &app,
        post_form("/api/admin/register_local_model", &form, Some(&admin)),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn researchers_open_the_training_page_without_the_launch_form(pool: sqlx::PgPool) {
    let hash = service::users::hash_password("reader-password".to_owned())
        .await
        .unwrap();
    db::users::create_with_password(&pool, "reader", db::users::Role::Researcher, &hash)
        .await
        .unwrap();
    let app = router(&pool);
    let cookie = login(&app, "reader", "reader-password")
        .await
        .session_cookie()
        .unwrap();
    // Researchers watch runs: the page is theirs (200), only the launch form is not.
    let page = send(&app, get("/training", Some(&cookie))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Only admins launch runs."),
        "{}",
        page.body
    );
    let options = send(&app, post_form("/api/training/options", "", Some(&cookie))).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    assert_eq!(options.body.trim(), "null");
    // Annotators get neither.
    let annotator = annotator_cookie(&app).await;
    let page = send(&app, get("/training", Some(&annotator))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let options = send(
        &app,
        post_form("/api/training/options", "", Some(&annotator)),
    )
    .await;
    assert_eq!(options.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn metrics_count_requests_votes_and_training_runs(pool: sqlx::PgPool) {
    seed_votes(&pool).await;
    let app = router(&pool);
    let board = send(&app, get("/api/v1/leaderboard", None)).await;
    assert_eq!(board.status, StatusCode::OK);
    let missing = send(&app, get("/api/v1/no-such-route", None)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let reply = send(&app, get("/metrics", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let text = &reply.body;
    let votes: i64 = sqlx::query_scalar("select count(*) from vote where source = 'human'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(votes > 0);
    assert!(
        text.contains(&format!("verdict_votes{{source=\"human\"}} {votes}")),
        "{text}"
    );
    // Both requests above are in the histogram (other tests add to it too: at least one each).
    for series in [
        "route=\"rest\",status=\"2xx\"",
        "route=\"rest\",status=\"4xx\"",
    ] {
        let count = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "verdict_http_request_duration_seconds_count{{{series}}} "
                ))
            })
            .unwrap_or_else(|| panic!("no {series} in {text}"));
        assert!(count.parse::<u64>().unwrap() >= 1, "{series}: {count}");
    }
    assert!(text.contains("# TYPE verdict_http_request_duration_seconds histogram"));
    assert!(text.contains("verdict_generation_pieces_total{kind=\"local\"}"));
    assert!(text.contains("# TYPE verdict_training_runs gauge"));
}
