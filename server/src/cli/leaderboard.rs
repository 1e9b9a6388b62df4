//! `verdict leaderboard` (ratings from a battle log) and the `verdict bench` commands that time
//! it on synthetic data.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use ranking::bt::{self, BootstrapConfig, BtConfig, Counts, Unbounded};
use ranking::elo::{EloConfig, online_elo};
use ranking::leaderboard::{self, CiMethod, LeaderboardConfig, MIN_PAIR_COUNT, Matrices};
use ranking::style::{self, FEATURE_NAMES, StyleBattle, StyleConfig};
use ranking::ties::{TieModel, TieModelScore};
use serde::Serialize;

use service::battles::{self, BattleLog, GenConfig};

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

impl From<Ci> for CiMethod {
    fn from(c: Ci) -> Self {
        match c {
            Ci::Sandwich => Self::Sandwich,
            Ci::Bootstrap => Self::Bootstrap,
        }
    }
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

/// One adjacent pair's robustness.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// The higher-rated model.
    pub upper: String,
    /// The model right below it.
    pub lower: String,
    /// Rating gap.
    pub gap: f64,
    /// Fewest votes whose removal flips them (`null`: removing every vote that narrows the gap
    /// does not).
    pub votes_to_flip: Option<u64>,
    /// As a share of all battles.
    pub share: Option<f64>,
    /// The removed votes, most influential first: model A, model B, winner, how many.
    pub most_influential: Vec<(String, String, &'static str, u64)>,
}

fn audit_report(log: &BattleLog, audit: &[ranking::audit::PairAudit]) -> Vec<AuditReport> {
    let name = |m: usize| log.models[m].clone();
    audit
        .iter()
        .map(|p| AuditReport {
            upper: name(p.upper),
            lower: name(p.lower),
            gap: p.gap,
            votes_to_flip: p.votes_to_flip,
            share: p.share,
            most_influential: p
                .most_influential
                .iter()
                .map(|g| {
                    let winner = if g.y == 1.0 {
                        "model_a"
                    } else if g.y == 0.0 {
                        "model_b"
                    } else {
                        "tie"
                    };
                    (name(g.a), name(g.b), winner, g.count)
                })
                .collect(),
        })
        .collect()
}

/// Annotator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnnotatorModel {
    /// Noisy Bradley–Terry (crowd-kit's NoisyBT, fitted with weak priors).
    NoisyBt,
}

/// One judge's estimated reliability.
#[derive(Debug, Clone, Serialize)]
pub struct AnnotatorReport {
    /// The battles' `judge` value.
    pub id: String,
    /// Share of votes that follow the models' strengths.
    pub skill: f64,
    /// When not, how often the left side (model A) is picked.
    pub bias: f64,
    /// Decided battles (ties carry no side and are left out).
    pub votes: u64,
}

/// NoisyBT on the log's decided battles, judges ordered by skill (lowest first: the ones to
/// look at).
fn annotators(log: &BattleLog) -> Result<Vec<AnnotatorReport>> {
    let fit = noisy_fit(log, "--annotators")?;
    let mut out: Vec<AnnotatorReport> = fit
        .annotators()
        .into_iter()
        .map(|a| AnnotatorReport {
            id: log.judge_names[a.annotator].clone(),
            skill: a.skill,
            bias: a.bias,
            votes: a.votes as u64,
        })
        .collect();
    out.sort_by(|x, y| x.skill.total_cmp(&y.skill));
    Ok(out)
}

