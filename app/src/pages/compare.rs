//! The comparison page: a prompt, two anonymous responses side by side, four verdicts by mouse
//! or keyboard, the reveal, and on to the next item.

use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::error::AppError;

pub use api::annotation::{ItemView, Reveal};

/// The annotator's next item in a project (binding an anonymous annotator on first visit);
/// `None` when they have judged everything available.
#[server(endpoint = "annotate/next")]
pub async fn next_item(project: i64, pid: Option<String>) -> Result<Option<ItemView>, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user = ssr::ensure_annotator(&state, &session, pid.as_deref()).await?;
        service::annotation::next_item(&state.pool, &state.pair_scores, project, user.user_id).await
    })
    .await
}

/// Gives an item back to the pool (others will get it; this annotator will not see it again).
#[server(endpoint = "annotate/skip")]
pub async fn skip_item(assignment_id: i64) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user = ssr::session_user(&state, &session)
            .await?
            .ok_or_else(AppError::login_required)?;
        service::annotation::skip(&state.pool, assignment_id, user.user_id).await
    })
    .await
}

/// Records the vote (`left`, `right`, `tie`, `both_bad`) with its optional strength
/// (`slight`, `clear`), rationale and the milliseconds from display to vote, and reveals the
/// models.
#[server(endpoint = "annotate/vote")]
pub async fn submit_vote(
    assignment_id: i64,
    choice: String,
    strength: Option<String>,
    rationale: Option<String>,
    time_to_vote_ms: Option<String>,
) -> Result<Reveal, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let time = time_to_vote_ms.as_deref();
        let vote = service::annotation::form_vote(&choice, strength, rationale, time)?;
        let user_id = ssr::session_user_id(&session).await?;
        let r = service::annotation::vote(&state.pool, assignment_id, user_id, &vote).await?;
        Ok(Reveal::from(r))
    })
    .await
}

