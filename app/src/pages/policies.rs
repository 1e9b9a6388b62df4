//! `/policies` (researchers, admins): training policies — votes that start DPO rounds, gated by
//! the arena — with a form to create one and pause or resume it (admins); `/policies/:id`: a
//! policy's lineage, the family tree of its models as SVG.

use api::policies::{
    DEFAULT_GATE_MAX_BATTLES, DEFAULT_GATE_MIN_BATTLES, DEFAULT_MIN_NEW_VOTES, PolicyForm,
    PolicyView, RoundView,
};
use leptos::prelude::*;

use crate::error::AppError;

/// Every policy with its lineage.
#[server(endpoint = "policies/list")]
pub async fn load_policies() -> Result<Vec<PolicyView>, AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
        service::policies::list(&state.pool).await
    })
    .await
}

/// One policy with its lineage.
#[server(endpoint = "policies/show")]
pub async fn load_policy(id: i64) -> Result<PolicyView, AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
        service::policies::show(&state.pool, id).await
    })
    .await
}

/// Creates a policy (admins); returns its id.
#[server(endpoint = "policies/create")]
pub async fn create_policy(form: PolicyForm) -> Result<i64, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let admin = ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let body = service::policies::form(&form)?;
        Ok(
            service::policies::create(&state.pool, &body, Some(admin.user_id))
                .await?
                .policy_id,
        )
    })
    .await
}

/// Pauses or resumes a policy (admins).
#[server(endpoint = "policies/pause")]
pub async fn pause_policy(id: i64, paused: bool) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::policies::set_paused(&state.pool, id, paused).await?;
        Ok(())
    })
    .await
}

/// `/policies`.
#[component]
pub fn PoliciesPage() -> impl IntoView {
    view! { <PoliciesIsland/> }
}

