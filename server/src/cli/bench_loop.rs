//! `verdict bench loop`: the whole online-DPO loop on simulated annotators (docs/design.md §3,
//! flow 6). Annotators with a known preference (the shorter answer, or the one with a keyword)
//! vote in the arena on the local models' live answers; a training policy starts a round once
//! enough new votes came in, a worker trains the champion on them, the child battles its parent
//! in the arena, and the promotion gate decides. Each round prints the champion, the child, the
//! head-to-head record, the decision, and the measured property of the champion's answers on
//! held-out prompts — which moves towards the simulated preference when the loop learns.
//!
//! It runs on its own PostgreSQL cluster in a temporary folder, so nothing of it stays.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use super::database::{DatabaseArgs, open_database};
use crate::backends::{self, Message};

/// `verdict bench loop`.
#[derive(Debug, Clone, Args)]
pub struct LoopArgs {
    /// Rounds to run (each row: the champion it trained, its child, the run's last loss and reward
    /// accuracy, the child's head-to-head record, the gate's decision, the champion's property
    /// after the round).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// New votes that start a round (the policy's threshold).
    #[arg(long, default_value_t = 128)]
    pub votes_per_round: i32,
    /// What the simulated annotators prefer: `shorter`, or `keyword:WORD` (the answer that
    /// contains WORD, case-insensitive).
    #[arg(long, default_value = "shorter")]
    pub preference: String,
    /// The base model's folder (default: a tiny random model made here).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// LoRA rank (default: full fine-tuning).
    #[arg(long)]
    pub lora_rank: Option<u32>,
    /// LoRA on the MLP projections too (every linear layer), not only attention's.
    #[arg(long)]
    pub lora_all_linear: bool,
    /// LoRA on the output head too.
    #[arg(long)]
    pub lora_head: bool,
    /// Learning rate of each round.
    #[arg(long, default_value_t = 2e-3)]
    pub learning_rate: f64,
    /// Passes over a round's pairs.
    #[arg(long, default_value_t = 3)]
    pub epochs: u32,
    /// DPO β.
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    /// Tokens per answer at most.
    #[arg(long, default_value_t = 32)]
    pub max_tokens: usize,
    /// Decided head-to-head battles before the gate decides.
    #[arg(long, default_value_t = 24)]
    pub gate_min: i32,
    /// Decided head-to-head battles after which an undecided child retires.
    #[arg(long, default_value_t = 96)]
    pub gate_max: i32,
    /// Answers of the champion on held-out prompts that measure the property.
    #[arg(long, default_value_t = 256)]
    pub held_out: usize,
}

/// What the simulated annotators prefer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Preference {
    Shorter,
    Keyword(String),
}

impl Preference {
    fn parse(s: &str) -> Result<Self> {
        match s.split_once(':') {
            None if s == "shorter" => Ok(Self::Shorter),
            Some(("keyword", w)) if !w.trim().is_empty() => {
                Ok(Self::Keyword(w.trim().to_lowercase()))
            }
            _ => bail!("--preference: `shorter` or `keyword:WORD`, not {s:?}"),
        }
    }

    /// The choice of an annotator who sees `left` and `right`.
    fn choose(&self, left: &str, right: &str) -> api::annotation::Choice {
        use api::annotation::Choice;
        let (l, r) = (self.value(left), self.value(right));
        let better = |a: f64, b: f64| match self {
            Self::Shorter => a < b,
            Self::Keyword(_) => a > b,
        };
        if better(l, r) {
            Choice::Left
        } else if better(r, l) {
            Choice::Right
        } else {
            Choice::Tie
        }
    }

    /// The measured property of one answer: its length in characters, or whether it contains
    /// the keyword (1 or 0).
    fn value(&self, answer: &str) -> f64 {
        match self {
            Self::Shorter => answer.chars().count() as f64,
            Self::Keyword(w) => f64::from(u8::from(answer.to_lowercase().contains(w.as_str()))),
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Shorter => "mean answer length (characters)".into(),
            Self::Keyword(w) => format!("share of answers containing {w:?}"),
        }
    }
}

/// Prompts the annotators ask in the arena.
const PROMPTS: [&str; 24] = [
    "What is a prime number?",
    "Name a good habit for learning.",
    "How do plants make food?",
    "Why is the sky blue?",
    "Give me a tip for cooking rice.",
    "What does a compiler do?",
    "How far is the Moon?",
    "Suggest a name for a cat.",
    "What is the capital of Italy?",
    "How do I boil an egg?",
    "Explain gravity to a child.",
    "What is a haiku?",
    "Why do we sleep?",
    "What is photosynthesis?",
    "How do bees make honey?",
    "What is an atom?",
    "Recommend a board game.",
    "How do I tie a knot?",
    "What is inflation?",
    "Why is exercise healthy?",
    "What is a database?",
    "How do rainbows form?",
    "What is a verb?",
    "Describe the ocean.",
];

