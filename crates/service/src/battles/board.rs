//! Ratings from a Chatbot Arena battle log: the report `verdict leaderboard` prints, with its
//! intervals, tie models, judge reliability, prediction-powered ratings, cohort offsets, the
//! robustness audit and style control. The options are named by the command's flags, the only
//! edge that offers them.

use anyhow::{Context, Result, bail};
use ranking::bt::{self, BootstrapConfig, BtConfig, Counts};
use ranking::elo::{EloConfig, online_elo};
use ranking::leaderboard::{self, CiMethod, LeaderboardConfig, MIN_PAIR_COUNT};
use ranking::style::{self, FEATURE_NAMES, StyleBattle, StyleConfig};
use serde::Serialize;

pub use ranking::bt::Unbounded;
pub use ranking::cohort::CohortOffset;
pub use ranking::leaderboard::Matrices;
pub use ranking::ties::{TieModel, TieModelScore};

use super::BattleLog;

/// What the report is computed with (`verdict leaderboard`'s flags).
#[derive(Debug, Clone)]
pub struct BoardOptions {
    /// Bootstrap intervals instead of the sandwich estimator (style control always bootstraps).
    pub bootstrap_ci: bool,
    /// Weight each battle by 1 / max(battles of its pair, 50).
    pub reweight: bool,
    /// How ties count.
    pub tie_model: TieModel,
    /// Also score every tie model by 5-fold held-out log-loss.
    pub compare_ties: bool,
    /// Estimate each judge's reliability with NoisyBT.
    pub annotators: bool,
    /// Prediction-powered ratings: these judges (comma-separated) are the LLM judges.
    pub ppi_judges: Option<String>,
    /// A cohort of judges (comma-separated) whose offsets are reported.
    pub cohort: Option<String>,
    /// Weight each battle by its judge's NoisyBT reliability.
    pub weight_annotators: bool,
    /// The robustness audit of adjacent pairs.
    pub audit: bool,
    /// Bootstrap rounds.
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Control for response length and markdown.
    pub style_control: bool,
    /// `MODEL=RATING`: shift ratings so that the model has that rating.
    pub anchor: Option<String>,
}

impl Default for BoardOptions {
    fn default() -> Self {
        Self {
            bootstrap_ci: false,
            reweight: false,
            tie_model: TieModel::Bt,
            compare_ties: false,
            annotators: false,
            ppi_judges: None,
            cohort: None,
            weight_annotators: false,
            audit: false,
            bootstrap: 100,
            seed: 0,
            style_control: false,
            anchor: None,
        }
    }
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
fn ppi(log: &BattleLog, list: &str) -> Result<crate::leaderboard::PpiRatings> {
    let (Some(judges), Some(questions)) = (&log.judges, &log.questions) else {
        bail!("--ppi-judges needs a `judge` and a `question_id` on every battle");
    };
    let llm = judge_set(log, list, "--ppi-judges")?;
    let mut votes: Vec<crate::leaderboard::PpiVote> = log
        .battles
        .iter()
        .zip(judges.iter().zip(questions))
        .map(|(&(a, b, o), (&j, &q))| crate::leaderboard::PpiVote {
            item: u64::from(q),
            a: a as usize,
            b: b as usize,
            y: o.score_a(),
            judge: llm[j as usize],
        })
        .collect();
    // Grouped by question, in log order within one.
    votes.sort_by_key(|v| v.item);
    crate::leaderboard::ppi_ratings(log.models.len(), &votes)
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

/// Reads a tie model's name (`verdict leaderboard --tie-model`).
///
/// # Errors
/// Names the models there are.
pub fn parse_tie_model(s: &str) -> Result<TieModel, String> {
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
pub fn compute(log: &BattleLog, opts: &BoardOptions) -> Result<Report> {
    let n = log.models.len();
    if n < 2 {
        bail!("the battles name fewer than two models");
    }
    let anchor = parse_anchor(opts.anchor.as_deref(), &log.models)?;
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
    if opts.tie_model == TieModel::GroundedRaoKupper && both_bad.triples.is_empty() {
        bail!(
            "--tie-model grounded-rao-kupper needs \"both bad\" battles (winner \"tie (bothbad)\" \
             or both_bad); this log has none"
        );
    }
    let options = crate::leaderboard::Options {
        style_control: opts.style_control,
        reweight: opts.reweight,
        audit: opts.audit,
        ppi: opts.ppi_judges.is_some(),
        weight_annotators: opts.weight_annotators,
        bootstrap: opts.bootstrap_ci,
        tie_model: (opts.tie_model != TieModel::Bt).then_some(opts.tie_model),
    };
    crate::leaderboard::check_options(&options, &FLAG_NAMES).map_err(anyhow::Error::msg)?;
    let ci = if opts.style_control || opts.bootstrap_ci {
        CiMethod::Bootstrap
    } else {
        CiMethod::Sandwich
    };
    let cfg = LeaderboardConfig {
        ci,
        bootstrap: BootstrapConfig {
            rounds: opts.bootstrap,
            seed: opts.seed,
        },
        reweight: opts.reweight.then_some(MIN_PAIR_COUNT),
        anchor,
        tie_model: opts.tie_model,
        compare_tie_models: opts.compare_ties.then_some(5),
        audit: opts.audit,
        ..LeaderboardConfig::new()
    };
    let mut ppi_note = None;
    let (rows, coefficients, tie_param, tie_model_scores, audit) = if opts.style_control {
        let (rows, coef) = style_rows(log, &battles, &counts, &cfg)?;
        let scores = cfg
            .compare_tie_models
            .map(|k| ranking::ties::cross_validate_with(&counts, Some(&both_bad), k, &cfg.bt));
        (rows, coef, None, scores, None)
    } else if let Some(list) = &opts.ppi_judges {
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
    } else if opts.weight_annotators {
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
    let cohort = opts
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
        ci: if opts.ppi_judges.is_some() {
            "ppi"
        } else {
            ci.name()
        },
        note: ppi_note,
        reweighted: opts.reweight,
        annotator_weighted: opts.weight_annotators,
        tie_model: opts.tie_model.name(),
        tie_param,
        tie_model_scores,
        annotators: if opts.annotators {
            Some(annotators(log)?)
        } else {
            None
        },
        audit,
        bootstrap_rounds: if ci == CiMethod::Bootstrap {
            opts.bootstrap
        } else {
            0
        },
        seed: opts.seed,
        style_control: opts.style_control,
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

/// Why a model has no finite rating, in words (empty when it has one).
#[must_use]
pub const fn unbounded_note(u: Option<Unbounded>) -> &'static str {
    match u {
        Some(Unbounded::AllWins) => "no finite rating: never lost",
        Some(Unbounded::AllLosses) => "no finite rating: never won",
        Some(Unbounded::NoVotes) => "no votes",
        None => "",
    }
}

/// How `verdict leaderboard` names the options that constrain each other.
const FLAG_NAMES: crate::leaderboard::OptionNames = crate::leaderboard::OptionNames {
    style_control: "--style-control",
    reweight: "--reweight",
    audit: "--audit",
    ppi: "--ppi-judges",
    weight_annotators: "--weight-annotators",
    bootstrap: "--ci bootstrap",
    tie_model: "--tie-model",
};
