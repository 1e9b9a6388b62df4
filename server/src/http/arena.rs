//! The open arena's generation: `GET /api/v1/arena/battles/{id}/events` streams both models'
//! answers to the battle's annotator as server-sent events.
//!
//! Events: `delta` `{"side": "left"|"right", "text": "..."}` as pieces arrive; `failed`
//! `{"side", "message"}` when a side's backend fails (the battle is then never counted);
//! `ready` `{"assignment_id", "left_html", "right_html"}` when both answers are stored and the
//! vote is open (the vote goes through `/api/v1/assignments/{id}/vote` or the page's server
//! function); `end` last. A second stream on the same battle (the browser reconnecting after
//! a dropped connection, or another node) waits for the battle and then sends `ready` or
//! `failed`. Battles that cannot finish are failed by [`reap_stuck_battles`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::extract::ApiPath;
use app::auth::ssr::require_user;
use app::error::AppError;
use app::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::mpsc;
use tower_sessions::Session;

use crate::backends::{self, Message};

fn event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// The event stream of one battle (its annotator only).
///
/// # Errors
/// 401 without a session, 403 for someone else's battle, 404 for an unknown one.
pub async fn battle_events(
    State(state): State<AppState>,
    session: Session,
    ApiPath(battle_id): ApiPath<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let user = require_user(&state, &session).await?;
    let (battle, claimed) = service::arena::open(&state.pool, battle_id, user.user_id).await?;
    Ok(stream(&state, battle, claimed))
}

/// The battle's events: generated here when this request `claimed` it, else followed from the
/// database as the node generating it stores them.
fn stream(
    state: &AppState,
    battle: service::arena::Battle,
    claimed: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let (events, rx) = mpsc::channel::<Event>(256);
    if claimed {
        tokio::spawn(generate(
            state.pool.clone(),
            Arc::clone(&state.generation_slots),
            battle,
            events,
        ));
    } else {
        tokio::spawn(follow(state.pool.clone(), battle, events));
    }
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// How long a battle may take to generate; past it the battle fails (and
/// [`reap_stuck_battles`] fails battles whose server died while generating them).
pub const GENERATION_TIMEOUT: Duration = Duration::from_secs(600);
/// How long an answer waits for one of its model's generation slots.
const SLOT_WAIT: Duration = Duration::from_secs(60);
/// How long a started battle waits for its annotator to open its event stream.
pub const UNCLAIMED_TIMEOUT: Duration = Duration::from_secs(3600);

/// A second stream on a battle that is already claimed (a reconnect after a dropped stream,
/// another tab, another node): it waits for the battle to end wherever it is generated and
/// then sends what the first stream would have sent last, `ready` with the stored answers or
/// `failed`.
async fn follow(
    pool: service::PgPool,
    mut battle: service::arena::Battle,
    events: mpsc::Sender<Event>,
) {
    let deadline = Instant::now() + GENERATION_TIMEOUT + Duration::from_secs(60);
    while battle.status == "generating" && Instant::now() < deadline && !events.is_closed() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match service::arena::get(&pool, battle.battle_id).await {
            Ok(b) => battle = b,
            Err(e) => {
                tracing::warn!(error = %e, battle = battle.battle_id, "following a battle");
            }
        }
    }
    let ready = if battle.status == "ready" {
        service::arena::answers(&pool, battle.battle_id)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, battle = battle.battle_id, "reading a battle's answers");
                None
            })
    } else {
        None
    };
    if let Some((assignment_id, left, right)) = ready {
        let _ = events.send(ready_event(assignment_id, &left, &right)).await;
    } else {
        let message = match battle.status.as_str() {
            "failed" => battle.error.unwrap_or_else(|| "generation failed".into()),
            "ready" => "the answers could not be read".into(),
            _ => "generation did not finish in time: start a new round".into(),
        };
        for side in ["left", "right"] {
            let _ = events
                .send(event("failed", &json!({"side": side, "message": message})))
                .await;
        }
    }
    let _ = events.send(event("end", &json!({}))).await;
}

fn ready_event(assignment_id: i64, left: &str, right: &str) -> Event {
    event(
        "ready",
        &json!({
            "assignment_id": assignment_id,
            "left_html": app::markdown::render(left),
            "right_html": app::markdown::render(right),
        }),
    )
}

/// Fails, every 30 s until `shutdown`, the battles that can no longer finish (see
/// [`service::arena::reap`]).
pub fn reap_stuck_battles(
    pool: service::PgPool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !*shutdown.borrow() {
            match service::arena::reap(&pool, GENERATION_TIMEOUT, UNCLAIMED_TIMEOUT).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(battles = n, "stuck arena battles marked failed"),
                Err(e) => tracing::warn!(error = %e, "reaping stuck arena battles"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = shutdown.changed() => {}
            }
        }
    })
}