/// The log's battles as counts with one triple per (A, B, outcome, judge), and each triple's
/// weight: its judge's NoisyBT reliability (docs/design.md §5.14).
fn judge_weighted(log: &BattleLog) -> Result<(Counts, Vec<f64>)> {
    let fit = noisy_fit(log, "--weight-annotators")?;
    let weights = fit.vote_weights();
    let judges = log.judges.as_deref().unwrap_or_default();
    let mut slots: std::collections::HashMap<(u32, u32, u8, u32), f64> = Default::default();
    for (&(a, b, o), &j) in log.battles.iter().zip(judges) {
        let y = match o {
            ranking::Outcome::A => 2,
            ranking::Outcome::B => 0,
            _ => 1,
        };
        *slots.entry((a, b, y, j)).or_default() += 1.0;
    }
    let mut keyed: Vec<_> = slots.into_iter().collect();
    keyed.sort_by_key(|(k, _)| *k);
    let (triples, w): (Vec<_>, Vec<_>) = keyed
        .into_iter()
        .map(|((a, b, y, j), count)| {
            let t = ranking::bt::Triple {
                a: a as usize,
                b: b as usize,
                y: f64::from(y) / 2.0,
                weight: count,
            };
            (t, weights[j as usize])
        })
        .unzip();
    Ok((
        Counts {
            n_models: log.models.len(),
            triples,
        },
        w,
    ))
}

/// PPI++ ratings from the log: the named judges' battles are the LLM-judge votes, paired with
/// the human ones by `question_id`.
fn ppi(log: &BattleLog, list: &str) -> Result<service::leaderboard::PpiRatings> {
    let (Some(judges), Some(questions)) = (&log.judges, &log.questions) else {
        bail!("--ppi-judges needs a `judge` and a `question_id` on every battle");
    };
    let llm = judge_set(log, list, "--ppi-judges")?;
    let mut votes: Vec<service::leaderboard::PpiVote> = log
        .battles
        .iter()
        .zip(judges.iter().zip(questions))
        .map(|(&(a, b, o), (&j, &q))| service::leaderboard::PpiVote {
            item: u64::from(q),
            a: a as usize,
            b: b as usize,
            y: o.score_a(),
            judge: llm[j as usize],
        })
        .collect();
    // Grouped by question, in log order within one.
    votes.sort_by_key(|v| v.item);
    service::leaderboard::ppi_ratings(log.models.len(), &votes)
        .map_err(|e| anyhow::anyhow!("--ppi-judges: {e}"))
}

/// Which judges a comma-separated list names (`option` words the errors).
fn judge_set(log: &BattleLog, list: &str, option: &str) -> Result<Vec<bool>> {
    let mut member = vec![false; log.judge_names.len()];
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(k) = log.judge_names.iter().position(|j| j == name) else {
            bail!("{option}: no battle has the judge {name:?}");
        };
        member[k] = true;
    }
    if !member.contains(&true) {
        bail!("{option}: name at least one judge");
    }
    Ok(member)
}

/// Per model, the cohort's offset: its rating among the battles of the judges named in `list`
/// minus its rating among the other battles (docs/design.md §5.17).
fn cohort_offsets(
    log: &BattleLog,
    list: &str,
    cfg: &BtConfig,
) -> Result<Vec<Option<ranking::cohort::CohortOffset>>> {
    let Some(judges) = &log.judges else {
        bail!("--cohort needs a `judge` on every battle");
    };
    let member = judge_set(log, list, "--cohort")?;
    let n = log.models.len();
    let side = |inside: bool| {
        Counts::from_battles(
            n,
            log.battles
                .iter()
                .zip(judges)
                .filter(|(_, j)| member[**j as usize] == inside)
                .map(|(&(a, b, o), _)| (a as usize, b as usize, o)),
        )
    };
    let (cohort, others) = (side(true), side(false));
    if others.triples.is_empty() {
        bail!("--cohort: every battle is the cohort's; there is no one to compare with");
    }
    Ok(ranking::cohort::offsets(&cohort, &others, cfg))
}

