//! Prometheus metrics at `GET /metrics` (text exposition format 0.0.4), for a scraper on the
//! operator's network: request counts and latencies of this node (a histogram by kind of route
//! and status class), arena generation of this node (answers, streamed pieces and seconds, so
//! that pieces per second is a rate of two counters), and counts read from the database at
//! each scrape (votes by source, judgements, assignments by status, training runs and the
//! progress of running ones, arena battles). README, "Metrics", lists them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use app::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Kinds of route, as the `route` label.
const ROUTES: [&str; 4] = ["page", "server_fn", "rest", "asset"];
/// Status classes, as the `status` label.
const STATUSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const SERIES: usize = ROUTES.len() * STATUSES.len();
/// Backend kinds of the generation counters.
const KINDS: [&str; 2] = ["local", "openai"];

/// This node's counters.
struct Counters {
    /// Per series: one count per bucket (not cumulative), then the count above the last.
    buckets: [[AtomicU64; BUCKETS.len() + 1]; SERIES],
    /// Per series: the sum of latencies, in microseconds.
    micros: [AtomicU64; SERIES],
    /// Per backend kind: answers, pieces streamed, microseconds spent generating.
    answers: [AtomicU64; KINDS.len()],
    pieces: [AtomicU64; KINDS.len()],
    generation_micros: [AtomicU64; KINDS.len()],
}

static COUNTERS: Counters = Counters {
    buckets: [const { [const { AtomicU64::new(0) }; BUCKETS.len() + 1] }; SERIES],
    micros: [const { AtomicU64::new(0) }; SERIES],
    answers: [const { AtomicU64::new(0) }; KINDS.len()],
    pieces: [const { AtomicU64::new(0) }; KINDS.len()],
    generation_micros: [const { AtomicU64::new(0) }; KINDS.len()],
};

fn route_kind(path: &str) -> usize {
    if path.starts_with("/api/v1/") || path == "/healthz" || path == "/metrics" {
        2
    } else if path.starts_with("/api/") {
        1
    } else if path.starts_with("/pkg/") || path.starts_with("/favicon") {
        3
    } else {
        0
    }
}

/// Counts a request and the time until its response head.
pub async fn track(req: Request, next: Next) -> Response {
    let route = route_kind(req.uri().path());
    let started = Instant::now();
    let res = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = usize::from(res.status().as_u16() / 100)
        .clamp(1, 5)
        .saturating_sub(1);
    let series = route * STATUSES.len() + status;
    let bucket = BUCKETS
        .iter()
        .position(|&b| seconds <= b)
        .unwrap_or(BUCKETS.len());
    COUNTERS.buckets[series][bucket].fetch_add(1, Ordering::Relaxed);
    COUNTERS.micros[series].fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    res
}

