//! The quality page's judge audit: how far each LLM judge (per template) can be trusted on the
//! project — against the human majority, its swap consistency and position bias, its length
//! bias and self-preference; for rating judges, its scores against the humans' ratings.

use api::judges::{Interval, JudgeAudit, JudgeAuditRow, RatingAuditRow, Share};
use leptos::prelude::*;

use crate::error::AppError;

/// The project's judge audit (researchers, admins).
#[server(endpoint = "quality/judges")]
pub async fn load_judge_audit(project: i64) -> Result<JudgeAudit, AppError> {
    use crate::auth::ssr;
    use service::users::Role;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
        service::judges::audit(&state.pool, project).await
    })
    .await
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

fn share(s: Option<Share>) -> String {
    s.map_or_else(
        || "–".to_owned(),
        |s| {
            format!(
                "{:.0}% [{:.0}, {:.0}] of {}",
                s.value * 100.0,
                s.lower * 100.0,
                s.upper * 100.0,
                s.n
            )
        },
    )
}

fn interval(s: Option<Interval>) -> String {
    s.map_or_else(
        || "–".to_owned(),
        |s| format!("{:.2} [{:.2}, {:.2}]", s.value, s.lower, s.upper),
    )
}

fn scope(category: Option<&str>) -> String {
    category.map_or_else(|| "all".to_owned(), str::to_owned)
}

/// The card.
#[component]
pub fn JudgeAuditCard(audit: Resource<Result<JudgeAudit, AppError>>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"LLM judges"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match audit.await {
                        Ok(a) => view! { <Audit a/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Audit(a: JudgeAudit) -> impl IntoView {
    let json = view! { <a href=format!("/api/v1/projects/{}/judges", a.project_id)>"judge audit JSON"</a> };
    if a.rows.is_empty() && a.ratings.is_empty() {
        return view! {
            <p>"No judge has judged this project yet; the admin page's LLM-judges card starts a job. · " {json}</p>
        }
        .into_any();
    }
    view! {
        <p class="muted">"Per judge and template, then per category; shares with 95% intervals. The human side leaves out excluded annotators and every LLM judge. · " {json}</p>
        {(!a.rows.is_empty()).then(|| pairwise(a.rows))}
        {(!a.ratings.is_empty()).then(|| ratings(a.ratings))}
    }
    .into_any()
}

fn pairwise(rows: Vec<JudgeAuditRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" aria-label="Pairwise judges">
                <thead><tr><th>"Judge"</th><th>"Template"</th><th>"Category"</th><th>"Items"</th><th>"Verdicts"</th><th>"Unparsable"</th>
                    <th title="Items judged in both orders that name the same response in each">"Swap consistency"</th>
                    <th title="Decisive verdicts that picked the answer shown first (50%: no bias)">"First-position wins"</th>
                    <th title="Change in the first response's win rate per 1000 characters it is longer">"Length slope"</th>
                    <th>"Agrees with the human majority"</th><th>"Cohen's κ"</th>
                    <th title="Items with one response of the judge's family: the share it picked">"Own family's wins"</th></tr></thead>
                <tbody>{rows.into_iter().map(|r| view! {
                    <tr><td>{r.judge}</td><td>{r.template}</td><td>{scope(r.category.as_deref())}</td><td>{r.items}</td>
                        <td>{r.verdicts}</td><td>{r.unparsable}</td><td>{share(r.swap_consistency)}</td>
                        <td>{share(r.first_position_wins)}</td><td>{num(r.length_slope_per_1000_chars)}</td>
                        <td>{share(r.human_agreement)}</td><td>{num(r.human_kappa)}</td><td>{share(r.own_family_wins)}</td></tr>
                }).collect_view()}</tbody>
            </table>
        </div>
    }
}

fn ratings(rows: Vec<RatingAuditRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" aria-label="Rating judges">
                <thead><tr><th>"Judge"</th><th>"Template"</th><th>"Criterion"</th><th>"Category"</th><th>"Scores"</th><th>"Unparsable"</th>
                    <th>"Rated by humans too"</th>
                    <th title="Pearson's r with the humans' mean score (Fisher-z interval)">"Correlation"</th>
                    <th title="Judge's score minus the humans' mean (above 0: more lenient)">"Offset"</th>
                    <th>"Mean |difference|"</th><th>"Equals the human median"</th>
                    <th title="Score change per 1000 characters of answer: the judge's, then the humans'">"Length slope (humans)"</th>
                    <th title="Offset on the judge's own family's answers minus its offset on the others'">"Own family's offset"</th></tr></thead>
                <tbody>{rows.into_iter().map(|r| view! {
                    <tr><td>{r.judge}</td><td>{r.template}</td><td>{r.criterion}</td><td>{scope(r.category.as_deref())}</td>
                        <td>{r.scores}</td><td>{r.unparsable}</td><td>{r.with_humans}</td><td>{interval(r.correlation)}</td>
                        <td>{interval(r.mean_offset)}</td><td>{num(r.mean_abs_diff)}</td><td>{share(r.exact_agreement)}</td>
                        <td>{format!("{} ({})", num(r.length_slope_per_1000_chars), num(r.human_length_slope_per_1000_chars))}</td>
                        <td>{num(r.own_family_offset)}</td></tr>
                }).collect_view()}</tbody>
            </table>
        </div>
    }
}
