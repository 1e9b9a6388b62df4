//! The rating and ranking forms of `/annotate/:project` (the pairwise form is in `compare`):
//! both work by mouse and entirely by keyboard, stamp the time taken, and submit once.

use std::collections::HashSet;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::forms::now_ms;
use crate::error::AppError;
use api::annotation::ItemView;

pub use api::annotation::CriterionView;

/// One score sent by the rating form (`score: None` is N/A).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreInput {
    /// Response.
    pub response_id: i64,
    /// Criterion name.
    pub criterion: String,
    /// Score or N/A.
    pub score: Option<i32>,
}

#[cfg(feature = "ssr")]
impl From<ScoreInput> for service::annotation::Score {
    fn from(s: ScoreInput) -> Self {
        Self {
            response_id: s.response_id,
            criterion: s.criterion,
            score: s.score,
        }
    }
}

/// Records a rating assignment: every response on every criterion, and the pairwise choice
/// when the project asks for one.
#[server(endpoint = "annotate/rate", input = server_fn::codec::Json)]
pub async fn submit_ratings(
    assignment_id: i64,
    scores: Vec<ScoreInput>,
    choice: Option<String>,
    rationale: Option<String>,
    time_ms: Option<i32>,
) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let new = service::annotation::NewRatings {
            scores: scores.into_iter().map(Into::into).collect(),
            choice: service::annotation::parse_optional_choice(choice.as_deref())?,
            rationale,
            time_ms,
        };
        let user_id = ssr::session_user_id(&session).await?;
        service::annotation::rate(&state.pool, assignment_id, user_id, &new).await?;
        Ok(())
    })
    .await
}

/// Records a ranking assignment: tie groups of response ids, best first.
#[server(endpoint = "annotate/rank", input = server_fn::codec::Json)]
pub async fn submit_ranking(
    assignment_id: i64,
    groups: Vec<Vec<i64>>,
    none_acceptable: bool,
    rationale: Option<String>,
    time_ms: Option<i32>,
) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let new = service::annotation::NewRanking {
            groups,
            none_acceptable,
            rationale,
            time_ms,
        };
        let user_id = ssr::session_user_id(&session).await?;
        service::annotation::rank(&state.pool, assignment_id, user_id, &new).await?;
        Ok(())
    })
    .await
}

/// Progress bar, guidelines and prompt, shared by both forms.
fn head(item: &ItemView, title: &'static str, keys: &'static str) -> impl IntoView + use<> {
    let percent = if item.total > 0 {
        item.done * 100 / item.total
    } else {
        0
    };
    let has_guidelines = !item.guidelines_html.trim().is_empty();
    view! {
        <div class="compare-head">
            <h1>{title}</h1>
            <span class="muted" aria-label="Progress">{format!("{} of {} judged", item.done, item.total)}</span>
        </div>
        <div class="progress" role="progressbar" aria-valuenow=percent aria-valuemin="0" aria-valuemax="100">
            <div style=format!("width: {percent}%")></div>
        </div>
        <details class="card guidelines">
            <summary>{format!("Guidelines (v{})", item.guideline_version)}</summary>
            {has_guidelines.then(|| view! { <div class="md" inner_html=item.guidelines_html.clone()></div> })}
            <p class="muted small">{keys}</p>
        </details>
        <section class="card prompt" aria-label="Prompt"><p class="text">{item.prompt.clone()}</p></section>
    }
}

/// Ms since the form was shown (None before hydration).
fn stopwatch() -> impl Fn() -> Option<i32> + Copy + Send + Sync + 'static {
    let shown_at = StoredValue::new(0.0_f64);
    Effect::new(move || shown_at.set_value(now_ms()));
    move || {
        let t = now_ms() - shown_at.get_value();
        (t > 0.0).then(|| t.round() as i32)
    }
}

