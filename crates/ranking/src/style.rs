//! Style control (docs/design.md §5.5), Chatbot Arena's `compute_style_control`: a Bradley–Terry fit
//! with extra terms for the difference in response length and markdown between the two sides,
//! so that ratings say how good a model is beyond how long and how formatted its answers are.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::Outcome;
use crate::linalg::{log_sigmoid, sigmoid, solve_spd};

/// Number of style features: response tokens, markdown headers, list items, bold spans.
pub const N_FEATURES: usize = 4;

/// Names of the features, in order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "length",
    "markdown_header",
    "markdown_list",
    "markdown_bold",
];

/// Style counts of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StyleCounts {
    /// Response tokens.
    pub tokens: f64,
    /// Markdown headers.
    pub headers: f64,
    /// Markdown list items.
    pub lists: f64,
    /// Bold spans.
    pub bold: f64,
}

impl StyleCounts {
    const fn as_array(self) -> [f64; N_FEATURES] {
        [self.tokens, self.headers, self.lists, self.bold]
    }
}

/// Counts a response's style: words (whitespace-separated; FastChat counts tokenizer tokens, and
/// the standardised feature hardly depends on the unit), and, outside fenced code blocks,
/// markdown headers (`#`…`######` + space), list items (`-`, `*`, `+` or `1.` + space) and bold
/// spans (`**…**`, `__…__`).
///
/// ```
/// use ranking::style::count_markdown;
/// let c = count_markdown("# Title\n- one\n- **two**\n```\n# not a header\n```");
/// assert_eq!((c.headers, c.lists, c.bold), (1.0, 2.0, 1.0));
/// ```
#[must_use]
pub fn count_markdown(text: &str) -> StyleCounts {
    let mut counts = StyleCounts {
        tokens: text.split_whitespace().count() as f64,
        ..StyleCounts::default()
    };
    let mut in_code = false;
    let (mut stars, mut unders) = (0usize, 0usize);
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let hashes = t.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
            counts.headers += 1.0;
        }
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        let bullet = t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ");
        let numbered =
            digits > 0 && (t[digits..].starts_with(". ") || t[digits..].starts_with(") "));
        if bullet || numbered {
            counts.lists += 1.0;
        }
        stars += t.matches("**").count();
        unders += t.matches("__").count();
    }
    counts.bold = (stars / 2 + unders / 2) as f64;
    counts
}

/// One battle with the style counts of both responses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StyleBattle {
    /// Model index of side A.
    pub a: usize,
    /// Model index of side B.
    pub b: usize,
    /// The judgement.
    pub outcome: Outcome,
    /// Counts of A's response.
    pub style_a: StyleCounts,
    /// Counts of B's response.
    pub style_b: StyleCounts,
}

/// Per-battle features `(a − b)/(a + b + 1)`, standardised over the battles (population
/// standard deviation; a constant feature becomes 0).
#[must_use]
pub fn features(battles: &[StyleBattle]) -> Vec<[f64; N_FEATURES]> {
    let mut f: Vec<[f64; N_FEATURES]> = battles
        .iter()
        .map(|bt| {
            let (a, b) = (bt.style_a.as_array(), bt.style_b.as_array());
            std::array::from_fn(|k| (a[k] - b[k]) / (a[k] + b[k] + 1.0))
        })
        .collect();
    let n = f.len().max(1) as f64;
    for k in 0..N_FEATURES {
        let mean = f.iter().map(|x| x[k]).sum::<f64>() / n;
        let var = f.iter().map(|x| (x[k] - mean).powi(2)).sum::<f64>() / n;
        let sd = var.sqrt();
        for x in &mut f {
            x[k] = if sd > 0.0 { (x[k] - mean) / sd } else { 0.0 };
        }
    }
    f
}

/// Settings of the style-controlled fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StyleConfig {
    /// Logistic base (10).
    pub base: f64,
    /// Ridge weight: the loss adds `reg/2 · ‖(r, β)‖²` (FastChat: reg 0.5, so 0.25·‖·‖²).
    pub reg: f64,
    /// Stop when the gradient norm divided by the number of votes is at most this.
    pub tol: f64,
    /// Newton iterations at most.
    pub max_iter: usize,
}

