//! `verdict leaderboard` (ratings from a battle log) and the `verdict bench` commands that time
//! it on synthetic data.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use service::battles::board::{BoardOptions, Report, TieModel, parse_tie_model, unbounded_note};
use service::battles::{self, GenConfig};
use service::bench::ratings;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text table.
    Table,
    /// Every field and the matrices.
    Json,
    /// One line per model.
    Csv,
}

/// How the 95% intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ci {
    /// Closed-form sandwich estimator (LMArena's method since 2025).
    Sandwich,
    /// Refits on resampled battles (`--bootstrap` rounds).
    Bootstrap,
}

/// `verdict leaderboard`.
#[derive(Debug, Args)]
pub struct LeaderboardArgs {
    /// Chatbot Arena battle log: JSON array, JSONL or CSV.
    #[arg(long)]
    pub battles: PathBuf,
    /// Interval method (style control always bootstraps).
    #[arg(long, value_enum, default_value_t = Ci::Sandwich)]
    pub ci: Ci,
    /// Weight each battle by 1 / max(battles of its pair, 50), as arena-rank's `reweighted`.
    #[arg(long)]
    pub reweight: bool,
    /// How ties count: bt (half a win), rao-kupper, davidson, ignore (dropped) or
    /// grounded-rao-kupper ("both bad" as its own outcome, against a grounding at 1000).
    #[arg(long, default_value = "bt", value_parser = parse_tie_model)]
    pub tie_model: TieModel,
    /// Also score every tie model by 5-fold held-out log-loss.
    #[arg(long)]
    pub compare_ties: bool,
    /// Estimate each judge's reliability (`noisy-bt`: skill and left-side bias) from the
    /// battles' `judge` field.
    #[arg(long, value_enum)]
    pub annotators: Option<AnnotatorModel>,
    /// Prediction-powered ratings (PPI++): the battles of these judges (comma-separated `judge`
    /// values) are LLM-judge votes, the rest human ones, paired by `question_id`.
    #[arg(long, value_name = "JUDGE,JUDGE...")]
    pub ppi_judges: Option<String>,
    /// A cohort of judges (comma-separated `judge` values): each model's rating among their
    /// battles minus its rating among everyone else's, with a 95% interval and a Wald p-value.
    #[arg(long, value_name = "JUDGE,JUDGE...")]
    pub cohort: Option<String>,
    /// Weight each battle by its judge's NoisyBT reliability (the `judge` field; sandwich
    /// intervals, Bradley–Terry ties).
    #[arg(long)]
    pub weight_annotators: bool,
    /// For each adjacent pair, the fewest votes whose removal flips it (confirmed by refitting).
    #[arg(long)]
    pub audit: bool,
    /// Bootstrap rounds for the 95% intervals with `--ci bootstrap` or style control (0: none).
    #[arg(long, default_value_t = 100)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Control for response length and markdown (needs style counts in the log).
    #[arg(long)]
    pub style_control: bool,
    /// Shift ratings so that MODEL has RATING, e.g. `--anchor gpt-4=1200`.
    #[arg(long, value_name = "MODEL=RATING")]
    pub anchor: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Annotator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnnotatorModel {
    /// Noisy Bradley–Terry (crowd-kit's NoisyBT, fitted with weak priors).
    NoisyBt,
}

impl LeaderboardArgs {
    /// The report's options.
    fn options(&self) -> BoardOptions {
        BoardOptions {
            bootstrap_ci: self.ci == Ci::Bootstrap,
            reweight: self.reweight,
            tie_model: self.tie_model,
            compare_ties: self.compare_ties,
            annotators: self.annotators == Some(AnnotatorModel::NoisyBt),
            ppi_judges: self.ppi_judges.clone(),
            cohort: self.cohort.clone(),
            weight_annotators: self.weight_annotators,
            audit: self.audit,
            bootstrap: self.bootstrap,
            seed: self.seed,
            style_control: self.style_control,
            anchor: self.anchor.clone(),
        }
    }
}

/// Prints the report in the chosen format.
///
/// # Errors
/// On write failure.
pub fn print(report: &Report, format: Format, out: &mut impl std::io::Write) -> Result<()> {
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"));
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "rank_ub",
                "model",
                "rating",
                "lower",
                "upper",
                "votes",
                "online_elo",
                "note",
                "rank_max",
                "tier",
                "cohort_offset",
                "cohort_lower",
                "cohort_upper",
                "cohort_p",
            ])?;
            let opt = |v: Option<usize>| v.map_or_else(String::new, |r| r.to_string());
            let cell = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x:.4}"));
            for m in &report.models {
                w.write_record([
                    opt(m.rank_ub),
                    service::spreadsheet::safe_cell(&m.model).into_owned(),
                    m.rating.map_or_else(String::new, |x| format!("{x:.4}")),
                    m.lower.map_or_else(String::new, |x| format!("{x:.4}")),
                    m.upper.map_or_else(String::new, |x| format!("{x:.4}")),
                    m.votes.to_string(),
                    format!("{:.4}", m.online_elo),
                    unbounded_note(m.unbounded).to_owned(),
                    opt(m.rank_max),
                    opt(m.tier),
                    cell(m.cohort_offset.map(|c| c.offset)),
                    cell(m.cohort_offset.map(|c| c.lower)),
                    cell(m.cohort_offset.map(|c| c.upper)),
                    m.cohort_offset
                        .map_or_else(String::new, |c| format!("{:.4e}", c.p_value)),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let width = report
                .models
                .iter()
                .map(|m| m.model.len())
                .max()
                .unwrap_or(5)
                .max(5);
            writeln!(
                out,
                "{:>9}  {:>6}  {:>4}  {:<width$}  {:>8}  {:>15}  {:>9}  {:>10}",
                "Rank (UB)", "Spread", "Tier", "Model", "Rating", "95% CI", "Votes", "Online Elo"
            )?;
            for m in &report.models {
                let ci = match (m.rating, m.lower, m.upper) {
                    (Some(r), Some(l), Some(u)) => format!("+{:.1}/-{:.1}", u - r, r - l),
                    _ => "-".to_owned(),
                };
                let rating = if m.unbounded.is_some() {
                    unbounded_note(m.unbounded).to_owned()
                } else {
                    fmt(m.rating)
                };
                let spread = match (m.rank_min, m.rank_max) {
                    (Some(a), Some(b)) if a == b => a.to_string(),
                    (Some(a), Some(b)) => format!("{a}-{b}"),
                    _ => "-".to_owned(),
                };
                let votes = if m.provisional {
                    format!("{}*", m.votes)
                } else {
                    m.votes.to_string()
                };
                writeln!(
                    out,
                    "{:>9}  {:>6}  {:>4}  {:<width$}  {:>8}  {:>15}  {:>9}  {:>10.1}",
                    m.rank_ub.map_or_else(|| "-".to_owned(), |r| r.to_string()),
                    spread,
                    m.tier.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    m.model,
                    rating,
                    ci,
                    votes,
                    m.online_elo
                )?;
            }
            if report.models.iter().any(|m| m.cohort_offset.is_some()) {
                writeln!(
                    out,
                    "cohort vs others (rating points, 95% interval, Wald p):"
                )?;
                for m in &report.models {
                    if let Some(c) = m.cohort_offset {
                        writeln!(
                            out,
                            "  {:<width$}  {:>+8.1}  [{:+.1}, {:+.1}]  p = {:.3}",
                            m.model, c.offset, c.lower, c.upper, c.p_value
                        )?;
                    }
                }
            }
            if let Some(note) = &report.note {
                writeln!(out, "{note}")?;
            }
            if let Some(p) = report.tie_param {
                let name = match report.tie_model {
                    "davidson" => "ν",
                    "grounded-rao-kupper" => "κ",
                    _ => "η",
                };
                writeln!(out, "tie model {}: {name} = {p:.4}", report.tie_model)?;
            }
            if let Some(scores) = &report.tie_model_scores {
                let parts: Vec<String> = scores
                    .iter()
                    .map(|s| format!("{} {:.4}", s.model.name(), s.log_loss))
                    .collect();
                writeln!(
                    out,
                    "held-out log-loss (5-fold, best first): {}",
                    parts.join(", ")
                )?;
            }
            if let Some(audit) = &report.audit {
                writeln!(
                    out,
                    "robustness (votes whose removal flips each adjacent pair):"
                )?;
                for p in audit {
                    let flip = match (p.votes_to_flip, p.share) {
                        (Some(m), Some(s)) => format!("{m} votes ({:.3}% of all)", s * 100.0),
                        _ => "does not flip".to_owned(),
                    };
                    writeln!(
                        out,
                        "  {} > {} (gap {:.1}): {flip}",
                        p.upper, p.lower, p.gap
                    )?;
                }
            }
            if let Some(judges) = &report.annotators {
                writeln!(out, "judges (NoisyBT), least skilled first:")?;
                for j in judges {
                    writeln!(
                        out,
                        "  {:<20} skill {:.3}  left bias {:.3}  {} votes",
                        j.id, j.skill, j.bias, j.votes
                    )?;
                }
            }
            if let Some(coef) = &report.style_coefficients {
                let parts: Vec<String> = coef.iter().map(|(k, v)| format!("{k} {v:+.4}")).collect();
                writeln!(out, "style coefficients: {}", parts.join(", "))?;
            }
            let method = if report.ci == "bootstrap" {
                format!(
                    "{} bootstrap rounds (seed {})",
                    report.bootstrap_rounds, report.seed
                )
            } else {
                "sandwich intervals".to_owned()
            };
            writeln!(
                out,
                "{} battles{}; {method}{}; * provisional (fewer than 300 votes)",
                report.battles,
                if report.skipped_non_anonymous > 0 {
                    format!(" ({} non-anonymous skipped)", report.skipped_non_anonymous)
                } else {
                    String::new()
                },
                if report.reweighted {
                    ", reweighted by inverse pair frequency"
                } else {
                    ""
                },
            )?;
        }
    }
    Ok(())
}