/// Runs one side: streams its pieces as `delta` events and returns the whole answer, or sends
/// a `failed` event at once and returns the message.
async fn answer(
    contestant: service::arena::Contestant,
    side: &'static str,
    messages: Vec<Message>,
    events: mpsc::Sender<Event>,
    slots: Arc<service::limits::Slots>,
) -> Result<(String, serde_json::Value), String> {
    let started = Instant::now();
    let result = async {
        // Held until this answer is done: a model runs a bounded number of answers at once.
        let _slot = slots
            .take(contestant.model_id, SLOT_WAIT)
            .await
            .ok_or_else(|| {
                "the model is busy with other battles: try again in a minute".to_owned()
            })?;
        let backend = backends::for_model(&contestant.kind, &contestant.config)
            .map_err(|e| format!("{e:#}"))?;
        let (pieces, mut received) = mpsc::channel::<String>(256);
        let generating = Instant::now();
        let forward = async {
            let mut streamed = 0u64;
            while let Some(text) = received.recv().await {
                streamed += 1;
                let _ = events
                    .send(event("delta", &json!({"side": side, "text": text})))
                    .await;
            }
            streamed
        };
        let (text, streamed) = tokio::join!(backend.generate(&messages, pieces), forward);
        if text.is_ok() {
            crate::http::metrics::record_generation(
                &contestant.kind,
                streamed,
                generating.elapsed().as_secs_f64(),
            );
        }
        // PostgreSQL text cannot hold NUL; a model may emit one.
        let text = text.map_err(|e| format!("{e:#}"))?.replace('\0', "");
        if text.trim().is_empty() {
            return Err("the model returned an empty answer".to_owned());
        }
        Ok(text)
    }
    .await;
    match result {
        Ok(text) => {
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let meta = service::arena::answer_meta(&text, latency_ms, &contestant.kind);
            Ok((text, meta))
        }
        Err(detail) => {
            // A local model's errors name files on the server: annotators get a plain message,
            // the log keeps the detail. An endpoint's errors (status, its message) are shown.
            let message = if contestant.kind == "local" {
                tracing::error!(model = %contestant.name, error = %detail, "a local model failed to answer");
                "the model failed to answer (the server's log has the details)".to_owned()
            } else {
                detail
            };
            let _ = events
                .send(event("failed", &json!({"side": side, "message": message})))
                .await;
            Err(message)
        }
    }
}

async fn generate(
    pool: service::PgPool,
    slots: Arc<service::limits::Slots>,
    battle: service::arena::Battle,
    events: mpsc::Sender<Event>,
) {
    let messages = vec![Message {
        role: "user".into(),
        content: battle.prompt.clone(),
    }];
    let (a_side, b_side) = if battle.a_is_left {
        ("left", "right")
    } else {
        ("right", "left")
    };
    let both = async {
        tokio::join!(
            answer(
                battle.a.clone(),
                a_side,
                messages.clone(),
                events.clone(),
                Arc::clone(&slots)
            ),
            answer(
                battle.b.clone(),
                b_side,
                messages,
                events.clone(),
                Arc::clone(&slots)
            ),
        )
    };
    let Ok((a, b)) = tokio::time::timeout(GENERATION_TIMEOUT, both).await else {
        let message = "generation did not finish in time: start a new round";
        service::arena::fail(&pool, battle.battle_id, message).await;
        for side in ["left", "right"] {
            let _ = events
                .send(event("failed", &json!({"side": side, "message": message})))
                .await;
        }
        let _ = events.send(event("end", &json!({}))).await;
        return;
    };
    match (a, b) {
        (Ok((text_a, meta_a)), Ok((text_b, meta_b))) => {
            let answers = [(text_a.as_str(), &meta_a), (text_b.as_str(), &meta_b)];
            match service::arena::complete(&pool, battle.battle_id, answers).await {
                Ok(assignment_id) => {
                    let (left, right) = if battle.a_is_left {
                        (&text_a, &text_b)
                    } else {
                        (&text_b, &text_a)
                    };
                    let _ = events.send(ready_event(assignment_id, left, right)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, battle = battle.battle_id, "storing a battle failed");
                    // Never left generating: the battle fails with the reason.
                    service::arena::fail(
                        &pool,
                        battle.battle_id,
                        "the answers could not be stored",
                    )
                    .await;
                    for side in ["left", "right"] {
                        let _ = events
                            .send(event(
                                "failed",
                                &json!({"side": side, "message": "the answers could not be stored"}),
                            ))
                            .await;
                    }
                }
            }
        }
        (a, b) => {
            let reasons: Vec<String> = [(battle.a.name.as_str(), a), (battle.b.name.as_str(), b)]
                .into_iter()
                .filter_map(|(name, r)| r.err().map(|m| format!("{name}: {m}")))
                .collect();
            service::arena::fail(&pool, battle.battle_id, &reasons.join("; ")).await;
        }
    }
    let _ = events.send(event("end", &json!({}))).await;
}