/// The policies, their pause buttons and the new-policy form (a lazy island).
#[island(lazy)]
fn PoliciesIsland() -> impl IntoView {
    crate::components::island::hydrated();
    let create = ServerAction::<CreatePolicy>::new();
    let pause = Action::new(|(id, paused): &(i64, bool)| pause_policy(*id, *paused));
    let policies = Resource::new(
        move || (create.version().get(), pause.version().get()),
        |_| load_policies(),
    );
    view! {
        <section class="card">
            <h1>"Training policies"</h1>
            <p class="muted">"A policy trains its champion (DPO) on the votes a project collected since its last round, once there are enough; the child then battles the champion in the arena, and the promotion gate makes it the next champion when the 95% interval of its win rate lies above 50%, or retires it when the interval lies below (or when it stays undecided up to the cap). The workers run the loop."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match policies.await {
                        Ok(list) if list.is_empty() => view! { <p>"No training policies yet."</p> }.into_any(),
                        Ok(list) => view! { <PolicyList list pause/> }.into_any(),
                        Err(AppError::Unauthorized(_)) => view! {
                            <p>"Please " <a href="/login?next=/policies">"log in"</a> " as an admin or researcher."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            {move || pause.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        </section>
        <section class="card">
            <h2>"New policy"</h2>
            <ActionForm action=create attr:class="stack-form" attr:aria-label="New training policy">
                <label>"Name" <input type="text" name="form[name]" required pattern="[A-Za-z0-9._\\-]{1,64}"/></label>
                <label>"Project (whose votes count)" <input type="text" name="form[project]" required/></label>
                <label>"Base model (the first champion, a local model)" <input type="text" name="form[base_model]" required/></label>
                <label>"New votes that start a round" <input type="number" name="form[min_new_votes]" min="1" placeholder=DEFAULT_MIN_NEW_VOTES.to_string()/></label>
                <label>"Gate: decided battles before deciding" <input type="number" name="form[gate_min_battles]" min="1" placeholder=DEFAULT_GATE_MIN_BATTLES.to_string()/></label>
                <label>"Gate: decided battles at most" <input type="number" name="form[gate_max_battles]" min="1" placeholder=DEFAULT_GATE_MAX_BATTLES.to_string()/></label>
                <label>"LoRA rank (empty: full fine-tuning)" <input type="number" name="form[lora_rank]" min="1" placeholder="8"/></label>
                <button type="submit" class="button primary">"Create"</button>
            </ActionForm>
            {move || create.value().get().map(|r| match r {
                Ok(id) => view! { <p class="ok" role="status">{format!("Policy #{id} created. ")}<a href=format!("/policies/{id}")>"Its lineage"</a></p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn PolicyList(
    list: Vec<PolicyView>,
    pause: Action<(i64, bool), Result<(), AppError>>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" aria-label="Training policies">
                <thead><tr><th>"Policy"</th><th>"Project"</th><th>"Champion"</th><th>"New votes"</th><th>"Rounds"</th><th>"State"</th><th></th></tr></thead>
                <tbody>{list.into_iter().map(|p| {
                    let (id, paused) = (p.policy_id, p.paused);
                    let open = p.rounds.last().map(|r| r.status.clone()).filter(|s| s == "training" || s == "gating");
                    view! {
                        <tr>
                            <td><a href=format!("/policies/{id}")>{p.name.clone()}</a></td>
                            <td>{p.project.clone()}</td>
                            <td>{p.champion.clone()}</td>
                            <td>{format!("{} / {}", p.new_votes, p.min_new_votes)}</td>
                            <td>{p.rounds.len()}</td>
                            <td title=p.last_error.clone().unwrap_or_default()>{if paused { "paused".to_owned() } else { open.map_or_else(|| "waiting for votes".to_owned(), |s| format!("round {s}")) }}</td>
                            <td><button type="button" class="button subtle" on:click=move |_| { pause.dispatch((id, !paused)); }>{if paused { "Resume" } else { "Pause" }}</button></td>
                        </tr>
                    }
                }).collect_view()}</tbody>
            </table>
        </div>
    }
}

/// `/policies/:id`: the lineage.
#[component]
pub fn LineagePage() -> impl IntoView {
    let id = crate::url::id_param("id");
    view! { <LineageIsland id/> }
}

/// The policy's lineage, polled while it can move on (a lazy island).
#[island(lazy)]
fn LineageIsland(id: i64) -> impl IntoView {
    crate::components::island::hydrated();
    let id = move || id;
    let tick = RwSignal::new(0u64);
    let policy = Resource::new(move || (id(), tick.get()), |(id, _)| load_policy(id));
    // New votes, runs and battles move an active policy on at any time.
    crate::components::poll::poll_while(tick, std::time::Duration::from_millis(3000), move || {
        policy
            .get_untracked()
            .and_then(Result::ok)
            .is_some_and(|p| !p.paused)
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match policy.await {
                    Ok(p) => view! { <Lineage p/> }.into_any(),
                    Err(AppError::Unauthorized(_)) => view! {
                        <section class="card narrow"><p>"Please " <a href=format!("/login?next=/policies/{}", id())>"log in"</a> " as an admin or researcher."</p></section>
                    }.into_any(),
                    Err(e) => view! { <p class="error card" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// Where each model of the lineage sits: the champions' line on top, left to right by round;
/// children that were not promoted below their round.
fn layout(p: &PolicyView) -> Vec<(i64, String, usize, usize, Option<&RoundView>)> {
    let base = p
        .rounds
        .first()
        .map_or((p.champion_model_id, p.champion.clone()), |r| {
            (r.parent_model_id, r.parent.clone())
        });
    let mut nodes = vec![(base.0, base.1, 0, 0, None)];
    for (k, r) in p.rounds.iter().enumerate() {
        if let (Some(id), Some(name)) = (r.child_model_id, r.child.clone()) {
            let row = usize::from(r.status != "promoted");
            nodes.push((id, name, k + 1, row, Some(r)));
        }
    }
    nodes
}

/// The lines under a node's name: its run, what it learnt from, and the gate's numbers.
fn node_lines(round: Option<&RoundView>) -> Vec<String> {
    match round {
        None => vec!["the first base".to_owned()],
        Some(r) => vec![
            format!(
                "round {} · run #{} · {}",
                r.round, r.training_run_id, r.status
            ),
            format!(
                "{} votes · loss {} · acc {}",
                r.snapshot_votes.unwrap_or(r.votes),
                num(r.loss, 3),
                num(r.reward_accuracy, 2)
            ),
            format!("vs parent {}–{} ({} ties)", r.wins, r.losses, r.ties),
            format!(
                "win rate 95% [{}, {}]",
                num(r.win_lower, 2),
                num(r.win_upper, 2)
            ),
        ],
    }
}

#[component]
fn Lineage(p: PolicyView) -> impl IntoView {
    const W: f64 = 230.0;
    const H: f64 = 120.0;
    let nodes = layout(&p);
    let at = |id: i64| {
        nodes.iter().find(|n| n.0 == id).map(|n| {
            (
                n.2 as f64 * (W + 40.0) + 10.0,
                n.3 as f64 * (H + 40.0) + 10.0,
            )
        })
    };
    let edges: Vec<_> = p
        .rounds
        .iter()
        .filter_map(|r| {
            Some((
                at(r.parent_model_id)?,
                at(r.child_model_id?)?,
                r.status.clone(),
            ))
        })
        .collect();
    let columns = nodes.iter().map(|n| n.2).max().unwrap_or(0) + 1;
    let width = columns as f64 * (W + 40.0) + 20.0;
    let height = if nodes.iter().any(|n| n.3 == 1) {
        2.0 * (H + 40.0)
    } else {
        H + 40.0
    };
    let label = format!(
        "Lineage of {}: {}",
        p.name,
        p.rounds
            .iter()
            .map(|r| format!(
                "round {} {} → {} {}",
                r.round,
                r.parent,
                r.child.as_deref().unwrap_or("…"),
                r.status
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    view! {
        <section class="card">
            <h1>{format!("Policy: {}", p.name)}</h1>
            <p class="muted">{format!(
                "Votes of {} · champion {} · a round starts at {} new votes ({} now) · gate: {} to {} decided battles · at most {} rounds a day{}",
                p.project, p.champion, p.min_new_votes, p.new_votes, p.gate_min_battles, p.gate_max_battles, p.daily_cap,
                if p.paused { " · paused" } else { "" }
            )}
                " · " <a href=format!("/api/v1/training-policies/{}", p.policy_id)>"JSON"</a></p>
            {p.last_error.clone().map(|e| view! { <p class="error" role="alert">{format!("The last round did not start: {e}")}</p> })}
            // The tree is drawn in SVG; each trained node is covered by a plain link to its run
            // (an SVG link made in the browser would not draw its contents).
            <div class="table-wrap">
                <div style=format!("position: relative; width: {width}px; height: {height}px")>
                    <svg width=width height=height viewBox=format!("0 0 {width} {height}") role="img" aria-label=label class="lineage">
                        {edges.into_iter().map(|((x1, y1), (x2, y2), status)| view! {
                            <line x1=x1 + W y1=y1 + H / 2.0 x2=x2 y2=y2 + H / 2.0 stroke="currentColor"
                                stroke-opacity=if status == "promoted" { "0.8" } else { "0.35" }
                                stroke-dasharray=if status == "promoted" { "" } else { "4 3" }/>
                        }).collect_view()}
                        {nodes.iter().map(|(id, name, col, row, round)| {
                            let (x, y) = (*col as f64 * (W + 40.0) + 10.0, *row as f64 * (H + 40.0) + 10.0);
                            let champion = *id == p.champion_model_id;
                            view! {
                                <rect x=x y=y width=W height=H rx="6" fill="var(--surface, #fff)" stroke="var(--accent)"
                                    stroke-width=if champion { "3" } else { "1" }/>
                                <text x=x + 8.0 y=y + 20.0 font-size="13" font-weight="bold">{format!("{name}{}", if champion { " ★" } else { "" })}</text>
                                {node_lines(*round).into_iter().enumerate().map(|(k, l)| view! {
                                    <text x=x + 8.0 y=y + 42.0 + 18.0 * k as f64 font-size="11">{l}</text>
                                }).collect_view()}
                            }
                        }).collect_view()}
                    </svg>
                    {nodes.iter().filter_map(|(_, name, col, row, round)| {
                        let r = (*round)?;
                        let (x, y) = (*col as f64 * (W + 40.0) + 10.0, *row as f64 * (H + 40.0) + 10.0);
                        Some(view! {
                            <a href=format!("/training/{}", r.training_run_id)
                                aria-label=format!("{name}: run #{}", r.training_run_id)
                                style=format!("position: absolute; left: {x}px; top: {y}px; width: {W}px; height: {H}px")></a>
                        })
                    }).collect_view()}
                </div>
            </div>
        </section>
        <section class="card">
            <h2>"Rounds"</h2>
            {if p.rounds.is_empty() {
                view! { <p>"No round yet: the first starts once the project has enough new votes."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data" aria-label="Rounds">
                            <thead><tr><th>"Round"</th><th>"Run"</th><th>"Parent → child"</th><th>"Votes"</th><th>"Loss"</th><th>"Reward acc."</th><th>"Head to head"</th><th>"Gate"</th></tr></thead>
                            <tbody>{p.rounds.iter().map(|r| view! {
                                <tr>
                                    <td>{r.round}</td>
                                    <td><a href=format!("/training/{}", r.training_run_id)>{format!("#{} ({})", r.training_run_id, r.run_status)}</a></td>
                                    <td>{format!("{} → {}", r.parent, r.child.as_deref().unwrap_or("…"))}</td>
                                    <td>{r.votes}</td>
                                    <td>{num(r.loss, 3)}</td>
                                    <td>{num(r.reward_accuracy, 2)}</td>
                                    <td>{format!("{}–{} ({} ties)", r.wins, r.losses, r.ties)}</td>
                                    <td>{format!("{}{}", r.status, r.decision.as_deref().map_or_else(String::new, |d| format!(": {d}")))}</td>
                                </tr>
                            }).collect_view()}</tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