/// `verdict leaderboard`.
///
/// # Errors
/// On unreadable input or a bad option.
pub fn run(args: &LeaderboardArgs) -> Result<()> {
    let log = battles::read(&args.battles)?;
    let report = service::battles::board::compute(&log, &args.options())?;
    print(&report, args.format, &mut std::io::stdout().lock())
}

/// `verdict bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write synthetic Chatbot Arena battles as JSONL.
    GenBattles {
        /// Number of models.
        #[arg(long, default_value_t = 20)]
        models: usize,
        /// Number of battles.
        #[arg(long, default_value_t = 1_000_000)]
        battles: usize,
        /// Share of ties.
        #[arg(long, default_value_t = 0.3)]
        ties: f64,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Include style counts (conv_metadata).
        #[arg(long)]
        style: bool,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Time the leaderboard pipeline on a battle log: load, online Elo, BT, bootstrap, rank.
    Leaderboard {
        /// Battle log.
        #[arg(long)]
        battles: PathBuf,
        /// Bootstrap rounds (repeatable: each is timed).
        #[arg(long, default_values_t = [100, 1000])]
        bootstrap: Vec<usize>,
        /// Also time style control with this many rounds on the same log.
        #[arg(long)]
        style_rounds: Option<usize>,
    },
    /// Vote throughput and latency through the app's router (in-process) on the database.
    Votes {
        /// Concurrent annotators.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Votes per annotator.
        #[arg(long, default_value_t = 100)]
        per_client: usize,
        /// Issue every assignment before the clock starts (through the database), so that only
        /// vote submissions are timed; by default each vote first fetches its assignment.
        #[arg(long)]
        vote_only: bool,
        /// Database connections of the server under test (8 is fastest on 2 cores).
        #[arg(long, default_value_t = 8)]
        pool: u32,
    },
    /// Time DPO training steps (seconds per step, tokens/s, peak memory).
    Train(crate::cli::train::BenchTrainArgs),
    /// Tokens/s and peak memory of local-model generation beside llama.cpp.
    Generate(crate::cli::bench_generate::BenchGenerateArgs),
    /// Time NoisyBT (annotator skill and bias) on simulated annotators, and report how well it
    /// recovers them.
    NoisyBt {
        /// Votes in all.
        #[arg(long, default_value_t = 100_000)]
        votes: usize,
        /// Annotators.
        #[arg(long, default_value_t = 1000)]
        annotators: usize,
        /// Models.
        #[arg(long, default_value_t = 20)]
        models: usize,
    },
    /// The online DPO loop on simulated annotators: votes in the arena trigger training rounds,
    /// the promotion gate decides, and each round prints the champion's measured property.
    Loop(crate::cli::bench_loop::LoopArgs),
    /// Simulate the arena's pair samplers on models of known strength: votes each needs until
    /// every 95% interval is narrow enough, and until the top models settle in the right order.
    Sampler {
        /// Models.
        #[arg(long, default_value_t = 20)]
        models: usize,
        /// Standard deviation of the true strengths, in rating points.
        #[arg(long, default_value_t = 100.0)]
        spread: f64,
        /// Votes per run at most.
        #[arg(long, default_value_t = 40_000)]
        budget: usize,
        /// Votes between refits of the leaderboard.
        #[arg(long, default_value_t = 250)]
        batch: usize,
        /// Target width of every 95% interval, in rating points.
        #[arg(long, default_value_t = 50.0)]
        width: f64,
        /// Top models that must settle in the right order.
        #[arg(long, default_value_t = 3)]
        top: usize,
        /// Runs (different strengths and votes), each sampler on the same ones.
        #[arg(long, default_value_t = 5)]
        runs: u64,
        /// Standard deviation of per-matchup effects, in rating points, so that Bradley–Terry
        /// does not hold exactly (0: it holds). The last two columns then show how far the
        /// sampler's choice of pairs moves the plain fit, and the reweighted one.
        #[arg(long, default_value_t = 0.0)]
        matchup: f64,
    },
    /// Time a leaderboard recomputed from aggregated counts (as the app does).
    Counts {
        /// Number of models.
        #[arg(long, default_value_t = 100)]
        models: usize,
        /// Bootstrap rounds.
        #[arg(long, default_value_t = 100)]
        rounds: usize,
        /// Votes behind the counts.
        #[arg(long, default_value_t = 1_000_000)]
        votes: usize,
    },
}

