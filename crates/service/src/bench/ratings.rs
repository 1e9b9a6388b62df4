//! The rating benches of `verdict bench`: the leaderboard pipeline on a battle log, the app's
//! leaderboard from counts, NoisyBT on simulated annotators and the arena's pair samplers on
//! simulated models. Each returns what it measured; the CLI prints the tables.

use std::time::Instant;

use anyhow::Result;
use ranking::bt::{self, BootstrapConfig, BtConfig, Counts};
use ranking::elo::{EloConfig, online_elo};
use ranking::leaderboard::{self, CiMethod, LeaderboardConfig};

pub use ranking::active::{SimConfig, SimResult};

use crate::battles::BattleLog;
use crate::battles::board::{self, BoardOptions};

/// Times each step of the leaderboard pipeline on `log` (read in `load_secs`), calling
/// `step(name, seconds)` as each ends: online Elo, Bradley–Terry, sandwich intervals, the
/// robustness audit, then for each of `bootstrap` its rounds, the intervals and a total, and
/// style control with `style_rounds` rounds.
///
/// # Errors
/// When style control is asked of a log without style counts.
pub fn leaderboard_steps(
    log: &BattleLog,
    load_secs: f64,
    bootstrap: &[usize],
    style_rounds: Option<usize>,
    mut step: impl FnMut(&str, f64),
) -> Result<()> {
    let n = log.models.len();
    let triples: Vec<(usize, usize, ranking::Outcome)> = log
        .battles
        .iter()
        .map(|&(a, b, o)| (a as usize, b as usize, o))
        .collect();
    let bt_cfg = BtConfig::new();
    let t = Instant::now();
    let elo = online_elo(n, &triples, &EloConfig::new());
    let t_elo = t.elapsed().as_secs_f64();
    step("online Elo", t_elo);
    let t = Instant::now();
    let counts = Counts::from_battles(n, triples.iter().copied());
    let unbounded = bt::unbounded_models(&counts);
    let excluded: Vec<bool> = unbounded.iter().map(Option::is_some).collect();
    let point = bt::fit(&counts, &excluded, None, &bt_cfg);
    let t_bt = t.elapsed().as_secs_f64();
    step(
        &format!("aggregate + BT ({} iterations)", point.iterations),
        t_bt,
    );
    let t = Instant::now();
    let var = ranking::sandwich::variances(&counts, None, &excluded, &point, &bt_cfg);
    let bounds = ranking::sandwich::bounds(
        &point.scaled(&bt_cfg),
        &var,
        &bt_cfg,
        ranking::sandwich::Z95,
    );
    let ranks = bt::rank_spread(&bounds);
    step("sandwich CIs + rank spread", t.elapsed().as_secs_f64());
    std::hint::black_box(&ranks);
    let t = Instant::now();
    let mut order: Vec<usize> = (0..n).filter(|&m| point.natural[m].is_finite()).collect();
    order.sort_by(|&x, &y| point.natural[y].total_cmp(&point.natural[x]));
    let audit = ranking::audit::audit(&counts, &point, &order, &bt_cfg);
    step(
        &format!("robustness audit ({} pairs)", audit.len()),
        t.elapsed().as_secs_f64(),
    );
    for &rounds in bootstrap {
        let t = Instant::now();
        let fits = bt::bootstrap(
            &counts,
            &excluded,
            &point,
            &bt_cfg,
            &BootstrapConfig { rounds, seed: 0 },
        );
        let scaled: Vec<Vec<f64>> = fits.iter().map(|f| f.scaled(&bt_cfg)).collect();
        let t_boot = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let bounds = bt::confidence_intervals(&scaled, n);
        let ranks = bt::rank_upper_bound(&bounds);
        let t_rank = t.elapsed().as_secs_f64();
        step(&format!("bootstrap, {rounds} rounds"), t_boot);
        step("CIs + Rank (UB)", t_rank);
        step(
            &format!("TOTAL with {rounds} rounds"),
            load_secs + t_elo + t_bt + t_boot + t_rank,
        );
        std::hint::black_box((&ranks, &elo));
    }
    if let Some(rounds) = style_rounds {
        let opts = BoardOptions {
            bootstrap_ci: true,
            bootstrap: rounds,
            style_control: true,
            ..BoardOptions::default()
        };
        let t = Instant::now();
        let report = board::compute(log, &opts)?;
        step(
            &format!("style control, {rounds} rounds"),
            t.elapsed().as_secs_f64(),
        );
        std::hint::black_box(report);
    }
    Ok(())
}

/// One timing of [`counts`].
#[derive(Debug, Clone)]
pub struct CountsTiming {
    /// Triples (model pair, outcome) in the counts.
    pub triples: usize,
    /// How the intervals were computed.
    pub how: String,
    /// Milliseconds for the whole leaderboard.
    pub ms: f64,
}

