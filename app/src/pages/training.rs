//! Training runs (admins launch, admins and researchers watch): `/training` has the launch form
//! with its preview and the list of runs; `/training/:id` shows a run's live progress, curves,
//! snapshot and the model it produced.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::training::{
    LaunchPreview, LaunchRequest, PairPolicy, RankingPairs, ReferenceProgress, RunConfig,
    RunFilter, RunView,
};

/// The launch form's fields as the browser sends them (text; parsed on the server so that
/// errors name the field). Every field may be absent: an unticked list (no project chosen)
/// is not sent at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LaunchForm {
    /// Base model id.
    pub base_model_id: String,
    /// Output model name.
    pub output_name: String,
    /// Project ids.
    pub projects: Vec<String>,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Sources.
    pub sources: Vec<String>,
    /// Cohorts, comma-separated.
    pub cohorts: String,
    /// Minimum agreement.
    pub min_agreement: String,
    /// Annotator ids to leave out, comma-separated.
    pub exclude_annotators: String,
    /// `true` to weight votes by annotator reliability (the checkbox), empty otherwise.
    pub weight_annotators: String,
    /// `majority` or `soft`.
    pub policy: String,
    /// Ranking pairs: empty (rankings not used), `all_pairs`, `adjacent`, `best_vs_worst`.
    pub ranking_pairs: String,
    /// Rating margin (empty: ratings not used).
    pub rating_margin: String,
    /// Loss.
    pub loss: String,
    /// β.
    pub beta: String,
    /// Learning rate.
    pub learning_rate: String,
    /// Epochs.
    pub epochs: String,
    /// Batch size.
    pub batch_size: String,
    /// LoRA rank (empty: full fine-tuning).
    pub lora_rank: String,
    /// Max length.
    pub max_length: String,
    /// Max steps (empty: no limit).
    pub max_steps: String,
    /// Requeue on worker death.
    pub resume_on_failure: bool,
}

fn number<T: std::str::FromStr>(field: &str, s: &str) -> Result<Option<T>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| AppError::Unprocessable(format!("{field}: {s:?} is not a valid number")))
}

fn list<T: std::str::FromStr>(field: &str, items: &[String]) -> Result<Vec<T>, AppError> {
    items
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| AppError::Unprocessable(format!("{field}: {s:?} is not a valid id")))
        })
        .collect()
}

impl LaunchForm {
    /// The form from its fields by name: `one` reads a single value, `all` a repeated one
    /// (checkboxes).
    #[must_use]
    pub fn from_fields(one: impl Fn(&str) -> String, all: impl Fn(&str) -> Vec<String>) -> Self {
        Self {
            base_model_id: one("base_model_id"),
            output_name: one("output_name"),
            projects: all("projects"),
            from: one("from"),
            to: one("to"),
            sources: all("sources"),
            cohorts: one("cohorts"),
            min_agreement: one("min_agreement"),
            exclude_annotators: one("exclude_annotators"),
            weight_annotators: one("weight_annotators"),
            policy: one("policy"),
            ranking_pairs: one("ranking_pairs"),
            rating_margin: one("rating_margin"),
            loss: one("loss"),
            beta: one("beta"),
            learning_rate: one("learning_rate"),
            epochs: one("epochs"),
            batch_size: one("batch_size"),
            lora_rank: one("lora_rank"),
            max_length: one("max_length"),
            max_steps: one("max_steps"),
            resume_on_failure: !one("resume_on_failure").is_empty(),
        }
    }

    /// The form as a browser without JavaScript sends it: the query of `GET /training?…`.
    #[must_use]
    pub fn from_query(q: &leptos_router::params::ParamsMap) -> Self {
        Self::from_fields(
            |k| q.get(k).unwrap_or_default(),
            |k| q.get_all(k).unwrap_or_default(),
        )
    }

