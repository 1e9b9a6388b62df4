//! `/data`: import files (admins) with a preview and a dry run, and download exports
//! (researchers and admins).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::{MultipartData, MultipartFormData};

use crate::error::AppError;

pub use api::data::ImportReport;

/// What the data page shows this user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPageInfo {
    /// Admins may import.
    pub can_import: bool,
    /// Projects, for the export links.
    pub projects: Vec<(i64, String, String, i64)>,
}

/// The data page's content (researchers and admins).
#[server(endpoint = "data/home")]
pub async fn data_overview() -> Result<DataPageInfo, AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user = ssr::require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
        Ok(DataPageInfo {
            can_import: user.role() == Role::Admin,
            projects: service::projects::summaries(&state.pool, true)
                .await?
                .into_iter()
                .map(|p| (p.project_id, p.name, p.protocol, p.items))
                .collect(),
        })
    })
    .await
}

/// Imports an uploaded file (admins). Multipart fields: `kind` (`pandalm`, `jsonl`, `arena`),
/// `project`, `file`, optional `judgements` (PandaLM's GPT-3.5 file) and `dry_run`
/// (`true` to validate and count without writing).
#[server(input = MultipartFormData, endpoint = "data/import")]
pub async fn import_file(data: MultipartData) -> Result<ImportReport, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let request = read_import_form(data).await?;
        service::imports::import_upload(&state.pool, request).await
    })
    .await
}