/// Times a leaderboard recomputed from aggregated counts, as the app does: `models` models,
/// `votes` votes drawn from known strengths; sandwich intervals (the app's default), then
/// `rounds` bootstrap rounds.
#[must_use]
pub fn counts(models: usize, rounds: usize, votes: usize) -> Vec<CountsTiming> {
    let battles = synthetic_counts(models, votes);
    [CiMethod::Sandwich, CiMethod::Bootstrap]
        .into_iter()
        .map(|ci| {
            let cfg = LeaderboardConfig {
                ci,
                bootstrap: BootstrapConfig { rounds, seed: 0 },
                ..LeaderboardConfig::new()
            };
            let t = Instant::now();
            let lb = leaderboard::compute(&battles, &cfg);
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let how = match ci {
                CiMethod::Sandwich => "sandwich intervals".to_owned(),
                CiMethod::Bootstrap => format!(
                    "{rounds} bootstrap rounds, {} unconverged",
                    lb.unconverged_rounds
                ),
            };
            CountsTiming {
                triples: battles.triples.len(),
                how,
                ms,
            }
        })
        .collect()
}

/// Counts as the app keeps them: every ordered pair with wins, ties and losses drawn from known
/// strengths.
fn synthetic_counts(n: usize, votes: usize) -> Counts {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut table = vec![0u64; n * n * 3];
    let per_pair = (votes / (n * (n - 1)).max(1)).max(3) as u64;
    for a in 0..n {
        for b in 0..n {
            if a == b {
                continue;
            }
            let p = 1.0 / (1.0 + 10f64.powf((b as f64 - a as f64) * 1.5 / n as f64));
            let ties = per_pair * 3 / 10;
            let decided = per_pair - ties;
            let wins = (0..decided).filter(|_| rng.random_bool(p)).count() as u64;
            table[(a * n + b) * 3] = decided - wins;
            table[(a * n + b) * 3 + 1] = ties;
            table[(a * n + b) * 3 + 2] = wins;
        }
    }
    Counts::from_table(n, &table)
}

/// What [`noisy_bt`] measured.
#[derive(Debug, Clone, Copy)]
pub struct NoisyTiming {
    /// Votes simulated.
    pub votes: usize,
    /// Seconds of the fit.
    pub secs: f64,
    /// Its iterations.
    pub iterations: usize,
    /// Whether it converged.
    pub converged: bool,
    /// Correlation of the fitted skills with the true ones.
    pub skill_r: f64,
    /// The same for the left-side biases.
    pub bias_r: f64,
    /// The same for the models' strengths.
    pub strength_r: f64,
}

/// Times NoisyBT on `votes` votes of `annotators` simulated annotators of known skill and bias
/// among `models` models, and measures how well it recovers them.
#[must_use]
pub fn noisy_bt(votes: usize, annotators: usize, models: usize) -> NoisyTiming {
    use rand::{Rng, SeedableRng};
    use ranking::noisy_bt::{self, NoisyConfig};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let strengths: Vec<f64> = (0..models)
        .map(|i| 3.0 * i as f64 / models.max(2) as f64 - 1.5)
        .collect();
    let skill: Vec<f64> = (0..annotators)
        .map(|_| rng.random_range(0.2..0.9))
        .collect();
    let bias: Vec<f64> = (0..annotators)
        .map(|_| rng.random_range(0.1..0.9))
        .collect();
    let per = (votes / annotators.max(1)).max(1);
    let sample = noisy_bt::simulate(&strengths, &skill, &bias, per, 5);
    let t = Instant::now();
    let fit = noisy_bt::fit(models, annotators, &sample, &NoisyConfig::new());
    let secs = t.elapsed().as_secs_f64();
    let r = ranking::linalg::pearson;
    NoisyTiming {
        votes: sample.len(),
        secs,
        iterations: fit.iterations,
        converged: fit.converged,
        skill_r: r(&fit.skill, &skill),
        bias_r: r(&fit.bias, &bias),
        strength_r: r(&fit.scores, &strengths),
    }
}

/// Rating points per natural-log unit of strength.
pub const POINTS: f64 = 400.0 / std::f64::consts::LN_10;

/// Runs the uniform, heuristic and active samplers `runs` times each on the same simulated
/// models (seeds 0 to `runs` − 1); per sampler, its name and each run's result.
#[must_use]
pub fn samplers(cfg: &SimConfig, runs: u64) -> Vec<(&'static str, Vec<SimResult>)> {
    use ranking::active::{Sampler, simulate};
    [Sampler::Uniform, Sampler::Heuristic, Sampler::Active]
        .into_iter()
        .map(|sampler| {
            let results = (0..runs)
                .map(|seed| simulate(sampler, &SimConfig { seed, ..*cfg }))
                .collect();
            (sampler.name(), results)
        })
        .collect()
}
