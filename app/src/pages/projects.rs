//! Project administration (on the admin page): create a pairwise project from imported
//! responses, choosing which models compete, and edit settings and versioned guidelines.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub use api::admin::{CandidateModel, ProjectRow};

/// Projects with their settings (admins only).
#[server(endpoint = "admin/projects")]
pub async fn list_projects() -> Result<Vec<ProjectRow>, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::projects::listed(&state.pool).await
    })
    .await
}

/// Models with responses, within the prompts of `source_project` when given (admins only).
#[server(endpoint = "admin/candidate_models")]
pub async fn candidate_models(
    source_project: Option<i64>,
) -> Result<Vec<CandidateModel>, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::projects::candidate_models(&state.pool, source_project).await
    })
    .await
}

/// Project settings as the forms send them (fields named `settings[...]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsForm {
    /// Guidelines (Markdown).
    pub guidelines: String,
    /// Judgements per item.
    pub overlap_target: i32,
    /// `off` / `optional` / `required`.
    pub rationale_mode: String,
    /// `off` / `slight_clear`.
    pub strength_scale: String,
    /// Assignment time limit in seconds.
    pub assignment_ttl_seconds: i32,
    /// The checkbox "judge-unsure items first" (absent when unticked).
    #[serde(default)]
    pub judge_routing: Option<String>,
}

#[cfg(feature = "ssr")]
impl From<SettingsForm> for service::projects::ProjectSettings {
    fn from(f: SettingsForm) -> Self {
        Self {
            guidelines: f.guidelines.replace("\r\n", "\n"),
            overlap_target: f.overlap_target,
            rationale_mode: f.rationale_mode,
            strength_scale: f.strength_scale,
            assignment_ttl_seconds: f.assignment_ttl_seconds,
            judge_routing: f.judge_routing.is_some(),
        }
    }
}

/// Creates a pairwise project from imported responses (admins only); `source_project` empty
/// means every prompt. Returns the number of items.
#[server(endpoint = "admin/create_project")]
pub async fn create_project(
    name: String,
    source_project: Option<String>,
    #[server(default)] models: Vec<i64>,
    settings: SettingsForm,
    #[server(default)] protocol: ProtocolForm,
) -> Result<usize, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let admin = ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let (kind, config) = protocol.parse().map_err(AppError::Unprocessable)?;
        let settings = settings.into();
        let project = service::projects::CreateProject {
            name: &name,
            source_project: source_project.as_deref(),
            protocol: &kind,
            config: &config,
            settings: &settings,
            models: &models,
        };
        service::projects::create(&state.pool, admin.user_id, &project).await
    })
    .await
}

/// The protocol part of the new-project form (fields named `protocol[...]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolForm {
    /// `pairwise` (default), `rating` or `ranking`.
    #[serde(default)]
    pub kind: String,
    /// Rating criteria, one per line: `Name | min-max | low label | high label`.
    #[serde(default)]
    pub criteria: String,
    /// Ratings may be N/A (checkbox).
    #[serde(default)]
    pub allow_na: Option<String>,
    /// Rating of two responses plus a pairwise choice (checkbox).
    #[serde(default)]
    pub with_choice: Option<String>,
    /// Judgements faster than this many ms count as too fast.
    #[serde(default)]
    pub min_time_ms: String,
    /// Flag above this share of too-fast judgements (0–1).
    #[serde(default)]
    pub max_fast_share: String,
    /// Flag below this gold accuracy (0–1).
    #[serde(default)]
    pub min_gold_accuracy: String,
    /// A gold item every this many assignments.
    #[serde(default)]
    pub attention_every: String,
}