impl StyleConfig {
    /// Chatbot Arena's settings.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            base: 10.0,
            reg: 0.5,
            tol: 1e-9,
            max_iter: 50,
        }
    }
}

impl Default for StyleConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A style-controlled fit.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleFit {
    /// Natural-scale model ratings.
    pub natural: Vec<f64>,
    /// Feature coefficients, in [`FEATURE_NAMES`] order.
    pub coefficients: [f64; N_FEATURES],
    /// Newton iterations used.
    pub iterations: usize,
    /// Whether the gradient criterion was met.
    pub converged: bool,
}

/// Fits ratings and style coefficients; `weights` (per battle) default to 1 and serve the
/// bootstrap.
#[must_use]
pub fn fit(
    n_models: usize,
    battles: &[StyleBattle],
    feats: &[[f64; N_FEATURES]],
    weights: Option<&[f64]>,
    start: Option<&[f64]>,
    cfg: &StyleConfig,
) -> StyleFit {
    let dim = n_models + N_FEATURES;
    let alpha = cfg.base.ln();
    let w = |i: usize| weights.map_or(1.0, |w| w[i]);
    let n_votes: f64 = (0..battles.len()).map(w).sum::<f64>().max(1.0);
    let mut x: Vec<f64> = start.map_or_else(|| vec![0.0; dim], <[f64]>::to_vec);
    let loss_at = |x: &[f64]| -> f64 {
        let data: f64 = battles
            .iter()
            .enumerate()
            .filter(|&(i, _)| w(i) > 0.0)
            .map(|(i, bt)| {
                let z = logit(x, bt, &feats[i], n_models, alpha);
                let y = bt.outcome.score_a();
                -w(i) * (y * log_sigmoid(z) + (1.0 - y) * log_sigmoid(-z))
            })
            .sum();
        data + 0.5 * cfg.reg * x.iter().map(|v| v * v).sum::<f64>()
    };
    let mut loss = loss_at(&x);
    let mut iterations = 0;
    let mut converged = false;
    let mut grad = vec![0.0; dim];
    let mut hess = vec![0.0; dim * dim];
    while iterations < cfg.max_iter {
        for (g, v) in grad.iter_mut().zip(&x) {
            *g = cfg.reg * v;
        }
        hess.iter_mut().for_each(|h| *h = 0.0);
        for i in 0..dim {
            hess[i * dim + i] = cfg.reg;
        }
        for (i, bt) in battles.iter().enumerate() {
            let wi = w(i);
            if wi <= 0.0 {
                continue;
            }
            let f = &feats[i];
            let p = sigmoid(logit(&x, bt, f, n_models, alpha));
            let err = wi * (bt.outcome.score_a() - p);
            let h = wi * p * (1.0 - p);
            // The logit's gradient: +α at a, −α at b, f at the feature slots.
            let mut idx = [0usize; 2 + N_FEATURES];
            let mut val = [0f64; 2 + N_FEATURES];
            idx[0] = bt.a;
            val[0] = alpha;
            idx[1] = bt.b;
            val[1] = -alpha;
            for k in 0..N_FEATURES {
                idx[2 + k] = n_models + k;
                val[2 + k] = f[k];
            }
            for (u, &iu) in idx.iter().enumerate() {
                grad[iu] -= err * val[u];
                for (v, &iv) in idx.iter().enumerate() {
                    hess[iu * dim + iv] += h * val[u] * val[v];
                }
            }
        }
        let gnorm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        if gnorm / n_votes <= cfg.tol {
            converged = true;
            break;
        }
        let mut step: Vec<f64> = grad.iter().map(|g| -g).collect();
        if solve_spd(&mut hess, &mut step, dim).is_none() {
            break;
        }
        let mut t = 1.0;
        let mut candidate = x.clone();
        loop {
            for i in 0..dim {
                candidate[i] = x[i] + t * step[i];
            }
            let l = loss_at(&candidate);
            if l <= loss + 1e-13 * loss.abs().max(1.0) || t < 1e-10 {
                loss = l;
                break;
            }
            t *= 0.5;
        }
        std::mem::swap(&mut x, &mut candidate);
        iterations += 1;
    }
    let coefficients = std::array::from_fn(|k| x[n_models + k]);
    x.truncate(n_models);
    StyleFit {
        natural: x,
        coefficients,
        iterations,
        converged,
    }
}

