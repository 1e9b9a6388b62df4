//! `/quality/:project` (researchers, admins): how far to trust a project's judgements —
//! agreement coefficients, the per-annotator table with quality-control flags and the
//! (reversible) exclusion, rating distributions and agreement per annotator as SVG charts, and
//! the consistency of ratings and rankings with pairwise choices, and the LLM judges' audit.

use leptos::prelude::*;

use crate::error::AppError;
use crate::quality::{AgreementReport, Coefficients, ConsistencyReport, Counts};

/// Both reports of a project (researchers, admins).
#[server(endpoint = "quality/report")]
pub async fn quality_report(
    project: i64,
) -> Result<(AgreementReport, ConsistencyReport, bool), AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user = ssr::require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
        let (agreement, consistency) = service::quality::reports(&state.pool, project).await?;
        Ok((agreement, consistency, user.role() == Role::Admin))
    })
    .await
}

/// Excludes an annotator's judgements from leaderboards and exports, or includes them again
/// (admins only).
#[server(endpoint = "quality/exclude")]
pub async fn set_excluded(user_id: i64, excluded: bool) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::quality::set_excluded(&state.pool, user_id, excluded).await
    })
    .await
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

/// The quality page.
#[component]
pub fn QualityPage() -> impl IntoView {
    let project = crate::url::id_param("project");
    view! { <QualityIsland project/> }
}