/// NoisyBT on the log's decided battles, the judges as annotators, side A as the left.
fn noisy_fit(log: &BattleLog, option: &str) -> Result<ranking::noisy_bt::NoisyFit> {
    let Some(judges) = &log.judges else {
        bail!("{option} needs a `judge` on every battle");
    };
    let votes: Vec<ranking::noisy_bt::NoisyVote> = log
        .battles
        .iter()
        .zip(judges)
        .filter(|((_, _, o), _)| matches!(o, ranking::Outcome::A | ranking::Outcome::B))
        .map(|(&(a, b, o), &j)| ranking::noisy_bt::NoisyVote {
            annotator: j as usize,
            left: a as usize,
            right: b as usize,
            left_won: o == ranking::Outcome::A,
            count: 1.0,
        })
        .collect();
    Ok(ranking::noisy_bt::fit(
        log.models.len(),
        log.judge_names.len(),
        &votes,
        &ranking::noisy_bt::NoisyConfig::new(),
    ))
}

fn parse_tie_model(s: &str) -> Result<TieModel, String> {
    TieModel::parse(s).ok_or_else(|| format!("{s:?} is not a tie model: {}", TieModel::NAMES))
}

/// One model in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// Rank (UB).
    pub rank_ub: Option<usize>,
    /// Best rank the intervals allow (= Rank (UB)).
    pub rank_min: Option<usize>,
    /// Worst rank the intervals allow.
    pub rank_max: Option<usize>,
    /// Tier: models statistically tied with their tier's leader share it.
    pub tier: Option<usize>,
    /// Name.
    pub model: String,
    /// Rating (Bradley–Terry, or style-controlled).
    pub rating: Option<f64>,
    /// Lower 95% bound.
    pub lower: Option<f64>,
    /// Upper 95% bound.
    pub upper: Option<f64>,
    /// Votes involving the model.
    pub votes: u64,
    /// Fewer than 300 votes.
    pub provisional: bool,
    /// Online Elo (K = 4, in time order).
    pub online_elo: f64,
    /// Why there is no finite rating.
    pub unbounded: Option<Unbounded>,
    /// With `--cohort`: the cohort's rating minus everyone else's, with its interval and the
    /// Wald test's p-value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohort_offset: Option<ranking::cohort::CohortOffset>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Models, best first.
    pub models: Vec<ModelReport>,
    /// Battles counted.
    pub battles: usize,
    /// Battles left out because `anony` was false.
    pub skipped_non_anonymous: usize,
    /// `sandwich`, `bootstrap` or `ppi`.
    pub ci: &'static str,
    /// What prediction-powered ratings rest on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether battles were weighted by inverse pair frequency.
    pub reweighted: bool,
    /// Whether battles were weighted by their judge's reliability.
    pub annotator_weighted: bool,
    /// How ties count.
    pub tie_model: &'static str,
    /// Rao–Kupper's η or Davidson's ν.
    pub tie_param: Option<f64>,
    /// Held-out log-loss per tie model, best first (`--compare-ties`).
    pub tie_model_scores: Option<Vec<TieModelScore>>,
    /// Judges' reliability (`--annotators noisy-bt`), least skilled first.
    pub annotators: Option<Vec<AnnotatorReport>>,
    /// Robustness of each adjacent pair (`--audit`).
    pub audit: Option<Vec<AuditReport>>,
    /// Bootstrap rounds (bootstrap intervals only).
    pub bootstrap_rounds: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Whether ratings are style-controlled.
    pub style_control: bool,
    /// Style coefficients by feature name (style control only).
    pub style_coefficients: Option<Vec<(String, f64)>>,
    /// Model order of the matrices (the leaderboard's order).
    pub matrix_models: Vec<String>,
    /// Pairwise matrices.
    pub matrices: Matrices,
}

fn parse_anchor(spec: Option<&str>, models: &[String]) -> Result<Option<(usize, f64)>> {
    let Some(spec) = spec else { return Ok(None) };
    let (name, rating) = spec
        .rsplit_once('=')
        .context("--anchor takes MODEL=RATING")?;
    let rating: f64 = rating
        .trim()
        .parse()
        .with_context(|| format!("--anchor: {rating:?} is not a number"))?;
    let idx = models
        .iter()
        .position(|m| m == name)
        .with_context(|| format!("--anchor: no model named {name:?} in the battles"))?;
    Ok(Some((idx, rating)))
}