/// Prompts never asked in the arena, on which the champion's answers are measured.
const HELD_OUT: [&str; 8] = [
    "What is a river?",
    "How do magnets work?",
    "Tell me about volcanoes.",
    "What is music?",
    "Why do leaves fall?",
    "What is a computer?",
    "How do birds fly?",
    "What is friendship?",
];

/// Runs the loop and prints a row per round.
///
/// # Errors
/// A model that does not load, a cluster that does not start, a run that fails to start.
pub async fn run(args: &LoopArgs) -> Result<()> {
    let preference = Preference::parse(&args.preference)?;
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let database = DatabaseArgs {
        data_dir: scratch.path().join("data"),
        database_url: None,
    };
    let result = run_on(args, &preference, &database, scratch.path()).await;
    let dir = database.data_dir.clone();
    let _ = tokio::task::spawn_blocking(move || crate::pg::Cluster::new(&dir)?.stop()).await;
    result
}

async fn run_on(
    args: &LoopArgs,
    preference: &Preference,
    database: &DatabaseArgs,
    scratch: &std::path::Path,
) -> Result<()> {
    let started = Instant::now();
    let pool = open_database(database, 8).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let err = |e: app::error::AppError| anyhow!("{e}");
    let model_dir = match &args.model {
        Some(dir) => dir.clone(),
        None => {
            let dir = scratch.join("tiny");
            trainer::tiny::init_tiny(&dir, &trainer::tiny::TinySpec::default())?;
            dir
        }
    };
    let config = serde_json::json!({
        "path": model_dir, "max_tokens": args.max_tokens, "temperature": 1.0, "top_p": 1.0,
    });
    crate::worker::check_model(&config, None).context("the base model does not load")?;
    // Two contestants from the same weights: the arena needs two models before the first child.
    for name in ["loop-base", "loop-sampler"] {
        service::models::register_local(
            &pool,
            name,
            &config,
            true,
            service::models::IfTaken::Refuse,
        )
        .await
        .map_err(err)?;
    }
    service::arena::project_id(&pool).await.map_err(err)?;
    let policy = service::policies::create(
        &pool,
        &api::policies::NewPolicy {
            name: "bench-loop".into(),
            project: service::arena::ARENA_PROJECT.into(),
            base_model: "loop-base".into(),
            min_new_votes: Some(args.votes_per_round),
            every_minutes: None,
            daily_cap: Some(1000),
            gate_min_battles: Some(args.gate_min),
            gate_max_battles: Some(args.gate_max),
            sources: vec![],
            policy: api::training::PairPolicy::Majority,
            config: api::training::RunConfig {
                learning_rate: args.learning_rate,
                beta: args.beta,
                epochs: args.epochs,
                batch_size: 4,
                lora_rank: args.lora_rank,
                lora_all_linear: args.lora_all_linear,
                lora_head: args.lora_head,
                max_length: 256,
                save_every: 0,
                ..api::training::RunConfig::default()
            },
        },
        None,
    )
    .await
    .map_err(err)?;
    let user = service::users::create_anonymous(&pool, Some("simulated-annotator"))
        .await
        .map_err(err)?
        .user_id;
    let mut cfg = crate::worker::WorkerConfig::new(scratch.join("runs"));
    cfg.poll = Duration::from_millis(200);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let workers = crate::worker::spawn(&pool, &cfg, 1, &shutdown);

    let base = measure(&config, preference, args.held_out).await?;
    println!(
        "preference: {}; property: {}; {} votes start a round; gate {}–{} decided battles",
        args.preference,
        preference.name(),
        args.votes_per_round,
        args.gate_min,
        args.gate_max
    );
    println!(
        "{:>5}  {:<14}  {:<14}  {:>6}  {:>5}  {:>9}  {:<9}  {:>9}  {:>8}",
        "round", "champion", "child", "loss", "acc", "won–lost", "decision", "property", "minutes"
    );
    println!(
        "{:>5}  {:<14}  {:<14}  {:>6}  {:>5}  {:>9}  {:<9}  {:>9.3}  {:>8.1}",
        0,
        "loop-base",
        "–",
        "–",
        "–",
        "–",
        "–",
        base,
        started.elapsed().as_secs_f64() / 60.0
    );
    let mut battles = 0usize;
    for round in 1..=args.rounds {
        // Votes until the policy starts the round (the worker's pass sees them too).
        let cap = 20 * usize::try_from(args.votes_per_round).unwrap_or(1);
        let mut asked = 0;
        while open_round(&pool, policy.policy_id, round).await?.is_none() {
            if asked >= cap {
                bail!("round {round} did not start after {asked} battles");
            }
            battle(&pool, user, preference, battles).await?;
            battles += 1;
            asked += 1;
            if asked % 8 == 0 {
                service::policies::tick(&pool, &crate::services::TrainerModelCheck)
                    .await
                    .map_err(err)?;
            }
        }
        // The worker trains; then the child battles in the arena until the gate decides.
        let mut asked = 0;
        let view = loop {
            service::policies::tick(&pool, &crate::services::TrainerModelCheck)
                .await
                .map_err(err)?;
            let r = open_round(&pool, policy.policy_id, round)
                .await?
                .ok_or_else(|| anyhow!("round {round} vanished"))?;
            match r.status.as_str() {
                "training" => tokio::time::sleep(Duration::from_millis(300)).await,
                "gating" => {
                    if asked >= 40 * usize::try_from(args.gate_max).unwrap_or(1) {
                        bail!("the gate of round {round} did not decide after {asked} battles");
                    }
                    for _ in 0..4 {
                        battle(&pool, user, preference, battles).await?;
                        battles += 1;
                        asked += 1;
                    }
                }
                _ => break r,
            }
        };
        let p = service::policies::show(&pool, policy.policy_id)
            .await
            .map_err(err)?;
        let champion = service::models::config(&pool, p.champion_model_id)
            .await
            .map_err(err)?;
        let property = measure(&champion, preference, args.held_out).await?;
        let num =
            |v: Option<f64>, d: usize| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.d$}"));
        println!(
            "{:>5}  {:<14}  {:<14}  {:>6}  {:>5}  {:>9}  {:<9}  {:>9.3}  {:>8.1}",
            round,
            view.parent,
            view.child.as_deref().unwrap_or("–"),
            num(view.loss, 3),
            num(view.reward_accuracy, 2),
            format!("{}–{}", view.wins, view.losses),
            view.status,
            property,
            started.elapsed().as_secs_f64() / 60.0
        );
    }
    let _ = stop.send(true);
    for w in workers {
        let _ = w.await;
    }
    println!("{battles} arena battles in all");
    pool.close().await;
    Ok(())
}

