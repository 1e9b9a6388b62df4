//! Imports: PandaLM's human-annotated test set, Verdict's generic JSONL and Chatbot Arena battle
//! logs, from bytes (an upload or a file read by the CLI). Each file imports in one transaction
//! (all or nothing); importing it again changes nothing.

use anyhow::{Context, Result, bail};
use db::imports::{self, ImportedVote};
use ranking::Outcome;
use serde::Deserialize;

use api::AppError;
use api::data::ImportReport;

use crate::battles;

#[derive(Deserialize)]
struct PandaItem {
    idx: i64,
    motivation_app: Option<String>,
    cmp_key: String,
    #[serde(deserialize_with = "scalar_text")]
    instruction: String,
    #[serde(default, deserialize_with = "scalar_text")]
    input: String,
    // A few PandaLM responses are JSON booleans (a model answered `True`): read them as text.
    #[serde(deserialize_with = "scalar_text")]
    response1: String,
    #[serde(deserialize_with = "scalar_text")]
    response2: String,
    annotator1: i64,
    annotator2: i64,
    annotator3: i64,
}

/// A string, or a number or boolean written as text.
fn scalar_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Null => Ok(String::new()),
        v @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_)) => Ok(v.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected text, found {other}"
        ))),
    }
}

#[derive(Deserialize)]
struct PandaJudgement {
    idx: i64,
    gpt_result: serde_json::Value,
    #[serde(default)]
    gpt_reason: Option<String>,
}

fn read_array<T: for<'de> Deserialize<'de>>(file: &Input<'_>) -> Result<Vec<T>> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(file.bytes)
        .with_context(|| format!("{} is not a JSON array", file.name))?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let at = || format!("{}: element {} (0-based {i})", file.name, i + 1);
            if let Some(path) = nul_at(&v) {
                bail!("{}: field `{path}` {}", at(), battles::NUL);
            }
            serde_json::from_value(v).with_context(at)
        })
        .collect()
}

/// The path (`responses[1].text`) of the first string or key in `v` holding a NUL character,
/// which PostgreSQL's text cannot store: found here, the error names the record.
fn nul_at(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_at(x).map(|rest| format!("[{i}]{}", dot(&rest)))),
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                return Some(k.replace('\0', "\\u0000"));
            }
            nul_at(x).map(|rest| format!("{k}{}", dot(&rest)))
        }),
        _ => None,
    }
}

/// `rest` as the tail of a path: `.field`, `[3]`, or nothing.
fn dot(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_owned()
    } else {
        format!(".{rest}")
    }
}

/// PandaLM's labels: 0 tie, 1 response 1 better, 2 response 2 better.
fn panda_winner(label: i64) -> Option<&'static str> {
    match label {
        0 => Some("tie"),
        1 => Some("a"),
        2 => Some("b"),
        _ => None,
    }
}

/// A file to import: its name (shown in messages, and part of an arena log's vote keys) and
/// content.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The file name, without folders.
    pub name: &'a str,
    /// The content.
    pub bytes: &'a [u8],
}

/// Summary of an import.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Items in the file.
    pub items: usize,
    /// Items created now.
    pub new_items: usize,
    /// Votes in the file.
    pub votes: usize,
    /// Votes created now.
    pub new_votes: u64,
    /// Records skipped, with why.
    pub skipped: Vec<String>,
}