/// Computes the report for a battle log.
///
/// # Errors
/// On a bad anchor, or style control without style counts.
pub fn compute(log: &BattleLog, args: &LeaderboardArgs) -> Result<Report> {
    let n = log.models.len();
    if n < 2 {
        bail!("the battles name fewer than two models");
    }
    let anchor = parse_anchor(args.anchor.as_deref(), &log.models)?;
    let battles: Vec<(usize, usize, ranking::Outcome)> = log
        .battles
        .iter()
        .map(|&(a, b, o)| (a as usize, b as usize, o))
        .collect();
    let elo = online_elo(n, &battles, &EloConfig::new());
    let counts = Counts::from_battles(n, battles.iter().copied());
    let both_bad = Counts::from_battles(
        n,
        battles
            .iter()
            .copied()
            .filter(|b| b.2 == ranking::Outcome::BothBad),
    );
    if args.tie_model == TieModel::GroundedRaoKupper && both_bad.triples.is_empty() {
        bail!(
            "--tie-model grounded-rao-kupper needs \"both bad\" battles (winner \"tie (bothbad)\" \
             or both_bad); this log has none"
        );
    }
    let options = service::leaderboard::Options {
        style_control: args.style_control,
        reweight: args.reweight,
        audit: args.audit,
        ppi: args.ppi_judges.is_some(),
        weight_annotators: args.weight_annotators,
        bootstrap: args.ci == Ci::Bootstrap,
        tie_model: (args.tie_model != TieModel::Bt).then_some(args.tie_model),
    };
    service::leaderboard::check_options(&options, &FLAG_NAMES).map_err(anyhow::Error::msg)?;
    let ci = if args.style_control {
        CiMethod::Bootstrap
    } else {
        args.ci.into()
    };
    let cfg = LeaderboardConfig {
        ci,
        bootstrap: BootstrapConfig {
            rounds: args.bootstrap,
            seed: args.seed,
        },
        reweight: args.reweight.then_some(MIN_PAIR_COUNT),
        anchor,
        tie_model: args.tie_model,
        compare_tie_models: args.compare_ties.then_some(5),
        audit: args.audit,
        ..LeaderboardConfig::new()
    };
    let mut ppi_note = None;
    let (rows, coefficients, tie_param, tie_model_scores, audit) = if args.style_control {
        let (rows, coef) = style_rows(log, &battles, &counts, &cfg)?;
        let scores = cfg
            .compare_tie_models
            .map(|k| ranking::ties::cross_validate_with(&counts, Some(&both_bad), k, &cfg.bt));
        (rows, coef, None, scores, None)
    } else if let Some(list) = &args.ppi_judges {
        let fit = ppi(log, list)?;
        let unbounded = vec![None; n];
        let rows = leaderboard::ranked_rows(
            &fit.ratings,
            &fit.bounds,
            &counts.votes_per_model(),
            &unbounded,
        );
        ppi_note = Some(fit.note());
        (rows, None, None, None, None)
    } else if args.weight_annotators {
        let (votes, w) = judge_weighted(log)?;
        let extras = leaderboard::Extras {
            both_bad: Some(&both_bad),
            vote_weights: Some(&w),
        };
        let lb = leaderboard::compute_with(&votes, extras, &cfg);
        (lb.rows, None, lb.tie_param, lb.tie_model_scores, None)
    } else {
        let extras = leaderboard::Extras {
            both_bad: Some(&both_bad),
            ..leaderboard::Extras::default()
        };
        let lb = leaderboard::compute_with(&counts, extras, &cfg);
        let audit = lb.audit.as_deref().map(|a| audit_report(log, a));
        (lb.rows, None, lb.tie_param, lb.tie_model_scores, audit)
    };
    let ratings_by_model: Vec<Option<f64>> = {
        let mut v = vec![None; n];
        for r in &rows {
            v[r.model] = r.rating;
        }
        v
    };
    let cohort = args
        .cohort
        .as_deref()
        .map(|judges| cohort_offsets(log, judges, &cfg.bt))
        .transpose()?;
    let full = leaderboard::matrices(&counts, &ratings_by_model, &cfg.bt);
    let order: Vec<usize> = rows.iter().map(|r| r.model).collect();
    let matrices = full.reordered(&order);
    Ok(Report {
        models: rows
            .iter()
            .map(|r| ModelReport {
                rank_ub: r.rank_ub,
                rank_min: r.rank_spread.map(|s| s.0),
                rank_max: r.rank_spread.map(|s| s.1),
                tier: r.tier,
                model: log.models[r.model].clone(),
                rating: r.rating,
                lower: r.lower,
                upper: r.upper,
                votes: r.votes as u64,
                provisional: r.votes < cfg.provisional_votes,
                online_elo: elo[r.model],
                unbounded: r.unbounded,
                cohort_offset: cohort.as_ref().and_then(|c| c[r.model]),
            })
            .collect(),
        battles: log.battles.len(),
        skipped_non_anonymous: log.skipped_non_anonymous,
        ci: if args.ppi_judges.is_some() {
            "ppi"
        } else {
            ci.name()
        },
        note: ppi_note,
        reweighted: args.reweight,
        annotator_weighted: args.weight_annotators,
        tie_model: args.tie_model.name(),
        tie_param,
        tie_model_scores,
        annotators: match args.annotators {
            Some(AnnotatorModel::NoisyBt) => Some(annotators(log)?),
            None => None,
        },
        audit,
        bootstrap_rounds: if ci == CiMethod::Bootstrap {
            args.bootstrap
        } else {
            0
        },
        seed: args.seed,
        style_control: args.style_control,
        style_coefficients: coefficients,
        matrix_models: order.iter().map(|&i| log.models[i].clone()).collect(),
        matrices,
    })
}