impl ProtocolForm {
    /// The protocol and its settings as the project stores them.
    ///
    /// # Errors
    /// A message naming the field or criteria line.
    pub fn parse(&self) -> Result<(String, serde_json::Value), String> {
        let kind = match self.kind.trim() {
            "" | "pairwise" => "pairwise",
            "rating" => "rating",
            "ranking" => "ranking",
            other => {
                return Err(format!(
                    "protocol: {other:?} is not pairwise, rating or ranking"
                ));
            }
        };
        fn num<T: std::str::FromStr>(field: &str, s: &str) -> Result<Option<T>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| format!("{field}: {s:?} is not a number"))
        }
        let mut criteria = Vec::new();
        for (k, line) in self
            .criteria
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let parts: Vec<&str> = line.split('|').map(str::trim).collect();
            let (min, max) = match parts.get(1).filter(|s| !s.is_empty()) {
                None => (1, 7),
                Some(scale) => {
                    let (a, b) = scale.split_once('-').ok_or_else(|| {
                        format!("criteria line {}: the scale is MIN-MAX, like 1-7", k + 1)
                    })?;
                    let parse = |s: &str| {
                        s.trim().parse::<i32>().map_err(|_| {
                            format!("criteria line {}: {s:?} is not a whole number", k + 1)
                        })
                    };
                    (parse(a)?, parse(b)?)
                }
            };
            criteria.push(serde_json::json!({
                "name": parts[0],
                "min": min,
                "max": max,
                "low": parts.get(2).copied().unwrap_or(""),
                "high": parts.get(3).copied().unwrap_or(""),
            }));
        }
        let mut config = serde_json::json!({
            "allow_na": self.allow_na.is_some(),
            "with_choice": self.with_choice.is_some(),
            "qc": {
                "min_time_ms": num::<i32>("min_time_ms", &self.min_time_ms)?,
                "max_fast_share": num::<f64>("max_fast_share", &self.max_fast_share)?,
                "min_gold_accuracy": num::<f64>("min_gold_accuracy", &self.min_gold_accuracy)?,
                "attention_every": num::<i32>("attention_every", &self.attention_every)?,
            },
        });
        if !criteria.is_empty() {
            config["criteria"] = criteria.into();
        }
        Ok((kind.to_owned(), config))
    }
}

/// Updates a project's settings (admins only); changed guidelines become a new version.
/// Returns the guideline version in force.
#[server(endpoint = "admin/update_project")]
pub async fn update_project(project_id: i64, settings: SettingsForm) -> Result<i32, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::projects::update_settings(&state.pool, project_id, &settings.into()).await
    })
    .await
}

/// The select/inputs shared by the create and edit forms.
#[component]
fn SettingsFields(
    guidelines: String,
    overlap_target: i32,
    rationale_mode: String,
    strength_scale: String,
    assignment_ttl_seconds: i32,
    judge_routing: bool,
) -> impl IntoView {
    let opt = |value: &'static str, label: &'static str, current: &str| {
        let selected = value == current;
        view! { <option value=value selected=selected>{label}</option> }
    };
    view! {
        <div class="row-form">
            <label>"Overlap (judgements per item)"
                <input type="number" name="settings[overlap_target]" min="1" max="1000" required value=overlap_target.to_string()/>
            </label>
            <label>"Rationale"
                <select name="settings[rationale_mode]">
                    {opt("off", "off", &rationale_mode)}
                    {opt("optional", "optional", &rationale_mode)}
                    {opt("required", "required", &rationale_mode)}
                </select>
            </label>
            <label>"Strength scale"
                <select name="settings[strength_scale]">
                    {opt("off", "off", &strength_scale)}
                    {opt("slight_clear", "slightly / clearly", &strength_scale)}
                </select>
            </label>
            <label>"Assignment expires after (s)"
                <input type="number" name="settings[assignment_ttl_seconds]" min="10" max="604800" required value=assignment_ttl_seconds.to_string()/>
            </label>
        </div>
        <label class="check">
            <input type="checkbox" name="settings[judge_routing]" value="on" checked=judge_routing/>
            "Items the LLM judges are unsure of (swap-inconsistent, disagreeing, unparsable) go to annotators first"
        </label>
        <label>"Guidelines (Markdown; a change makes a new version)"
            <textarea name="settings[guidelines]" rows="4">{guidelines}</textarea>
        </label>
    }
}