fn logit(x: &[f64], bt: &StyleBattle, f: &[f64; N_FEATURES], n_models: usize, alpha: f64) -> f64 {
    let mut z = alpha * (x[bt.a] - x[bt.b]);
    for k in 0..N_FEATURES {
        z += f[k] * x[n_models + k];
    }
    z
}

/// Bootstrap of the style-controlled fit: each round resamples the battles with replacement
/// (as FastChat does), seeded per round, in parallel, warm-started from `point`.
#[must_use]
pub fn bootstrap(
    n_models: usize,
    battles: &[StyleBattle],
    feats: &[[f64; N_FEATURES]],
    point: &StyleFit,
    cfg: &StyleConfig,
    rounds: usize,
    seed: u64,
) -> Vec<StyleFit> {
    let mut start = point.natural.clone();
    start.extend_from_slice(&point.coefficients);
    (0..rounds)
        .into_par_iter()
        .map(|round| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0053_5459_4c45);
            rng.set_stream(round as u64);
            let mut weights = vec![0.0; battles.len()];
            for _ in 0..battles.len() {
                weights[rng.random_range(0..battles.len())] += 1.0;
            }
            fit(n_models, battles, feats, Some(&weights), Some(&start), cfg)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_standardised_ratios() {
        let s = |tokens| StyleCounts {
            tokens,
            ..StyleCounts::default()
        };
        let battles = [
            StyleBattle {
                a: 0,
                b: 1,
                outcome: Outcome::A,
                style_a: s(9.0),
                style_b: s(0.0),
            },
            StyleBattle {
                a: 0,
                b: 1,
                outcome: Outcome::B,
                style_a: s(0.0),
                style_b: s(9.0),
            },
        ];
        let f = features(&battles);
        assert!((f[0][0] - 1.0).abs() < 1e-12 && (f[1][0] + 1.0).abs() < 1e-12);
        assert_eq!(f[0][1], 0.0, "a constant feature becomes 0");
    }

    #[test]
    fn length_bias_moves_into_the_coefficient() {
        // Two equally good models; whichever answers longer wins 3 times in 4. Model 0 answers
        // longer more often, so raw ratings favour it; style control credits the length.
        let long = StyleCounts {
            tokens: 400.0,
            ..StyleCounts::default()
        };
        let short = StyleCounts {
            tokens: 100.0,
            ..StyleCounts::default()
        };
        let mut battles = Vec::new();
        for i in 0..800 {
            let zero_long = i % 5 != 0;
            let (style_a, style_b) = if zero_long {
                (long, short)
            } else {
                (short, long)
            };
            let long_wins = i % 4 != 0;
            let outcome = if long_wins == zero_long {
                Outcome::A
            } else {
                Outcome::B
            };
            battles.push(StyleBattle {
                a: 0,
                b: 1,
                outcome,
                style_a,
                style_b,
            });
            // The same battle with the sides swapped, as a random display order gives.
            let (style_a, style_b) = (style_b, style_a);
            battles.push(StyleBattle {
                a: 1,
                b: 0,
                outcome: outcome.swapped(),
                style_a,
                style_b,
            });
        }
        let f = features(&battles);
        let fit = fit(2, &battles, &f, None, None, &StyleConfig::new());
        assert!(fit.converged);
        assert!(fit.coefficients[0] > 0.5, "{:?}", fit.coefficients);
        assert!(
            (fit.natural[0] - fit.natural[1]).abs() < 0.05,
            "{:?}",
            fit.natural
        );
        let raw = crate::bt::Counts::from_battles(2, battles.iter().map(|b| (b.a, b.b, b.outcome)));
        let raw = crate::bt::fit(&raw, &[false, false], None, &crate::bt::BtConfig::new());
        assert!(raw.natural[0] - raw.natural[1] > 0.2, "{:?}", raw.natural);
    }
}