/// `/annotate/:project`: the server finds the annotator's first item, and the island of its
/// protocol takes over from there. Pairwise comparisons are in the main wasm; the rating and
/// ranking forms are lazy islands, fetched only by their projects' pages.
#[component]
pub fn ComparePage() -> impl IntoView {
    let project = crate::url::id_param("project");
    let pid = StoredValue::new(use_query_map().read_untracked().get("pid"));
    let first = Resource::new(|| (), move |()| next_item(project, pid.get_value()));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let pid = pid.get_value();
                match first.await {
                    Ok(Some(first)) if first.protocol == "rating" => view! { <RatingIsland project pid first/> }.into_any(),
                    Ok(Some(first)) if first.protocol == "ranking" => view! { <RankingIsland project pid first/> }.into_any(),
                    Ok(Some(first)) => view! { <PairIsland project pid first/> }.into_any(),
                    Ok(None) => all_done().into_any(),
                    Err(e) => view! { <p class="error card" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn all_done() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"All done"</h1>
            <p>"You have judged every item available to you in this project. Thank you!"</p>
            <p><a href="/annotate">"Back to the projects"</a></p>
        </section>
    }
}

/// A pairwise project's items, one after the other (an island; `pid` is the annotator's
/// external id, `first` the item the server found).
#[island]
fn PairIsland(project: i64, pid: Option<String>, first: ItemView) -> impl IntoView {
    crate::components::island::hydrated();
    view! { <Items project pid first form=|item, next| view! { <Comparison item on_next=move || next.run(())/> }/> }
}

/// A rating project's items (a lazy island).
#[island(lazy)]
fn RatingIsland(project: i64, pid: Option<String>, first: ItemView) -> impl IntoView {
    crate::components::island::hydrated();
    view! { <Items project pid first form=|item, next| view! { <crate::pages::judge::RatingForm item on_next=move || next.run(())/> }/> }
}

/// A ranking project's items (a lazy island).
#[island(lazy)]
fn RankingIsland(project: i64, pid: Option<String>, first: ItemView) -> impl IntoView {
    crate::components::island::hydrated();
    view! { <Items project pid first form=|item, next| view! { <crate::pages::judge::RankingForm item on_next=move || next.run(())/> }/> }
}

/// The current item in its `form`; the form's "next" asks the server for the following one.
/// Generic over the form's view rather than type-erased: see `components::island` on
/// `into_any()` in island code.
#[component]
fn Items<F, V>(project: i64, pid: Option<String>, first: ItemView, form: F) -> impl IntoView
where
    F: Fn(ItemView, Callback<()>) -> V + Copy + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let (round, set_round) = signal(0u32);
    let first = StoredValue::new(first);
    let item = Resource::new(
        move || round.get(),
        move |round| {
            let pid = pid.clone();
            async move {
                if round == 0 {
                    Ok(Some(first.get_value()))
                } else {
                    next_item(project, pid).await
                }
            }
        },
    );
    let next = Callback::new(move |()| set_round.update(|r| *r += 1));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match item.await {
                    Ok(Some(it)) => EitherOf3::A(form(it, next)),
                    Ok(None) => EitherOf3::B(all_done()),
                    Err(e) => EitherOf3::C(view! { <p class="error card" role="alert">{e.to_string()}</p> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Comparison(item: ItemView, on_next: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let vote = ServerAction::<SubmitVote>::new();
    let skip = ServerAction::<SkipItem>::new();
    let rationale = NodeRef::<leptos::html::Textarea>::new();
    let guidelines = NodeRef::<leptos::html::Details>::new();
    let elapsed = NodeRef::<leptos::html::Input>::new();
    let id = item.assignment_id;
    // When the item was shown, for the time-to-vote (set once the page is interactive).
    let shown_at = StoredValue::new(0.0_f64);
    Effect::new(move || shown_at.set_value(crate::components::forms::now_ms()));
    let time_to_vote = move || {
        let t = crate::components::forms::now_ms() - shown_at.get_value();
        (t > 0.0).then(|| t.round() as i32)
    };
    let with_strength = item.strength_scale == "slight_clear";
    let rationale_mode = item.rationale_mode.clone();
    let revealed = move || vote.value().get().and_then(Result::ok);
    let error = move || {
        vote.value()
            .get()
            .and_then(Result::err)
            .or_else(|| skip.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let locked = move || revealed().is_some() || vote.pending().get() || skip.pending().get();
    let strength_value = move || {
        leptos::prelude::document()
            .query_selector("input[name=strength]:checked")
            .ok()
            .flatten()
            .and_then(|el| el.get_attribute("value"))
    };
    let cast = move |choice: &str| {
        if locked() {
            return;
        }
        let text = rationale
            .get_untracked()
            .map(|t| t.value())
            .filter(|t| !t.trim().is_empty());
        vote.dispatch(SubmitVote {
            assignment_id: id,
            choice: choice.to_owned(),
            strength: strength_value(),
            rationale: text,
            time_to_vote_ms: time_to_vote().map(|t| t.to_string()),
        });
    };
    // Skipping moves on as soon as the server has the item back.
    {
        let next = on_next.clone();
        Effect::new(move || {
            if matches!(skip.value().get(), Some(Ok(()))) {
                next();
            }
        });
    }
    let do_skip = move || {
        if !locked() {
            skip.dispatch(SkipItem { assignment_id: id });
        }
    };
    let next = on_next.clone();
    // Keyboard: 1/← A, 2/→ B, 3/↑ tie, 4/↓ both bad, n or Enter for the next item, s to skip,
    // g for the guidelines.
    let handle = window_event_listener(leptos::ev::keydown, move |e| {
        if !crate::components::shortcuts::is_shortcut(&e) {
            return;
        }
        if let Some(choice) = crate::components::shortcuts::choice_for_key(&e.key()) {
            cast(choice);
            e.prevent_default();
            return;
        }
        match e.key().as_str() {
            "n" | "N" | "Enter" if revealed().is_some() => next(),
            "s" | "S" if revealed().is_none() => do_skip(),
            "g" | "G" => {
                if let Some(d) = guidelines.get_untracked() {
                    d.set_open(!d.open());
                }
            }
            _ => return,
        }
        e.prevent_default();
    });
    on_cleanup(move || handle.remove());
    let percent = if item.total > 0 {
        item.done * 100 / item.total
    } else {
        0
    };
    let has_guidelines = !item.guidelines_html.trim().is_empty();
    view! {
        <div class="compare-head">
            <h1>"Which response is better?"</h1>
            <span class="muted" aria-label="Progress">{format!("{} of {} judged", item.done, item.total)}</span>
        </div>
        <div class="progress" role="progressbar" aria-valuenow=percent aria-valuemin="0" aria-valuemax="100">
            <div style=format!("width: {percent}%")></div>
        </div>
        <details class="card guidelines" node_ref=guidelines>
            <summary>{format!("Guidelines (v{}) · press g", item.guideline_version)}</summary>
            {if has_guidelines {
                Either::Left(view! { <div class="md" inner_html=item.guidelines_html.clone()></div> })
            } else {
                Either::Right(view! { <p class="muted">"Pick the response you would rather receive: helpful, correct, harmless. Use Tie when they are equally good and Both are bad when neither is acceptable."</p> })
            }}
            <p class="muted small">"Keys: 1/← A · 2/→ B · 3/↑ tie · 4/↓ both bad · s skip · n/Enter next"</p>
        </details>
        <section class="card prompt" aria-label="Prompt"><p class="text">{item.prompt.clone()}</p></section>
        <div class="panes">
            <section class="card pane" aria-label="Response A">
                <h2>"A" {move || revealed().map(|r| view! { <span class="reveal">{format!(" · {}", r.left_model)}</span> })}</h2>
                // Safe HTML from crate::markdown: raw markup in model text is shown, never run.
                <div class="md" inner_html=item.left_html.clone()></div>
            </section>
            <section class="card pane" aria-label="Response B">
                <h2>"B" {move || revealed().map(|r| view! { <span class="reveal">{format!(" · {}", r.right_model)}</span> })}</h2>
                <div class="md" inner_html=item.right_html.clone()></div>
            </section>
        </div>
        <ActionForm action=vote attr:class="card vote-form">
            <input type="hidden" name="assignment_id" value=id.to_string()/>
            <input type="hidden" name="time_to_vote_ms" node_ref=elapsed value=""/>
            {with_strength.then(|| view! {
                <fieldset class="strength" disabled=locked>
                    <legend>"How much better? (optional)"</legend>
                    <label><input type="radio" name="strength" value="slight"/>" Slightly"</label>
                    <label><input type="radio" name="strength" value="clear"/>" Clearly"</label>
                </fieldset>
            })}
            {(rationale_mode != "off").then(|| {
                let required = rationale_mode == "required";
                view! {
                    <label>{if required { "Why? (required)" } else { "Why? (optional)" }}
                        <textarea name="rationale" node_ref=rationale rows="2" disabled=locked required=required></textarea>
                    </label>
                }
            })}
            <div class="vote-buttons" on:click=move |_| {
                // Stamp the time on the form before it is submitted.
                if let (Some(input), Some(t)) = (elapsed.get_untracked(), time_to_vote()) {
                    input.set_value(&t.to_string());
                }
            }>
                <button type="submit" name="choice" value="left" class="button" disabled=locked><kbd>"1"</kbd>" A is better"</button>
                <button type="submit" name="choice" value="right" class="button" disabled=locked><kbd>"2"</kbd>" B is better"</button>
                <button type="submit" name="choice" value="tie" class="button" disabled=locked><kbd>"3"</kbd>" Tie"</button>
                <button type="submit" name="choice" value="both_bad" class="button" disabled=locked><kbd>"4"</kbd>" Both are bad"</button>
                <button type="button" class="button subtle" disabled=locked on:click=move |_| do_skip()><kbd>"s"</kbd>" Skip"</button>
            </div>
        </ActionForm>
        {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {
            let next = on_next.clone();
            move || revealed().map(|_| {
                let next = next.clone();
                view! {
                    <p role="status" class="ok">"Vote recorded. "
                        <button type="button" class="button primary" on:click=move |_| next()>"Next (n)"</button>
                    </p>
                }
            })
        }
    }
}
