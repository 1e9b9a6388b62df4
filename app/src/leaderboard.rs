//! The leaderboard service: filters → aggregated counts → Bradley–Terry ratings with bootstrap
//! intervals and the pairwise matrices. Used by the leaderboard page and `/api/v1/leaderboard`.

use serde::{Deserialize, Serialize};

/// Which votes to count and how (URL query of the page and the API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardQuery {
    /// One project.
    #[serde(default)]
    pub project: Option<i64>,
    /// One prompt category.
    #[serde(default)]
    pub category: Option<String>,
    /// Annotators of one cohort.
    #[serde(default)]
    pub cohort: Option<String>,
    /// `human`, `llm_judge` or `import`.
    #[serde(default)]
    pub source: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub to: Option<String>,
    /// Leave out ties.
    #[serde(default)]
    pub exclude_ties: bool,
    /// Control for length and markdown.
    #[serde(default)]
    pub style_control: bool,
}

/// One model's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    /// Rank (UB).
    pub rank_ub: Option<usize>,
    /// Model id.
    pub model_id: i64,
    /// Model name.
    pub model: String,
    /// Rating.
    pub rating: Option<f64>,
    /// Lower 95% bound.
    pub lower: Option<f64>,
    /// Upper 95% bound.
    pub upper: Option<f64>,
    /// Votes involving the model.
    pub votes: u64,
    /// The parent's name, for models Verdict trained.
    pub parent: Option<String>,
    /// Why there is no finite rating, if there is none.
    pub note: Option<String>,
}

/// The leaderboard and its matrices (in the rows' order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardResponse {
    /// Models, best first.
    pub rows: Vec<LeaderboardRow>,
    /// Votes counted.
    pub total_votes: u64,
    /// Bootstrap rounds behind the intervals.
    pub bootstrap_rounds: usize,
    /// Decided battles (no ties) between row and column model.
    pub battles: Vec<Vec<f64>>,
    /// Share of those the row model won.
    pub win_fraction: Vec<Vec<Option<f64>>>,
    /// Win rate predicted by the ratings.
    pub predicted_win_rate: Vec<Vec<Option<f64>>>,
    /// Style coefficients (style control only).
    pub style_coefficients: Option<Vec<(String, f64)>>,
    /// What the numbers rest on, when it differs from the plain count (style control).
    pub note: Option<String>,
    /// Filter values to offer.
    pub options: FilterChoices,
    /// Models Verdict trained against their parents, where both are on the board.
    #[serde(default)]
    pub lineage: Vec<HeadToHead>,
}

/// A trained model against its parent: decided battles and the child's win rate with its 95%
/// (Wilson) interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadToHead {
    /// The trained model.
    pub child: String,
    /// The model it was trained from.
    pub parent: String,
    /// Battles the child won (ties excluded).
    pub child_wins: u64,
    /// Battles the parent won.
    pub parent_wins: u64,
    /// The child's share of decided battles.
    pub win_rate: Option<f64>,
    /// Lower 95% bound.
    pub lower: Option<f64>,
    /// Upper 95% bound.
    pub upper: Option<f64>,
}