/// Counts one finished arena answer of a backend kind: the pieces it streamed and the seconds
/// it took (failed answers are not counted).
pub fn record_generation(kind: &str, pieces: u64, seconds: f64) {
    let k = usize::from(kind != "local");
    COUNTERS.answers[k].fetch_add(1, Ordering::Relaxed);
    COUNTERS.pieces[k].fetch_add(pieces, Ordering::Relaxed);
    COUNTERS.generation_micros[k].fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labelled(out: &mut String, name: &str, label: &str, rows: &[(String, i64)]) {
    for (value, n) in rows {
        let value = value.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

/// This node's request and generation counters, as text.
fn node_counters(out: &mut String) {
    let name = "verdict_http_request_duration_seconds";
    header(
        out,
        name,
        "histogram",
        "Time from a request to its response head, by kind of route and status class.",
    );
    for (r, route) in ROUTES.iter().enumerate() {
        for (s, status) in STATUSES.iter().enumerate() {
            let series = r * STATUSES.len() + s;
            let counts: Vec<u64> = COUNTERS.buckets[series]
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let labels = format!("route=\"{route}\",status=\"{status}\"");
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&counts) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
            let micros = COUNTERS.micros[series].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", micros as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
        }
    }
    for (metric, help, values, scale) in [
        (
            "verdict_generation_answers_total",
            "Arena answers this node generated, by backend kind.",
            &COUNTERS.answers,
            None,
        ),
        (
            "verdict_generation_pieces_total",
            "Pieces streamed by those answers (one per token for local models).",
            &COUNTERS.pieces,
            None,
        ),
        (
            "verdict_generation_seconds_total",
            "Seconds spent generating those answers.",
            &COUNTERS.generation_micros,
            Some(1e6),
        ),
    ] {
        header(out, metric, "counter", help);
        for (kind, v) in KINDS.iter().zip(values) {
            let v = v.load(Ordering::Relaxed);
            match scale {
                Some(s) => {
                    let _ = writeln!(out, "{metric}{{kind=\"{kind}\"}} {}", v as f64 / s);
                }
                None => {
                    let _ = writeln!(out, "{metric}{{kind=\"{kind}\"}} {v}");
                }
            }
        }
    }
}

/// The database's counts, as text.
fn database_counts(out: &mut String, c: &service::stats::MetricCounts) {
    header(
        out,
        "verdict_votes",
        "gauge",
        "Pairwise votes stored, by source.",
    );
    labelled(out, "verdict_votes", "source", &c.votes_by_source);
    header(
        out,
        "verdict_judgements",
        "gauge",
        "Rating forms and rankings stored, by protocol.",
    );
    labelled(
        out,
        "verdict_judgements",
        "protocol",
        &c.judgements_by_protocol,
    );
    header(
        out,
        "verdict_assignments",
        "gauge",
        "Assignments by status (issued: open now, waiting for a judgement).",
    );
    labelled(
        out,
        "verdict_assignments",
        "status",
        &c.assignments_by_status,
    );
    header(
        out,
        "verdict_training_runs",
        "gauge",
        "Training runs by status.",
    );
    labelled(out, "verdict_training_runs", "status", &c.runs_by_status);
    header(
        out,
        "verdict_training_run_step",
        "gauge",
        "Steps done by each running training run.",
    );
    for r in &c.running {
        let (id, step) = (r.training_run_id, r.step);
        let _ = writeln!(out, "verdict_training_run_step{{run=\"{id}\"}} {step}");
    }
    header(
        out,
        "verdict_training_run_total_steps",
        "gauge",
        "Steps each running training run will take, once known.",
    );
    for r in &c.running {
        let id = r.training_run_id;
        if let Some(total) = r.total_steps {
            let _ = writeln!(
                out,
                "verdict_training_run_total_steps{{run=\"{id}\"}} {total}"
            );
        }
    }
    for (name, help, pick) in [
        (
            "verdict_training_run_reference_done",
            "Pairs whose reference log-probabilities each running run has computed.",
            0,
        ),
        (
            "verdict_training_run_reference_total",
            "Pairs whose reference log-probabilities each running run computes before its first step.",
            1,
        ),
    ] {
        header(out, name, "gauge", help);
        for r in &c.running {
            let id = r.training_run_id;
            if let Some(n) = [r.reference_done, r.reference_total][pick] {
                let _ = writeln!(out, "{name}{{run=\"{id}\"}} {n}");
            }
        }
    }
    header(
        out,
        "verdict_arena_battles",
        "gauge",
        "Arena battles by status.",
    );
    labelled(out, "verdict_arena_battles", "status", &c.battles_by_status);
}

/// `GET /metrics`: 200 with the metrics, or 503 when the database does not answer (this
/// node's own counters are still sent, under that status).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::with_capacity(4096);
    node_counters(&mut out);
    let status = match service::stats::metric_counts(&state.pool).await {
        Ok(counts) => {
            database_counts(&mut out, &counts);
            axum::http::StatusCode::OK
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics: the database did not answer");
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (
        status,
        [(axum::http::header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        out,
    )
        .into_response()
}

/// The content type of Prometheus's text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classed_by_their_path() {
        assert_eq!(ROUTES[route_kind("/api/v1/leaderboard")], "rest");
        assert_eq!(ROUTES[route_kind("/api/annotate/vote")], "server_fn");
        assert_eq!(ROUTES[route_kind("/pkg/verdict.wasm")], "asset");
        assert_eq!(ROUTES[route_kind("/leaderboard")], "page");
    }

    #[test]
    fn generation_counters_add_up() {
        let before = COUNTERS.pieces[0].load(Ordering::Relaxed);
        record_generation("local", 40, 2.0);
        record_generation("local", 10, 0.5);
        assert_eq!(COUNTERS.pieces[0].load(Ordering::Relaxed) - before, 50);
        let mut out = String::new();
        node_counters(&mut out);
        assert!(
            out.contains("verdict_generation_pieces_total{kind=\"local\"}"),
            "{out}"
        );
    }
}