/// The import form's fields (see [`import_file`]).
#[cfg(feature = "ssr")]
async fn read_import_form(
    data: MultipartData,
) -> Result<service::imports::ImportRequest, AppError> {
    use service::imports::{ImportRequest, Upload};
    let mut form = data
        .into_inner()
        .ok_or_else(|| AppError::BadRequest("expected a multipart form".into()))?;
    let (mut kind, mut project, mut dry_run) = (String::new(), None, false);
    let (mut file, mut judgements) = (None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("unreadable upload: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| AppError::BadRequest(format!("unreadable upload: {e}")))?;
        let text = || String::from_utf8_lossy(&bytes).trim().to_owned();
        match name.as_str() {
            "kind" => kind = text(),
            "project" => project = Some(text()).filter(|p| !p.is_empty()),
            "dry_run" => dry_run = text() == "true",
            "file" | "judgements" if !bytes.is_empty() => {
                let upload = Upload {
                    name: file_name.unwrap_or_else(|| name.clone()),
                    bytes: bytes.to_vec(),
                };
                if name == "file" {
                    file = Some(upload);
                } else {
                    judgements = Some(upload);
                }
            }
            _ => {}
        }
    }
    let file = file.ok_or_else(|| AppError::Unprocessable("choose a file to import".into()))?;
    let request = ImportRequest {
        kind,
        project,
        file,
        judgements,
        dry_run,
    };
    Ok(request)
}

/// `/data`.
#[component]
pub fn DataPage() -> impl IntoView {
    let home = Resource::new(|| (), |()| data_overview());
    view! {
        <h1>"Data"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match home.await {
                    Ok(h) => view! {
                        {h.can_import.then(|| view! { <ImportCard/> })}
                        <ExportCard projects=h.projects/>
                    }.into_any(),
                    Err(AppError::Unauthorized(_)) => view! {
                        <section class="card narrow">
                            <p>"Please " <a href="/login?next=/data">"log in"</a> " as a researcher or admin."</p>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="error card" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The import form with its preview (a lazy island).
#[island(lazy)]
fn ImportCard() -> impl IntoView {
    crate::components::island::hydrated();
    let import =
        Action::new_local(|data: &leptos::web_sys::FormData| import_file(data.clone().into()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        if let Some((form, button)) = crate::components::forms::submitted(&ev)
            && let Ok(data) = leptos::web_sys::FormData::new_with_form(&form)
        {
            let _ = data.append_with_str("dry_run", button.as_deref().unwrap_or("true"));
            import.dispatch_local(data);
        }
    };
    view! {
        <section class="card">
            <h2>"Import"</h2>
            <p class="muted">"Each file imports in one transaction: all of it or nothing. Importing the same file again adds nothing. Preview checks every record and counts what is new without writing."</p>
            <form class="stack-form" on:submit=on_submit aria-label="Import">
                <div class="row-form">
                    <label>"Format"
                        <select name="kind">
                            <option value="jsonl">"Verdict JSONL (items, responses, judgements)"</option>
                            <option value="pandalm">"PandaLM test set"</option>
                            <option value="arena">"Chatbot Arena battle log"</option>
                        </select>
                    </label>
                    <label>"Project" <input type="text" name="project" placeholder="name (created if missing)"/></label>
                </div>
                <div class="row-form">
                    <label>"File" <input type="file" name="file" required accept=".json,.jsonl,.csv"/></label>
                    <label>"PandaLM judgements (optional)" <input type="file" name="judgements" accept=".json"/></label>
                </div>
                <div class="row-form">
                    <button type="submit" class="button" value="true" disabled=move || import.pending().get()>"Preview"</button>
                    <button type="submit" class="button primary" value="false" disabled=move || import.pending().get()>"Import"</button>
                    {move || import.pending().get().then(|| view! { <span class="muted" role="status">"Working…"</span> })}
                </div>
            </form>
            {move || import.value().get().map(|r| match r {
                Ok(report) => view! { <ImportResult report/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn ImportResult(report: ImportReport) -> impl IntoView {
    let verb = if report.dry_run { "would add" } else { "added" };
    view! {
        <div role="status" class=if report.dry_run { "preview" } else { "ok" }>
            <p>
                {if report.dry_run { "Preview (nothing written): " } else { "Imported: " }}
                {format!("{} items in the file, {verb} {}; {} judgements, {verb} {}.",
                    report.items, report.new_items, report.votes, report.new_votes)}
            </p>
            {report.skipped.into_iter().map(|s| view! { <p class="muted">{format!("Skipped: {s}")}</p> }).collect_view()}
        </div>
        {(!report.rows.is_empty()).then(|| view! {
            <div class="table-wrap">
                <table class="data" aria-label="First records">
                    <thead><tr>{report.columns.into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {report.rows.into_iter().map(|r| view! {
                            <tr>{r.into_iter().map(|v| view! { <td>{v}</td> }).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        })}
    }
}

#[component]
fn ExportCard(projects: Vec<(i64, String, String, i64)>) -> impl IntoView {
    let link = |path: &str, project: Option<&str>, format: &str| {
        let mut q = vec![format!("format={format}")];
        if let Some(p) = project {
            q.push(format!("project={}", crate::url::encode(p)));
        }
        format!("/api/v1/exports/{path}?{}", q.join("&"))
    };
    let row = move |id: Option<i64>,
                    name: Option<String>,
                    label: String,
                    protocol: String,
                    items: String| {
        let p = name.as_deref();
        let card = match p {
            Some(p) => format!("/api/v1/exports/dpo/card?project={}", crate::url::encode(p)),
            None => "/api/v1/exports/dpo/card".to_owned(),
        };
        view! {
            <tr>
                <td>{match id {
                    Some(id) => view! { <a href=format!("/quality/{id}") title="Agreement, annotators, consistency">{label}</a> }.into_any(),
                    None => view! { <span>{label}</span> }.into_any(),
                }}</td>
                <td>{protocol}</td>
                <td>{items}</td>
                <td class="links">
                    <a href=link("votes", p, "jsonl") download>"JSONL"</a>" "
                    <a href=link("votes", p, "csv") download>"CSV"</a>" "
                    <a href=link("votes", p, "parquet") download>"Parquet"</a>
                </td>
                <td class="links">
                    <a href=link("dpo", p, "jsonl") download>"JSONL"</a>" "
                    <a href=link("dpo", p, "parquet") download>"Parquet"</a>" "
                    <a href=card download>"card"</a>
                </td>
                <td class="links">
                    <a href=link("ratings", p, "jsonl") download>"ratings"</a>" "
                    <a href=link("rankings", p, "jsonl") download>"rankings"</a>
                </td>
            </tr>
        }
    };
    view! {
        <section class="card">
            <h2>"Export"</h2>
            <p class="muted">"Votes with full provenance (annotator, side shown, strength, rationale, time, guideline version, source). DPO pairs in TRL's format (prompt, chosen, rejected) by majority per item, with a dataset card. Excluded annotators are left out. A project's name opens its quality page (agreement, annotators, consistency)."</p>
            <div class="table-wrap">
                <table class="data" aria-label="Exports">
                    <thead><tr><th>"Project"</th><th>"Protocol"</th><th>"Items"</th><th>"Votes"</th><th>"DPO pairs"</th><th>"Ratings, rankings (JSONL)"</th></tr></thead>
                    <tbody>
                        {row(None, None, "All projects".into(), String::new(), String::new())}
                        {projects.into_iter().map(|(id, name, protocol, items)| row(Some(id), Some(name.clone()), name, protocol, items.to_string())).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