/// The rating form: one row per response and criterion.
#[component]
pub fn RatingForm(
    item: ItemView,
    on_next: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let id = item.assignment_id;
    let criteria = item.criteria.clone();
    let responses: Vec<i64> = item.responses.iter().map(|r| r.0).collect();
    let rows = responses.len() * criteria.len();
    let scores = RwSignal::new(vec![None::<Option<i32>>; rows]);
    let focused = RwSignal::new(0usize);
    let choice = RwSignal::new(None::<&'static str>);
    let problem = RwSignal::new(None::<String>);
    let rationale = NodeRef::<leptos::html::Textarea>::new();
    let elapsed = stopwatch();
    let with_choice = item.with_choice;
    let allow_na = item.allow_na;
    let act = Action::new(|s: &SubmitRatings| {
        submit_ratings(
            s.assignment_id,
            s.scores.clone(),
            s.choice.clone(),
            s.rationale.clone(),
            s.time_ms,
        )
    });
    {
        let next = on_next.clone();
        Effect::new(move || {
            if matches!(act.value().get(), Some(Ok(()))) {
                next();
            }
        });
    }
    let nc = criteria.len();
    let (crit, resp) = (
        StoredValue::new(criteria.clone()),
        StoredValue::new(responses),
    );
    let label = move |row: usize| {
        format!(
            "Response {} · {}",
            row / nc + 1,
            crit.with_value(|c| c[row % nc].name.clone())
        )
    };
    let submit = move || {
        if act.pending().get_untracked() {
            return;
        }
        let current = scores.get_untracked();
        if let Some(empty) = current.iter().position(Option::is_none) {
            focused.set(empty);
            problem.set(Some(format!(
                "Rate every row first: {} is empty.",
                label(empty)
            )));
            return;
        }
        if with_choice && choice.get_untracked().is_none() {
            problem.set(Some(
                "Say which response is better too (a, b, t or w).".into(),
            ));
            return;
        }
        problem.set(None);
        let scores = current
            .iter()
            .enumerate()
            .map(|(row, s)| ScoreInput {
                response_id: resp.with_value(|r| r[row / nc]),
                criterion: crit.with_value(|c| c[row % nc].name.clone()),
                score: s.flatten(),
            })
            .collect();
        act.dispatch(SubmitRatings {
            assignment_id: id,
            scores,
            choice: choice.get_untracked().map(str::to_owned),
            rationale: rationale
                .get_untracked()
                .map(|t| t.value())
                .filter(|t| !t.trim().is_empty()),
            time_ms: elapsed(),
        });
    };
    let set = move |row: usize, v: Option<i32>| {
        scores.update(|s| s[row] = Some(v));
        focused.set(row);
    };
    // Keyboard: a digit scores the focused row, x marks it N/A, Tab/↓ and Shift+Tab/↑ move,
    // Enter submits; in a mixed form a/b/t/w choose A, B, tie or both bad.
    let handle = window_event_listener(leptos::ev::keydown, move |e| {
        if !crate::components::shortcuts::is_shortcut(&e) {
            return;
        }
        let key = e.key();
        let row = focused.get_untracked();
        match key.as_str() {
            "Tab" | "ArrowDown" | "ArrowUp" => {
                let back = key == "ArrowUp" || (key == "Tab" && e.shift_key());
                focused.set(if back {
                    row.saturating_sub(1)
                } else {
                    (row + 1).min(rows - 1)
                });
            }
            "Enter" => submit(),
            "x" | "X" if allow_na => set(row, None),
            "a" | "A" if with_choice => choice.set(Some("left")),
            "b" | "B" if with_choice => choice.set(Some("right")),
            "t" | "T" if with_choice => choice.set(Some("tie")),
            "w" | "W" if with_choice => choice.set(Some("both_bad")),
            k => {
                let Ok(v) = k.parse::<i32>() else { return };
                let c = crit.with_value(|c| c[row % nc].clone());
                if v < c.min || v > c.max {
                    return;
                }
                set(row, Some(v));
            }
        }
        e.prevent_default();
    });
    on_cleanup(move || handle.remove());
    let keys = if with_choice {
        "Keys: digits score the highlighted row · x N/A · Tab/↓ next row · ↑ previous · a/b/t/w A better, B better, tie, both bad · Enter submit"
    } else {
        "Keys: digits score the highlighted row · x N/A · Tab/↓ next row · ↑ previous · Enter submit"
    };
    view! {
        {head(&item, "Rate each response", keys)}
        <div class="rating-list">
            {item.responses.iter().enumerate().map(|(i, (_, html))| view! {
                <section class="card pane" aria-label=format!("Response {}", i + 1)>
                    <h2>{format!("Response {}", i + 1)}</h2>
                    <div class="md" inner_html=html.clone()></div>
                    {criteria.iter().enumerate().map(|(j, c)| {
                        let row = i * nc + j;
                        let c = c.clone();
                        view! {
                            <div class="rating-row" class:focused=move || focused.get() == row role="radiogroup"
                                aria-label=label(row) on:click=move |_| focused.set(row)>
                                <span class="criterion">{c.name.clone()}</span>
                                <span class="end">{c.low.clone()}</span>
                                {(c.min..=c.max).map(|v| view! {
                                    <button type="button" role="radio" class="score"
                                        aria-checked=move || (scores.get()[row] == Some(Some(v))).to_string()
                                        on:click=move |_| set(row, Some(v))>{v}</button>
                                }).collect_view()}
                                <span class="end">{c.high.clone()}</span>
                                {allow_na.then(|| view! {
                                    <button type="button" role="radio" class="score na"
                                        aria-checked=move || (scores.get()[row] == Some(None)).to_string()
                                        on:click=move |_| set(row, None)>"N/A"</button>
                                })}
                            </div>
                        }
                    }).collect_view()}
                </section>
            }).collect_view()}
        </div>
        <div class="card vote-form">
            {with_choice.then(|| view! {
                <div class="vote-buttons" role="radiogroup" aria-label="Which is better?">
                    {[("left", "a", "Response 1 is better"), ("right", "b", "Response 2 is better"), ("tie", "t", "Tie"), ("both_bad", "w", "Both are bad")]
                        .into_iter().map(|(value, key, text)| view! {
                            <button type="button" role="radio" class="button"
                                aria-checked=move || (choice.get() == Some(value)).to_string()
                                on:click=move |_| choice.set(Some(value))><kbd>{key}</kbd>" "{text}</button>
                        }).collect_view()}
                </div>
            })}
            {(item.rationale_mode != "off").then(|| view! {
                <label>{if item.rationale_mode == "required" { "Why? (required)" } else { "Why? (optional)" }}
                    <textarea name="rationale" node_ref=rationale rows="2"></textarea>
                </label>
            })}
            <button type="button" class="button primary" disabled=move || act.pending().get() on:click=move |_| submit()>
                <kbd>"Enter"</kbd>" Submit"
            </button>
        </div>
        {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        {move || act.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

/// Tie groups from an order and the set of responses tied with the one above them.
#[must_use]
pub fn groups(order: &[i64], tied: &HashSet<i64>) -> Vec<Vec<i64>> {
    let mut out: Vec<Vec<i64>> = Vec::new();
    for (k, r) in order.iter().enumerate() {
        match out.last_mut() {
            Some(g) if k > 0 && tied.contains(r) => g.push(*r),
            _ => out.push(vec![*r]),
        }
    }
    out
}

/// Moves the entry at `from` to `to`, shifting the others.
pub fn move_entry<T>(v: &mut Vec<T>, from: usize, to: usize) {
    if from < v.len() && to < v.len() && from != to {
        let x = v.remove(from);
        v.insert(to, x);
    }
}

/// The ranking form: drag and drop, or select with a digit and move with ↑/↓.
#[component]
pub fn RankingForm(
    item: ItemView,
    on_next: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let id = item.assignment_id;
    let initial: Vec<i64> = item.responses.iter().map(|r| r.0).collect();
    let html = StoredValue::new(item.responses.clone());
    let n = initial.len();
    let order = RwSignal::new(initial.clone());
    let tied = RwSignal::new(HashSet::<i64>::new());
    let selected = RwSignal::new(None::<usize>);
    let dragging = RwSignal::new(None::<usize>);
    let none_ok = RwSignal::new(false);
    let confirm = RwSignal::new(false);
    let rationale = NodeRef::<leptos::html::Textarea>::new();
    let elapsed = stopwatch();
    let initial = StoredValue::new(initial);
    let act = Action::new(|s: &SubmitRanking| {
        submit_ranking(
            s.assignment_id,
            s.groups.clone(),
            s.none_acceptable,
            s.rationale.clone(),
            s.time_ms,
        )
    });
    {
        let next = on_next.clone();
        Effect::new(move || {
            if matches!(act.value().get(), Some(Ok(()))) {
                next();
            }
        });
    }
    let submit = move || {
        if act.pending().get_untracked() {
            return;
        }
        let current = order.get_untracked();
        let ties = tied.get_untracked();
        let untouched = initial.with_value(|i| *i == current) && ties.is_empty();
        if untouched && !confirm.get_untracked() {
            confirm.set(true);
            return;
        }
        act.dispatch(SubmitRanking {
            assignment_id: id,
            groups: groups(&current, &ties),
            none_acceptable: none_ok.get_untracked(),
            rationale: rationale
                .get_untracked()
                .map(|t| t.value())
                .filter(|t| !t.trim().is_empty()),
            time_ms: elapsed(),
        });
    };
    let shift = move |from: usize, to: usize| {
        order.update(|o| move_entry(o, from, to));
        selected.set(Some(to));
        confirm.set(false);
    };
    let toggle_tie = move |pos: usize| {
        if pos == 0 {
            return;
        }
        let r = order.get_untracked()[pos];
        tied.update(|t| {
            if !t.remove(&r) {
                t.insert(r);
            }
        });
        confirm.set(false);
    };
    // Keyboard: a digit selects the response at that place, ↑/↓ move it, = ties it with the one
    // above, Enter submits (twice when the order is unchanged), Escape deselects.
    let handle = window_event_listener(leptos::ev::keydown, move |e| {
        if !crate::components::shortcuts::is_shortcut(&e) {
            return;
        }
        let key = e.key();
        match (key.as_str(), selected.get_untracked()) {
            ("ArrowUp", Some(p)) if p > 0 => shift(p, p - 1),
            ("ArrowDown", Some(p)) if p + 1 < n => shift(p, p + 1),
            ("=", Some(p)) => toggle_tie(p),
            ("Escape", _) => selected.set(None),
            ("Enter", _) => submit(),
            (k, _) => match k.parse::<usize>() {
                Ok(d) if (1..=n).contains(&d) => selected.set(Some(d - 1)),
                _ => return,
            },
        }
        e.prevent_default();
    });
    on_cleanup(move || handle.remove());
    view! {
        {head(&item, "Rank the responses, best first", "Keys: a digit selects the response at that place · ↑/↓ move it · = tie with the one above · Enter submit · or drag and drop")}
        <ol class="ranking" aria-label="Ranking">
            {move || order.get().into_iter().enumerate().map(|(pos, r)| {
                let text = html.with_value(|h| h.iter().find(|x| x.0 == r).map(|x| x.1.clone()).unwrap_or_default());
                let shown = html.with_value(|h| h.iter().position(|x| x.0 == r).unwrap_or(0) + 1);
                let is_tied = tied.with(|t| t.contains(&r)) && pos > 0;
                view! {
                    <li class="card rank-item" class:selected=move || selected.get() == Some(pos) class:tied=is_tied
                        draggable="true" aria-label=format!("Response {shown}")
                        on:click=move |_| selected.set(Some(pos))
                        on:dragstart=move |ev: leptos::ev::DragEvent| {
                            dragging.set(Some(pos));
                            // Some browsers only start a drag that carries data.
                            #[cfg(feature = "hydrate")]
                            if let Some(dt) = ev.data_transfer() {
                                let _ = dt.set_data("text/plain", &pos.to_string());
                            }
                            #[cfg(not(feature = "hydrate"))]
                            let _ = ev;
                        }
                        on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
                        on:drop=move |ev: leptos::ev::DragEvent| {
                            ev.prevent_default();
                            if let Some(from) = dragging.get_untracked() {
                                shift(from, pos);
                            }
                            dragging.set(None);
                        }>
                        <div class="rank-head">
                            <span class="place">{if is_tied { "=".to_owned() } else { format!("{}", pos + 1) }}</span>
                            <strong>{format!("Response {shown}")}</strong>
                            <button type="button" class="button subtle" aria-label=format!("Move response {shown} up") disabled=pos == 0
                                on:click=move |ev| { ev.stop_propagation(); shift(pos, pos - 1); }>"↑"</button>
                            <button type="button" class="button subtle" aria-label=format!("Move response {shown} down") disabled=pos + 1 == n
                                on:click=move |ev| { ev.stop_propagation(); shift(pos, pos + 1); }>"↓"</button>
                            {(pos > 0).then(|| view! {
                                <label class="tie"><input type="checkbox" prop:checked=is_tied
                                    on:change=move |_| toggle_tie(pos)/>" tie with the one above"</label>
                            })}
                        </div>
                        <div class="md" inner_html=text></div>
                    </li>
                }
            }).collect_view()}
        </ol>
        <div class="card vote-form">
            <label class="check"><input type="checkbox" prop:checked=move || none_ok.get()
                on:change=move |ev| none_ok.set(event_target_checked(&ev))/>" None is acceptable"</label>
            {(item.rationale_mode != "off").then(|| view! {
                <label>{if item.rationale_mode == "required" { "Why? (required)" } else { "Why? (optional)" }}
                    <textarea name="rationale" node_ref=rationale rows="2"></textarea>
                </label>
            })}
            <button type="button" class="button primary" disabled=move || act.pending().get() on:click=move |_| submit()>
                {move || if confirm.get() { "Submit unchanged order" } else { "Submit" }}" (Enter)"
            </button>
        </div>
        {move || confirm.get().then(|| view! {
            <p class="error" role="alert">"You have not changed the initial order. Press Enter (or the button) again to submit it as your ranking."</p>
        })}
        {move || act.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_group_with_the_entry_above() {
        let tied: HashSet<i64> = [5, 7].into_iter().collect();
        assert_eq!(
            groups(&[5, 3, 7, 9], &tied),
            vec![vec![5], vec![3, 7], vec![9]]
        );
        let mut v = vec![1, 2, 3, 4];
        move_entry(&mut v, 3, 0);
        assert_eq!(v, [4, 1, 2, 3]);
        move_entry(&mut v, 0, 9);
        assert_eq!(v, [4, 1, 2, 3]);
    }
}
