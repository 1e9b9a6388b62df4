//! `verdict leaderboard` and `verdict bench gen-battles` through the real binary.

use std::process::Command;

fn verdict(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/ranking/tests/data/arena_small.csv"
);

#[test]
fn table_json_and_csv_agree_on_the_fixture() {
    let (ok, table, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--bootstrap",
        "50",
        "--seed",
        "3",
    ]);
    assert!(ok, "{err}");
    let first = table.lines().nth(1).unwrap();
    assert!(
        first.contains("model-7") && first.contains("1138.0"),
        "{table}"
    );
    assert!(table.contains("3000 battles"), "{table}");

    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--bootstrap",
        "50",
        "--seed",
        "3",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top = &v["models"][0];
    assert_eq!(top["model"], "model-7");
    // FastChat's compute_bt on this fixture gives 1138.030553 (crates/ranking/tests).
    assert!((top["rating"].as_f64().unwrap() - 1138.030553).abs() < 0.01);
    assert!(top["lower"].as_f64().unwrap() < top["rating"].as_f64().unwrap());
    assert_eq!(v["matrices"]["battles"].as_array().unwrap().len(), 8);
    assert_eq!(v["matrix_models"][0], "model-7");

    let (ok, csv, _) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--bootstrap",
        "0",
        "--format",
        "csv",
    ]);
    assert!(ok);
    assert!(csv.starts_with("rank_ub,model,rating"));
    assert_eq!(csv.lines().count(), 9);
}

#[test]
fn sandwich_by_default_bootstrap_and_reweighting_on_request() {
    let run = |extra: &[&str]| {
        let mut args = vec!["leaderboard", "--battles", FIXTURE, "--format", "json"];
        args.extend_from_slice(extra);
        let (ok, json, err) = verdict(&args);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    };
    let sandwich = run(&[]);
    assert_eq!(sandwich["ci"], "sandwich");
    let models = sandwich["models"].as_array().unwrap();
    for (k, m) in models.iter().enumerate() {
        let (lo, hi) = (
            m["rank_min"].as_u64().unwrap(),
            m["rank_max"].as_u64().unwrap(),
        );
        assert!((lo as usize..=hi as usize).contains(&(k + 1)), "{m}");
        assert_eq!(m["rank_min"], m["rank_ub"]);
        assert!(m["tier"].as_u64().unwrap() >= 1);
        // 3,000 battles over 8 models: about 750 each, none provisional.
        assert_eq!(m["provisional"], false);
    }
    let boot = run(&["--ci", "bootstrap", "--bootstrap", "30"]);
    assert_eq!(
        (boot["ci"].as_str(), boot["bootstrap_rounds"].as_u64()),
        (Some("bootstrap"), Some(30))
    );
    // Same point estimates; only the intervals' method differs.
    assert_eq!(boot["models"][0]["rating"], sandwich["models"][0]["rating"]);
    let reweighted = run(&["--reweight"]);
    assert_eq!(reweighted["reweighted"], true);
    assert_ne!(
        reweighted["models"][0]["rating"],
        sandwich["models"][0]["rating"]
    );
    let (ok, _, err) = verdict(&["leaderboard", "--battles", FIXTURE, "--ci", "jackknife"]);
    assert!(!ok && err.contains("jackknife"), "{err}");
}