type StyleRows = (Vec<leaderboard::ModelRating>, Option<Vec<(String, f64)>>);

fn style_rows(
    log: &BattleLog,
    battles: &[(usize, usize, ranking::Outcome)],
    counts: &Counts,
    cfg: &LeaderboardConfig,
) -> Result<StyleRows> {
    let Some(style_counts) = &log.style else {
        bail!(
            "--style-control needs style counts on every battle (conv_metadata, or the flat \
             sum_assistant_a_tokens, header_count_a, list_count_a, bold_count_a and _b fields)"
        );
    };
    let n = log.models.len();
    let sb: Vec<StyleBattle> = battles
        .iter()
        .zip(style_counts)
        .map(|(&(a, b, outcome), &(style_a, style_b))| StyleBattle {
            a,
            b,
            outcome,
            style_a,
            style_b,
        })
        .collect();
    let feats = style::features(&sb);
    let scfg = StyleConfig::new();
    let point = style::fit(n, &sb, &feats, None, None, &scfg);
    let scale = |natural: &[f64]| -> Vec<f64> {
        let mut s: Vec<f64> = natural
            .iter()
            .map(|r| cfg.bt.scale * r + cfg.bt.init_rating)
            .collect();
        if let Some((m, rating)) = cfg.anchor {
            let shift = rating - s[m];
            s.iter_mut().for_each(|v| *v += shift);
        }
        s
    };
    let ratings = scale(&point.natural);
    let bounds = if cfg.bootstrap.rounds > 0 {
        let fits = style::bootstrap(
            n,
            &sb,
            &feats,
            &point,
            &scfg,
            cfg.bootstrap.rounds,
            cfg.bootstrap.seed,
        );
        let rounds: Vec<Vec<f64>> = fits.iter().map(|f| scale(&f.natural)).collect();
        bt::confidence_intervals(&rounds, n)
    } else {
        vec![(f64::NAN, f64::NAN); n]
    };
    let rows =
        leaderboard::ranked_rows(&ratings, &bounds, &counts.votes_per_model(), &vec![None; n]);
    let coefficients = FEATURE_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .zip(point.coefficients)
        .collect();
    Ok((rows, Some(coefficients)))
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
                    note(m.unbounded).to_owned(),
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
                    note(m.unbounded).to_owned()
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

const fn note(u: Option<Unbounded>) -> &'static str {
    match u {
        Some(Unbounded::AllWins) => "no finite rating: never lost",
        Some(Unbounded::AllLosses) => "no finite rating: never won",
        Some(Unbounded::NoVotes) => "no votes",
        None => "",
    }
}