/// The round numbered `round` of the policy, once it exists.
async fn open_round(
    pool: &service::PgPool,
    policy: i64,
    round: usize,
) -> Result<Option<api::policies::RoundView>> {
    let p = service::policies::show(pool, policy)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(p.rounds
        .into_iter()
        .find(|r| usize::try_from(r.round).is_ok_and(|n| n == round)))
}

/// One answer of a model with these settings.
async fn answer(config: &serde_json::Value, prompt: &str) -> Result<String> {
    let backend = backends::for_model("local", config)?;
    let messages = [Message {
        role: "user".into(),
        content: prompt.to_owned(),
    }];
    let (text, _) = backends::generate_whole(backend.as_ref(), &messages).await?;
    // PostgreSQL text cannot hold NUL; a model may emit one (the arena drops it too).
    Ok(text.replace('\0', ""))
}

/// One arena battle: the arena's sampler draws two models, both answer, and the simulated
/// annotator votes by its preference.
async fn battle(
    pool: &service::PgPool,
    user: i64,
    preference: &Preference,
    k: usize,
) -> Result<()> {
    let err = |e: app::error::AppError| anyhow!("{e}");
    let prompt = PROMPTS[k % PROMPTS.len()];
    let id = service::arena::start_battle(pool, user, prompt)
        .await
        .map_err(err)?;
    let (b, claimed) = service::arena::open(pool, id, user).await.map_err(err)?;
    if !claimed {
        bail!("battle #{id} was claimed elsewhere");
    }
    let (a_text, b_text) =
        tokio::try_join!(answer(&b.a.config, prompt), answer(&b.b.config, prompt))?;
    let meta = serde_json::json!({"backend": "local", "simulated": true});
    let assignment = service::arena::complete(pool, id, [(&a_text, &meta), (&b_text, &meta)])
        .await
        .map_err(err)?;
    let (left, right) = if b.a_is_left {
        (&a_text, &b_text)
    } else {
        (&b_text, &a_text)
    };
    let vote = api::annotation::NewVote {
        choice: preference.choose(left, right),
        strength: None,
        rationale: None,
        time_to_vote_ms: Some(1000),
    };
    service::annotation::vote(pool, assignment, Some(user), &vote)
        .await
        .map_err(err)?;
    Ok(())
}

/// The mean property of `n` answers of a model on the held-out prompts.
async fn measure(config: &serde_json::Value, preference: &Preference, n: usize) -> Result<f64> {
    let mut sum = 0.0;
    for k in 0..n.max(1) {
        sum += preference.value(&answer(config, HELD_OUT[k % HELD_OUT.len()]).await?);
    }
    Ok(sum / n.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::annotation::Choice;

    #[test]
    fn the_simulated_annotator_votes_by_its_preference() {
        let short = Preference::parse("shorter").unwrap();
        assert_eq!(short.choose("ab", "abc"), Choice::Left);
        assert_eq!(short.choose("abcd", "abc"), Choice::Right);
        assert_eq!(short.choose("abc", "xyz"), Choice::Tie);
        let key = Preference::parse("keyword:Paris").unwrap();
        assert_eq!(key.choose("It is rome", "paris, of course"), Choice::Right);
        assert_eq!(key.choose("Paris", "PARIS"), Choice::Tie);
        assert_eq!(key.value("paris"), 1.0);
        assert!(Preference::parse("keyword:").is_err());
        assert!(Preference::parse("longer").is_err());
    }
}
