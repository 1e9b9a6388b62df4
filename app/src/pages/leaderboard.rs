//! The leaderboard page: filters, a sortable table with 95% intervals, and heatmaps.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::error::AppError;
use crate::leaderboard::{LeaderboardQuery, LeaderboardResponse, LeaderboardRow};

/// The leaderboard for a filter (public).
#[server(endpoint = "leaderboard")]
pub async fn get_leaderboard(query: LeaderboardQuery) -> Result<LeaderboardResponse, AppError> {
    crate::auth::ssr::respond(async {
        let (state, _) = crate::auth::ssr::context().await?;
        service::leaderboard::cached(&state.pool, &state.leaderboards, &query).await
    })
    .await
}

fn query_from_url(q: &leptos_router::params::ParamsMap) -> LeaderboardQuery {
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty());
    LeaderboardQuery {
        project: text("project").and_then(|v| v.parse().ok()),
        category: text("category"),
        cohort: text("cohort"),
        source: text("source"),
        from: text("from"),
        to: text("to"),
        exclude_ties: q.get("exclude_ties").is_some(),
        style_control: q.get("style_control").is_some(),
        ci: text("ci"),
        reweight: match text("reweight").as_deref() {
            Some("true" | "on" | "1") => Some(true),
            Some("false" | "off" | "0") => Some(false),
            _ => None,
        },
        weight_annotators: q.get("weight_annotators").is_some(),
        tie_model: text("tie_model"),
        audit: q.get("audit").is_some(),
    }
}

/// Query string of a leaderboard query (for the download links).
fn query_string(q: &LeaderboardQuery) -> String {
    let mut parts = Vec::new();
    if let Some(p) = q.project {
        parts.push(format!("project={p}"));
    }
    for (k, v) in [
        ("category", &q.category),
        ("cohort", &q.cohort),
        ("source", &q.source),
        ("from", &q.from),
        ("to", &q.to),
        ("ci", &q.ci),
        ("tie_model", &q.tie_model),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", crate::url::encode(v)));
        }
    }
    if q.exclude_ties {
        parts.push("exclude_ties=true".into());
    }
    if q.style_control {
        parts.push("style_control=true".into());
    }
    if let Some(r) = q.reweight {
        parts.push(format!("reweight={r}"));
    }
    if q.audit {
        parts.push("audit=true".into());
    }
    if q.weight_annotators {
        parts.push("weight_annotators=true".into());
    }
    parts.join("&")
}

