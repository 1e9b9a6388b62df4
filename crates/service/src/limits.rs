//! Per-client rate limits on what an anonymous visitor can do cheaply and often: become a new
//! annotator, start an arena battle, cast a judgement; and a cap on concurrent generations per
//! model. Each node keeps its own counts in memory (README: "Rate limits").
//!
//! A limit of N per minute is a token bucket holding N tokens that refills at N per minute, so
//! a burst of N passes and then one request per 60/N seconds. Requests whose client address is
//! unknown (in-process callers: the CLI, benchmarks, tests) are not limited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::AppError;

/// Requests per minute and client for each limited action; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// New anonymous annotators (each is a user row and a session).
    pub new_annotators: u32,
    /// Arena battles started (each runs two generations).
    pub battles: u32,
    /// Votes, ratings and rankings cast.
    pub judgements: u32,
    /// Generations one model runs at once; further battles wait for a slot.
    pub generations_per_model: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            new_annotators: 120,
            battles: 30,
            judgements: 300,
            generations_per_model: 4,
        }
    }
}

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Becoming a new anonymous annotator.
    NewAnnotator,
    /// Starting an arena battle.
    Battle,
    /// Casting a vote, rating or ranking.
    Judgement,
}

impl Action {
    const fn noun(self) -> &'static str {
        match self {
            Self::NewAnnotator => "new sessions",
            Self::Battle => "arena battles",
            Self::Judgement => "judgements",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every client, per action.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    buckets: Mutex<HashMap<(Action, IpAddr), Bucket>>,
    checks: AtomicU64,
}

/// Buckets kept before full ones (clients that went quiet) are dropped.
const PRUNE_ABOVE: usize = 50_000;

impl Limiter {
    /// A limiter with these limits.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// The limits in force.
    #[must_use]
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    const fn per_minute(&self, action: Action) -> u32 {
        match action {
            Action::NewAnnotator => self.limits.new_annotators,
            Action::Battle => self.limits.battles,
            Action::Judgement => self.limits.judgements,
        }
    }

    /// Counts one `action` by `client`.
    ///
    /// # Errors
    /// 429 with the seconds until the next one is allowed (see [`AppError::retry_after`]).
    pub fn check(&self, action: Action, client: Option<&str>) -> Result<(), AppError> {
        self.check_at(action, client, Instant::now())
    }

    fn check_at(&self, action: Action, client: Option<&str>, now: Instant) -> Result<(), AppError> {
        let per_minute = self.per_minute(action);
        let Some(ip) = client.and_then(|c| c.parse::<IpAddr>().ok()) else {
            return Ok(());
        };
        if per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1024)
            && buckets.len() > PRUNE_ABOVE
        {
            buckets.retain(|(a, _), b| {
                let cap = f64::from(self.per_minute(*a));
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * cap / 60.0 < cap
            });
        }
        let bucket = buckets.entry((action, ip)).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / rate).ceil().max(1.0);
        drop(buckets);
        tracing::warn!(client = %ip, action = ?action, "rate limit reached");
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Err(AppError::rate_limited(
            &format!("too many {} from your address", action.noun()),
            wait as u64,
        ))
    }
}

/// Generation slots per model: at most [`Limits::generations_per_model`] at once.
#[derive(Debug, Default)]
pub struct Slots {
    per_model: usize,
    models: Mutex<HashMap<i64, Arc<tokio::sync::Semaphore>>>,
}

impl Slots {
    /// `per_model` slots for each model (0 means no cap).
    #[must_use]
    pub fn new(per_model: usize) -> Self {
        Self {
            per_model,
            models: Mutex::new(HashMap::new()),
        }
    }

    /// Waits up to `wait` for one of `model`'s slots; `None` when none freed up in time. The
    /// slot is held until the returned permit is dropped.
    pub async fn take(
        &self,
        model: i64,
        wait: Duration,
    ) -> Option<Option<tokio::sync::OwnedSemaphorePermit>> {
        if self.per_model == 0 {
            return Some(None);
        }
        let semaphore = Arc::clone(
            self.models
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(model)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.per_model))),
        );
        match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Some(Some(permit)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(battles: u32) -> Limiter {
        Limiter::new(Limits {
            battles,
            ..Limits::default()
        })
    }

    #[test]
    fn a_burst_passes_then_the_bucket_refills() {
        let l = limiter(3);
        let t0 = Instant::now();
        let ip = Some("203.0.113.7");
        for _ in 0..3 {
            assert!(l.check_at(Action::Battle, ip, t0).is_ok());
        }
        let err = l.check_at(Action::Battle, ip, t0).unwrap_err();
        assert_eq!(err.status(), 429);
        // 3 per minute: one token every 20 s.
        assert_eq!(err.retry_after(), Some(20));
        // Another client and another action have buckets of their own.
        assert!(l.check_at(Action::Battle, Some("203.0.113.8"), t0).is_ok());
        assert!(l.check_at(Action::Judgement, ip, t0).is_ok());
        assert!(
            l.check_at(Action::Battle, ip, t0 + Duration::from_secs(19))
                .is_err()
        );
        assert!(
            l.check_at(Action::Battle, ip, t0 + Duration::from_secs(40))
                .is_ok()
        );
    }

    #[test]
    fn unknown_clients_and_zero_limits_pass() {
        let l = limiter(0);
        for _ in 0..100 {
            assert!(l.check(Action::Battle, Some("203.0.113.7")).is_ok());
        }
        let l = limiter(1);
        for _ in 0..100 {
            assert!(l.check(Action::Battle, None).is_ok());
        }
    }

    #[tokio::test]
    async fn a_model_runs_at_most_its_slots() {
        let slots = Slots::new(2);
        let wait = Duration::from_millis(50);
        let a = slots.take(1, wait).await.unwrap();
        let b = slots.take(1, wait).await.unwrap();
        assert!(slots.take(1, wait).await.is_none());
        assert!(slots.take(2, wait).await.is_some());
        drop(a);
        assert!(slots.take(1, wait).await.is_some());
        drop(b);
    }
}