/// Imports PandaLM into `pool` in one transaction.
///
/// # Errors
/// Any bad record (naming the element and field) or database failure; nothing is written then.
pub async fn pandalm(
    pool: &db::PgPool,
    file: Input<'_>,
    judgements: Option<Input<'_>>,
    project: &str,
    dry_run: bool,
) -> Result<ImportSummary> {
    let items: Vec<PandaItem> = read_array(&file)?;
    let gpt: Vec<PandaJudgement> = match judgements {
        Some(p) => read_array(&p)?,
        None => Vec::new(),
    };
    let mut summary = ImportSummary {
        items: items.len(),
        ..ImportSummary::default()
    };
    let mut tx = db::begin(pool).await?;
    let project_id = imports::pairwise_project(&mut tx, project).await?;
    let humans = [
        imports::annotator(&mut tx, "pandalm:annotator1", "pandalm").await?,
        imports::annotator(&mut tx, "pandalm:annotator2", "pandalm").await?,
        imports::annotator(&mut tx, "pandalm:annotator3", "pandalm").await?,
    ];
    let judge = if gpt.is_empty() {
        None
    } else {
        Some(imports::annotator(&mut tx, "pandalm:gpt-3.5-turbo", "llm_judge").await?)
    };
    let mut votes: Vec<ImportedVote> = Vec::new();
    let mut unusable: Vec<String> = Vec::new();
    let mut by_idx = std::collections::HashMap::new();
    for (k, it) in items.iter().enumerate() {
        let element = k + 1;
        let (ma, mb) = it.cmp_key.split_once('_').with_context(|| {
            format!(
                "element {element}: field `cmp_key` {:?} is not MODEL_MODEL",
                it.cmp_key
            )
        })?;
        let text = if it.input.trim().is_empty() {
            it.instruction.clone()
        } else {
            format!("{}\n\n{}", it.instruction, it.input)
        };
        let prompt_id = imports::prompt(&mut tx, &text, it.motivation_app.as_deref()).await?;
        let (model_a, model_b) = (
            imports::model(&mut tx, ma).await?,
            imports::model(&mut tx, mb).await?,
        );
        let meta = |t: &str| serde_json::json!({ "style": ranking::style::count_markdown(t) });
        let ra = imports::response(
            &mut tx,
            prompt_id,
            model_a,
            &it.response1,
            &meta(&it.response1),
        )
        .await?;
        let rb = imports::response(
            &mut tx,
            prompt_id,
            model_b,
            &it.response2,
            &meta(&it.response2),
        )
        .await?;
        let (item_id, created) = imports::item(
            &mut tx,
            project_id,
            prompt_id,
            &it.idx.to_string(),
            &[ra, rb],
        )
        .await?;
        summary.new_items += usize::from(created);
        by_idx.insert(it.idx, (item_id, model_a, model_b, ra, rb));
        for (n, (label, annotator)) in [it.annotator1, it.annotator2, it.annotator3]
            .into_iter()
            .zip(humans)
            .enumerate()
        {
            let winner = panda_winner(label).with_context(|| {
                format!(
                    "element {element}: field `annotator{}` is {label}; expected 0, 1 or 2",
                    n + 1
                )
            })?;
            votes.push(ImportedVote {
                import_key: format!("pandalm:{}:annotator{}", it.idx, n + 1),
                project_id: Some(project_id),
                item_id: Some(item_id),
                annotator_id: Some(annotator),
                source: "import",
                model_a_id: model_a,
                model_b_id: model_b,
                response_a_id: Some(ra),
                response_b_id: Some(rb),
                winner,
                rationale: None,
                created_at: None,
            });
        }
    }
    for (k, g) in gpt.iter().enumerate() {
        let Some(&(item_id, model_a, model_b, ra, rb)) = by_idx.get(&g.idx) else {
            bail!(
                "judgements element {}: idx {} is not in the test set",
                k + 1,
                g.idx
            );
        };
        let label = match &g.gpt_result {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let winner = match label.as_str() {
            "1" => "a",
            "2" => "b",
            "0" | "Tie" | "tie" => "tie",
            other => {
                unusable.push(format!("{} ({other:?})", g.idx));
                continue;
            }
        };
        votes.push(ImportedVote {
            import_key: format!("pandalm:{}:gpt-3.5-turbo", g.idx),
            project_id: Some(project_id),
            item_id: Some(item_id),
            annotator_id: judge,
            source: "llm_judge",
            model_a_id: model_a,
            model_b_id: model_b,
            response_a_id: Some(ra),
            response_b_id: Some(rb),
            winner,
            rationale: g.gpt_reason.clone(),
            created_at: None,
        });
    }
    if !unusable.is_empty() {
        summary.skipped.push(format!(
            "{} judgements without a verdict, for idx {}",
            unusable.len(),
            unusable.join(", ")
        ));
    }
    summary.votes = votes.len();
    summary.new_votes = imports::votes(&mut tx, &votes).await?;
    db::finish(tx, !dry_run).await?;
    Ok(summary)
}

/// Imports a Chatbot Arena battle log in one transaction.
///
/// # Errors
/// A bad record (naming the line and field) or database failure; nothing is written then.
pub async fn arena(
    pool: &db::PgPool,
    file: Input<'_>,
    project: Option<&str>,
    dry_run: bool,
) -> Result<ImportSummary> {
    let log = battles::read_from(file.bytes).with_context(|| file.name.to_owned())?;
    let mut tx = db::begin(pool).await?;
    let project_id = match project {
        Some(name) => Some(imports::pairwise_project(&mut tx, name).await?),
        None => None,
    };
    let mut ids = Vec::with_capacity(log.models.len());
    for name in &log.models {
        ids.push(imports::model(&mut tx, name).await?);
    }
    let stem = file.name.rsplit(['/', '\\']).next().unwrap_or(file.name);
    let votes: Vec<ImportedVote> = log
        .battles
        .iter()
        .enumerate()
        .map(|(k, &(a, b, outcome))| ImportedVote {
            // Position in time order + the battle itself: stable when the same file comes again.
            import_key: format!(
                "arena:{stem}:{k}:{}:{}:{outcome:?}",
                log.models[a as usize], log.models[b as usize]
            ),
            project_id,
            item_id: None,
            annotator_id: None,
            source: "import",
            model_a_id: ids[a as usize],
            model_b_id: ids[b as usize],
            response_a_id: None,
            response_b_id: None,
            winner: match outcome {
                Outcome::A => "a",
                Outcome::B => "b",
                Outcome::Tie => "tie",
                Outcome::BothBad => "both_bad",
            },
            rationale: None,
            created_at: log
                .tstamps
                .as_ref()
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t[k] as i64).ok()),
        })
        .collect();
    let new_votes = imports::votes(&mut tx, &votes).await?;
    db::finish(tx, !dry_run).await?;
    let mut summary = ImportSummary {
        votes: votes.len(),
        new_votes,
        ..ImportSummary::default()
    };
    if log.skipped_non_anonymous > 0 {
        summary.skipped.push(format!(
            "{} non-anonymous battles",
            log.skipped_non_anonymous
        ));
    }
    Ok(summary)
}