/// The leaderboard page.
#[component]
pub fn LeaderboardPage() -> impl IntoView {
    let url = use_query_map();
    let query = Memo::new(move |_| query_from_url(&url.read()));
    let board = Resource::new(move || query.get(), get_leaderboard);
    view! {
        <h1>"Leaderboard"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Computing…"</p> }>
            {move || Suspend::new(async move {
                let q = query.get_untracked();
                match board.await {
                    Ok(lb) => view! { <Filters q=q.clone() lb=lb.clone()/> <Board lb q/> }.into_any(),
                    Err(e) => view! {
                        <Filters q=q.clone() lb=LeaderboardResponse::default()/>
                        <p class="error card" role="alert">{e.to_string()}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
        <details class="card help">
            <summary>"How to read this"</summary>
            <p><strong>"Rating"</strong>": Bradley–Terry maximum-likelihood rating on the Elo scale (400 points = 10:1 odds), as Chatbot Arena computes it."</p>
            <p><strong>"95% CI"</strong>": by default the closed-form sandwich interval LMArena uses (the fit's curvature and the votes' spread); with “Bootstrap”, the range of the rating over 100 resamples of the votes. Wide intervals mean too few votes."</p>
            <p><strong>"Rank (UB)"</strong>": 1 + the number of models that are better beyond doubt (their lower bound is above this model's upper bound). Models whose intervals overlap share a rank."</p>
            <p><strong>"Rank spread"</strong>": the best and the worst rank the intervals allow. "<strong>"Tier"</strong>": a new tier starts at the first model that is clearly below the current tier's leader, so models in one tier are statistically tied with its leader."</p>
            <p><strong>"Ties"</strong>": half a win for each side (Chatbot Arena), or a third outcome under Rao–Kupper (ties when the strengths are within a fitted threshold η) or Davidson (ties in proportion to a fitted ν), or left out. Choosing one also scores every model on held-out votes (5-fold log-loss over win, tie and loss), so you can see which describes your votes best."</p>
            <p><strong>"Robustness audit"</strong>": for each model, the fewest votes whose removal would put the model below it on top (the votes ranked by their first-order influence on the gap, the count confirmed by refitting without them). A leaderboard where two votes flip a rank says less than its intervals suggest."</p>
            <p><strong>"Pair weights"</strong>": “Reweighted” counts each vote as 1 / max(votes of its pair, 50), so that pairs shown often do not outweigh rare ones (arena-rank's reweighting). “Auto”, the default, reweights where the votes include arena battles: the arena's sampler picks the pairs it learns most from, and reweighting gives every pair the same say again, as uniform sampling would (“Plain” turns it off; style control, the audit, PPI, annotator weights and the other tie models take plain votes). "<strong>"Weight by annotator reliability"</strong>": counts each vote as its annotator's NoisyBT skill, the share of their votes that follow the models' strengths. "<strong>"provisional"</strong>": fewer than 300 votes."</p>
        </details>
    }
}

/// The filter form: a plain GET form, so it works before hydration too.
#[component]
fn Filters(q: LeaderboardQuery, lb: LeaderboardResponse) -> impl IntoView {
    let selected = |cur: &Option<String>, v: &str| cur.as_deref() == Some(v);
    let project = q.project;
    view! {
        <form method="get" action="/leaderboard" class="card filters" aria-label="Filters">
            <label>"Project"
                <select name="project">
                    <option value="">"All"</option>
                    {lb.options.projects.iter().map(|(id, name)| view! {
                        <option value=id.to_string() selected=project == Some(*id)>{name.clone()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Category"
                <select name="category">
                    <option value="">"All"</option>
                    {lb.options.categories.iter().map(|c| view! {
                        <option value=c.clone() selected=selected(&q.category, c)>{c.clone()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Cohort"
                <select name="cohort">
                    <option value="">"All"</option>
                    {lb.options.cohorts.iter().map(|c| view! {
                        <option value=c.clone() selected=selected(&q.cohort, c)>{c.clone()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Source"
                <select name="source">
                    <option value="">"All"</option>
                    <option value="human" selected=selected(&q.source, "human")>"Human"</option>
                    <option value="llm_judge" selected=selected(&q.source, "llm_judge")>"LLM judge"</option>
                    <option value="ppi" selected=selected(&q.source, "ppi") title="Human votes, made more precise by LLM-judge votes on other items (prediction-powered inference)">"Human + judge (PPI)"</option>
                    <option value="import" selected=selected(&q.source, "import")>"Imported"</option>
                </select>
            </label>
            <label>"From" <input type="date" name="from" value=q.from.clone().unwrap_or_default()/></label>
            <label>"To" <input type="date" name="to" value=q.to.clone().unwrap_or_default()/></label>
            <label class="check"><input type="checkbox" name="exclude_ties" value="true" checked=q.exclude_ties/>" Exclude ties"</label>
            <label class="check"><input type="checkbox" name="style_control" value="true" checked=q.style_control/>" Style control"</label>
            <label>"Intervals"
                <select name="ci">
                    <option value="sandwich" selected=!selected(&q.ci, "bootstrap")>"Sandwich"</option>
                    <option value="bootstrap" selected=selected(&q.ci, "bootstrap")>"Bootstrap"</option>
                </select>
            </label>
            <label title="count each vote as 1 / max(votes of its pair, 50)">"Pair weights"
                <select name="reweight">
                    <option value="" selected=q.reweight.is_none()>"Auto (reweight arena battles)"</option>
                    <option value="true" selected=q.reweight == Some(true)>"Reweighted"</option>
                    <option value="false" selected=q.reweight == Some(false)>"Plain"</option>
                </select>
            </label>
            <label class="check"><input type="checkbox" name="audit" value="true" checked=q.audit/>" Robustness audit"</label>
            <label class="check" title="weigh each vote by its annotator's NoisyBT skill"><input type="checkbox" name="weight_annotators" value="true" checked=q.weight_annotators/>" Weight by annotator reliability"</label>
            <label>"Ties"
                <select name="tie_model">
                    <option value="">"Half a win"</option>
                    <option value="bt" selected=selected(&q.tie_model, "bt")>"Half a win, compare models"</option>
                    <option value="rao-kupper" selected=selected(&q.tie_model, "rao-kupper")>"Rao–Kupper"</option>
                    <option value="davidson" selected=selected(&q.tie_model, "davidson")>"Davidson"</option>
                    <option value="ignore" selected=selected(&q.tie_model, "ignore")>"Left out"</option>
                    <option value="grounded-rao-kupper" selected=selected(&q.tie_model, "grounded-rao-kupper")>"Grounded Rao–Kupper (both bad apart)"</option>
                </select>
            </label>
            <button type="submit" class="button primary">"Apply"</button>
        </form>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Rank,
    Model,
    Votes,
}

/// The table, sortable in the browser, and the heatmaps (a lazy island: its code is fetched with
/// this page).
#[island(lazy)]
fn Board(lb: LeaderboardResponse, q: LeaderboardQuery) -> impl IntoView {
    crate::components::island::hydrated();
    if lb.rows.is_empty() {
        return view! { <p class="card">"No votes match these filters yet."</p> }.into_any();
    }
    let qs = query_string(&q);
    let sep = if qs.is_empty() { "" } else { "&" };
    let csv = format!("/api/v1/leaderboard?{qs}{sep}format=csv");
    let json = format!("/api/v1/leaderboard?{qs}");
    let (sort, set_sort) = signal(SortKey::Rank);
    let rows = lb.rows.clone();
    let sorted = move || {
        let mut r = rows.clone();
        match sort.get() {
            SortKey::Rank => {}
            SortKey::Model => r.sort_by_key(|a| a.model.to_lowercase()),
            SortKey::Votes => r.sort_by_key(|row| std::cmp::Reverse(row.votes)),
        }
        r
    };
    let lo = lb
        .rows
        .iter()
        .filter_map(|r| r.lower.or(r.rating))
        .fold(f64::INFINITY, f64::min);
    let hi = lb
        .rows
        .iter()
        .filter_map(|r| r.upper.or(r.rating))
        .fold(f64::NEG_INFINITY, f64::max);
    let names: Vec<String> = lb.rows.iter().map(|r| r.model.clone()).collect();
    let cohort = lb.rows.iter().any(|r| r.cohort_offset.is_some());
    let sort_button = move |key: SortKey, label: &'static str| {
        view! {
            <button type="button" class="link sort" aria-pressed=move || (sort.get() == key).to_string()
                on:click=move |_| set_sort.set(key)>{label}</button>
        }
    };
    view! {
        <p class="muted">
            {format!("{} votes · {} models · {} · ", lb.total_votes, lb.rows.len(), method(&lb))}
            <a href=json.clone() download="leaderboard.json">"JSON"</a>" · "
            <a href=csv download="leaderboard.csv">"CSV"</a>
        </p>
        {lb.note.clone().map(|n| view! { <p class="muted">{n}</p> })}
        {tie_line(&lb)}
        {lb.style_coefficients.clone().map(|c| view! {
            <p class="muted">"Style coefficients: "
                {c.iter().map(|(k, v)| format!("{k} {v:+.3}")).collect::<Vec<_>>().join(", ")}
            </p>
        })}
        <div class="table-wrap card">
            <table class="data leaderboard" aria-label="Leaderboard">
                <thead><tr>
                    <th title="1 + number of models whose lower bound is above this model's upper bound">{sort_button(SortKey::Rank, "Rank (UB)")}</th>
                    <th>{sort_button(SortKey::Model, "Model")}</th>
                    <th>"Rating"</th>
                    <th title="95% confidence interval">"95% CI"</th>
                    <th title="best and worst rank the intervals allow">"Rank spread"</th>
                    <th title="models statistically tied with the tier's leader">"Tier"</th>
                    {q.audit.then(|| view! { <th title="fewest votes whose removal puts the next model above this one">"Votes to flip"</th> })}
                    {cohort.then(|| view! { <th title="the cohort's rating minus everyone else's, 95% interval and p-value (Wald test)">"Cohort vs others"</th> })}
                    <th>{sort_button(SortKey::Votes, "Votes")}</th>
                </tr></thead>
                <tbody>
                    <For each=sorted key=|r| r.model_id let:row>
                        <LeaderboardLine row lo hi audit=q.audit cohort/>
                    </For>
                </tbody>
            </table>
        </div>
        {annotator_weights(&lb)}
        {lineage(&lb)}
        {heatmaps(&lb, names)}
    }
    .into_any()
}

/// The tie model's parameter and, when asked for, which tie model fits held-out votes best.
fn tie_line(lb: &LeaderboardResponse) -> Option<AnyView> {
    if lb.tie_model_scores.is_empty() {
        return None;
    }
    let param = lb.tie_param.map(|p| {
        let name = match lb.tie_model.as_str() {
            "davidson" => "ν",
            "grounded-rao-kupper" => "κ",
            _ => "η",
        };
        format!("{} fitted: {name} = {p:.3}. ", lb.tie_model)
    });
    let scores = lb
        .tie_model_scores
        .iter()
        .map(|s| format!("{} {:.4}", s.model, s.log_loss))
        .collect::<Vec<_>>()
        .join(" · ");
    Some(
        view! {
            <p class="muted tie-models">
                {param}
                "Held-out log-loss (5-fold, lower fits better): "{scores}
                {lb.tie_model_scores.first().map(|b| format!(" — best: {}", b.model))}
            </p>
        }
        .into_any(),
    )
}

/// With reliability weights: each annotator's weight, least reliable first.
fn annotator_weights(lb: &LeaderboardResponse) -> Option<AnyView> {
    if lb.annotator_weights.is_empty() {
        return None;
    }
    let rows = lb
        .annotator_weights
        .iter()
        .map(|a| {
            view! {
                <tr><td>{a.annotator.clone()}</td><td class="num">{format!("{:.3}", a.weight)}</td><td class="num">{a.votes}</td></tr>
            }
        })
        .collect::<Vec<_>>();
    Some(
        view! {
            <details class="card annotator-weights">
                <summary>"Annotator weights (NoisyBT skill; votes without an annotator weigh 1)"</summary>
                <table class="data" aria-label="Annotator weights">
                    <thead><tr><th>"Annotator"</th><th>"Weight"</th><th>"Votes"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        }
        .into_any(),
    )
}

/// How the intervals were made, for the line above the table.
fn method(lb: &LeaderboardResponse) -> String {
    let ci = if lb.ci == "bootstrap" {
        format!("intervals from {} bootstrap rounds", lb.bootstrap_rounds)
    } else if lb.ci == "ppi" {
        "prediction-powered intervals".to_owned()
    } else {
        "sandwich intervals".to_owned()
    };
    let ci = if lb.reweighted {
        format!("{ci}, pairs reweighted")
    } else {
        ci
    };
    if lb.annotator_weights.is_empty() {
        ci
    } else {
        format!("{ci}, votes weighted by annotator reliability")
    }
}

/// Trained models against their parents: did training help?
fn lineage(lb: &LeaderboardResponse) -> Option<AnyView> {
    if lb.lineage.is_empty() {
        return None;
    }
    let pct = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{:.0}%", v * 100.0));
    let rows = lb
        .lineage
        .iter()
        .map(|h| {
            view! {
                <tr>
                    <td>{h.child.clone()}</td>
                    <td>{h.parent.clone()}</td>
                    <td>{format!("{}–{}", h.child_wins, h.parent_wins)}</td>
                    <td>{pct(h.win_rate)}</td>
                    <td>{format!("{} – {}", pct(h.lower), pct(h.upper))}</td>
                </tr>
            }
        })
        .collect_view();
    Some(
        view! {
            <section class="card">
                <h2>"Trained models against their parents"</h2>
                <table class="data" aria-label="Trained models against their parents">
                    <thead><tr>
                        <th>"Trained model"</th><th>"Parent"</th><th>"Won–lost"</th>
                        <th>"Win rate"</th><th>"95% interval"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </section>
        }
        .into_any(),
    )
}

/// The three matrices, type-erased to keep the page's view type shallow.
fn heatmaps(lb: &LeaderboardResponse, names: Vec<String>) -> AnyView {
    let battles: Vec<Vec<Option<f64>>> = lb
        .battles
        .iter()
        .map(|r| r.iter().map(|v| Some(*v)).collect())
        .collect();
    view! {
        <Heatmap title="Win fraction (row beats column, ties excluded)" names=names.clone() cells=lb.win_fraction.clone() percent=true/>
        <Heatmap title="Predicted win rate from the ratings" names=names.clone() cells=lb.predicted_win_rate.clone() percent=true/>
        <Heatmap title="Decided battles between the two models" names cells=battles percent=false/>
    }
    .into_any()
}

#[component]
fn LeaderboardLine(
    row: LeaderboardRow,
    lo: f64,
    hi: f64,
    audit: bool,
    cohort: bool,
) -> impl IntoView {
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |x| format!("{x:.0}"));
    let ci = match (row.rating, row.lower, row.upper) {
        (Some(r), Some(l), Some(u)) => format!("+{:.0}/−{:.0}", u - r, r - l),
        _ => "–".to_owned(),
    };
    let span = (hi - lo).max(1.0);
    let x = |v: f64| 4.0 + 152.0 * (v - lo) / span;
    let bar = match (row.rating, row.lower, row.upper) {
        (Some(r), Some(l), Some(u)) => Some(view! {
            <svg class="ci-bar" width="160" height="14" viewBox="0 0 160 14" role="img"
                aria-label=format!("95% interval {l:.0} to {u:.0}")>
                <line x1=x(l) x2=x(u) y1="7" y2="7" stroke="currentColor" stroke-width="2"/>
                <circle cx=x(r) cy="7" r="3.5" fill="var(--accent)"/>
            </svg>
        }),
        _ => None,
    };
    let spread = match row.rank_spread {
        Some((a, b)) if a == b => a.to_string(),
        Some((a, b)) => format!("{a} – {b}"),
        None => "–".to_owned(),
    };
    let tier_class = row
        .tier
        .map_or("", |t| if t % 2 == 0 { "tier-even" } else { "" });
    view! {
        <tr class=tier_class>
            <td>{row.rank_ub.map_or_else(|| "–".to_owned(), |r| r.to_string())}</td>
            <td>
                {row.model.clone()}
                {row.parent.clone().map(|p| view! { <span class="badge" title=format!("trained from {p}")>"trained"</span> })}
            </td>
            <td>{row.note.clone().unwrap_or_else(|| fmt(row.rating))}</td>
            <td class="ci">{bar}<span>{ci}</span></td>
            <td>{spread}</td>
            <td>{row.tier.map_or_else(|| "–".to_owned(), |t| t.to_string())}</td>
            {audit.then(|| view! { <td>{row.votes_to_flip.map_or_else(|| "–".to_owned(), |m| m.to_string())}</td> })}
            {cohort.then(|| view! { <td>{row.cohort_offset.map_or_else(|| "–".to_owned(), |o| {
                format!("{:+.0} ({:+.0} … {:+.0}), p = {:.2}", o.offset, o.lower, o.upper, o.p_value)
            })}</td> })}
            <td>
                {row.votes}
                {row.provisional.then(|| view! { <span class="badge" title="fewer than 300 votes: the score may still move">"provisional"</span> })}
            </td>
        </tr>
    }
}

#[component]
fn Heatmap(
    title: &'static str,
    names: Vec<String>,
    cells: Vec<Vec<Option<f64>>>,
    percent: bool,
) -> impl IntoView {
    let max = cells
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |m, v| m.max(*v));
    let shade = move |v: Option<f64>| match v {
        None => String::new(),
        Some(v) if percent => {
            // Blue above 50%, red below.
            let t = (v - 0.5) * 2.0;
            if t >= 0.0 {
                format!("background: rgb(51 88 212 / {:.2})", t.abs() * 0.7)
            } else {
                format!("background: rgb(179 38 30 / {:.2})", t.abs() * 0.7)
            }
        }
        Some(v) => format!(
            "background: rgb(51 88 212 / {:.2})",
            if max > 0.0 { 0.7 * v / max } else { 0.0 }
        ),
    };
    let label = move |v: Option<f64>| match v {
        None => "–".to_owned(),
        Some(v) if percent => format!("{:.0}%", v * 100.0),
        Some(v) => format!("{v:.0}"),
    };
    view! {
        <section class="card">
            <h2>{title}</h2>
            <div class="table-wrap">
                <table class="heatmap" aria-label=title>
                    <thead><tr><th></th>{names.iter().map(|n| view! { <th scope="col">{n.clone()}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {names.iter().zip(cells).map(|(name, row)| view! {
                            <tr>
                                <th scope="row">{name.clone()}</th>
                                {row.into_iter().map(|v| view! { <td style=shade(v)>{label(v)}</td> }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