/// Values the filters can take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterChoices {
    /// Projects: id and name.
    pub projects: Vec<(i64, String)>,
    /// Categories with votes.
    pub categories: Vec<String>,
    /// Annotator cohorts.
    pub cohorts: Vec<String>,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Computation on the server.

    use std::collections::HashMap;

    use ranking::bt::{BootstrapConfig, BtConfig, Counts, Unbounded};
    use ranking::leaderboard::{self, LeaderboardConfig};

    use super::{FilterChoices, HeadToHead, LeaderboardQuery, LeaderboardResponse, LeaderboardRow};
    use crate::error::AppError;

    /// Bootstrap rounds of the app's leaderboard (Chatbot Arena's default).
    pub const ROUNDS: usize = 100;

    fn parse_day(value: Option<&str>, field: &str) -> Result<Option<time::Date>, AppError> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let bad = || AppError::BadRequest(format!("`{field}` must be a date like 2026-01-31"));
        let mut parts = v.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let (y, m, d): (i32, u8, u8) = (
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            d.parse().map_err(|_| bad())?,
        );
        let month = time::Month::try_from(m).map_err(|_| bad())?;
        time::Date::from_calendar_date(y, month, d)
            .map(Some)
            .map_err(|_| bad())
    }

    fn nonempty(v: &Option<String>) -> Option<String> {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// Converts the query into the database filter, validating it.
    ///
    /// # Errors
    /// 400 for a bad date or source.
    pub fn filter(q: &LeaderboardQuery) -> Result<db::leaderboard::Filter, AppError> {
        let source = nonempty(&q.source);
        if let Some(s) = &source
            && !["human", "llm_judge", "import"].contains(&s.as_str())
        {
            return Err(AppError::BadRequest(
                "`source` is human, llm_judge or import".into(),
            ));
        }
        Ok(db::leaderboard::Filter {
            project_id: q.project,
            category: nonempty(&q.category),
            cohort: nonempty(&q.cohort),
            source,
            from: parse_day(q.from.as_deref(), "from")?,
            to: parse_day(q.to.as_deref(), "to")?,
            exclude_ties: q.exclude_ties,
        })
    }

    /// Computes the leaderboard for a query.
    ///
    /// # Errors
    /// 400 for bad filters or style control without style data; Internal on database failure.
    pub async fn compute(
        pool: &db::PgPool,
        q: &LeaderboardQuery,
    ) -> Result<LeaderboardResponse, AppError> {
        let f = filter(q)?;
        let counts = db::leaderboard::pair_counts(pool, &f).await?;
        let models = db::leaderboard::models(pool).await?;
        let options = db::leaderboard::filter_options(pool).await?;
        let style = if q.style_control {
            let votes = db::leaderboard::style_votes(pool, &f).await?;
            if votes.is_empty() {
                return Err(AppError::BadRequest(
                    "style control needs style counts (length and markdown) of both responses \
                     of each vote; none of the votes selected here has them"
                        .into(),
                ));
            }
            Some(votes)
        } else {
            None
        };
        let result = tokio::task::spawn_blocking(move || {
            let (mut rows, total, mut m) = build(&counts, &models);
            let style = style.map(|votes| {
                let before: Vec<i64> = rows.iter().map(|r| r.model_id).collect();
                let result = restyle(&mut rows, &votes);
                m = reorder(&m, &before, &rows);
                result
            });
            (rows, total, m, style)
        })
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "leaderboard task failed");
            AppError::Internal
        })?;
        let (rows, total_votes, m, style) = result;
        let lineage = head_to_heads(&rows, &m);
        let (style_coefficients, note) = match style {
            Some((coef, used)) => (
                Some(coef),
                Some(format!(
                    "style-controlled on the {used} of {total_votes} votes whose responses have style counts"
                )),
            ),
            None => (None, None),
        };
        Ok(LeaderboardResponse {
            rows,
            total_votes,
            bootstrap_rounds: ROUNDS,
            battles: m.battles,
            win_fraction: m.win_fraction,
            predicted_win_rate: m.predicted_win_rate,
            style_coefficients,
            note,
            options: FilterChoices {
                projects: options.projects,
                categories: options.categories,
                cohorts: options.cohorts,
            },
            lineage,
        })
    }

    /// Each trained model on the board against its parent, when the parent is on it too.
    fn head_to_heads(rows: &[LeaderboardRow], m: &leaderboard::Matrices) -> Vec<HeadToHead> {
        let mut out = Vec::new();
        for (i, child) in rows.iter().enumerate() {
            let Some(parent) = &child.parent else {
                continue;
            };
            let Some(j) = rows.iter().position(|r| &r.model == parent) else {
                continue;
            };
            let n = m.battles[i][j];
            let wins = m.win_fraction[i][j].map_or(0.0, |f| (f * n).round());
            let ci = leaderboard::wilson(wins, n, 1.959_963_984_540_054);
            out.push(HeadToHead {
                child: child.model.clone(),
                parent: parent.clone(),
                child_wins: wins as u64,
                parent_wins: (n - wins).max(0.0) as u64,
                win_rate: (n > 0.0).then(|| wins / n),
                lower: ci.map(|c| c.0),
                upper: ci.map(|c| c.1),
            });
        }
        out
    }

    fn build(
        counts: &[db::leaderboard::PairCount],
        models: &[db::leaderboard::ModelInfo],
    ) -> (Vec<LeaderboardRow>, u64, leaderboard::Matrices) {
        // Only models that have votes in this slice take part.
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut ids: Vec<i64> = Vec::new();
        for c in counts {
            for id in [c.model_a_id, c.model_b_id] {
                index.entry(id).or_insert_with(|| {
                    ids.push(id);
                    ids.len() - 1
                });
            }
        }
        let n = ids.len();
        let mut table = vec![0u64; n * n * 3];
        let mut total = 0u64;
        for c in counts {
            let (a, b) = (index[&c.model_a_id], index[&c.model_b_id]);
            let slot = match c.winner.as_str() {
                "a" => 2,
                "b" => 0,
                _ => 1,
            };
            let n_votes = u64::try_from(c.n).unwrap_or(0);
            table[(a * n + b) * 3 + slot] += n_votes;
            total += n_votes;
        }
        let counts = Counts::from_table(n, &table);
        let cfg = LeaderboardConfig {
            bt: BtConfig::new(),
            bootstrap: BootstrapConfig {
                rounds: ROUNDS,
                seed: 0,
            },
            anchor: None,
        };
        let lb = leaderboard::compute(&counts, &cfg);
        let by_id: HashMap<i64, &db::leaderboard::ModelInfo> =
            models.iter().map(|m| (m.model_id, m)).collect();
        let name = |id: i64| {
            by_id
                .get(&id)
                .map_or_else(|| format!("model #{id}"), |m| m.name.clone())
        };
        let mut ratings = vec![None; n];
        for r in &lb.rows {
            ratings[r.model] = r.rating;
        }
        let full = leaderboard::matrices(&counts, &ratings, &cfg.bt);
        let order: Vec<usize> = lb.rows.iter().map(|r| r.model).collect();
        let m = full.reordered(&order);
        let rows = lb
            .rows
            .iter()
            .map(|r| {
                let id = ids[r.model];
                LeaderboardRow {
                    rank_ub: r.rank_ub,
                    model_id: id,
                    model: name(id),
                    rating: r.rating,
                    lower: r.lower,
                    upper: r.upper,
                    votes: r.votes as u64,
                    parent: by_id.get(&id).and_then(|m| m.parent_model_id).map(name),
                    note: r.unbounded.map(|u| {
                        match u {
                            Unbounded::AllWins => "no finite rating: never lost",
                            Unbounded::AllLosses => "no finite rating: never won",
                            Unbounded::NoVotes => "no votes",
                        }
                        .to_owned()
                    }),
                }
            })
            .collect();
        (rows, total, m)
    }

    /// The matrices of `m` (in the order `before`) in the order of `rows`, with predicted win
    /// rates from the rows' (new) ratings.
    fn reorder(
        m: &leaderboard::Matrices,
        before: &[i64],
        rows: &[LeaderboardRow],
    ) -> leaderboard::Matrices {
        let pos: HashMap<i64, usize> = before.iter().enumerate().map(|(k, id)| (*id, k)).collect();
        let order: Vec<usize> = rows.iter().map(|r| pos[&r.model_id]).collect();
        let mut reordered = m.reordered(&order);
        let ratings: Vec<Option<f64>> = rows.iter().map(|r| r.rating).collect();
        reordered.predicted_win_rate = leaderboard::predicted_win_rates(&ratings, &BtConfig::new());
        reordered
    }

    /// Replaces the ratings of `rows` with style-controlled ones fitted on `votes` (rows keep
    /// their vote counts; models without style data lose their rating). Returns the
    /// coefficients and the number of votes used.
    fn restyle(
        rows: &mut [LeaderboardRow],
        votes: &[db::leaderboard::StyleVote],
    ) -> (Vec<(String, f64)>, usize) {
        use ranking::Outcome;
        use ranking::style::{self, StyleBattle, StyleConfig, StyleCounts};
        let mut index: HashMap<i64, usize> = HashMap::new();
        for v in votes {
            for id in [v.model_a_id, v.model_b_id] {
                let next = index.len();
                index.entry(id).or_insert(next);
            }
        }
        let battles: Vec<StyleBattle> = votes
            .iter()
            .map(|v| StyleBattle {
                a: index[&v.model_a_id],
                b: index[&v.model_b_id],
                outcome: Outcome::parse(&v.winner).unwrap_or(Outcome::Tie),
                style_a: StyleCounts {
                    tokens: v.a_tokens,
                    headers: v.a_headers,
                    lists: v.a_lists,
                    bold: v.a_bold,
                },
                style_b: StyleCounts {
                    tokens: v.b_tokens,
                    headers: v.b_headers,
                    lists: v.b_lists,
                    bold: v.b_bold,
                },
            })
            .collect();
        let n = index.len();
        let feats = style::features(&battles);
        let cfg = StyleConfig::new();
        let point = style::fit(n, &battles, &feats, None, None, &cfg);
        let fits = style::bootstrap(n, &battles, &feats, &point, &cfg, ROUNDS, 0);
        let bt = BtConfig::new();
        let scale = |r: f64| bt.scale * r + bt.init_rating;
        let rounds: Vec<Vec<f64>> = fits
            .iter()
            .map(|f| f.natural.iter().map(|&r| scale(r)).collect())
            .collect();
        let bounds = ranking::bt::confidence_intervals(&rounds, n);
        for row in rows.iter_mut() {
            match index.get(&row.model_id) {
                Some(&k) => {
                    row.rating = Some(scale(point.natural[k]));
                    row.lower = Some(bounds[k].0).filter(|x| x.is_finite());
                    row.upper = Some(bounds[k].1).filter(|x| x.is_finite());
                }
                None => {
                    (row.rating, row.lower, row.upper) = (None, None, None);
                    row.note = Some("no votes with style counts".into());
                }
            }
        }
        rows.sort_by(|x, y| {
            y.rating
                .unwrap_or(f64::MIN)
                .total_cmp(&x.rating.unwrap_or(f64::MIN))
        });
        let all: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.lower.unwrap_or(f64::NAN), r.upper.unwrap_or(f64::NAN)))
            .collect();
        for (row, rank) in rows.iter_mut().zip(ranking::bt::rank_upper_bound(&all)) {
            row.rank_ub = rank;
        }
        let coef = style::FEATURE_NAMES
            .iter()
            .map(|s| (*s).to_owned())
            .zip(point.coefficients)
            .collect();
        (coef, votes.len())
    }

    /// The leaderboard as CSV.
    #[must_use]
    pub fn to_csv(lb: &LeaderboardResponse) -> String {
        let mut out = String::from("rank_ub,model,rating,lower,upper,votes,parent,note\n");
        let num = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x:.4}"));
        let quote = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        for r in &lb.rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                r.rank_ub.map_or_else(String::new, |v| v.to_string()),
                quote(&r.model),
                num(r.rating),
                num(r.lower),
                num(r.upper),
                r.votes,
                quote(r.parent.as_deref().unwrap_or("")),
                quote(r.note.as_deref().unwrap_or("")),
            ));
        }
        out
    }
}