/// One line of the generic JSONL format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericItem {
    /// Item key; defaults to the line number.
    #[serde(default)]
    id: Option<String>,
    /// The user turn.
    #[serde(default)]
    prompt: Option<String>,
    /// Or a whole conversation; its last user turn is the prompt.
    #[serde(default)]
    conversation: Option<Vec<Turn>>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    responses: Vec<GenericResponse>,
    #[serde(default)]
    judgements: Vec<GenericJudgement>,
    /// A gold item's known answer (`a`, `b`, `tie` or `both_bad`): shown like any other item,
    /// scored silently against each annotator's choice.
    #[serde(default)]
    gold: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    role: String,
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericResponse {
    model: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericJudgement {
    /// `a` (first response), `b` (second), `tie` or `both_bad`.
    winner: String,
    /// Who judged: an id of the source's own.
    #[serde(default)]
    annotator: Option<String>,
    /// `human` (default), `llm_judge` or `import`.
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    rationale: Option<String>,
}

/// Imports Verdict's generic JSONL in one transaction.
///
/// # Errors
/// A bad line (naming the line and field) or database failure; nothing is written then.
pub async fn jsonl(
    pool: &db::PgPool,
    file: Input<'_>,
    project: &str,
    dry_run: bool,
) -> Result<ImportSummary> {
    let text = std::str::from_utf8(file.bytes)
        .with_context(|| format!("{} is not UTF-8 text", file.name))?;
    let mut summary = ImportSummary::default();
    let mut tx = db::begin(pool).await?;
    let project_id = imports::pairwise_project(&mut tx, project).await?;
    let mut votes = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let n = k + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {n}"))?;
        if let Some(path) = nul_at(&value) {
            bail!("line {n}: field `{path}` {}", battles::NUL);
        }
        let item: GenericItem =
            serde_json::from_value(value).with_context(|| format!("line {n}"))?;
        let prompt = match (&item.prompt, &item.conversation) {
            (Some(p), _) if !p.trim().is_empty() => p.clone(),
            (_, Some(turns)) => turns
                .iter()
                .rev()
                .find(|t| t.role == "user")
                .map(|t| t.content.clone())
                .with_context(|| format!("line {n}: field `conversation` has no user turn"))?,
            _ => bail!("line {n}: field `prompt` (or `conversation`) is missing"),
        };
        if item.responses.len() < 2 {
            bail!("line {n}: field `responses` needs at least two responses");
        }
        if !item.judgements.is_empty() && item.responses.len() != 2 {
            bail!("line {n}: field `judgements` needs exactly two responses (a and b)");
        }
        let category = item
            .category
            .as_deref()
            .or(item.tags.first().map(String::as_str));
        let prompt_id = imports::prompt(&mut tx, &prompt, category).await?;
        if let Some(conv) = &item.conversation {
            imports::set_conversation(&mut tx, prompt_id, &serde_json::to_value(conv)?, &item.tags)
                .await?;
        }
        let mut response_ids = Vec::new();
        let mut models = Vec::new();
        for r in &item.responses {
            if r.model.trim().is_empty() {
                bail!("line {n}: field `responses[].model` is empty");
            }
            let model = imports::model(&mut tx, r.model.trim()).await?;
            let meta = serde_json::json!({ "style": ranking::style::count_markdown(&r.text) });
            response_ids.push(imports::response(&mut tx, prompt_id, model, &r.text, &meta).await?);
            models.push(model);
        }
        if models[0] == models[1] && !item.judgements.is_empty() {
            bail!(
                "line {n}: both responses come from model {:?}",
                item.responses[0].model
            );
        }
        let key = item.id.clone().unwrap_or_else(|| format!("line-{n}"));
        let (item_id, created) =
            imports::item(&mut tx, project_id, prompt_id, &key, &response_ids).await?;
        if let Some(gold) = &item.gold {
            if !matches!(gold.as_str(), "a" | "b" | "tie" | "both_bad") {
                bail!("line {n}: field `gold` is {gold:?}; expected a, b, tie or both_bad");
            }
            if item.responses.len() != 2 {
                bail!("line {n}: field `gold` needs exactly two responses");
            }
            imports::set_gold(&mut tx, item_id, gold).await?;
        }
        summary.items += 1;
        summary.new_items += usize::from(created);
        for (j, judgement) in item.judgements.iter().enumerate() {
            let winner = match judgement.winner.as_str() {
                "a" => "a",
                "b" => "b",
                "tie" => "tie",
                "both_bad" => "both_bad",
                other => bail!(
                    "line {n}: field `judgements[{j}].winner` is {other:?}; expected a, b, tie or both_bad"
                ),
            };
            let source = match judgement.source.as_deref().unwrap_or("human") {
                "human" => "human",
                "llm_judge" => "llm_judge",
                "import" => "import",
                other => bail!(
                    "line {n}: field `judgements[{j}].source` is {other:?}; expected human, llm_judge or import"
                ),
            };
            let annotator = match &judgement.annotator {
                Some(a) => {
                    Some(imports::annotator(&mut tx, &format!("{project}:{a}"), project).await?)
                }
                None => None,
            };
            votes.push(ImportedVote {
                import_key: format!("jsonl:{project}:{key}:{j}"),
                project_id: Some(project_id),
                item_id: Some(item_id),
                annotator_id: annotator,
                source,
                model_a_id: models[0],
                model_b_id: models[1],
                response_a_id: Some(response_ids[0]),
                response_b_id: Some(response_ids[1]),
                winner,
                rationale: judgement.rationale.clone(),
                created_at: None,
            });
        }
    }
    summary.votes = votes.len();
    summary.new_votes = imports::votes(&mut tx, &votes).await?;
    db::finish(tx, !dry_run).await?;
    Ok(summary)
}