/// `verdict leaderboard`.
///
/// # Errors
/// On unreadable input or a bad option.
pub fn run(args: &LeaderboardArgs) -> Result<()> {
    let log = battles::read(&args.battles)?;
    let report = compute(&log, args)?;
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

/// How `verdict leaderboard` names the options that constrain each other.
const FLAG_NAMES: service::leaderboard::OptionNames = service::leaderboard::OptionNames {
    style_control: "--style-control",
    reweight: "--reweight",
    audit: "--audit",
    ppi: "--ppi-judges",
    weight_annotators: "--weight-annotators",
    bootstrap: "--ci bootstrap",
    tie_model: "--tie-model",
};

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
            println!(
                "{:<34} {:>10.3}",
                format!("load {} battles", log.battles.len()),
                load
            );
            let n = log.models.len();
            let triples: Vec<(usize, usize, ranking::Outcome)> = log
                .battles
                .iter()
                .map(|&(a, b, o)| (a as usize, b as usize, o))
                .collect();
            let t = Instant::now();
            let elo = online_elo(n, &triples, &EloConfig::new());
            let t_elo = t.elapsed().as_secs_f64();
            println!("{:<34} {:>10.3}", "online Elo", t_elo);
            let t = Instant::now();
            let counts = Counts::from_battles(n, triples.iter().copied());
            let unbounded = bt::unbounded_models(&counts);
            let excluded: Vec<bool> = unbounded.iter().map(Option::is_some).collect();
            let point = bt::fit(&counts, &excluded, None, &BtConfig::new());
            let t_bt = t.elapsed().as_secs_f64();
            println!(
                "{:<34} {:>10.3}",
                format!("aggregate + BT ({} iterations)", point.iterations),
                t_bt
            );
            let t = Instant::now();
            let var =
                ranking::sandwich::variances(&counts, None, &excluded, &point, &BtConfig::new());
            let bounds = ranking::sandwich::bounds(
                &point.scaled(&BtConfig::new()),
                &var,
                &BtConfig::new(),
                ranking::sandwich::Z95,
            );
            let ranks = bt::rank_spread(&bounds);
            println!(
                "{:<34} {:>10.3}",
                "sandwich CIs + rank spread",
                t.elapsed().as_secs_f64()
            );
            std::hint::black_box(&ranks);
            let t = Instant::now();
            let mut order: Vec<usize> = (0..n).filter(|&m| point.natural[m].is_finite()).collect();
            order.sort_by(|&x, &y| point.natural[y].total_cmp(&point.natural[x]));
            let audit = ranking::audit::audit(&counts, &point, &order, &BtConfig::new());
            println!(
                "{:<34} {:>10.3}",
                format!("robustness audit ({} pairs)", audit.len()),
                t.elapsed().as_secs_f64()
            );
            for &rounds in bootstrap {
                let t = Instant::now();
                let fits = bt::bootstrap(
                    &counts,
                    &excluded,
                    &point,
                    &BtConfig::new(),
                    &BootstrapConfig { rounds, seed: 0 },
                );
                let scaled: Vec<Vec<f64>> =
                    fits.iter().map(|f| f.scaled(&BtConfig::new())).collect();
                let t_boot = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let bounds = bt::confidence_intervals(&scaled, n);
                let ranks = bt::rank_upper_bound(&bounds);
                let t_rank = t.elapsed().as_secs_f64();
                println!(
                    "{:<34} {:>10.3}",
                    format!("bootstrap, {rounds} rounds"),
                    t_boot
                );
                println!("{:<34} {:>10.3}", "CIs + Rank (UB)", t_rank);
                println!(
                    "{:<34} {:>10.3}",
                    format!("TOTAL with {rounds} rounds"),
                    load + t_elo + t_bt + t_boot + t_rank
                );
                std::hint::black_box((&ranks, &elo));
            }
            if let Some(rounds) = style_rounds {
                let args = LeaderboardArgs {
                    battles: path.clone(),
                    ci: Ci::Bootstrap,
                    reweight: false,
                    tie_model: TieModel::Bt,
                    compare_ties: false,
                    annotators: None,
                    weight_annotators: false,
                    ppi_judges: None,
                    cohort: None,
                    audit: false,
                    bootstrap: *rounds,
                    seed: 0,
                    style_control: true,
                    anchor: None,
                    format: Format::Json,
                };
                let t = Instant::now();
                let report = compute(&log, &args)?;
                println!(
                    "{:<34} {:>10.3}",
                    format!("style control, {rounds} rounds"),
                    t.elapsed().as_secs_f64()
                );
                std::hint::black_box(report);
            }
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
            &ranking::active::SimConfig {
                models: *models,
                spread: spread / (400.0 / 10f64.ln()),
                matchup: matchup / (400.0 / 10f64.ln()),
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
        BenchCommand::Counts {
            models,
            rounds,
            votes,
        } => {
            let battles = synthetic_counts(*models, *votes);
            println!("threads: {}", rayon::current_num_threads());
            // The app's default (sandwich intervals), then the bootstrap it offers.
            for ci in [CiMethod::Sandwich, CiMethod::Bootstrap] {
                let cfg = LeaderboardConfig {
                    ci,
                    bootstrap: BootstrapConfig {
                        rounds: *rounds,
                        seed: 0,
                    },
                    ..LeaderboardConfig::new()
                };
                let t = Instant::now();
                let lb = leaderboard::compute(&battles, &cfg);
                let secs = t.elapsed().as_secs_f64();
                let how = match ci {
                    CiMethod::Sandwich => "sandwich intervals".to_owned(),
                    CiMethod::Bootstrap => format!(
                        "{rounds} bootstrap rounds, {} unconverged",
                        lb.unconverged_rounds
                    ),
                };
                println!(
                    "leaderboard from counts: {models} models, {} triples, {how}: {:.1} ms",
                    battles.triples.len(),
                    secs * 1000.0,
                );
            }
        }
    }
    Ok(())
}

