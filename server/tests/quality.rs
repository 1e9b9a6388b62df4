//! Ratings and rankings through the API (with their bad inputs), and the agreement and
//! consistency reports on the PandaLM import, on a fresh database per test.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

async fn import_pandalm(pool: &sqlx::PgPool) -> i64 {
    verdict_server::cli::import::pandalm(
        pool,
        &testdata::path("pandalm/testset-v1.json"),
        Some(&testdata::path("pandalm/gpt-3.5-turbo-testset-v1.json")),
        "PandaLM",
        false,
    )
    .await
    .expect("PandaLM imports");
    let (id,): (i64,) = sqlx::query_as("select project_id from project where name = 'PandaLM'")
        .fetch_one(pool)
        .await
        .unwrap();
    id
}

async fn researcher(app: &axum::Router, pool: &sqlx::PgPool) -> String {
    create_admin(pool, "boss", "boss-password").await;
    login(app, "boss", "boss-password")
        .await
        .session_cookie()
        .unwrap()
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[sqlx::test(migrator = "db::MIGRATOR")]
async fn agreement_on_the_pandalm_import_equals_the_references(pool: sqlx::PgPool) {
    let project = import_pandalm(&pool).await;
    let app = router(&pool);
    let cookie = researcher(&app, &pool).await;
    let reply = send(
        &app,
        get(
            &format!("/api/v1/projects/{project}/agreement"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let r = reply.json();
    // The numbers of crates/ranking/tests/agreement_pandalm.rs (scikit-learn, statsmodels,
    // krippendorff), now computed from the database.
    let v = &r["votes"];
    assert_eq!(v["judgements"], 2997);
    assert_eq!(
        (v["fleiss_raters"].as_u64(), v["fleiss_units"].as_u64()),
        (Some(3), Some(999))
    );
    close(&v["fleiss_kappa"], 0.864_175_364_997_549);
    close(&v["alpha_nominal"], 0.864_220_685_196_081_6);
    let kappa = |a: &str, b: &str| {
        v["cohen"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["a"] == a && p["b"] == b)
            .unwrap_or_else(|| panic!("no pair {a} {b}: {v}"))["kappa"]
            .clone()
    };
    close(
        &kappa("pandalm:annotator1", "pandalm:annotator2"),
        0.852_022_678_516_702_4,
    );
    close(
        &kappa("pandalm:annotator1", "pandalm:annotator3"),
        0.878_943_811_250_038_4,
    );
    close(
        &kappa("pandalm:annotator2", "pandalm:annotator3"),
        0.861_661_454_076_290_7,
    );
    // GPT-3.5 against the human majority, on the 974 items it gave a verdict for (items whose
    // three humans split three ways have no majority and are left out).
    let judge = &r["llm_judge"];
    assert!(judge["items"].as_u64().unwrap() > 900, "{judge}");
    assert!(judge["kappa"].as_f64().unwrap() > 0.0);
    // One row per human annotator, the judge not among them.
    let names: Vec<&str> = r["annotators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "pandalm:annotator1",
            "pandalm:annotator2",
            "pandalm:annotator3"
        ]
    );
    for a in r["annotators"].as_array().unwrap() {
        assert_eq!(a["judgements"], 999);
        assert!(a["loo_agreement"].as_f64().unwrap() > 0.8, "{a}");
    }
}

async fn item_responses(pool: &sqlx::PgPool, project: i64, key: &str) -> (i64, i64, i64) {
    sqlx::query_as(
        "select i.item_id, \
                (select response_id from item_response where item_id = i.item_id and position = 0), \
                (select response_id from item_response where item_id = i.item_id and position = 1) \
         from item i where i.project_id = $1 and i.external_key = $2",
    )
    .bind(project)
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn user(pool: &sqlx::PgPool, name: &str) -> i64 {
    let existing: Option<(i64,)> =
        sqlx::query_as("select user_id from app_user where external_id = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .unwrap();
    if let Some((id,)) = existing {
        return id;
    }
    let (id,): (i64,) = sqlx::query_as(
        "insert into app_user (role, external_id) values ('annotator', $1) returning user_id",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap();
    id
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[sqlx::test(migrator = "db::MIGRATOR")]
async fn consistency_on_pandalm_with_seeded_ratings_and_rankings(pool: sqlx::PgPool) {
    let project = import_pandalm(&pool).await;
    // PandaLM's first items: all three humans chose the second response for idx 0 and 2, the
    // first for idx 1 and 3.
    let a1 = user(&pool, "pandalm:annotator1").await;
    let a2 = user(&pool, "pandalm:annotator2").await;
    let rater = user(&pool, "rater-b").await;
    let rate = |who: i64, key: &'static str, first: i32, second: i32| {
        let pool = pool.clone();
        async move {
            let (item, r1, r2) = item_responses(&pool, project, key).await;
            sqlx::query(
                "insert into rating (project_id, item_id, annotator_id, response_id, criterion, score) \
                 values ($1, $2, $3, $4, 'Overall quality', $5), ($1, $2, $3, $6, 'Overall quality', $7)",
            )
            .bind(project)
            .bind(item)
            .bind(who)
            .bind(r1)
            .bind(first)
            .bind(r2)
            .bind(second)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    // annotator1 (who voted): idx0 3<6 agrees (second), idx1 5>2 agrees (first),
    // idx2 6>2 disagrees (voted second), idx3 4=4 is a rating tie against a choice.
    rate(a1, "0", 3, 6).await;
    rate(a1, "1", 5, 2).await;
    rate(a1, "2", 6, 2).await;
    rate(a1, "3", 4, 4).await;
    // A rater who did not vote: only the across-annotator comparison sees them.
    rate(rater, "0", 7, 1).await;
    rate(rater, "1", 1, 7).await;
    rate(rater, "2", 2, 2).await;
    // annotator2 ranks idx0 (second first: agrees with their vote) and ties idx1.
    for (key, groups) in [("0", "second-first"), ("1", "tie")] {
        let (item, r1, r2) = item_responses(&pool, project, key).await;
        let groups = if groups == "tie" {
            json!([[r1, r2]])
        } else {
            json!([[r2], [r1]])
        };
        sqlx::query("insert into ranking (project_id, item_id, annotator_id, tie_groups) values ($1, $2, $3, $4)")
            .bind(project)
            .bind(item)
            .bind(a2)
            .bind(groups)
            .execute(&pool)
            .await
            .unwrap();
    }

    let app = router(&pool);
    let cookie = researcher(&app, &pool).await;
    let reply = send(
        &app,
        get(
            &format!("/api/v1/projects/{project}/consistency"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let r = reply.json();
    assert_eq!(r["criterion"], "Overall quality");
    let counts = |k: &str| {
        let c = &r[k];
        [
            "pairs",
            "agree",
            "disagree",
            "order_tie",
            "choice_tie",
            "both_tie",
        ]
        .map(|f| c[f].as_u64().unwrap())
    };
    // By hand: same annotator 4 pairs: 2 agree, 1 disagrees, 1 rating tie → 1/3 disagree.
    assert_eq!(
        counts("rating_vs_choice_same_annotator"),
        [4, 2, 1, 1, 0, 0]
    );
    close(&r["disagreement"][0], 1.0 / 3.0);
    // Across annotators (mean of both raters vs the 3-0 majorities): idx0 5 vs 3.5 → first,
    // majority second: disagree; idx1 3 vs 4.5 → second, majority first: disagree; idx2 4 vs 2
    // → first, majority second: disagree; idx3 4 vs 4: a rating tie.
    assert_eq!(
        counts("rating_vs_choice_across_annotators"),
        [4, 0, 3, 1, 0, 0]
    );
    close(&r["disagreement"][1], 1.0);
    // Rankings: annotator2's idx0 order agrees with their vote; idx1 is a ranking tie.
    assert_eq!(
        counts("ranking_vs_choice_same_annotator"),
        [2, 1, 0, 1, 0, 0]
    );
    assert_eq!(
        counts("ranking_vs_choice_across_annotators"),
        [2, 1, 0, 1, 0, 0]
    );

    // The command line gives the same report.
    let db_name = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    let url = format!("{}/{db_name}", base.rsplit_once('/').unwrap().0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "--database-url",
            &url,
            "analyze",
            "consistency",
            "--project",
            "PandaLM",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli, r);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "--database-url",
            &url,
            "analyze",
            "agreement",
            "--project",
            "PandaLM",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agreement: Value = serde_json::from_slice(&out.stdout).unwrap();
    close(
        &agreement["votes"]["alpha_nominal"],
        0.864_220_685_196_081_6,
    );
    // Ratings by two raters on idx0..2 give per-criterion coefficients and distributions.
    assert_eq!(agreement["ratings"][0][0], "Overall quality");
    assert!(!agreement["distributions"].as_array().unwrap().is_empty());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "--database-url",
            &url,
            "analyze",
            "consistency",
            "--project",
            "Nope",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no project named \"Nope\""));
}

/// A rating project (two writers, default 1–7 "Overall quality") and a ranking project (three
/// writers) over the same three prompts.
async fn small_projects(pool: &sqlx::PgPool) -> (i64, i64) {
    let mut models = Vec::new();
    for m in ["w1", "w2", "w3"] {
        let (id,): (i64,) = sqlx::query_as(
            "insert into model (name, kind) values ($1, 'dataset') returning model_id",
        )
        .bind(m)
        .fetch_one(pool)
        .await
        .unwrap();
        models.push(id);
    }
    for p in ["p1", "p2", "p3"] {
        let (pid,): (i64,) = sqlx::query_as(
            "insert into prompt (text, content_hash) values ($1, md5($1)) returning prompt_id",
        )
        .bind(p)
        .fetch_one(pool)
        .await
        .unwrap();
        for m in &models {
            sqlx::query("insert into response (prompt_id, model_id, text, content_hash) values ($1, $2, $3, md5($3))")
                .bind(pid)
                .bind(m)
                .bind(format!("{p} by {m}"))
                .execute(pool)
                .await
                .unwrap();
        }
    }
    let settings = db::projects::ProjectSettings::default();
    let rating_models = [models[0], models[1]];
    let (rating, n) = db::projects::create(
        pool,
        &db::projects::NewProject {
            name: "Rated",
            protocol: "rating",
            config: &json!({"with_choice": true}),
            settings: &settings,
            source_project: None,
            models: &rating_models,
            created_by: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(n, 3, "one item per prompt for the pair of models");
    let (ranking, n) = db::projects::create(
        pool,
        &db::projects::NewProject {
            name: "Ranked",
            protocol: "ranking",
            config: &json!({}),
            settings: &settings,
            source_project: None,
            models: &models,
            created_by: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(n, 3);
    (rating, ranking)
}

async fn next(app: &axum::Router, project: i64, cookie: &str) -> Value {
    let reply = send(
        app,
        post_json(
            &format!("/api/v1/projects/{project}/assignments/next"),
            "",
            Some(cookie),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn ratings_and_rankings_are_checked_and_recorded_once(pool: sqlx::PgPool) {
    let (rating, ranking) = small_projects(&pool).await;
    let app = router(&pool);
    let cookie = annotator_cookie(&app).await;

    // Rating with a choice (mixed design): two responses, one criterion.
    let issued = next(&app, rating, &cookie).await;
    let id = issued["assignment_id"].as_i64().unwrap();
    let shown: Vec<i64> = issued["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    assert_eq!(shown.len(), 2);
    let url = format!("/api/v1/assignments/{id}/ratings");
    let body = |scores: Value, choice: Value| {
        json!({"scores": scores, "choice": choice, "time_ms": 4321}).to_string()
    };
    let s =
        |r: i64, v: Value| json!({"response_id": r, "criterion": "Overall quality", "score": v});
    let bad = [
        (body(json!([s(shown[0], json!(8)), s(shown[1], json!(2))]), json!("left")), "scores[0].score: 8 is outside"),
        (body(json!([s(shown[0], json!(3)), s(999_999, json!(2))]), json!("left")), "scores[1].response_id: response 999999 is not in this item"),
        (body(json!([s(shown[0], json!(3))]), json!("left")), "has no Overall quality score"),
        (body(json!([s(shown[0], json!(3)), s(shown[1], Value::Null)]), json!("left")), "no N/A"),
        (body(json!([s(shown[0], json!(3)), s(shown[1], json!(2))]), Value::Null), "choice:"),
        (json!({"scores": [{"response_id": shown[0], "criterion": "Wit", "score": 3}, s(shown[1], json!(2))], "choice": "left"}).to_string(), "scores[0].criterion"),
    ];
    for (b, message) in bad {
        let reply = send(&app, post_json(&url, &b, Some(&cookie))).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            reply.body
        );
        assert!(reply.body.contains(message), "{b}: {}", reply.body);
    }
    let (n,): (i64,) = sqlx::query_as("select count(*) from rating")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing stored by a refused submission");
    let good = body(
        json!([s(shown[0], json!(6)), s(shown[1], json!(2))]),
        json!("left"),
    );
    assert_eq!(
        send(&app, post_json(&url, &good, Some(&cookie)))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        send(&app, post_json(&url, &good, Some(&cookie)))
            .await
            .status,
        StatusCode::OK
    );
    let rows: Vec<(i64, Option<i32>, Option<i32>)> =
        sqlx::query_as("select response_id, score, time_ms from rating order by response_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.2 == Some(4321)));
    // The choice became a vote on the same item: the left (first shown) response won.
    let (winner, a_was_left, first): (String, bool, i64) = sqlx::query_as(
        "select v.winner, v.a_was_left, v.response_a_id from vote v where v.assignment_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(a_was_left, shown[0] == first);
    assert_eq!(winner, if a_was_left { "a" } else { "b" });

    // Ranking: three responses, ties allowed.
    let issued = next(&app, ranking, &cookie).await;
    let id = issued["assignment_id"].as_i64().unwrap();
    let shown: Vec<i64> = issued["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    assert_eq!(shown.len(), 3);
    let url = format!("/api/v1/assignments/{id}/ranking");
    let rank = |groups: Value| {
        json!({"groups": groups, "none_acceptable": false, "time_ms": 900}).to_string()
    };
    let bad = [
        (
            rank(json!([[shown[0]], [shown[1]]])),
            format!("groups: response {} is missing", shown[2]),
        ),
        (
            rank(json!([[shown[0], shown[1]], [shown[1], shown[2]]])),
            format!("groups[1]: response {} appears twice", shown[1]),
        ),
        (
            rank(json!([[shown[0]], [shown[1], shown[2], 424_242]])),
            "groups[1]: response 424242 is not in this item".to_owned(),
        ),
        (
            rank(json!([[shown[0]], [], [shown[1], shown[2]]])),
            "groups[1]: empty".to_owned(),
        ),
    ];
    for (b, message) in bad {
        let reply = send(&app, post_json(&url, &b, Some(&cookie))).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            reply.body
        );
        assert!(reply.body.contains(&message), "{b}: {}", reply.body);
    }
    let good = rank(json!([[shown[2]], [shown[0], shown[1]]]));
    assert_eq!(
        send(&app, post_json(&url, &good, Some(&cookie)))
            .await
            .status,
        StatusCode::CREATED
    );
    let (groups, order, time): (Value, Vec<i64>, Option<i32>) = sqlx::query_as(
        "select k.tie_groups, a.display_order, k.time_ms from ranking k join assignment a using (assignment_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(groups, json!([[shown[2]], [shown[0], shown[1]]]));
    assert_eq!(
        order, shown,
        "the initial order shown is kept with the assignment"
    );
    assert_eq!(time, Some(900));
    // A rating body sent to a ranking assignment is refused.
    let reply = send(
        &app,
        post_json(
            &format!("/api/v1/assignments/{id}/ratings"),
            &body(json!([]), Value::Null),
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
async fn gold_items_come_as_attention_checks_and_are_scored_silently(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("items.jsonl");
    let line = |k: usize, gold: &str| {
        format!(
            r#"{{"id": "i{k}", "prompt": "Question {k}?", "responses": [{{"model": "good", "text": "Right {k}."}}, {{"model": "bad", "text": "Wrong {k}."}}]{gold}}}"#
        )
    };
    // Two gold items among five, so that one is still left when the attention check is due
    // even if the other came up by chance first.
    let lines = [
        line(1, ""),
        line(2, ""),
        line(3, ""),
        line(4, r#", "gold": "a""#),
        line(6, r#", "gold": "a""#),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    verdict_server::cli::import::jsonl(&pool, &file, "Checked", false)
        .await
        .unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, line(5, r#", "gold": "left""#)).unwrap();
    let err = verdict_server::cli::import::jsonl(&pool, &bad, "Checked", false)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("line 1: field `gold` is \"left\""),
        "{err:#}"
    );
    let (project,): (i64,) =
        sqlx::query_as("select project_id from project where name = 'Checked'")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query(r#"update project set config = '{"qc": {"attention_every": 2, "min_gold_accuracy": 0.5}}' where project_id = $1"#)
        .bind(project)
        .execute(&pool)
        .await
        .unwrap();
    let app = router(&pool);
    let cookie = annotator_cookie(&app).await;
    // Every second assignment is a gold item (an attention check), shown like any other.
    let mut gold_at = Vec::new();
    for k in 1..=5 {
        let issued = next(&app, project, &cookie).await;
        let prompt = issued["prompt"].as_str().unwrap().to_owned();
        if prompt == "Question 4?" || prompt == "Question 6?" {
            gold_at.push(k);
        }
        assert!(
            issued.get("gold").is_none() && !issued.to_string().contains("is_gold"),
            "{issued}"
        );
        // Always pick the response shown on the right.
        let id = issued["assignment_id"].as_i64().unwrap();
        let reply = send(
            &app,
            post_json(
                &format!("/api/v1/assignments/{id}/vote"),
                r#"{"choice": "right"}"#,
                Some(&cookie),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    assert!(gold_at.contains(&2), "gold items came at {gold_at:?}");
    assert_eq!(gold_at.len(), 2);
    let staff = researcher(&app, &pool).await;
    let report = send(
        &app,
        get(
            &format!("/api/v1/projects/{project}/agreement"),
            Some(&staff),
        ),
    )
    .await
    .json();
    let me = &report["annotators"][0];
    assert_eq!(me["gold_items"], 2);
    // Right was "good" (the gold answer) only where it was shown on the right.
    let correct: Vec<(bool,)> = sqlx::query_as(
        "select not v.a_was_left from vote v join item i using (item_id) where i.is_gold",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let accuracy = correct.iter().filter(|c| c.0).count() as f64 / 2.0;
    assert_eq!(me["gold_accuracy"].as_f64(), Some(accuracy));
    assert_eq!(
        me["flags"].as_array().unwrap().is_empty(),
        accuracy >= 0.5,
        "{me}"
    );
    // NoisyBT: an annotator who always picked the right side can only be estimated to lean
    // right, whatever share of those picks it puts down to skill.
    let skill = me["skill"].as_f64().expect("NoisyBT skill");
    assert!(skill > 0.0 && skill < 1.0, "{me}");
    assert!(me["side_bias"].as_f64().expect("side bias") < 0.5, "{me}");
}