/// A file name safe to create in a private temporary folder (the arena importer keys votes by
/// it, so it is kept when it is already safe).
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim_matches('.').is_empty() {
        "upload".into()
    } else {
        cleaned
    }
}

/// A file uploaded through a form.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The file name the browser sent.
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// An import asked for on the data page.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// `pandalm`, `jsonl` or `arena`.
    pub kind: String,
    /// Project to create or extend (optional for `arena`).
    pub project: Option<String>,
    /// The main file.
    pub file: Upload,
    /// PandaLM only: the GPT-3.5 judgements file.
    pub judgements: Option<Upload>,
    /// Validate and count, then roll back.
    pub dry_run: bool,
}

/// Runs (or dry-runs) an uploaded import in one transaction.
///
/// # Errors
/// 422 naming the file, line and field for bad input; a database failure is logged once and
/// answers 500.
#[tracing::instrument(skip_all, fields(kind = %r.kind, dry_run = r.dry_run))]
pub async fn import_upload(pool: &db::PgPool, r: ImportRequest) -> Result<ImportReport, AppError> {
    let name = safe_name(&r.file.name);
    let file = Input {
        name: &name,
        bytes: &r.file.bytes,
    };
    let judgements_name = r
        .judgements
        .as_ref()
        .map(|j| format!("judgements-{}", safe_name(&j.name)));
    let judgements = r
        .judgements
        .as_ref()
        .zip(judgements_name.as_deref())
        .map(|(j, name)| Input {
            name,
            bytes: &j.bytes,
        });
    let project = r.project.as_deref();
    let result = match r.kind.as_str() {
        "pandalm" => {
            pandalm(
                pool,
                file,
                judgements,
                project.unwrap_or("PandaLM"),
                r.dry_run,
            )
            .await
        }
        "jsonl" => {
            let project = project
                .ok_or_else(|| AppError::Unprocessable("name the project to import into".into()))?;
            jsonl(pool, file, project, r.dry_run).await
        }
        "arena" => arena(pool, file, project, r.dry_run).await,
        other => {
            return Err(AppError::Unprocessable(format!(
                "unknown format {other:?}: pandalm, jsonl or arena"
            )));
        }
    };
    // The importers' messages name the element or line and field, and the file as the browser
    // sent it.
    let summary = result.map_err(|e| {
        if let Some(err) = internal_cause(&e) {
            tracing::error!(error = %err, "import failed on the server");
            return AppError::Internal;
        }
        let message = format!("{e:#}").replace(&name, &r.file.name);
        if message.contains(&r.file.name) {
            AppError::Unprocessable(message)
        } else {
            AppError::Unprocessable(format!("{}: {message}", r.file.name))
        }
    })?;
    let (columns, rows) = preview(&r.file.bytes, 5);
    Ok(ImportReport {
        dry_run: r.dry_run,
        items: summary.items,
        new_items: summary.new_items,
        votes: summary.votes,
        new_votes: summary.new_votes,
        skipped: summary.skipped,
        columns,
        rows,
    })
}

