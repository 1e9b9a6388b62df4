//! `verdict import` against a fresh database per test.

use parquet::file::reader::{FileReader as _, SerializedFileReader};
use parquet::record::RowAccessor as _;
use verdict_server::cli::import;

const PANDALM: &str = "pandalm/testset-v1.json";
const PANDALM_GPT: &str = "pandalm/gpt-3.5-turbo-testset-v1.json";

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[sqlx::test(migrator = "db::MIGRATOR")]
async fn pandalm_imports_once_with_provenance(pool: sqlx::PgPool) {
    let path = testdata::path(PANDALM);
    let gpt = testdata::path(PANDALM_GPT);
    // A dry run validates and counts, and writes nothing.
    let dry = import::pandalm(&pool, &path, Some(&gpt), "PandaLM", true)
        .await
        .unwrap();
    assert_eq!((dry.new_items, dry.new_votes), (999, 3971));
    assert_eq!(count(&pool, "select count(*) from item").await, 0);
    assert_eq!(count(&pool, "select count(*) from project").await, 0);
    let first = import::pandalm(&pool, &path, Some(&gpt), "PandaLM", false)
        .await
        .unwrap();
    assert_eq!((first.items, first.new_items), (999, 999));
    assert_eq!(
        count(&pool, "select count(*) from vote where source = 'import'").await,
        2997
    );
    // 25 of GPT-3.5's 999 answers carry no verdict ("garbage").
    assert_eq!(
        count(
            &pool,
            "select count(*) from vote where source = 'llm_judge'"
        )
        .await,
        974
    );
    // 13 of its verdicts come without a reason.
    assert_eq!(
        count(
            &pool,
            "select count(*) from vote where source = 'llm_judge' and rationale <> ''"
        )
        .await,
        961
    );
    assert_eq!(
        count(
            &pool,
            "select count(distinct annotator_id) from vote where source = 'import'"
        )
        .await,
        3
    );
    assert_eq!(count(&pool, "select count(*) from model").await, 5);
    assert_eq!(
        count(&pool, "select sum(n)::bigint from vote_count").await,
        3971
    );
    assert_eq!(first.skipped.len(), 1, "{:?}", first.skipped);

    let again = import::pandalm(&pool, &path, Some(&gpt), "PandaLM", false)
        .await
        .unwrap();
    assert_eq!((again.new_items, again.new_votes), (0, 0));
    assert_eq!(count(&pool, "select count(*) from vote").await, 3971);
    assert_eq!(count(&pool, "select count(*) from item").await, 999);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn a_bad_record_writes_nothing_and_names_the_element(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    let good = r#"{"idx":1,"cmp_key":"a_b","instruction":"q","input":"","response1":"x","response2":"y","annotator1":1,"annotator2":2,"annotator3":0}"#;
    let bad = r#"{"idx":2,"cmp_key":"a_b","instruction":"q2","input":"","response1":"x","response2":"y","annotator1":7,"annotator2":2,"annotator3":0}"#;
    std::fs::write(&file, format!("[{good},{bad}]")).unwrap();
    let err = format!(
        "{:#}",
        import::pandalm(&pool, &file, None, "P", false)
            .await
            .unwrap_err()
    );
    assert!(
        err.contains("element 2") && err.contains("annotator1"),
        "{err}"
    );
    assert_eq!(count(&pool, "select count(*) from vote").await, 0);
    assert_eq!(count(&pool, "select count(*) from item").await, 0);
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn arena_logs_import_as_votes_once(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("battles.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"model_a":"x","model_b":"y","winner":"model_a","tstamp":1700000000,"anony":true}"#, "\n",
            r#"{"model_a":"y","model_b":"x","winner":"tie (bothbad)","tstamp":1700086400,"anony":true}"#, "\n",
            r#"{"model_a":"y","model_b":"z","winner":"model_b","tstamp":1700000500,"anony":false}"#, "\n",
        ),
    )
    .unwrap();
    let first = import::arena(&pool, &file, Some("Arena logs"), false)
        .await
        .unwrap();
    assert_eq!((first.votes, first.new_votes), (2, 2));
    assert_eq!(
        count(&pool, "select count(*) from vote where winner = 'both_bad'").await,
        1
    );
    let day: time::Date = sqlx::query_scalar("select min(created_at)::date from vote")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        day.to_string(),
        "2023-11-14",
        "tstamp becomes the vote's time"
    );
    let again = import::arena(&pool, &file, Some("Arena logs"), false)
        .await
        .unwrap();
    assert_eq!(again.new_votes, 0);
    assert_eq!(count(&pool, "select count(*) from vote").await, 2);
}