#[test]
fn tie_models_fit_and_compare() {
    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--tie-model",
        "rao-kupper",
        "--compare-ties",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["tie_model"], "rao-kupper");
    assert!(v["tie_param"].as_f64().unwrap() > 0.0);
    assert_eq!(v["models"][0]["model"], "model-7");
    let scores = v["tie_model_scores"].as_array().unwrap();
    // The log's "both bad" battles let the grounded model be scored too.
    assert_eq!(scores.len(), 5);
    assert!(scores[0]["log_loss"].as_f64().unwrap() <= scores[4]["log_loss"].as_f64().unwrap());
    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--tie-model",
        "grounded-rao-kupper",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let g: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(g["tie_model"], "grounded-rao-kupper");
    assert!(g["tie_param"].as_f64().unwrap() > 0.0);
    assert_eq!(g["models"][0]["model"], "model-7");
    let top = &g["models"][0];
    assert!(top["lower"].as_f64().unwrap() < top["rating"].as_f64().unwrap());
    let decided = std::env::temp_dir().join(format!("decided-{}.jsonl", std::process::id()));
    std::fs::write(
        &decided,
        "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\"}\n\
         {\"model_a\":\"y\",\"model_b\":\"x\",\"winner\":\"tie\"}\n",
    )
    .unwrap();
    let (ok, _, err) = verdict(&[
        "leaderboard",
        "--battles",
        decided.to_str().unwrap(),
        "--tie-model",
        "grounded-rao-kupper",
    ]);
    let _ = std::fs::remove_file(&decided);
    assert!(!ok && err.contains("both bad"), "{err}");
    let (ok, _, err) = verdict(&["leaderboard", "--battles", FIXTURE, "--tie-model", "coin"]);
    assert!(!ok && err.contains("not a tie model"), "{err}");
    let (ok, _, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--tie-model",
        "davidson",
        "--ci",
        "bootstrap",
    ]);
    assert!(!ok && err.contains("sandwich"), "{err}");
}

#[test]
fn style_control_and_anchor() {
    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--bootstrap",
        "20",
        "--style-control",
        "--anchor",
        "model-0=1000",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let m0 = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "model-0")
        .unwrap();
    assert!((m0["rating"].as_f64().unwrap() - 1000.0).abs() < 1e-9);
    assert_eq!(v["style_coefficients"][0][0], "length");

    let (ok, _, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--anchor",
        "nobody=1000",
    ]);
    assert!(!ok && err.contains("no model named \"nobody\""), "{err}");
}