/// The report, with the admins' exclusion buttons (a lazy island).
#[island(lazy)]
fn QualityIsland(project: i64) -> impl IntoView {
    crate::components::island::hydrated();
    let project = move || project;
    let exclude = Action::new(|(id, on): &(i64, bool)| set_excluded(*id, *on));
    let report = Resource::new(
        move || (project(), exclude.version().get()),
        |(p, _)| quality_report(p),
    );
    // Created here, not in the card: an island's resources are sent with the page only when
    // they are made as the island starts (components/island.rs).
    let audit = Resource::new(project, super::judge_audit::load_judge_audit);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok((a, c, admin)) => view! { <Report a c admin exclude audit/> }.into_any(),
                    Err(AppError::Unauthorized(_)) => view! {
                        <section class="card narrow">
                            <h1>"Quality"</h1>
                            <p>"Please " <a href=format!("/login?next=/quality/{}", project())>"log in"</a> " as a researcher or admin."</p>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="error card" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        {move || exclude.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

fn coefficients_rows(label: String, c: &Coefficients) -> AnyView {
    view! {
        <tr>
            <td>{label}</td>
            <td>{c.judgements}</td>
            <td>{c.units}</td>
            <td>{num(c.fleiss_kappa)}{(c.fleiss_units > 0).then(|| format!(" ({} × {})", c.fleiss_units, c.fleiss_raters))}</td>
            <td>{num(c.alpha_nominal)}</td>
            <td>{num(c.alpha_interval)}</td>
            <td>{num(c.alpha_ordinal)}</td>
        </tr>
    }
    .into_any()
}

#[component]
fn Report(
    a: AgreementReport,
    c: ConsistencyReport,
    admin: bool,
    exclude: Action<(i64, bool), Result<(), AppError>>,
    audit: Resource<Result<api::judges::JudgeAudit, AppError>>,
) -> impl IntoView {
    let mut coef = Vec::new();
    if a.votes.judgements > 0 {
        coef.push(coefficients_rows("Pairwise choices".into(), &a.votes));
    }
    for (name, k) in &a.ratings {
        coef.push(coefficients_rows(format!("Ratings: {name}"), k));
    }
    if a.rankings.judgements > 0 {
        coef.push(coefficients_rows("Rankings (places)".into(), &a.rankings));
    }
    let cohen: Vec<_> = a.votes.cohen.clone();
    let flagged = a.annotators.iter().filter(|r| !r.flags.is_empty()).count();
    let agreement_bars: Vec<(String, f64)> = a
        .annotators
        .iter()
        .filter_map(|r| Some((r.name.clone(), r.loo_agreement?)))
        .collect();
    view! {
        <section class="card">
            <h1>{format!("Quality: {}", a.project)}</h1>
            <p class="muted">{format!("{} project · judgements of excluded annotators and of LLM judges are left out of the coefficients · ", a.protocol)}
                <a href=format!("/api/v1/projects/{}/agreement", a.project_id)>"agreement JSON"</a>" · "
                <a href=format!("/api/v1/projects/{}/consistency", a.project_id)>"consistency JSON"</a></p>
            <h2>"Agreement"</h2>
            {if coef.is_empty() {
                view! { <p>"No judgements yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data" aria-label="Agreement">
                            <thead><tr><th>"Judgements"</th><th>"n"</th><th>"Units (≥ 2)"</th><th>"Fleiss' κ (units × raters)"</th><th>"Krippendorff's α nominal"</th><th>"α interval"</th><th>"α ordinal"</th></tr></thead>
                            <tbody>{coef}</tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            {(!cohen.is_empty()).then(|| view! {
                <h3>"Cohen's κ, pairs of annotators (choices)"</h3>
                <div class="table-wrap">
                    <table class="data" aria-label="Cohen's kappa">
                        <thead><tr><th>"Annotator"</th><th>"Annotator"</th><th>"Shared items"</th><th>"κ"</th></tr></thead>
                        <tbody>{cohen.into_iter().map(|p| view! {
                            <tr><td>{p.a}</td><td>{p.b}</td><td>{p.units}</td><td>{num(p.kappa)}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                </div>
            })}
            {a.llm_judge.clone().map(|j| view! {
                <p>{format!("LLM judge vs the human majority: {} items, agreement {}, Cohen's κ {}", j.items, pct(j.agreement), num(j.kappa))}</p>
            })}
        </section>
        <section class="card">
            <h2>"Annotators"</h2>
            <p class="muted">{format!("{} annotators, {flagged} flagged by the project's quality-control thresholds. Excluding one removes their judgements from leaderboards and exports (reversible). Skill and side bias are the noisy Bradley–Terry model's estimates (crowd-kit's NoisyBT, with weak priors): the share of an annotator's choices that follow the responses' strengths, and how often the rest picked the left side.", a.annotators.len())}</p>
            <div class="table-wrap">
                <table class="data" aria-label="Annotators">
                    <thead><tr><th>"Annotator"</th><th>"Judgements"</th><th>"Median time"</th><th>"Left picks"</th><th>"Ties"</th><th>"Agrees with the others' majority"</th><th>"Gold accuracy"</th><th>"Too fast"</th><th title="NoisyBT: share of choices that follow the responses' strengths">"Skill"</th><th title="NoisyBT: when not, how often the left response">"Side bias"</th><th>"Flags"</th><th></th></tr></thead>
                    <tbody>{a.annotators.iter().map(|r| {
                        let (id, excluded) = (r.user_id, r.excluded);
                        view! {
                            <tr class:excluded=excluded>
                                <td>{r.name.clone()}{excluded.then_some(" (excluded)")}</td>
                                <td>{r.judgements}</td>
                                <td>{r.median_time_ms.map_or_else(|| "–".to_owned(), |t| format!("{:.1} s", t / 1000.0))}</td>
                                <td>{pct(r.left_share)}</td>
                                <td>{pct(Some(r.tie_rate))}</td>
                                <td>{format!("{} ({} items)", pct(r.loo_agreement), r.loo_units)}</td>
                                <td>{if r.gold_items > 0 { format!("{} of {}", pct(r.gold_accuracy), r.gold_items) } else { "–".to_owned() }}</td>
                                <td>{pct(r.fast_share)}</td>
                                <td>{num(r.skill)}</td>
                                <td>{r.side_bias.map_or_else(|| "–".to_owned(), |b| format!("{:.0}% left", b * 100.0))}</td>
                                <td>{if r.flags.is_empty() { String::new() } else { format!("⚑ {}", r.flags.join("; ")) }}</td>
                                <td>{admin.then(|| view! {
                                    <button type="button" class="button subtle" on:click=move |_| { exclude.dispatch((id, !excluded)); }>
                                        {if excluded { "Include" } else { "Exclude" }}
                                    </button>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            </div>
            {bar_chart("Agreement with the others' majority, per annotator", &agreement_bars)}
        </section>
        {(!a.distributions.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Rating distributions"</h2>
                <div class="charts">
                    {a.distributions.iter().map(|d| {
                        let bars: Vec<(String, f64)> = d.counts.iter().enumerate().map(|(k, n)| ((d.min + k as i32).to_string(), *n as f64)).collect();
                        let title = format!("{} · {} (mean {})", d.model, d.criterion, num(d.mean));
                        view! { <div>{histogram(title, &bars, d.not_applicable)}</div> }
                    }).collect_view()}
                </div>
            </section>
        })}
        <section class="card">
            <h2>"Consistency with pairwise choices"</h2>
            <p class="muted">{format!("Where the same items have ratings (criterion: {}) or rankings and pairwise choices: does the order they give two responses agree with the choice? Ties on either side are counted apart.", c.criterion.clone().unwrap_or_else(|| "–".into()))}</p>
            <div class="table-wrap">
                <table class="data" aria-label="Consistency">
                    <thead><tr><th></th><th>"Pairs"</th><th>"Agree"</th><th>"Disagree"</th><th>"Disagreement"</th><th>"Order tie"</th><th>"Choice tie"</th><th>"Both tie"</th></tr></thead>
                    <tbody>
                        {consistency_row("Ratings vs choice, same annotator", c.rating_vs_choice_same_annotator, c.disagreement[0])}
                        {consistency_row("Ratings vs choice, across annotators", c.rating_vs_choice_across_annotators, c.disagreement[1])}
                        {consistency_row("Ranking vs choice, same annotator", c.ranking_vs_choice_same_annotator, c.disagreement[2])}
                        {consistency_row("Ranking vs choice, across annotators", c.ranking_vs_choice_across_annotators, c.disagreement[3])}
                    </tbody>
                </table>
            </div>
        </section>
        <super::judge_audit::JudgeAuditCard audit/>
    }
}

fn consistency_row(label: &'static str, c: Counts, d: Option<f64>) -> AnyView {
    view! {
        <tr><td>{label}</td><td>{c.pairs}</td><td>{c.agree}</td><td>{c.disagree}</td><td>{pct(d)}</td>
            <td>{c.order_tie}</td><td>{c.choice_tie}</td><td>{c.both_tie}</td></tr>
    }
    .into_any()
}

/// Horizontal bars of shares (0–1), one per label, as inline SVG.
fn bar_chart(title: &'static str, bars: &[(String, f64)]) -> Option<AnyView> {
    if bars.is_empty() {
        return None;
    }
    let row = 22.0;
    let height = row * bars.len() as f64 + 24.0;
    Some(
        view! {
            <figure class="chart">
                <figcaption>{title}</figcaption>
                <svg width="520" height=height viewBox=format!("0 0 520 {height}") role="img"
                    aria-label=format!("{title}: {}", bars.iter().map(|(n, v)| format!("{n} {:.0}%", v * 100.0)).collect::<Vec<_>>().join(", "))>
                    {bars.iter().enumerate().map(|(k, (name, v))| {
                        let y = k as f64 * row + 4.0;
                        view! {
                            <text x="0" y=y + 14.0 font-size="12">{name.clone()}</text>
                            <rect x="180" y=y width=300.0 * v.clamp(0.0, 1.0) height="16" fill="var(--accent)"/>
                            <text x=186.0 + 300.0 * v.clamp(0.0, 1.0) y=y + 13.0 font-size="11">{format!("{:.0}%", v * 100.0)}</text>
                        }
                    }).collect_view()}
                    <line x1="180" y1=height - 18.0 x2="480" y2=height - 18.0 stroke="currentColor" stroke-opacity="0.4"/>
                    <text x="180" y=height - 4.0 font-size="10">"0%"</text>
                    <text x="465" y=height - 4.0 font-size="10">"100%"</text>
                </svg>
            </figure>
        }
        .into_any(),
    )
}

/// Vertical bars of counts per score, as inline SVG.
fn histogram(title: String, bars: &[(String, f64)], not_applicable: usize) -> AnyView {
    let max = bars.iter().map(|b| b.1).fold(1.0_f64, f64::max);
    let w = 28.0;
    let width = w * bars.len() as f64 + 20.0;
    let total: f64 = bars.iter().map(|b| b.1).sum();
    view! {
        <figure class="chart">
            <figcaption>{title.clone()}</figcaption>
            <svg width=width height="120" viewBox=format!("0 0 {width} 120") role="img"
                aria-label=format!("{title}: {}{}", bars.iter().map(|(s, n)| format!("{s}: {n}")).collect::<Vec<_>>().join(", "),
                    if not_applicable > 0 { format!(", N/A: {not_applicable}") } else { String::new() })>
                {bars.iter().enumerate().map(|(k, (label, n))| {
                    let h = 80.0 * n / max;
                    let x = 10.0 + k as f64 * w;
                    view! {
                        <rect x=x + 3.0 y=90.0 - h width=w - 6.0 height=h fill="var(--accent)"/>
                        <text x=x + w / 2.0 - 4.0 y="104" font-size="11">{label.clone()}</text>
                        <text x=x + w / 2.0 - 4.0 y=86.0 - h font-size="10">{if *n > 0.0 { format!("{n:.0}") } else { String::new() }}</text>
                    }
                }).collect_view()}
                <text x="10" y="118" font-size="10">{format!("{total:.0} scores{}", if not_applicable > 0 { format!(", {not_applicable} N/A") } else { String::new() })}</text>
            </svg>
        </figure>
    }
    .into_any()
}
