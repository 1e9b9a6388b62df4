//! The server's side of [`app::state::Services`]: work that server functions hand down to the
//! binary (the importers, shared with `verdict import`).

use std::sync::Arc;

use app::error::AppError;
use app::pages::data::ImportReport;
use app::state::{AppState, BoxFuture, ImportRequest, Services, Settings};
use leptos::config::LeptosOptions;

/// The services of a running `verdict`.
#[derive(Debug, Default)]
pub struct ServerServices;

/// The application state with this binary's services.
#[must_use]
pub fn state(pool: db::PgPool, leptos_options: LeptosOptions, settings: Settings) -> AppState {
    AppState {
        pool,
        leptos_options,
        settings: Arc::new(settings),
        services: Arc::new(ServerServices),
    }
}

impl Services for ServerServices {
    fn import(
        &self,
        pool: db::PgPool,
        request: ImportRequest,
    ) -> BoxFuture<'static, Result<ImportReport, AppError>> {
        Box::pin(import(pool, request))
    }

    fn check_model(&self, config: serde_json::Value) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || crate::worker::check_model(&config))
                .await
                .map_err(|e| format!("the check failed: {e}"))?
                .map_err(|e| format!("{e:#}"))
        })
    }
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

async fn import(pool: db::PgPool, r: ImportRequest) -> Result<ImportReport, AppError> {
    let dir = tempfile::tempdir().map_err(AppError::internal)?;
    let path = dir.path().join(safe_name(&r.file.name));
    std::fs::write(&path, &r.file.bytes).map_err(AppError::internal)?;
    let judgements = match &r.judgements {
        Some(j) => {
            let p = dir
                .path()
                .join(format!("judgements-{}", safe_name(&j.name)));
            std::fs::write(&p, &j.bytes).map_err(AppError::internal)?;
            Some(p)
        }
        None => None,
    };
    let project = r.project.as_deref();
    let result = match r.kind.as_str() {
        "pandalm" => {
            crate::import::pandalm(
                &pool,
                &path,
                judgements.as_deref(),
                project.unwrap_or("PandaLM"),
                r.dry_run,
            )
            .await
        }
        "jsonl" => {
            let project = project
                .ok_or_else(|| AppError::Unprocessable("name the project to import into".into()))?;
            crate::import::jsonl(&pool, &path, project, r.dry_run).await
        }
        "arena" => crate::import::arena(&pool, &path, project, r.dry_run).await,
        other => {
            return Err(AppError::Unprocessable(format!(
                "unknown format {other:?}: pandalm, jsonl or arena"
            )));
        }
    };
    // The importers' messages name the element or line and field; the temporary path is noise.
    let summary = result.map_err(|e| {
        let message = format!("{e:#}").replace(&path.display().to_string(), &r.file.name);
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
