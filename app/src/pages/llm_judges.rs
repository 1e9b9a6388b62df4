//! The admin page's LLM-judges card: queue a judge job over a pairwise or rating project, watch
//! its progress, cancel it, and register judge templates. The workers of `verdict serve` (or
//! `verdict worker`) run the jobs.

use leptos::prelude::*;

use crate::error::AppError;

pub use api::judges::{JudgeJobView, JudgePanel};

/// Recent judge jobs and the form's choices (admins only).
#[server(endpoint = "admin/judge_panel")]
pub async fn load_judge_panel() -> Result<JudgePanel, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::judges::panel(&state.pool, 20).await
    })
    .await
}

/// Queues a judge job (admins only).
#[server(endpoint = "admin/queue_judge_job")]
pub async fn queue_judge_job(
    project: String,
    judge: String,
    template: Option<String>,
    orders: Option<String>,
    limit: Option<String>,
) -> Result<i64, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let admin = ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let form = service::judges::JobForm {
            project,
            judge,
            template,
            orders,
            limit,
        };
        let request = service::judges::form_request(form, Some(admin.user_id))?;
        Ok(service::judges::queue(&state.pool, &request)
            .await?
            .judge_job_id)
    })
    .await
}

/// Asks a judge job to stop (admins only).
#[server(endpoint = "admin/cancel_judge_job")]
pub async fn cancel_judge_job(id: i64) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::judges::cancel(&state.pool, id).await
    })
    .await
}

/// Registers a judge template (admins only); returns its version.
#[server(endpoint = "admin/register_judge_template")]
pub async fn register_judge_template(name: String, body: String) -> Result<i32, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let body = body.replace("\r\n", "\n");
        let (template, _) = service::judges::register_template(&state.pool, &name, &body).await?;
        Ok(template.version)
    })
    .await
}

/// The card (a lazy island).
#[island(lazy)]
pub fn JudgesPanel() -> impl IntoView {
    crate::components::island::hydrated();
    let queue = ServerAction::<QueueJudgeJob>::new();
    let cancel = ServerAction::<CancelJudgeJob>::new();
    let register = ServerAction::<RegisterJudgeTemplate>::new();
    let tick = RwSignal::new(0u64);
    let panel = Resource::new(
        move || {
            (
                queue.version().get(),
                cancel.version().get(),
                register.version().get(),
                tick.get(),
            )
        },
        |_| load_judge_panel(),
    );
    // Poll while a job may still change.
    crate::components::poll::poll_while(tick, std::time::Duration::from_millis(2000), move || {
        panel
            .get_untracked()
            .and_then(Result::ok)
            .is_some_and(|p| p.active())
    });
    let outcome = |r: Option<Result<String, AppError>>| match r {
        Some(Ok(text)) => Some(view! { <p class="ok" role="status">{text}</p> }.into_any()),
        Some(Err(e)) => {
            Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any())
        }
        None => None,
    };
    view! {
        <section class="card">
            <h2>"LLM judges"</h2>
            <p class="muted">"A judge job asks a model to compare each item's two responses, in both display orders (on a rating project: to score each response on each criterion); its verdicts become votes, its scores ratings, with source llm_judge. Workers run the queued jobs. The project's quality page holds the judge audit."</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match panel.await {
                        Ok(p) => view! {
                            <JudgeJobs jobs=p.jobs cancel/>
                            <JudgeForm choices=p.choices queue/>
                        }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            {move || outcome(queue.value().get().map(|r| r.map(|id| format!("Judge job #{id} queued."))))}
            {move || outcome(cancel.value().get().map(|r| r.map(|()| "The job is stopping.".to_owned())))}
            <h3>"Register a judge template"</h3>
            <ActionForm action=register attr:class="stack-form" attr:aria-label="Register a judge template">
                <label>"Name" <input type="text" name="name" required pattern="[A-Za-z0-9._\\-]{1,64}"/></label>
                <label>"Prompt with {question}, {answer_a} and {answer_b}, ending in [[A]], [[B]], [[C]] (tie) or [[D]] (both bad); or, for rating projects, with {question} and {answer} (and {criterion}, {min}, {max}), ending in a score [[N]]"
                    <textarea name="body" rows="6" required></textarea>
                </label>
                <button type="submit" class="button">"Register"</button>
            </ActionForm>
            {move || outcome(register.value().get().map(|r| r.map(|v| format!("Template registered as version {v}."))))}
        </section>
    }
}

/// The latest jobs with their progress and a cancel button while they can stop.
#[component]
fn JudgeJobs(jobs: Vec<JudgeJobView>, cancel: ServerAction<CancelJudgeJob>) -> impl IntoView {
    if jobs.is_empty() {
        return view! { <p>"No judge jobs yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data" aria-label="Judge jobs">
                <thead><tr><th>"#"</th><th>"Project"</th><th>"Judge"</th><th>"Template"</th><th>"Status"</th><th>"Items"</th><th></th></tr></thead>
                <tbody>
                    {jobs.into_iter().map(|j| {
                        let stoppable = j.status == "queued" || j.status == "running";
                        let total = j.items_total.max(1);
                        view! {
                            <tr>
                                <td>{j.judge_job_id}</td>
                                <td>{j.project.clone()}</td>
                                <td>{j.judge.clone()}</td>
                                <td>{j.template.clone()}{(!j.both_orders).then_some(" (one order)")}</td>
                                <td title=j.error.clone().unwrap_or_default()>{j.status.clone()}</td>
                                <td>
                                    <progress max=total.to_string() value=j.items_done.to_string()
                                        aria-label=format!("Job {} progress", j.judge_job_id)></progress>
                                    {format!(" {} / {}", j.items_done, j.items_total)}
                                </td>
                                <td>
                                    {stoppable.then(|| view! {
                                        <ActionForm action=cancel>
                                            <input type="hidden" name="id" value=j.judge_job_id.to_string()/>
                                            <button type="submit" class="button">"Cancel"</button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The form that queues a job.
#[component]
fn JudgeForm(
    choices: api::judges::JudgeChoices,
    queue: ServerAction<QueueJudgeJob>,
) -> impl IntoView {
    if choices.projects.is_empty() || choices.judges.is_empty() {
        return view! {
            <p class="muted">"To judge, add a pairwise or rating project and an OpenAI-compatible or local model first."</p>
        }
        .into_any();
    }
    let options = |names: Vec<String>| {
        names
            .into_iter()
            .map(|n| {
                let label = n.clone();
                view! { <option value=n>{label}</option> }
            })
            .collect_view()
    };
    view! {
        <h3>"Judge a project"</h3>
        <ActionForm action=queue attr:class="row-form" attr:aria-label="Judge a project">
            <label>"Project" <select name="project" required>{options(choices.projects)}</select></label>
            <label>"Judge" <select name="judge" required>{options(choices.judges)}</select></label>
            <label>"Template"
                <select name="template">
                    <option value="">"built-in default"</option>
                    {options(choices.templates)}
                </select>
            </label>
            <label>"Orders (pairwise)"
                <select name="orders">
                    <option value="both">"both (A/B and B/A)"</option>
                    <option value="one">"one (as stored)"</option>
                </select>
            </label>
            <label>"Items at most" <input type="number" name="limit" min="1" placeholder="all"/></label>
            <button type="submit" class="button primary">"Queue"</button>
        </ActionForm>
    }
    .into_any()
}