/// The next pair of models to battle, left and right, as the sampler chose them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextPair {
    /// Model shown on the left (A).
    pub left: ModelRef,
    /// Model shown on the right (B).
    pub right: ModelRef,
}

/// A model's id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Id.
    pub model_id: i64,
    /// Name.
    pub name: String,
}

#[cfg(feature = "ssr")]
pub mod sampling {
    //! Choosing battles from the current leaderboard (DESIGN.md §5.7).

    use std::collections::HashMap;

    use rand::SeedableRng;
    use ranking::sampler::{self, Candidate, SamplerConfig};

    use super::{LeaderboardQuery, ModelRef, NextPair};
    use crate::error::AppError;

    /// Samples the next pair among enabled models with positive weight, using the project's
    /// leaderboard (ratings, intervals, battle counts); models without votes count as
    /// uncertain, so new contestants are scheduled early.
    ///
    /// # Errors
    /// 409 when fewer than two models can be scheduled; Internal on database failure.
    pub async fn next_pair(pool: &db::PgPool, project: Option<i64>) -> Result<NextPair, AppError> {
        let models: Vec<db::leaderboard::ModelInfo> = db::leaderboard::models(pool)
            .await?
            .into_iter()
            .filter(|m| m.enabled && m.sampling_weight > 0.0 && m.kind != "dataset")
            .collect();
        if models.len() < 2 {
            return Err(AppError::Conflict(
                "the arena needs at least two enabled models that generate answers".into(),
            ));
        }
        let query = LeaderboardQuery {
            project,
            ..LeaderboardQuery::default()
        };
        let board = super::ssr::compute(pool, &query).await?;
        let row_of: HashMap<i64, usize> = board
            .rows
            .iter()
            .enumerate()
            .map(|(k, r)| (r.model_id, k))
            .collect();
        let candidates: Vec<Candidate> = models
            .iter()
            .map(|m| {
                let row = row_of.get(&m.model_id).map(|&k| &board.rows[k]);
                Candidate {
                    weight: m.sampling_weight,
                    rating: row.and_then(|r| r.rating),
                    ci_width: row.and_then(|r| Some(r.upper? - r.lower?)),
                }
            })
            .collect();
        let battles: Vec<Vec<f64>> = models
            .iter()
            .map(|a| {
                models
                    .iter()
                    .map(
                        |b| match (row_of.get(&a.model_id), row_of.get(&b.model_id)) {
                            (Some(&i), Some(&j)) => board.battles[i][j],
                            _ => 0.0,
                        },
                    )
                    .collect()
            })
            .collect();
        let mut rng = rand::rngs::StdRng::from_os_rng();
        // A model Verdict trained plays its parent first, so the leaderboard soon says whether
        // training helped.
        let parents: Vec<Option<usize>> = models
            .iter()
            .map(|m| {
                m.parent_model_id
                    .and_then(|p| models.iter().position(|x| x.model_id == p))
            })
            .collect();
        let lineage =
            sampler::lineage_first(&parents, &battles, sampler::LINEAGE_BATTLES, &mut rng);
        let scores = sampler::pair_scores(&candidates, &battles, &SamplerConfig::new());
        let (l, r) = lineage
            .or_else(|| sampler::sample_pair(&scores, &mut rng))
            .ok_or_else(|| {
                AppError::Conflict("no two models can be scheduled against each other".into())
            })?;
        let to_ref = |m: &db::leaderboard::ModelInfo| ModelRef {
            model_id: m.model_id,
            name: m.name.clone(),
        };
        Ok(NextPair {
            left: to_ref(&models[l]),
            right: to_ref(&models[r]),
        })
    }
}