fn bench_sampler(cfg: &ranking::active::SimConfig, runs: u64) {
    use ranking::active::{Sampler, simulate};
    let points = 400.0 / 10f64.ln();
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
    for sampler in [Sampler::Uniform, Sampler::Heuristic, Sampler::Active] {
        let results: Vec<_> = (0..runs)
            .map(|seed| simulate(sampler, &ranking::active::SimConfig { seed, ..*cfg }))
            .collect();
        let width: Vec<_> = results.iter().map(|r| r.votes_to_width).collect();
        let top: Vec<_> = results.iter().map(|r| r.votes_to_top).collect();
        let avg = |f: fn(&ranking::active::SimResult) -> f64| {
            results.iter().map(f).sum::<f64>() / results.len().max(1) as f64
        };
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            sampler.name(),
            mean(&width),
            mean(&top),
            avg(|r| r.final_max_width),
            avg(|r| r.error_plain),
            avg(|r| r.error_reweighted),
        );
    }
}

fn bench_noisy_bt(votes: usize, annotators: usize, models: usize) {
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
    println!(
        "NoisyBT: {} votes, {annotators} annotators, {models} models: {:.3} s, {} iterations{}",
        sample.len(),
        secs,
        fit.iterations,
        if fit.converged {
            ""
        } else {
            " (not converged)"
        }
    );
    println!(
        "correlation with the truth: skill {:.3}, bias {:.3}, strengths {:.3}",
        r(&fit.skill, &skill),
        r(&fit.bias, &bias),
        r(&fit.scores, &strengths)
    );
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