#[test]
fn generated_battles_feed_the_leaderboard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.jsonl");
    let p = path.to_str().unwrap();
    let (ok, _, err) = verdict(&[
        "bench",
        "gen-battles",
        "--models",
        "4",
        "--battles",
        "5000",
        "--out",
        p,
    ]);
    assert!(ok, "{err}");
    let (ok, table, err) = verdict(&["leaderboard", "--battles", p, "--bootstrap", "20"]);
    assert!(ok, "{err}");
    // Strengths grow with the model number, so model-03 leads.
    assert!(
        table.lines().nth(1).unwrap().contains("model-03"),
        "{table}"
    );
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"maybe\"}\n",
    )
    .unwrap();
    let (ok, _, err) = verdict(&["leaderboard", "--battles", bad.to_str().unwrap()]);
    assert!(
        !ok && err.contains("line 1") && err.contains("winner"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn judges_reliability_from_noisy_bt() {
    // Three models in a clear order; "careful" votes by it, "lefty" always picks the left side.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("judged.jsonl");
    let mut lines = String::new();
    let models = ["low", "mid", "high"];
    for k in 0..600 {
        let (a, b) = (k % 3, (k / 3 + 1 + k) % 3);
        if a == b {
            continue;
        }
        let winner = if a > b { "model_a" } else { "model_b" };
        lines.push_str(&format!(
            "{{\"model_a\":\"{}\",\"model_b\":\"{}\",\"winner\":\"{winner}\",\"judge\":\"careful\"}}\n",
            models[a], models[b]
        ));
        lines.push_str(&format!(
            "{{\"model_a\":\"{}\",\"model_b\":\"{}\",\"winner\":\"model_a\",\"judge\":\"lefty\"}}\n",
            models[a], models[b]
        ));
    }
    std::fs::write(&path, lines).unwrap();
    let p = path.to_str().unwrap();
    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        p,
        "--annotators",
        "noisy-bt",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let judges = v["annotators"].as_array().unwrap();
    assert_eq!(judges.len(), 2);
    // Least skilled first: the one who always picks the left side, with a left bias near 1.
    assert_eq!(judges[0]["id"], "lefty");
    assert!(judges[0]["skill"].as_f64().unwrap() < 0.3, "{judges:?}");
    assert!(judges[0]["bias"].as_f64().unwrap() > 0.9, "{judges:?}");
    assert_eq!(judges[1]["id"], "careful");
    assert!(judges[1]["skill"].as_f64().unwrap() > 0.9, "{judges:?}");

    // Weighted by reliability, the lefty's votes count for little: the spread between the
    // best and the worst model widens.
    let spread = |extra: &[&str]| {
        let mut args = vec!["leaderboard", "--battles", p, "--format", "json"];
        args.extend_from_slice(extra);
        let (ok, json, err) = verdict(&args);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let rating = |m: &str| {
            v["models"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["model"] == m)
                .unwrap()["rating"]
                .as_f64()
                .unwrap()
        };
        (
            rating("high") - rating("low"),
            v["annotator_weighted"].as_bool(),
        )
    };
    let (plain, flag) = spread(&[]);
    assert_eq!(flag, Some(false));
    let (weighted, flag) = spread(&["--weight-annotators"]);
    assert_eq!(flag, Some(true));
    assert!(weighted > plain + 50.0, "{weighted} vs {plain}");
    let (ok, _, err) = verdict(&[
        "leaderboard",
        "--battles",
        p,
        "--weight-annotators",
        "--audit",
    ]);
    assert!(!ok && err.contains("sandwich"), "{err}");

    let (ok, _, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--annotators",
        "noisy-bt",
    ]);
    assert!(!ok && err.contains("judge"), "{err}");
}

#[test]
fn audit_counts_the_votes_that_flip_each_pair() {
    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        FIXTURE,
        "--audit",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let audit = v["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 7, "8 models, 7 adjacent pairs");
    for (k, p) in audit.iter().enumerate() {
        assert_eq!(p["upper"], v["models"][k]["model"]);
        assert_eq!(p["lower"], v["models"][k + 1]["model"]);
        let m = p["votes_to_flip"]
            .as_u64()
            .expect("every pair here can be flipped");
        let removed: u64 = p["most_influential"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g[3].as_u64().unwrap())
            .sum();
        // At most 10 groups are listed; with few groups they add up to the count.
        assert!(removed <= m && m > 0, "{p}");
    }
    // model-6 and model-5 are 23 points apart, model-7 and model-6 28: neither is robust to
    // a handful of votes, but it takes more than one.
    assert!(audit[0]["votes_to_flip"].as_u64().unwrap() > 1);
    let (ok, _, err) = verdict(&["leaderboard", "--battles", FIXTURE, "--audit", "--reweight"]);
    assert!(!ok && err.contains("--audit"), "{err}");
}

#[test]
fn cohort_offsets_compare_a_group_of_judges_with_the_rest() {
    // Judges "en-1" and "en-2" prefer x over y 70% of the time; "fr" prefers y over x as often.
    // Against z both groups split evenly.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cohorts.jsonl");
    let mut lines = String::new();
    let battle = |a: &str, b: &str, a_wins: bool, judge: &str| {
        let w = if a_wins { "model_a" } else { "model_b" };
        format!(
            "{{\"model_a\":\"{a}\",\"model_b\":\"{b}\",\"winner\":\"{w}\",\"judge\":\"{judge}\"}}\n"
        )
    };
    for k in 0..400 {
        let judge = ["en-1", "en-2", "fr", "fr"][k % 4];
        let x_wins = (k / 4) % 10 < 7;
        let x_wins = if judge == "fr" { !x_wins } else { x_wins };
        lines.push_str(&battle("x", "y", x_wins, judge));
        lines.push_str(&battle("z", "x", k % 2 == 0, judge));
        lines.push_str(&battle("y", "z", k % 2 == 0, judge));
    }
    std::fs::write(&path, lines).unwrap();
    let p = path.to_str().unwrap();
    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        p,
        "--cohort",
        "fr",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let offset = |m: &str| {
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == m)
            .unwrap()["cohort_offset"]
            .clone()
    };
    let (x, y) = (offset("x"), offset("y"));
    // The cohort rates y above where everyone else does, and x below, both clearly.
    assert!(y["offset"].as_f64().unwrap() > 50.0, "{y}");
    assert!(x["offset"].as_f64().unwrap() < -50.0, "{x}");
    assert!(y["lower"].as_f64().unwrap() > 0.0, "{y}");
    assert!(y["p_value"].as_f64().unwrap() < 1e-3, "{y}");
    // The same numbers in the table and the CSV.
    let (ok, table, err) = verdict(&["leaderboard", "--battles", p, "--cohort", "fr"]);
    assert!(ok && table.contains("cohort vs others"), "{err}{table}");
    let (ok, csv, err) = verdict(&[
        "leaderboard",
        "--battles",
        p,
        "--cohort",
        "fr",
        "--format",
        "csv",
    ]);
    assert!(
        ok && csv.lines().next().unwrap().ends_with("cohort_p"),
        "{err}{csv}"
    );
    let (ok, _, err) = verdict(&["leaderboard", "--battles", p, "--cohort", "de"]);
    assert!(
        !ok && err.contains("no battle has the judge \"de\""),
        "{err}"
    );
    let (ok, _, err) = verdict(&["leaderboard", "--battles", p, "--cohort", "en-1,en-2,fr"]);
    assert!(!ok && err.contains("no one to compare"), "{err}");
}

#[test]
fn prediction_powered_ratings_pair_human_and_judge_votes_by_question() {
    // 400 questions among low < mid < high; an LLM judge votes on every one, a person on every
    // other one (the judge agrees with the person 4 times in 5).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ppi.jsonl");
    let models = ["low", "mid", "high"];
    let mut lines = String::new();
    for q in 0..400 {
        // Every pair among the questions a person votes on too, on both sides.
        let (i, j) = [(0, 1), (1, 2), (2, 0)][(q / 2) % 3];
        let (a, b) = if (q / 6) % 2 == 0 { (i, j) } else { (j, i) };
        let better_a = a > b;
        // The person picks the better model 3 times in 4.
        let human_a = if q % 4 == 3 { !better_a } else { better_a };
        let judge_a = if q % 5 == 4 { !human_a } else { human_a };
        let w = |x: bool| if x { "model_a" } else { "model_b" };
        let line = |winner: &str, judge: &str| {
            format!(
                "{{\"model_a\":\"{}\",\"model_b\":\"{}\",\"winner\":\"{winner}\",\"judge\":\"{judge}\",\"question_id\":\"q{q}\"}}\n",
                models[a], models[b]
            )
        };
        lines.push_str(&line(w(judge_a), "gpt-judge"));
        if q % 2 == 0 {
            lines.push_str(&line(w(human_a), "person"));
        }
    }
    std::fs::write(&path, lines).unwrap();
    let p = path.to_str().unwrap();
    let (ok, json, err) = verdict(&[
        "leaderboard",
        "--battles",
        p,
        "--ppi-judges",
        "gpt-judge",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ci"], "ppi");
    let order: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["high", "mid", "low"]);
    let top = &v["models"][0];
    assert!(top["lower"].as_f64().unwrap() < top["rating"].as_f64().unwrap());
    assert!(top["upper"].as_f64().unwrap() > top["rating"].as_f64().unwrap());
    let note = v["note"].as_str().unwrap();
    assert!(
        note.contains("200 human votes paired")
            && note.contains("200 judge votes on items without"),
        "{note}"
    );
    let (ok, _, err) = verdict(&["leaderboard", "--battles", p, "--ppi-judges", "claude"]);
    assert!(
        !ok && err.contains("no battle has the judge \"claude\""),
        "{err}"
    );
    let (ok, _, err) = verdict(&[
        "leaderboard",
        "--battles",
        p,
        "--ppi-judges",
        "gpt-judge",
        "--reweight",
    ]);
    assert!(!ok && err.contains("its own intervals"), "{err}");
    let (ok, _, err) = verdict(&["leaderboard", "--battles", FIXTURE, "--ppi-judges", "x"]);
    assert!(!ok && err.contains("question_id"), "{err}");
}