    /// The request it stands for.
    ///
    /// # Errors
    /// 422 naming a field that does not parse.
    pub fn to_request(&self) -> Result<LaunchRequest, AppError> {
        let d = RunConfig::default();
        let policy = match self.policy.as_str() {
            "" | "majority" => PairPolicy::Majority,
            "soft" => PairPolicy::Soft,
            other => {
                return Err(AppError::Unprocessable(format!(
                    "policy: {other:?} is not majority or soft"
                )));
            }
        };
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let ranking_pairs = match self.ranking_pairs.trim() {
            "" => None,
            "all_pairs" => Some(RankingPairs::AllPairs),
            "adjacent" => Some(RankingPairs::Adjacent),
            "best_vs_worst" => Some(RankingPairs::BestVsWorst),
            other => {
                return Err(AppError::Unprocessable(format!(
                    "ranking_pairs: {other:?} is not all_pairs, adjacent or best_vs_worst"
                )));
            }
        };
        Ok(LaunchRequest {
            ranking_pairs,
            rating_margin: number("rating_margin", &self.rating_margin)?,
            base_model_id: number("base_model_id", &self.base_model_id)?.ok_or_else(|| {
                AppError::Unprocessable("base_model_id: choose a base model".into())
            })?,
            output_name: text(&self.output_name),
            filter: RunFilter {
                projects: list("filter.projects", &self.projects)?,
                from: text(&self.from),
                to: text(&self.to),
                sources: self.sources.clone(),
                cohorts: self
                    .cohorts
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect(),
                min_agreement: number("filter.min_agreement", &self.min_agreement)?,
                exclude_annotators: list(
                    "filter.exclude_annotators",
                    std::slice::from_ref(&self.exclude_annotators),
                )?,
                weight_annotators: self.weight_annotators == "true",
                after_vote: None,
            },
            policy,
            config: RunConfig {
                loss: text(&self.loss).unwrap_or(d.loss),
                beta: number("config.beta", &self.beta)?.unwrap_or(d.beta),
                learning_rate: number("config.learning_rate", &self.learning_rate)?
                    .unwrap_or(d.learning_rate),
                epochs: number("config.epochs", &self.epochs)?.unwrap_or(d.epochs),
                batch_size: number("config.batch_size", &self.batch_size)?.unwrap_or(d.batch_size),
                lora_rank: number("config.lora_rank", &self.lora_rank)?,
                max_length: number("config.max_length", &self.max_length)?.unwrap_or(d.max_length),
                max_steps: number("config.max_steps", &self.max_steps)?,
                resume_on_failure: self.resume_on_failure,
                ..d
            },
        })
    }
}

pub use api::training::LaunchChoices;

/// The launch form's choices: `None` for researchers, who watch runs but do not launch them
/// (so that their `/training` page answers 200), 403 for everyone else.
#[server(endpoint = "training/options")]
pub async fn launch_options() -> Result<Option<LaunchChoices>, AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user = ssr::require_role(&state, &session, &[Role::Admin, Role::Researcher]).await?;
        if user.role() != Role::Admin {
            return Ok(None);
        }
        service::training::launch_choices(&state.pool)
            .await
            .map(Some)
    })
    .await
}

/// A preview, or the id of the run just queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LaunchOutcome {
    /// What the run would train on.
    Preview(LaunchPreview),
    /// Queued.
    Launched(i64),
}

/// Previews or launches a run (admins only).
#[server(endpoint = "training/launch")]
pub async fn launch_run(form: LaunchForm, preview: bool) -> Result<LaunchOutcome, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let admin = ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let req = form.to_request()?;
        if preview {
            let (p, _) = service::training::preview(&state.pool, &req).await?;
            Ok(LaunchOutcome::Preview(p))
        } else {
            let id = service::training::launch(
                &state.pool,
                state.models.as_ref(),
                Some(admin.user_id),
                &req,
            )
            .await?;
            Ok(LaunchOutcome::Launched(id))
        }
    })
    .await
}

/// The latest runs (admins, researchers).
#[server(endpoint = "training/runs")]
pub async fn list_runs() -> Result<Vec<RunView>, AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[Role::Admin, Role::Researcher]).await?;
        service::training::list(&state.pool).await
    })
    .await
}

/// One run with its metrics (admins, researchers).
#[server(endpoint = "training/run")]
pub async fn get_run(id: i64) -> Result<RunView, AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[Role::Admin, Role::Researcher]).await?;
        service::training::view(&state.pool, id).await
    })
    .await
}

