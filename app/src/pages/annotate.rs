//! The annotator's start: who they are and the projects open for annotation.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::SessionUser;
use crate::error::AppError;

/// The annotator and the open projects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotateHome {
    /// The session's annotator (created on first visit).
    pub annotator: SessionUser,
    /// Projects: id, name, protocol, item count.
    pub projects: Vec<(i64, String, String, i64)>,
}

/// Binds an annotator to the session if there is none, and lists projects.
#[server(endpoint = "annotate/home")]
pub async fn get_annotate_home(pid: Option<String>) -> Result<AnnotateHome, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user = ssr::ensure_annotator(&state, &session, pid.as_deref()).await?;
        let projects = service::projects::summaries(&state.pool, false).await?;
        Ok(AnnotateHome {
            annotator: ssr::to_session_user(user),
            projects: projects
                .into_iter()
                .map(|p| (p.project_id, p.name, p.protocol, p.items))
                .collect(),
        })
    })
    .await
}

/// The annotate page.
#[component]
pub fn AnnotatePage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let home = Resource::new(move || query.read().get("pid"), get_annotate_home);
    view! {
        <h1>"Annotate"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match home.await {
                    Ok(h) => view! {
                        <p class="muted">"You are " <strong>{h.annotator.label()}</strong> "."</p>
                        {if h.projects.is_empty() {
                            view! { <p class="card">"No projects are open for annotation yet."</p> }.into_any()
                        } else {
                            view! {
                                <ul class="projects">
                                    {h.projects.into_iter().map(|(id, name, protocol, items)| view! {
                                        <li class="card" data-project=id>
                                            <a href=format!("/annotate/{id}")><strong>{name}</strong></a>
                                            <span class="muted">{format!(" · {protocol} · {items} items")}</span>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