/// The admin page's projects card (a lazy island).
#[island(lazy)]
pub fn ProjectsPanel() -> impl IntoView {
    crate::components::island::hydrated();
    let create = ServerAction::<CreateProject>::new();
    let update = ServerAction::<UpdateProject>::new();
    let projects = Resource::new(
        move || (create.version().get(), update.version().get()),
        |_| list_projects(),
    );
    let (source, set_source) = signal(None::<i64>);
    let candidates = Resource::new(move || source.get(), candidate_models);
    let defaults = db_defaults();
    view! {
        <section class="card">
            <h2>"Projects"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match projects.await {
                        Ok(list) if list.is_empty() => view! { <p>"No projects yet: import data first."</p> }.into_any(),
                        Ok(list) => {
                            let sources: Vec<(i64, String)> = list.iter().map(|p| (p.project_id, p.name.clone())).collect();
                            view! {
                            <div class="table-wrap">
                                <table class="data" aria-label="Projects">
                                    <thead><tr><th>"Project"</th><th>"Protocol"</th><th>"Items"</th><th>"Votes"</th><th>"Guidelines"</th><th>"Settings"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|p| view! {
                                            <tr>
                                                <td><a href=format!("/annotate/{}", p.project_id)>{p.name.clone()}</a></td>
                                                <td>{p.protocol.clone()}</td>
                                                <td>{p.items}</td>
                                                <td>{p.votes}</td>
                                                <td>{format!("v{}", p.guidelines_version)}</td>
                                                <td>
                                                    <details>
                                                        <summary>{format!("overlap {} · rationale {} · strength {}", p.overlap_target, p.rationale_mode, p.strength_scale)}</summary>
                                                        <ActionForm action=update attr:class="stack-form" attr:aria-label=format!("Settings of {}", p.name)>
                                                            <input type="hidden" name="project_id" value=p.project_id.to_string()/>
                                                            <SettingsFields guidelines=p.guidelines.clone() overlap_target=p.overlap_target
                                                                rationale_mode=p.rationale_mode.clone() strength_scale=p.strength_scale.clone()
                                                                assignment_ttl_seconds=p.assignment_ttl_seconds judge_routing=p.judge_routing/>
                                                            <button type="submit" class="button">"Save settings"</button>
                                                        </ActionForm>
                                                    </details>
                                                </td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <h3>"New project"</h3>
                            <ActionForm action=create attr:class="stack-form" attr:aria-label="New project">
                                <div class="row-form">
                                    <label>"Name" <input type="text" name="name" required/></label>
                                    <label>"Prompts from"
                                        <select name="source_project" on:change=move |e| set_source.set(event_target_value(&e).parse().ok())>
                                            <option value="">"every imported prompt"</option>
                                            {sources.into_iter().map(|(id, name)| view! { <option value=id.to_string()>{name}</option> }).collect_view()}
                                        </select>
                                    </label>
                                </div>
                                <fieldset>
                                    <legend>"Models whose responses are judged"</legend>
                                    <Transition fallback=|| ()>
                                        {move || Suspend::new(async move {
                                            match candidates.await {
                                                Ok(models) => models.into_iter().enumerate().map(|(i, m)| view! {
                                                    <label class="check">
                                                        <input type="checkbox" name=format!("models[{i}]") value=m.model_id.to_string()/>
                                                        {format!(" {} ({} prompts)", m.name, m.prompts)}
                                                    </label>
                                                }).collect_view().into_any(),
                                                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                                            }
                                        })}
                                    </Transition>
                                </fieldset>
                                <fieldset>
                                    <legend>"Protocol"</legend>
                                    <div class="row-form">
                                        <label>"Protocol"
                                            <select name="protocol[kind]">
                                                <option value="pairwise">"pairwise: which of two is better (an item per pair of models)"</option>
                                                <option value="rating">"rating: score each response on criteria (an item per prompt)"</option>
                                                <option value="ranking">"ranking: order 2–8 responses, ties allowed (an item per prompt)"</option>
                                            </select>
                                        </label>
                                        <label class="check"><input type="checkbox" name="protocol[with_choice]" value="on"/>" rating: also ask which of the two is better (an item per pair)"</label>
                                        <label class="check"><input type="checkbox" name="protocol[allow_na]" value="on"/>" ratings may be N/A"</label>
                                    </div>
                                    <label>"Rating criteria, one per line: name | min-max | low label | high label (default: Overall quality | 1-7 | Very poor | Excellent)"
                                        <textarea name="protocol[criteria]" rows="2" placeholder="Helpfulness | 1-5 | Useless | Perfect"></textarea>
                                    </label>
                                    <div class="row-form">
                                        <label>"Too fast below (ms)" <input type="number" name="protocol[min_time_ms]" min="0" placeholder="off"/></label>
                                        <label>"Flag above this share too fast" <input type="number" name="protocol[max_fast_share]" min="0" max="1" step="0.05" placeholder="off"/></label>
                                        <label>"Flag below this gold accuracy" <input type="number" name="protocol[min_gold_accuracy]" min="0" max="1" step="0.05" placeholder="off"/></label>
                                        <label>"Attention check every N items" <input type="number" name="protocol[attention_every]" min="1" placeholder="off"/></label>
                                    </div>
                                </fieldset>
                                <SettingsFields guidelines=String::new() overlap_target=defaults.0
                                    rationale_mode=defaults.1.into() strength_scale=defaults.2.into()
                                    assignment_ttl_seconds=defaults.3 judge_routing=false/>
                                <button type="submit" class="button primary">"Create project"</button>
                            </ActionForm>
                        }.into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            {move || match create.value().get() {
                Some(Ok(n)) => Some(view! { <p class="ok" role="status">{format!("Project created with {n} items.")}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            }}
            {move || match update.value().get() {
                Some(Ok(v)) => Some(view! { <p class="ok" role="status">{format!("Settings saved; guidelines v{v} in force.")}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            }}
        </section>
    }
}

/// Defaults of a new project: overlap, rationale mode, strength scale, time limit.
fn db_defaults() -> (i32, &'static str, &'static str, i32) {
    (3, "optional", "off", 1800)
}

#[cfg(test)]
mod tests {
    use super::ProtocolForm;

    #[test]
    fn the_protocol_form_parses_criteria_and_thresholds() {
        let form = ProtocolForm {
            kind: "rating".into(),
            criteria: "Accuracy | 1-5 | Wrong | Right\n\nStyle | 0-3\nTone".into(),
            allow_na: Some("on".into()),
            min_time_ms: "1500".into(),
            ..ProtocolForm::default()
        };
        let (kind, config) = form.parse().unwrap();
        assert_eq!(kind, "rating");
        assert_eq!(config["criteria"][0]["low"], "Wrong");
        assert_eq!(
            (
                config["criteria"][1]["min"].as_i64(),
                config["criteria"][1]["max"].as_i64()
            ),
            (Some(0), Some(3))
        );
        assert_eq!(config["criteria"][2]["max"], 7, "1-7 by default");
        assert_eq!(config["allow_na"], true);
        assert_eq!(config["qc"]["min_time_ms"], 1500);
        let bad = ProtocolForm {
            criteria: "A | 1..5".into(),
            ..ProtocolForm::default()
        };
        assert!(bad.parse().unwrap_err().starts_with("criteria line 1"));
        let bad = ProtocolForm {
            kind: "poll".into(),
            ..ProtocolForm::default()
        };
        assert!(bad.parse().unwrap_err().starts_with("protocol:"));
        let bad = ProtocolForm {
            max_fast_share: "lots".into(),
            ..ProtocolForm::default()
        };
        assert!(bad.parse().unwrap_err().starts_with("max_fast_share"));
    }
}
