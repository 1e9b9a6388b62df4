//! `verdict project|model|run ...` print what the REST API answers, and fail with a message
//! naming what is wrong.

use serde_json::Value;

fn url(pool: &sqlx::PgPool) -> String {
    let db_name = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    format!("{}/{db_name}", base.rsplit_once('/').unwrap().0)
}

/// Runs `verdict --database-url URL args...`: (success, stdout, stderr).
fn verdict(pool: &sqlx::PgPool, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["--database-url", &url(pool)])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn seed(pool: &sqlx::PgPool) -> i64 {
    sqlx::query(
        "insert into project (name, protocol, overlap_target) values ('Colours', 'pairwise', 3), \
                                                                     ('Scores', 'rating', 1)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into model (name, kind, enabled) values ('base-x', 'local', true), \
                                                        ('dataset-y', 'dataset', false)",
    )
    .execute(pool)
    .await
    .unwrap();
    let base: i64 = sqlx::query_scalar("select model_id from model where name = 'base-x'")
        .fetch_one(pool)
        .await
        .unwrap();
    db::training::create(
        pool,
        None,
        base,
        &serde_json::json!({"vote_ids": [], "pairs": 0}),
        &serde_json::json!({}),
    )
    .await
    .unwrap()
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn projects_models_and_runs_from_the_command_line(pool: sqlx::PgPool) {
    let run = seed(&pool).await;

    let (ok, out, err) = verdict(&pool, &["project", "list"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("id  name"), "{out}");
    assert!(
        lines[1].contains("Colours") && lines[1].contains("pairwise"),
        "{out}"
    );
    assert!(
        lines[2].contains("Scores") && lines[2].contains("rating"),
        "{out}"
    );

    let (ok, out, err) = verdict(&pool, &["project", "show", "Colours", "--json"]);
    assert!(ok, "{err}");
    let p: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (p["name"].as_str(), p["overlap_target"].as_i64()),
        (Some("Colours"), Some(3))
    );
    let (ok, _, err) = verdict(&pool, &["project", "show", "Nope"]);
    assert!(!ok);
    assert!(
        err.contains(r#"no project with the id or name "Nope""#),
        "{err}"
    );

    let (ok, out, err) = verdict(&pool, &["model", "list", "--json"]);
    assert!(ok, "{err}");
    let models: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<(&str, bool)> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["enabled"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("base-x", true), ("dataset-y", false)]);

    let (ok, out, err) = verdict(&pool, &["run", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.contains("queued") && l.contains("base-x")),
        "{out}"
    );
    let id = run.to_string();
    let (ok, out, err) = verdict(&pool, &["run", "cancel", &id]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("run #{run} cancelled"));
    let (ok, out, err) = verdict(&pool, &["run", "show", &id, "--json"]);
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["status"], "cancelled");
    // Cancelling again, or an unknown run: the REST API's messages, and a failing exit.
    let (ok, _, err) = verdict(&pool, &["run", "cancel", &id]);
    assert!(!ok);
    assert!(err.contains("has already ended (cancelled)"), "{err}");
    let (ok, _, err) = verdict(&pool, &["run", "show", "999999"]);
    assert!(!ok);
    assert!(err.contains("no training run #999999"), "{err}");
}
