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
    /// Filter values to offer.
    pub options: FilterChoices,
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

    use super::{FilterChoices, LeaderboardQuery, LeaderboardResponse, LeaderboardRow};
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
        if q.style_control {
            return Err(AppError::BadRequest(
                "style control needs style counts (length and markdown) of both responses of \
                 each vote; the votes selected here come without response texts"
                    .into(),
            ));
        }
        let style_coefficients = None;
        let result = tokio::task::spawn_blocking(move || build(&counts, &models))
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "leaderboard task failed");
                AppError::Internal
            })?;
        let (rows, total_votes, m) = result;
        Ok(LeaderboardResponse {
            rows,
            total_votes,
            bootstrap_rounds: ROUNDS,
            battles: m.battles,
            win_fraction: m.win_fraction,
            predicted_win_rate: m.predicted_win_rate,
            style_coefficients,
            options: FilterChoices {
                projects: options.projects,
                categories: options.categories,
                cohorts: options.cohorts,
            },
        })
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
        let m = leaderboard::Matrices {
            battles: order
                .iter()
                .map(|&i| order.iter().map(|&j| full.battles[i][j]).collect())
                .collect(),
            win_fraction: order
                .iter()
                .map(|&i| order.iter().map(|&j| full.win_fraction[i][j]).collect())
                .collect(),
            predicted_win_rate: order
                .iter()
                .map(|&i| {
                    order
                        .iter()
                        .map(|&j| full.predicted_win_rate[i][j])
                        .collect()
                })
                .collect(),
        };
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