/// Runs a bench command, printing a table of timings.
///
/// # Errors
/// On IO failure.
pub fn bench(cmd: &BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::GenBattles {
            models,
            battles,
            ties,
            seed,
            style,
            out,
        } => {
            let file = std::fs::File::create(out)
                .with_context(|| format!("creating {}", out.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            let cfg = GenConfig {
                models: *models,
                battles: *battles,
                ties: *ties,
                seed: *seed,
                style: *style,
            };
            battles::generate(&cfg, &mut w)?;
            std::io::Write::flush(&mut w)?;
            println!(
                "wrote {battles} battles among {models} models to {}",
                out.display()
            );
        }
        BenchCommand::Leaderboard {
            battles: path,
            bootstrap,
            style_rounds,
        } => {
            println!("threads: {}", rayon::current_num_threads());
            println!("{:<34} {:>10}", "step", "seconds");
            let t0 = Instant::now();
            let log = battles::read(path)?;
            let load = t0.elapsed().as_secs_f64();
            let loaded = format!("load {} battles", log.battles.len());
            println!("{loaded:<34} {load:>10.3}");
            ratings::leaderboard_steps(&log, load, bootstrap, *style_rounds, |step, secs| {
                println!("{step:<34} {secs:>10.3}");
            })?;
            if let Some(mib) = super::measure::peak_rss_mib() {
                println!("{:<34} {:>10.0}", "peak memory (MiB, VmHWM)", mib);
            }
        }
        BenchCommand::Train(args) => crate::cli::train::bench_train(args)?,
        BenchCommand::Generate(args) => crate::cli::bench_generate::run(args)?,
        BenchCommand::NoisyBt {
            votes,
            annotators,
            models,
        } => bench_noisy_bt(*votes, *annotators, *models),
        BenchCommand::Sampler {
            models,
            spread,
            budget,
            batch,
            width,
            top,
            runs,
            matchup,
        } => bench_sampler(
            &ratings::SimConfig {
                models: *models,
                spread: spread / ratings::POINTS,
                matchup: matchup / ratings::POINTS,
                budget: *budget,
                batch: (*batch).max(1),
                width: *width,
                top: *top,
                seed: 0,
            },
            *runs,
        ),
        BenchCommand::Votes { .. } => {
            bail!("`verdict bench votes` needs the database; the CLI runs it");
        }
        BenchCommand::Loop(_) => {
            bail!("`verdict bench loop` runs its own database; the CLI runs it")
        }
        BenchCommand::Counts {
            models,
            rounds,
            votes,
        } => {
            println!("threads: {}", rayon::current_num_threads());
            // The app's default (sandwich intervals), then the bootstrap it offers.
            for t in ratings::counts(*models, *rounds, *votes) {
                println!(
                    "leaderboard from counts: {models} models, {} triples, {}: {:.1} ms",
                    t.triples, t.how, t.ms
                );
            }
        }
    }
    Ok(())
}

fn bench_sampler(cfg: &ratings::SimConfig, runs: u64) {
    let points = ratings::POINTS;
    println!(
        "{} models, strengths ~ N(0, {:.0}²) and matchup effects ~ N(0, {:.0}²) rating points, \
         refit every {} votes, {} runs of at most {} votes",
        cfg.models,
        cfg.spread * points,
        cfg.matchup * points,
        cfg.batch,
        runs,
        cfg.budget
    );
    println!(
        "| sampler | votes until every interval ≤ {:.0} | votes until the top {} settle | widest interval at the end | RMS distance from the uniform design's ratings: plain fit | reweighted fit |",
        cfg.width, cfg.top
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mean = |v: &[Option<usize>]| {
        let reached: Vec<usize> = v.iter().flatten().copied().collect();
        let avg = reached.iter().sum::<usize>() as f64 / reached.len().max(1) as f64;
        if reached.len() == v.len() {
            format!("{avg:.0}")
        } else {
            format!(
                "{avg:.0} ({} of {} runs reached it)",
                reached.len(),
                v.len()
            )
        }
    };
    for (name, results) in ratings::samplers(cfg, runs) {
        let width: Vec<_> = results.iter().map(|r| r.votes_to_width).collect();
        let top: Vec<_> = results.iter().map(|r| r.votes_to_top).collect();
        let avg = |f: fn(&ratings::SimResult) -> f64| {
            results.iter().map(f).sum::<f64>() / results.len().max(1) as f64
        };
        println!(
            "| {name} | {} | {} | {:.1} | {:.1} | {:.1} |",
            mean(&width),
            mean(&top),
            avg(|r| r.final_max_width),
            avg(|r| r.error_plain),
            avg(|r| r.error_reweighted),
        );
    }
}

fn bench_noisy_bt(votes: usize, annotators: usize, models: usize) {
    let t = ratings::noisy_bt(votes, annotators, models);
    println!(
        "NoisyBT: {} votes, {annotators} annotators, {models} models: {:.3} s, {} iterations{}",
        t.votes,
        t.secs,
        t.iterations,
        if t.converged { "" } else { " (not converged)" }
    );
    println!(
        "correlation with the truth: skill {:.3}, bias {:.3}, strengths {:.3}",
        t.skill_r, t.bias_r, t.strength_r
    );
}