/// Asks a run to stop (admins only).
#[server(endpoint = "training/cancel")]
pub async fn cancel_run(id: i64) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::training::cancel(&state.pool, id).await?;
        Ok(())
    })
    .await
}

/// Puts a run's output model in the arena, with its parent so that they can meet (admins
/// only).
#[server(endpoint = "training/enable")]
pub async fn enable_output(id: i64) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::training::put_in_arena(&state.pool, id).await?;
        Ok(())
    })
    .await
}

fn login_card(next: &str) -> AnyView {
    view! {
        <section class="card narrow">
            <h1>"Training"</h1>
            <p>"Please " <a href=format!("/login?next={next}")>"log in"</a> " as an admin or researcher."</p>
        </section>
    }
    .into_any()
}

/// `/training`: launch form and runs.
#[component]
pub fn TrainingPage() -> impl IntoView {
    let runs = Resource::new(|| (), |()| list_runs());
    // Without JavaScript the launch form is a GET of this page: its query is the form and the
    // button pressed, and the server renders the preview (a launch needs JavaScript, so GET
    // never changes anything).
    let sent = StoredValue::new(leptos_router::hooks::use_query_map().with_untracked(|q| {
        q.get("do")
            .map(|d| (LaunchForm::from_query(q), d == "launch"))
    }));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let sent = sent.get_value();
                match runs.await {
                    Ok(list) => view! {
                        <section class="card">
                            <h1>"Training runs"</h1>
                            <p class="muted">"DPO on the collected votes. A run freezes the exact votes it uses, trains in a worker, and its model can then battle its parent in the arena. "
                                <a href="/policies">"Training policies"</a>" start runs by themselves as votes come in."</p>
                            <RunList runs=list/>
                        </section>
                        <LaunchCard sent=sent.clone()/>
                    }.into_any(),
                    Err(AppError::Unauthorized(_)) => login_card("/training"),
                    Err(e) => view! { <p class="error card" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RunList(runs: Vec<RunView>) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p>"No runs yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data" aria-label="Training runs">
                <thead><tr><th>"Run"</th><th>"Status"</th><th>"Base model"</th><th>"Progress"</th><th>"Pairs"</th><th>"Model"</th><th>"Launched"</th></tr></thead>
                <tbody>
                    {runs.into_iter().map(|r| view! {
                        <tr>
                            <td><a href=format!("/training/{}", r.id)>{format!("#{}", r.id)}</a></td>
                            <td><span class=format!("status status-{}", r.status)>{r.status.clone()}</span></td>
                            <td>{r.base_model.clone()}</td>
                            <td>{format!("{:.0}%", r.progress() * 100.0)}</td>
                            <td>{r.snapshot_pairs}</td>
                            <td>{r.output_model.clone().unwrap_or_default()}</td>
                            <td>{r.created_at.get(..16).unwrap_or(&r.created_at).replace('T', " ")}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Reads the launch form.
#[cfg(feature = "hydrate")]
fn read_form(form: &leptos::web_sys::HtmlFormElement) -> Option<LaunchForm> {
    let data = leptos::web_sys::FormData::new_with_form(form).ok()?;
    let one = |k: &str| data.get(k).as_string().unwrap_or_default();
    let all = |k: &str| -> Vec<String> {
        data.get_all(k)
            .iter()
            .filter_map(|v| v.as_string())
            .collect()
    };
    Some(LaunchForm::from_fields(one, all))
}

/// The launch form with its preview (a lazy island; `sent` is the form a browser without
/// JavaScript sent, and whether it asked to launch).
#[island(lazy)]
fn LaunchCard(sent: Option<(LaunchForm, bool)>) -> impl IntoView {
    crate::components::island::hydrated();
    let options = Resource::new(|| (), |()| launch_options());
    let act =
        Action::new(|(form, preview): &(LaunchForm, bool)| launch_run(form.clone(), *preview));
    Effect::new(move |_| {
        if let Some(Ok(LaunchOutcome::Launched(id))) = act.value().get() {
            let _ = window().location().set_href(&format!("/training/{id}"));
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        if let Some((form, button)) = crate::components::forms::submitted(&ev)
            && let Some(f) = read_form(&form)
        {
            act.dispatch((f, button.is_none_or(|v| v == "preview")));
        }
    };
    let d = RunConfig::default();
    let prefill = sent.as_ref().map(|(f, _)| f.clone());
    let no_js = Resource::new(
        move || sent.clone(),
        |sent| async move {
            match sent {
                Some((form, launch)) => Some((launch_run(form, true).await, launch)),
                None => None,
            }
        },
    );
    let f = prefill.unwrap_or_else(|| LaunchForm {
        sources: vec!["human".into(), "import".into()],
        beta: d.beta.to_string(),
        learning_rate: d.learning_rate.to_string(),
        epochs: d.epochs.to_string(),
        batch_size: d.batch_size.to_string(),
        max_length: d.max_length.to_string(),
        ..LaunchForm::default()
    });
    let f = StoredValue::new(f);
    view! {
        <section class="card">
            <h2>"Launch a run"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let opts = match options.await {
                        Ok(Some(o)) => o,
                        Ok(None) | Err(AppError::Forbidden(_)) => return view! { <p class="muted">"Only admins launch runs."</p> }.into_any(),
                        Err(e) => return view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    };
                    if opts.models.is_empty() {
                        return view! { <p>"Register a local model on the admin page first (a Hugging Face folder, or `verdict model init-tiny` for a test model)."</p> }.into_any();
                    }
                    let f = f.get_value();
                    let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
                    view! {
                        <form class="stack-form" method="get" action="/training" on:submit=on_submit aria-label="Launch a training run">
                            <fieldset>
                                <legend>"Model"</legend>
                                <div class="row-form">
                                    <label>"Base model"
                                        <select name="base_model_id" required>
                                            {opts.models.iter().map(|(id, name)| view! { <option value=id.to_string() selected=f.base_model_id == id.to_string()>{name.clone()}</option> }).collect_view()}
                                        </select>
                                    </label>
                                    <label>"New model's name" <input type="text" name="output_name" value=f.output_name.clone() placeholder="default: <base>-dpo-<run>"/></label>
                                </div>
                            </fieldset>
                            <fieldset>
                                <legend>"Votes"</legend>
                                <div class="checks">
                                    {opts.projects.iter().map(|(id, name, votes)| view! {
                                        <label><input type="checkbox" name="projects" value=id.to_string() checked=has(&f.projects, &id.to_string())/>{format!(" {name} ({votes} votes)")}</label>
                                    }).collect_view()}
                                </div>
                                <p class="muted">"No project ticked: every pairwise project."</p>
                                <div class="row-form">
                                    <label>"From" <input type="date" name="from" value=f.from.clone()/></label>
                                    <label>"To" <input type="date" name="to" value=f.to.clone()/></label>
                                    <label>"Cohorts" <input type="text" name="cohorts" value=f.cohorts.clone() placeholder="comma-separated"/></label>
                                    <label>"Leave out annotators" <input type="text" name="exclude_annotators" value=f.exclude_annotators.clone() placeholder="ids, comma-separated"/></label>
                                </div>
                                <div class="row-form">
                                    <span>"Sources "</span>
                                    <label><input type="checkbox" name="sources" value="human" checked=has(&f.sources, "human")/>" human"</label>
                                    <label><input type="checkbox" name="sources" value="import" checked=has(&f.sources, "import")/>" imported"</label>
                                    <label><input type="checkbox" name="sources" value="llm_judge" checked=has(&f.sources, "llm_judge")/>" LLM judge"</label>
                                    <label>"Minimum agreement" <input type="number" name="min_agreement" min="0.5" max="1" step="0.05" value=f.min_agreement.clone() placeholder="0.5–1"/></label>
                                    <label title="an item's majority counts each vote at its annotator's NoisyBT skill"><input type="checkbox" name="weight_annotators" value="true" checked=f.weight_annotators == "true"/>" Weight by annotator reliability"</label>
                                    <label>"Pairs"
                                        <select name="policy">
                                            <option value="majority">"majority per item (ties dropped)"</option>
                                            <option value="soft" selected=f.policy == "soft">"majority with soft labels (vote share)"</option>
                                        </select>
                                    </label>
                                </div>
                                <div class="row-form">
                                    <label>"Rankings"
                                        <select name="ranking_pairs">
                                            <option value="">"not used"</option>
                                            <option value="all_pairs" selected=f.ranking_pairs == "all_pairs">"all pairs"</option>
                                            <option value="adjacent" selected=f.ranking_pairs == "adjacent">"adjacent places"</option>
                                            <option value="best_vs_worst" selected=f.ranking_pairs == "best_vs_worst">"best vs worst"</option>
                                        </select>
                                    </label>
                                    <label>"Ratings: pairs differing by at least" <input type="number" name="rating_margin" min="0.5" step="0.5" value=f.rating_margin.clone() placeholder="not used"/></label>
                                </div>
                            </fieldset>
                            <fieldset>
                                <legend>"Training"</legend>
                                <div class="row-form">
                                    <label>"Loss"
                                        <select name="loss">
                                            {crate::training::LOSSES.iter().map(|l| view! { <option value=*l selected=f.loss == *l>{*l}</option> }).collect_view()}
                                        </select>
                                    </label>
                                    <label>"β" <input type="number" name="beta" step="any" value=f.beta.clone()/></label>
                                    <label>"Learning rate" <input type="text" name="learning_rate" value=f.learning_rate.clone()/></label>
                                    <label>"Epochs" <input type="number" name="epochs" min="1" value=f.epochs.clone()/></label>
                                    <label>"Batch size" <input type="number" name="batch_size" min="1" value=f.batch_size.clone()/></label>
                                </div>
                                <div class="row-form">
                                    <label>"LoRA rank" <input type="number" name="lora_rank" min="1" value=f.lora_rank.clone() placeholder="empty: full fine-tune"/></label>
                                    <label>"Max length" <input type="number" name="max_length" min="8" value=f.max_length.clone()/></label>
                                    <label>"Max steps" <input type="number" name="max_steps" min="1" value=f.max_steps.clone() placeholder="no limit"/></label>
                                    <label><input type="checkbox" name="resume_on_failure" value="on" checked=f.resume_on_failure/>" resume if the worker dies"</label>
                                </div>
                            </fieldset>
                            <div class="row-form">
                                <button type="submit" class="button" name="do" value="preview" disabled=move || act.pending().get()>"Preview"</button>
                                <button type="submit" class="button primary" name="do" value="launch" disabled=move || act.pending().get()>"Launch"</button>
                                {move || act.pending().get().then(|| view! { <span class="muted" role="status">"Working…"</span> })}
                            </div>
                        </form>
                    }.into_any()
                })}
            </Suspense>
            {move || act.value().get().map(outcome)}
            <Show when=move || act.value().with(Option::is_none)>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let (result, launch) = no_js.await?;
                        Some(view! {
                            {launch.then(|| view! { <p class="muted">"Launching needs JavaScript; here is what the run would train on."</p> })}
                            {outcome(result)}
                        })
                    })}
                </Suspense>
            </Show>
        </section>
    }
}

fn outcome(r: Result<LaunchOutcome, AppError>) -> AnyView {
    match r {
        Ok(LaunchOutcome::Preview(p)) => view! { <PreviewView p/> }.into_any(),
        Ok(LaunchOutcome::Launched(id)) => {
            view! { <p class="ok" role="status">{format!("Run #{id} queued.")}</p> }.into_any()
        }
        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
    }
}

#[component]
fn PreviewView(p: LaunchPreview) -> impl IntoView {
    view! {
        <div role="status" class="preview">
            <p><strong>{format!("{} preference pairs", p.pairs)}</strong>
                {format!(" from {} votes ({} votes matched the filter), {} rankings and {} ratings.", p.votes, p.matched_votes, p.rankings, p.ratings)}</p>
            <div class="table-wrap">
                <table class="data" aria-label="Example pairs">
                    <thead><tr><th>"Prompt"</th><th>"Chosen"</th><th>"Rejected"</th><th>"Confidence"</th></tr></thead>
                    <tbody>
                        {p.examples.into_iter().map(|e| view! {
                            <tr>
                                <td>{shorten(&e.prompt)}</td>
                                <td>{format!("{} — {}", e.chosen_model, shorten(&e.chosen))}</td>
                                <td>{format!("{} — {}", e.rejected_model, shorten(&e.rejected))}</td>
                                <td>{format!("{:.2}", e.confidence)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </div>
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 120 {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(119).collect();
        t.push('…');
        t
    }
}

/// `/training/:id`: live progress, curves, snapshot, output model.
#[component]
pub fn RunPage() -> impl IntoView {
    let id = crate::url::id_param("id");
    view! { <RunIsland id/> }
}

/// The run, polled while it can still change, with its buttons (a lazy island).
#[island(lazy)]
fn RunIsland(id: i64) -> impl IntoView {
    crate::components::island::hydrated();
    let id = move || id;
    let tick = RwSignal::new(0u64);
    let cancel = Action::new(|id: &i64| cancel_run(*id));
    let enable = Action::new(|id: &i64| enable_output(*id));
    let run = Resource::new(
        move || {
            (
                id(),
                tick.get(),
                cancel.version().get(),
                enable.version().get(),
            )
        },
        |(id, _, _, _)| get_run(id),
    );
    // Poll while the run can still change; the page survives reloads because everything
    // comes from the database.
    crate::components::poll::poll_while(tick, std::time::Duration::from_millis(1000), move || {
        run.get_untracked()
            .and_then(Result::ok)
            .is_none_or(|r| r.is_active())
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match run.await {
                    Ok(r) => run_view(r, cancel, enable),
                    Err(AppError::Unauthorized(_)) => login_card(&format!("/training/{}", id())),
                    Err(e) => view! { <p class="error card" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The reference phase: the starting model scores the completions the run will use.
fn reference_view(p: &ReferenceProgress, active: bool) -> impl IntoView + use<> {
    let pct = if p.total > 0 {
        f64::from(p.done) * 100.0 / f64::from(p.total)
    } else {
        100.0
    };
    let eta = p
        .eta_seconds
        .map(|s| format!(" · about {} left", duration(s)))
        .unwrap_or_default();
    let verb = if active && p.is_running() {
        "Computing"
    } else {
        "Computed"
    };
    view! {
        <div class="progress" role="progressbar" aria-label="Reference log-probs" aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=format!("{pct:.0}")>
            <div class="progress-bar" style=format!("width: {pct:.1}%")></div>
        </div>
        <p class="progress-text">{format!("{verb} reference log-probs {}/{}{eta}", p.done, p.total)}</p>
    }
}

fn run_view(
    r: RunView,
    cancel: Action<i64, Result<(), AppError>>,
    enable: Action<i64, Result<(), AppError>>,
) -> AnyView {
    let id = r.id;
    let pct = r.progress() * 100.0;
    let steps = match r.total_steps {
        Some(t) => format!("step {} of {t}", r.step),
        None => format!("step {}", r.step),
    };
    let eta = r
        .eta_seconds
        .map(|s| format!(" · about {} left", duration(s)));
    let last = r.metrics.last().cloned();
    let metric = |name: &str| {
        last.as_ref()
            .and_then(|m| m.get(name))
            .map_or_else(|| "–".to_owned(), |v| format!("{v:.4}"))
    };
    let config = r.config.clone();
    let cfg = |k: &str| {
        config.get(k).map_or_else(String::new, |v| match v {
            serde_json::Value::Null => "–".to_owned(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let loss: Vec<(f64, f64)> = r
        .metrics
        .iter()
        .filter_map(|m| Some((f64::from(m.step), m.get("loss")?)))
        .collect();
    let acc: Vec<(f64, f64)> = r
        .metrics
        .iter()
        .filter_map(|m| Some((f64::from(m.step), m.get("rewards/accuracies")?)))
        .collect();
    let margins: Vec<(f64, f64)> = r
        .metrics
        .iter()
        .filter_map(|m| Some((f64::from(m.step), m.get("rewards/margins")?)))
        .collect();
    let total = f64::from(r.total_steps.unwrap_or(r.step).max(1));
    let active = r.is_active();
    let can_enable = r.status == "succeeded" && r.output_model_enabled == Some(false);
    view! {
        <section class="card">
            <h1>{format!("Training run #{id}")} " " <span class=format!("status status-{}", r.status)>{r.status.clone()}</span></h1>
            <p class="muted">{format!("{} · {} pairs from {} votes and {} other judgements ({}) · launched {}{}", r.base_model, r.snapshot_pairs, r.snapshot_votes, r.snapshot_judgements - r.snapshot_votes, r.policy,
                r.created_at.get(..16).unwrap_or(&r.created_at).replace('T', " "),
                r.launched_by.as_ref().map(|u| format!(" by {u}")).unwrap_or_default())}</p>
            {r.reference.clone().map(|p| reference_view(&p, active))}
            <div class="progress big" role="progressbar" aria-label="Training progress" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=format!("{pct:.0}")>
                <div class="progress-bar" style=format!("width: {pct:.1}%")></div>
            </div>
            <p class="progress-text">{format!("{pct:.0}% · {steps}")}{eta}
                {r.cancel_requested.then_some(" · stopping after this step")}</p>
            {r.error.clone().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <div class="row-form">
                {active.then(|| view! {
                    <button type="button" class="button" on:click=move |_| { cancel.dispatch(id); }>"Cancel run"</button>
                })}
                <a class="button" href=format!("/api/v1/training-runs/{id}/snapshot.jsonl") download>"Export snapshot (TRL JSONL)"</a>
            </div>
            {move || cancel.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        </section>
        <section class="card">
            <h2>"Metrics"</h2>
            <dl class="metrics">
                <div><dt>"loss"</dt><dd>{metric("loss")}</dd></div>
                <div><dt>"rewards/accuracies"</dt><dd>{metric("rewards/accuracies")}</dd></div>
                <div><dt>"rewards/margins"</dt><dd>{metric("rewards/margins")}</dd></div>
                <div><dt>"logps/chosen"</dt><dd>{metric("logps/chosen")}</dd></div>
                <div><dt>"logps/rejected"</dt><dd>{metric("logps/rejected")}</dd></div>
                <div><dt>"learning rate"</dt><dd>{last.as_ref().and_then(|m| m.get("learning_rate")).map_or_else(|| "–".to_owned(), |v| format!("{v:.2e}"))}</dd></div>
                <div><dt>"tokens/s"</dt><dd>{r.tokens_per_second.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))}</dd></div>
                <div><dt>"device"</dt><dd>{r.device.clone().unwrap_or_else(|| "–".to_owned())}</dd></div>
                <div><dt>"dtype"</dt><dd>{r.dtype.clone().unwrap_or_else(|| "–".to_owned())}</dd></div>
                {r.gpu_memory_mib.map(|m| view! { <div><dt>"GPU memory"</dt><dd>{format!("{m:.0} MiB")}</dd></div> })}
            </dl>
            <div class="charts">
                {chart("Loss", &loss, total)}
                {chart("Reward accuracy", &acc, total)}
                {chart("Reward margin", &margins, total)}
            </div>
        </section>
        <section class="card">
            <h2>"Settings"</h2>
            <p>{format!("loss {} · β {} · learning rate {} · {} epoch(s) · batch {} · {} · max length {}",
                cfg("loss"), cfg("beta"), cfg("learning_rate"), cfg("epochs"), cfg("batch_size"),
                match config.get("lora_rank").and_then(serde_json::Value::as_u64) { Some(r) => format!("LoRA r={r}"), None => "full fine-tune".to_owned() },
                cfg("max_length"))}</p>
            {r.output_model.clone().map(|name| view! {
                <h2>"Model"</h2>
                <p>{format!("{name} (trained from {}) ", r.base_model)}
                    {if r.output_model_enabled == Some(true) { "is in the arena." } else { "is not in the arena yet." }}</p>
                {can_enable.then(|| view! {
                    <button type="button" class="button primary" on:click=move |_| { enable.dispatch(id); }>"Enable in the arena"</button>
                    <span class="muted">" (with its parent: the arena pairs them first)"</span>
                })}
                {(r.output_model_enabled == Some(true)).then(|| view! {
                    <p><a href="/arena">"Go to the arena"</a> " — it meets its parent first. " <a href="/leaderboard">"Leaderboard"</a></p>
                })}
            })}
            {move || enable.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        </section>
    }
    .into_any()
}

fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A line chart of `points` (step, value) as inline SVG, x from 0 to `max_x`.
fn chart(title: &'static str, points: &[(f64, f64)], max_x: f64) -> AnyView {
    const W: f64 = 320.0;
    const H: f64 = 160.0;
    const PAD: f64 = 30.0;
    if points.is_empty() {
        return view! { <figure class="chart"><figcaption>{title}</figcaption><p class="muted">"No steps yet."</p></figure> }.into_any();
    }
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let span = if hi - lo > 1e-12 { hi - lo } else { 1.0 };
    let x = |v: f64| PAD + (W - PAD - 8.0) * v / max_x.max(1.0);
    let y = |v: f64| 8.0 + (H - PAD - 8.0) * (1.0 - (v - lo) / span);
    let path: String = points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            format!(
                "{}{:.1},{:.1}",
                if k == 0 { "M" } else { " L" },
                x(p.0),
                y(p.1)
            )
        })
        .collect();
    let last = points[points.len() - 1];
    view! {
        <figure class="chart">
            <figcaption>{title}</figcaption>
            <svg width=W height=H viewBox=format!("0 0 {W} {H}") role="img"
                aria-label=format!("{title}: {} steps, last {:.4}", points.len(), last.1)>
                <line x1=PAD y1=H - PAD x2=W - 8.0 y2=H - PAD stroke="currentColor" stroke-opacity="0.4"/>
                <line x1=PAD y1="8" x2=PAD y2=H - PAD stroke="currentColor" stroke-opacity="0.4"/>
                <text x="2" y="14" font-size="10">{format!("{hi:.3}")}</text>
                <text x="2" y=H - PAD font-size="10">{format!("{lo:.3}")}</text>
                <text x=W - 40.0 y=H - 12.0 font-size="10">{format!("step {max_x:.0}")}</text>
                <path d=path fill="none" stroke="var(--accent)" stroke-width="2"/>
                <circle cx=x(last.0) cy=y(last.1) r="3" fill="var(--accent)"/>
            </svg>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_parses_with_errors_naming_the_field() {
        let form = LaunchForm {
            base_model_id: "3".into(),
            projects: vec!["1".into(), "2".into()],
            exclude_annotators: "7, 9".into(),
            cohorts: "a, b,".into(),
            beta: "0.2".into(),
            lora_rank: String::new(),
            policy: "soft".into(),
            ..LaunchForm::default()
        };
        let req = form.to_request().unwrap();
        assert_eq!(req.base_model_id, 3);
        assert_eq!(req.filter.projects, [1, 2]);
        assert_eq!(req.filter.exclude_annotators, [7, 9]);
        assert_eq!(req.filter.cohorts, ["a", "b"]);
        assert_eq!(req.policy, PairPolicy::Soft);
        assert!((req.config.beta - 0.2).abs() < 1e-12);
        assert_eq!(req.config.lora_rank, None);
        assert_eq!(req.config.epochs, RunConfig::default().epochs);
        let bad = LaunchForm {
            epochs: "two".into(),
            ..form.clone()
        };
        assert!(
            bad.to_request()
                .unwrap_err()
                .to_string()
                .starts_with("config.epochs")
        );
        let bad = LaunchForm {
            base_model_id: String::new(),
            ..form
        };
        assert!(
            bad.to_request()
                .unwrap_err()
                .to_string()
                .starts_with("base_model_id")
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(42.4), "42s");
        assert_eq!(duration(125.0), "2m 05s");
        assert_eq!(duration(3725.0), "1h 02m");
    }
}