/// The judge audit of GPT-3.5's imported verdicts against the human majority of PandaLM's three
/// annotators equals scikit-learn (1.9.1) on the same pairs, from this script run from the
/// repository root:
///
/// ```python
/// import json
/// from collections import Counter
/// from sklearn.metrics import cohen_kappa_score
///
/// rows = json.load(open("../shared/data/pandalm/testset-v1.json"))
/// gpt = {g["idx"]: str(g["gpt_result"])
///        for g in json.load(open("../shared/data/pandalm/gpt-3.5-turbo-testset-v1.json"))}
/// label = {"1": 1, "2": 2, "0": 0, "Tie": 0, "tie": 0}
/// human, judge = [], []
/// for r in rows:
///     g = label.get(gpt.get(r["idx"], ""))
///     counts = Counter(r[f"annotator{k}"] for k in (1, 2, 3)).most_common()
///     if g is None or (len(counts) > 1 and counts[0][1] == counts[1][1]):
///         continue
///     human.append(counts[0][0])
///     judge.append(g)
/// print(len(human), sum(h == j for h, j in zip(human, judge)), repr(cohen_kappa_score(human, judge)))
/// # 974 697 0.49286471530289244
/// ```
#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[sqlx::test(migrator = "db::MIGRATOR")]
async fn the_judge_audit_of_pandalms_gpt_verdicts_matches_scikit_learn(pool: sqlx::PgPool) {
    let path = testdata::path(PANDALM);
    let gpt = testdata::path(PANDALM_GPT);
    import::pandalm(&pool, &path, Some(&gpt), "PandaLM", false)
        .await
        .unwrap();
    let audit = service::judges::audit_by_name(&pool, "PandaLM")
        .await
        .unwrap();
    let row = audit
        .rows
        .iter()
        .find(|r| r.judge == "pandalm:gpt-3.5-turbo" && r.category.is_none())
        .expect("GPT-3.5's imported verdicts are audited as a judge");
    assert_eq!(row.template, "imported");
    assert_eq!((row.items, row.verdicts, row.unparsable), (974, 974, 0));
    assert_eq!(row.with_humans, 974);
    let agreement = row.human_agreement.unwrap();
    assert_eq!(agreement.n, 974);
    assert!((agreement.value - 697.0 / 974.0).abs() < 1e-12);
    let kappa = row.human_kappa.unwrap();
    assert!((kappa - 0.492_864_715_302_892_44).abs() < 1e-9, "κ {kappa}");
    // One order only: no swap consistency to measure.
    assert!(row.swap_consistency.is_none());
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[sqlx::test(migrator = "db::MIGRATOR")]
async fn pandalm_exports_votes_and_dpo_pairs(pool: sqlx::PgPool) {
    let path = testdata::path(PANDALM);
    import::pandalm(
        &pool,
        &path,
        Some(&testdata::path(PANDALM_GPT)),
        "PandaLM",
        false,
    )
    .await
    .unwrap();
    let votes = service::exports::votes(&pool, Some("PandaLM"))
        .await
        .unwrap();
    assert_eq!(votes.len(), 3971);
    assert!(
        votes
            .iter()
            .all(|v| v.prompt.is_some() && v.response_a.is_some())
    );
    let human = service::exports::dpo_pairs(&pool, Some("PandaLM"), &["human", "import"])
        .await
        .unwrap();
    let all = service::exports::dpo_pairs(&pool, None, &["human", "import", "llm_judge"])
        .await
        .unwrap();
    assert!(!human.is_empty() && human.len() <= 999);
    assert_ne!(
        human.len(),
        all.len(),
        "the judge's votes change some majorities"
    );
    for pair in &human {
        assert!(!pair.prompt.is_empty() && !pair.chosen.is_empty() && !pair.rejected.is_empty());
        assert!(pair.votes_chosen > pair.votes_rejected);
        assert_eq!(pair.policy, "majority");
    }
    // Every line of the JSONL the CLI writes has non-empty prompt, chosen and rejected strings.
    let jsonl =
        verdict_server::exports::dpo_bytes(&human, verdict_server::exports::Format::Jsonl).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), human.len());
    for line in &lines {
        for key in ["prompt", "chosen", "rejected"] {
            assert!(line[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
        }
    }
    // The Parquet file holds the same pairs, TRL's columns first.
    let parquet =
        verdict_server::exports::dpo_bytes(&human, verdict_server::exports::Format::Parquet)
            .unwrap();
    let reader = SerializedFileReader::new(bytes::Bytes::from(parquet)).unwrap();
    let rows: Vec<parquet::record::Row> = reader
        .get_row_iter(None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), human.len());
    let names: Vec<&String> = rows[0].get_column_iter().map(|(k, _)| k).take(3).collect();
    assert_eq!(names, ["prompt", "chosen", "rejected"]);
    for (row, pair) in rows.iter().zip(&human) {
        assert_eq!(row.get_string(0).unwrap(), &pair.prompt);
        assert_eq!(row.get_string(1).unwrap(), &pair.chosen);
        assert_eq!(row.get_string(2).unwrap(), &pair.rejected);
    }
    let card = verdict_server::exports::dpo_card(&human, Some("PandaLM"), &["human", "import"]);
    assert!(
        card.contains(&format!("- Pairs: {}", human.len())),
        "{card}"
    );
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn generic_jsonl_imports_items_and_judgements_once(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("items.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id":"q1","prompt":"Capital of France?","category":"geo","responses":[{"model":"m1","text":"Paris."},{"model":"m2","text":"**Paris**, of course."}],"judgements":[{"winner":"a","annotator":"ann-1","rationale":"shorter"},{"winner":"tie","annotator":"ann-2"},{"winner":"b","source":"llm_judge"}]}"#, "\n",
            "\n",
            r#"{"conversation":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Tell a joke"}],"tags":["fun"],"responses":[{"model":"m1","text":"No."},{"model":"m2","text":"Knock knock."},{"model":"m3","text":"A pun."}]}"#, "\n",
        ),
    )
    .unwrap();
    let first = import::jsonl(&pool, &file, "Generic", false).await.unwrap();
    assert_eq!(
        (first.items, first.new_items, first.votes, first.new_votes),
        (2, 2, 3, 3)
    );
    assert_eq!(count(&pool, "select count(*) from item_response").await, 5);
    assert_eq!(
        count(
            &pool,
            "select count(*) from vote where source = 'llm_judge'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from prompt where text = 'Tell a joke' and conversation is not null"
        )
        .await,
        1
    );
    let again = import::jsonl(&pool, &file, "Generic", false).await.unwrap();
    assert_eq!((again.new_items, again.new_votes), (0, 0));

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        concat!(
            r#"{"prompt":"ok","responses":[{"model":"m1","text":"a"},{"model":"m2","text":"b"}]}"#, "\n",
            r#"{"prompt":"x","responses":[{"model":"m1","text":"a"},{"model":"m2","text":"b"}],"judgements":[{"winner":"left"}]}"#, "\n",
        ),
    )
    .unwrap();
    let err = format!(
        "{:#}",
        import::jsonl(&pool, &bad, "Other", false)
            .await
            .unwrap_err()
    );
    assert!(err.contains("line 2") && err.contains("winner"), "{err}");
    assert_eq!(
        count(&pool, "select count(*) from project where name = 'Other'").await,
        0,
        "all or nothing"
    );
    std::fs::write(
        &bad,
        r#"{"prompt":"x","responses":[{"model":"m1","text":"a"}]}"#,
    )
    .unwrap();
    let err = format!(
        "{:#}",
        import::jsonl(&pool, &bad, "Other", false)
            .await
            .unwrap_err()
    );
    assert!(err.contains("line 1") && err.contains("responses"), "{err}");
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn nul_characters_are_refused_naming_the_record_and_field(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("items.jsonl");
    std::fs::write(
        &jsonl,
        concat!(
            r#"{"prompt":"ok","responses":[{"model":"m1","text":"a"},{"model":"m2","text":"b"}]}"#, "\n",
            r#"{"prompt":"ok","responses":[{"model":"m1","text":"a"},{"model":"m2","text":"b\u0000"}]}"#, "\n",
        ),
    )
    .unwrap();
    let err = format!(
        "{:#}",
        import::jsonl(&pool, &jsonl, "Nul", false)
            .await
            .unwrap_err()
    );
    assert!(
        err.contains("line 2: field `responses[1].text` contains a NUL"),
        "{err}"
    );

    let battles = dir.path().join("battles.jsonl");
    std::fs::write(
        &battles,
        concat!(
            r#"{"model_a":"x","model_b":"y","winner":"model_a"}"#,
            "\n",
            r#"{"model_a":"x","model_b":"y\u0000","winner":"model_a"}"#,
            "\n",
        ),
    )
    .unwrap();
    let err = format!(
        "{:#}",
        import::arena(&pool, &battles, Some("Nul"), false)
            .await
            .unwrap_err()
    );
    assert!(
        err.contains("line 2: field `model_b` contains a NUL"),
        "{err}"
    );

    let panda = dir.path().join("panda.json");
    let record = r#"{"idx":1,"cmp_key":"a_b","instruction":"q\u0000","input":"","response1":"x","response2":"y","annotator1":1,"annotator2":2,"annotator3":0}"#;
    std::fs::write(&panda, format!("[{record}]")).unwrap();
    let err = format!(
        "{:#}",
        import::pandalm(&pool, &panda, None, "Nul", false)
            .await
            .unwrap_err()
    );
    assert!(
        err.contains("element 1") && err.contains("field `instruction` contains a NUL"),
        "{err}"
    );
    // All or nothing: no project, no vote.
    assert_eq!(count(&pool, "select count(*) from vote").await, 0);
    assert_eq!(
        count(&pool, "select count(*) from project where name = 'Nul'").await,
        0
    );
}
