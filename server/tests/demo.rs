//! `verdict demo` on a fresh database: a project of each protocol over the stored answers,
//! simulated annotators whose judgements fill the leaderboard and quality reports, loading
//! twice changes nothing, and the tiny model's training run puts its child in the arena.

use serde_json::Value;

fn url(pool: &sqlx::PgPool) -> String {
    let db_name = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    format!("{}/{db_name}", base.rsplit_once('/').unwrap().0)
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_demo_fills_every_protocol_once(pool: sqlx::PgPool) {
    let report = service::demo::load(&pool).await.unwrap();
    assert!(report.created);
    assert_eq!(report.prompts, 16);
    assert_eq!(
        report.models,
        ["smollm2-135m-instruct", "smollm2-135m-warm", "tiny-demo"]
    );
    // 16 prompts: 3 pairs each for the pairwise project, one form of three answers otherwise.
    let items: Vec<usize> = report.projects.iter().map(|(_, n)| *n).collect();
    assert_eq!(items, [48, 16, 16], "{:?}", report.projects);
    // Every simulated annotator sees every rating and ranking item once.
    assert_eq!(report.ratings, 8 * 16);
    assert_eq!(report.rankings, 8 * 16);
    assert!(
        report.votes > 200 && report.votes < 8 * 48,
        "{}",
        report.votes
    );
    assert_eq!(
        count(&pool, "select count(*) from vote where source <> 'import'").await,
        0,
        "simulated votes are never counted as human"
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from app_user where external_id like 'simulated-%' \
             and cohorts = array['simulated']"
        )
        .await,
        8
    );

    // The leaderboard of their votes puts the greedy model first and the tiny one last.
    let query = api::leaderboard::LeaderboardQuery {
        source: Some("import".into()),
        ..api::leaderboard::LeaderboardQuery::default()
    };
    let board = service::leaderboard::compute(&pool, &query).await.unwrap();
    let order: Vec<&str> = board.rows.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(
        order,
        ["smollm2-135m-instruct", "smollm2-135m-warm", "tiny-demo"],
        "{order:?}"
    );

    // The quality reports have agreement to show on the rating and ranking projects.
    let projects = db::projects::list(&pool).await.unwrap();
    let report = |name: &'static str| {
        let pool = pool.clone();
        let id = projects.iter().find(|p| p.name == name).unwrap().project_id;
        async move {
            serde_json::to_value(service::quality::agreement(&pool, id).await.unwrap()).unwrap()
        }
    };
    let ratings = report(service::demo::RATING).await;
    assert_eq!(ratings["annotators"].as_array().unwrap().len(), 8);
    assert_ne!(ratings["distributions"], Value::Array(vec![]), "{ratings}");
    // [criterion, coefficients] per criterion: the scores follow the hidden qualities.
    for criterion in ratings["ratings"].as_array().unwrap() {
        let alpha = criterion[1]["alpha_interval"].as_f64().unwrap();
        assert!(alpha > 0.3, "{criterion}");
    }
    let rankings = report(service::demo::RANKING).await;
    // Agreement on rankings is counted per pair of responses: 3 pairs of each item.
    assert_eq!(rankings["rankings"]["units"], 16 * 3, "{rankings}");
    assert_eq!(rankings["rankings"]["judgements"], 8 * 16 * 3, "{rankings}");
    // The annotator who ranks at random (simulated-6) agrees with the others less than the
    // careful ones (simulated-1 to -5) do on average.
    let agreement = |who: &str| {
        rankings["annotators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == who)
            .and_then(|a| a["loo_agreement"].as_f64())
            .unwrap_or_else(|| panic!("{who} in {rankings}"))
    };
    let careful = (1..=5)
        .map(|k| agreement(&format!("simulated-{k}")))
        .sum::<f64>()
        / 5.0;
    assert!(agreement("simulated-6") + 0.1 < careful, "{rankings}");

    // Again: nothing new.
    let votes = count(&pool, "select count(*) from vote").await;
    let again = service::demo::load(&pool).await.unwrap();
    assert!(!again.created);
    assert_eq!(count(&pool, "select count(*) from vote").await, votes);
    assert_eq!(count(&pool, "select count(*) from project").await, 3);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn verdict_demo_trains_the_tiny_model_into_the_arena(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    trainer::tiny::init_tiny(dir.path(), &trainer::tiny::TinySpec::default()).unwrap();
    db::arena::register_model(
        &pool,
        "tiny-demo",
        "local",
        &serde_json::json!({"path": dir.path(), "max_tokens": 8}),
    )
    .await
    .unwrap();
    let runs = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["--database-url", &url(&pool), "demo", "--runs-dir"])
        .arg(runs.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("project \"Demo: rank the answers\": 16 items"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tiny-demo-dpo joined the arena"),
        "{stdout}"
    );
    let status: String = sqlx::query_scalar("select status from training_run")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "succeeded");
    let enabled: Vec<(String, bool)> = sqlx::query_as(
        "select name, enabled from model where name like 'tiny-demo%' order by name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        enabled,
        [
            ("tiny-demo".to_owned(), true),
            ("tiny-demo-dpo".to_owned(), true)
        ]
    );
    // The second time says so and trains nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["--database-url", &url(&pool), "demo"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("loaded already"));
    assert_eq!(
        sqlx::query_scalar::<_, i64>("select count(*) from training_run")
            .fetch_one(&pool)
            .await
            .unwrap(),
        1
    );
}