/// The database failure behind an import error, when it is one (anything else is bad input).
fn internal_cause(e: &anyhow::Error) -> Option<&db::Error> {
    e.chain()
        .filter_map(|c| c.downcast_ref::<db::Error>())
        .find(|d| !matches!(d, db::Error::Invalid(_) | db::Error::Constraint { .. }))
}

/// The first `n` records of a JSON array, JSONL or CSV file as a table of shortened values.
#[must_use]
pub fn preview(bytes: &[u8], n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_start();
    let records: Vec<serde_json::Value> = if trimmed.starts_with('[') {
        // Only the first records are wanted, but a JSON array has to be parsed whole.
        serde_json::from_str::<Vec<serde_json::Value>>(trimmed)
            .map(|v| v.into_iter().take(n).collect())
            .unwrap_or_default()
    } else if trimmed.starts_with('{') {
        trimmed
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(n)
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    } else {
        let mut reader = csv::Reader::from_reader(trimmed.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map(|h| h.iter().map(str::to_owned).collect())
            .unwrap_or_default();
        let rows = reader
            .records()
            .take(n)
            .filter_map(Result::ok)
            .map(|r| r.iter().map(shorten).collect())
            .collect();
        return (headers, rows);
    };
    let mut columns: Vec<String> = Vec::new();
    for r in &records {
        if let Some(o) = r.as_object() {
            for k in o.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let rows = records
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| match r.get(c) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(s)) => shorten(s),
                    Some(v) => shorten(&v.to_string()),
                })
                .collect()
        })
        .collect();
    (columns, rows)
}

fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_every_format() {
        let (cols, rows) = preview(br#"[{"a": 1, "b": "x"}, {"a": 2, "c": null}, {"a": 3}]"#, 2);
        assert_eq!(cols, ["a", "b", "c"]);
        assert_eq!(rows, [vec!["1", "x", ""], vec!["2", "", ""]]);
        let (cols, rows) = preview(b"{\"p\": \"hi\"}\n\n{\"p\": \"yo\"}\n", 5);
        assert_eq!((cols.len(), rows.len()), (1, 2));
        let (cols, rows) = preview(b"model_a,model_b,winner\nx,y,tie\n", 5);
        assert_eq!(cols, ["model_a", "model_b", "winner"]);
        assert_eq!(rows, [vec!["x", "y", "tie"]]);
        let long = "é".repeat(100);
        assert_eq!(shorten(&long).chars().count(), 80);
    }

    #[test]
    fn upload_names_stay_inside_the_folder() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("battles 2024.json"), "battles_2024.json");
        assert_eq!(safe_name(".."), "upload");
    }
}
