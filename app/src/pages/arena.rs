//! The open arena: an annotator writes a prompt, two anonymous models (chosen by the pair
//! sampler) answer side by side as their text streams in, the vote panel opens once both
//! answers are complete, and the names are revealed after the vote. A failed answer shows in
//! its pane and the battle is not counted.

use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::pages::compare::SubmitVote;

/// Models that can battle now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaReadiness {
    /// Enabled models that generate answers (OpenAI-compatible or local).
    pub contestants: i64,
}

/// How many models can battle.
#[server(endpoint = "arena/status")]
pub async fn arena_status() -> Result<ArenaReadiness, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, _) = ssr::context().await?;
        let contestants = service::models::arena_contestants(&state.pool).await?;
        Ok(ArenaReadiness {
            contestants: i64::try_from(contestants).unwrap_or(i64::MAX),
        })
    })
    .await
}

/// Starts a battle on `prompt` between two models chosen by the pair sampler; returns the
/// battle id whose answers stream from `/api/v1/arena/battles/{id}/events`.
#[server(endpoint = "arena/start")]
pub async fn start_battle(prompt: String, pid: Option<String>) -> Result<i64, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user = ssr::ensure_annotator(&state, &session, pid.as_deref()).await?;
        service::arena::start_battle(&state.pool, user.user_id, &prompt).await
    })
    .await
}

/// One pane's state while a battle streams.
#[derive(Debug, Clone, Copy)]
struct Pane {
    text: RwSignal<String>,
    html: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
}

impl Pane {
    fn new() -> Self {
        Self {
            text: RwSignal::new(String::new()),
            html: RwSignal::new(None),
            error: RwSignal::new(None),
        }
    }

    fn reset(self) {
        self.text.set(String::new());
        self.html.set(None);
        self.error.set(None);
    }
}

/// Payload of the stream's events.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(dead_code)]
struct StreamEvent {
    #[serde(default)]
    side: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    assignment_id: Option<i64>,
    #[serde(default)]
    left_html: String,
    #[serde(default)]
    right_html: String,
}

/// Listens to a battle's event stream, filling the panes; closes it at the end.
#[cfg(feature = "hydrate")]
fn listen(
    battle: i64,
    left: Pane,
    right: Pane,
    assignment: RwSignal<Option<i64>>,
    streaming: RwSignal<bool>,
) {
    use leptos::wasm_bindgen::JsCast;
    use leptos::wasm_bindgen::closure::Closure;
    use leptos::web_sys::{EventSource, MessageEvent};

    let Ok(source) = EventSource::new(&format!("/api/v1/arena/battles/{battle}/events")) else {
        left.error
            .set(Some("the browser could not open the answer stream".into()));
        streaming.set(false);
        return;
    };
    let pane = move |side: &str| if side == "left" { left } else { right };
    let parse = |e: &MessageEvent| {
        e.data()
            .as_string()
            .and_then(|d| serde_json::from_str::<StreamEvent>(&d).ok())
            .unwrap_or_default()
    };
    let on_delta = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let ev = parse(&e);
        pane(&ev.side).text.update(|t| t.push_str(&ev.text));
    });
    let on_failed = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let ev = parse(&e);
        pane(&ev.side).error.set(Some(ev.message));
    });
    let on_ready = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let ev = parse(&e);
        left.html.set(Some(ev.left_html));
        right.html.set(Some(ev.right_html));
        assignment.set(ev.assignment_id);
    });
    let closer = source.clone();
    let on_end = Closure::<dyn FnMut(MessageEvent)>::new(move |_e: MessageEvent| {
        closer.close();
        streaming.set(false);
    });
    // A broken connection must not reconnect and start over: close and say so.
    let closer = source.clone();
    let on_error = Closure::<dyn FnMut(leptos::web_sys::Event)>::new(move |_e| {
        if streaming.get_untracked() {
            closer.close();
            streaming.set(false);
            if assignment.get_untracked().is_none() {
                for p in [left, right] {
                    if p.error.get_untracked().is_none() && p.html.get_untracked().is_none() {
                        p.error
                            .set(Some("the connection to the server broke off".into()));
                    }
                }
            }
        }
    });
    for (name, f) in [
        ("delta", on_delta.as_ref()),
        ("failed", on_failed.as_ref()),
        ("ready", on_ready.as_ref()),
        ("end", on_end.as_ref()),
    ] {
        let _ = source.add_event_listener_with_callback(name, f.unchecked_ref());
    }
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The listeners live as long as the page.
    on_delta.forget();
    on_failed.forget();
    on_ready.forget();
    on_end.forget();
    on_error.forget();
}

