//! The start page: what Verdict is, what this instance holds, and the keyboard shortcuts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What this instance holds, for the start page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewResponse {
    /// Registered models.
    pub models: i64,
    /// Prompts.
    pub prompts: i64,
    /// Projects.
    pub projects: i64,
    /// All judgements (votes, ratings, rankings).
    pub judgements: i64,
}

/// Counts of the main resources (public).
#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<OverviewResponse, AppError> {
    crate::auth::ssr::respond(async {
        let (state, _) = crate::auth::ssr::context().await?;
        let o = service::projects::overview(&state.pool).await?;
        Ok(OverviewResponse {
            models: o.models,
            prompts: o.prompts,
            projects: o.projects,
            judgements: o.votes + o.other_judgements,
        })
    })
    .await
}

/// The start page.
#[component]
pub fn HomePage() -> impl IntoView {
    let overview = Resource::new(|| (), |()| get_overview());
    view! {
        <section class="hero">
            <h1>"Learn from human preferences"</h1>
            <p class="lede">
                "Compare model responses side by side, rate and rank them, read leaderboards with "
                "confidence intervals, and train better models on the votes."
            </p>
            <div class="actions">
                <a class="button primary" href="/annotate">"Start annotating"</a>
                <a class="button" href="/leaderboard">"See the leaderboard"</a>
            </div>
        </section>
        <section class="stats" aria-label="This instance">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(o) => view! {
                            <Stat label="Models" value=o.models/>
                            <Stat label="Prompts" value=o.prompts/>
                            <Stat label="Projects" value=o.projects/>
                            <Stat label="Judgements" value=o.judgements/>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <KeysToggle/>
    }
}

/// The keyboard shortcuts, shown on request (an island).
#[island]
fn KeysToggle() -> impl IntoView {
    crate::components::island::hydrated();
    let (show_keys, set_show_keys) = signal(false);
    view! {
        <section class="card">
            <button
                type="button"
                class="button"
                aria-expanded=move || show_keys.get().to_string()
                on:click=move |_| set_show_keys.update(|v| *v = !*v)
            >
                {move || if show_keys.get() { "Hide keyboard shortcuts" } else { "Show keyboard shortcuts" }}
            </button>
            <Show when=move || show_keys.get()>
                <table class="keys" aria-label="Keyboard shortcuts">
                    <tbody>
                        <tr><td><kbd>"1"</kbd>" or "<kbd>"←"</kbd></td><td>"A is better"</td></tr>
                        <tr><td><kbd>"2"</kbd>" or "<kbd>"→"</kbd></td><td>"B is better"</td></tr>
                        <tr><td><kbd>"3"</kbd>" or "<kbd>"↑"</kbd></td><td>"Tie"</td></tr>
                        <tr><td><kbd>"4"</kbd>" or "<kbd>"↓"</kbd></td><td>"Both are bad"</td></tr>
                    </tbody>
                </table>
            </Show>
        </section>
    }
}

#[component]
fn Stat(label: &'static str, value: i64) -> impl IntoView {
    view! {
        <div class="stat">
            <span class="stat-value">{value}</span>
            <span class="stat-label">{label}</span>
        </div>
    }
}