/// `/arena`.
#[component]
pub fn ArenaPage() -> impl IntoView {
    let status = Resource::new(|| (), |()| arena_status());
    let pid = StoredValue::new(use_query_map().read_untracked().get("pid"));
    view! {
        <h1>"Arena"</h1>
        <p class="lede">"Ask anything; two anonymous models answer; you pick the better one. Their names are revealed after your vote."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let pid = pid.get_value();
                match status.await {
                    Ok(s) if s.contestants >= 2 => view! { <Battle pid/> }.into_any(),
                    Ok(s) => view! {
                        <p class="card">{format!("{} model(s) can battle now. ", s.contestants)}
                        "Battles open once an admin enables at least two models that generate answers (OpenAI-compatible endpoints or local models)."</p>
                    }.into_any(),
                    Err(e) => view! { <p class="error card" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The battle: the prompt, the two streamed answers and the vote (an island in the main wasm,
/// like the pairwise comparison: see `components::island`; `pid` is the annotator's external
/// id from the page's query).
#[island]
fn Battle(pid: Option<String>) -> impl IntoView {
    crate::components::island::hydrated();
    let pid = StoredValue::new(pid);
    let start = ServerAction::<StartBattle>::new();
    let vote = ServerAction::<SubmitVote>::new();
    let prompt = NodeRef::<leptos::html::Textarea>::new();
    let (left, right) = (Pane::new(), Pane::new());
    let assignment = RwSignal::new(None::<i64>);
    let streaming = RwSignal::new(false);
    let asked = RwSignal::new(None::<String>);
    let shown_at = StoredValue::new(0.0_f64);
    let revealed = move || vote.value().get().and_then(Result::ok);
    let failed = move || left.error.get().is_some() || right.error.get().is_some();
    let can_vote = move || {
        assignment.get().is_some() && revealed().is_none() && !vote.pending().get() && !failed()
    };
    let busy = move || start.pending().get() || streaming.get();

    // A started battle: open its stream.
    Effect::new(move || {
        if let Some(Ok(battle)) = start.value().get() {
            streaming.set(true);
            #[cfg(feature = "hydrate")]
            listen(battle, left, right, assignment, streaming);
            #[cfg(not(feature = "hydrate"))]
            let _ = battle;
        }
    });
    // The vote clock starts when both answers are complete.
    Effect::new(move || {
        if assignment.get().is_some() {
            shown_at.set_value(crate::components::forms::now_ms());
        }
    });

    let send = move || {
        if busy() {
            return;
        }
        let Some(text) = prompt.get_untracked().map(|t| t.value()) else {
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        left.reset();
        right.reset();
        assignment.set(None);
        vote.clear();
        asked.set(Some(text.clone()));
        start.dispatch(StartBattle {
            prompt: text,
            pid: pid.get_value(),
        });
    };
    let cast = move |choice: &str| {
        let Some(id) = assignment.get_untracked() else {
            return;
        };
        if !can_vote() {
            return;
        }
        let t = crate::components::forms::now_ms() - shown_at.get_value();
        vote.dispatch(SubmitVote {
            assignment_id: id,
            choice: choice.to_owned(),
            strength: None,
            rationale: None,
            time_to_vote_ms: (t > 0.0).then(|| (t.round() as i64).to_string()),
        });
    };
    let new_round = move || {
        left.reset();
        right.reset();
        assignment.set(None);
        asked.set(None);
        vote.clear();
        start.clear();
        if let Some(p) = prompt.get_untracked() {
            p.set_value("");
            let _ = p.focus();
        }
    };
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
            "n" | "N" if revealed().is_some() || failed() => new_round(),
            _ => return,
        }
        e.prevent_default();
    });
    on_cleanup(move || handle.remove());

    let pane_view = move |label: &'static str, pane: Pane, left_side: bool| {
        view! {
            <section class="card pane" aria-label=format!("Response {label}") aria-busy=move || (streaming.get() && pane.html.get().is_none()).to_string()>
                <h2>{label}
                    {move || revealed().map(|r| {
                        let name = if left_side { r.left_model } else { r.right_model };
                        view! { <span class="reveal">{format!(" · {name}")}</span> }
                    })}
                </h2>
                {move || match (pane.error.get(), pane.html.get()) {
                    (Some(e), _) => EitherOf3::A(view! { <p class="error" role="alert">{e}</p> }),
                    (None, Some(html)) => EitherOf3::B(view! { <div class="md" inner_html=html></div> }),
                    (None, None) => EitherOf3::C(view! { <div class="md streaming">{move || pane.text.get()}</div> }),
                }}
            </section>
        }
    };

    view! {
        <form class="card ask" on:submit=move |e| { e.prevent_default(); send(); }>
            <label>"Your prompt"
                <textarea node_ref=prompt rows="3" placeholder="Ask anything… (Enter to send, Shift+Enter for a new line)"
                    disabled=busy
                    on:keydown=move |e| {
                        if e.key() == "Enter" && !e.shift_key() {
                            e.prevent_default();
                            send();
                        }
                    }></textarea>
            </label>
            <button type="submit" class="button primary" disabled=busy>"Send"</button>
        </form>
        {move || start.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        {move || asked.get().map(|_| view! {
            <div class="panes">
                {pane_view("A", left, true)}
                {pane_view("B", right, false)}
            </div>
            <div class="card vote-form">
                <div class="vote-buttons">
                    <button type="button" class="button" disabled=move || !can_vote() on:click=move |_| cast("left")><kbd>"1"</kbd>" A is better"</button>
                    <button type="button" class="button" disabled=move || !can_vote() on:click=move |_| cast("right")><kbd>"2"</kbd>" B is better"</button>
                    <button type="button" class="button" disabled=move || !can_vote() on:click=move |_| cast("tie")><kbd>"3"</kbd>" Tie"</button>
                    <button type="button" class="button" disabled=move || !can_vote() on:click=move |_| cast("both_bad")><kbd>"4"</kbd>" Both are bad"</button>
                </div>
                {move || (streaming.get() && assignment.get().is_none() && !failed()).then(|| view! { <p class="muted" role="status">"Answering…"</p> })}
                {move || failed().then(|| view! {
                    <p class="muted" role="status">"A model could not answer, so this battle does not count. "
                        <button type="button" class="button" on:click=move |_| new_round()>"New round (n)"</button></p>
                })}
            </div>
        })}
        {move || vote.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        {move || revealed().map(|_| view! {
            <p role="status" class="ok">"Vote recorded. "
                <button type="button" class="button primary" on:click=move |_| new_round()>"New round (n)"</button>
            </p>
        })}
    }
}
