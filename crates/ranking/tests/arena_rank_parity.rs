//! Parity with LMArena's ranking library, arena-rank 0.1.1 (PyPI `arena-rank`, repository
//! lmarena/arena-rank): Bradley–Terry ratings, sandwich intervals, and inverse pair-frequency
//! reweighting (`reweighted=True, min_pair_count=50`), on a fixed synthetic log whose pairs have
//! very different vote counts (`data/arena_unbalanced.csv`, 4,000 battles among 10 models).
//!
//! The fixture and the expected numbers come from this script (`python ref.py
//! data/arena_unbalanced.csv`, arena-rank 0.1.1 with jax 0.8 in float64). arena-rank's L-BFGS
//! stops a little short of the optimum, so the script also finds the exact optimum of the same
//! loss by Newton's method; Verdict's ratings must equal that within 1e-6 and arena-rank's own
//! within 0.02, and the sandwich bounds arena-rank's within 0.05.
//!
//! ```python
//! import sys, numpy as np, pandas as pd
//! from arena_rank.utils.data_utils import PairDataset
//! from arena_rank.models.bradley_terry import BradleyTerry
//!
//! def fixture(path):
//!     rng = np.random.default_rng(20261202)
//!     models = [f"m{i:02d}" for i in range(10)]
//!     strength = np.linspace(-1.0, 1.0, 10)
//!     pairs = [(i, j) for i in range(10) for j in range(i + 1, 10)]
//!     freq = rng.pareto(1.2, size=len(pairs)) + 0.05
//!     freq /= freq.sum()
//!     rows = []
//!     for _ in range(4000):
//!         i, j = pairs[rng.choice(len(pairs), p=freq)]
//!         a, b = (i, j) if rng.random() < 0.5 else (j, i)
//!         u = rng.random()
//!         if u < 0.25:
//!             w = "tie"
//!         elif u < 0.32:
//!             w = "both_bad"
//!         else:
//!             p = 1 / (1 + np.exp(-(strength[a] - strength[b])))
//!             w = "model_a" if rng.random() < p else "model_b"
//!         rows.append(dict(model_a=models[a], model_b=models[b], winner=w))
//!     df = pd.DataFrame(rows)
//!     df.to_csv(path, index=False)
//!     return df
//!
//! def exact_mle(ds):
//!     n = len(ds.competitors)
//!     pairs, y, w = np.array(ds.pairs), np.array(ds.outcomes), np.array(ds.opt_weights)
//!     th = np.zeros(n)
//!     for _ in range(100):
//!         d = th[pairs[:, 0]] - th[pairs[:, 1]]
//!         p = 1 / (1 + np.exp(-d))
//!         g = np.zeros(n); h = np.zeros((n, n))
//!         np.add.at(g, pairs[:, 0], -(y - p) * w); np.add.at(g, pairs[:, 1], (y - p) * w)
//!         v = p * (1 - p) * w
//!         for (a, b), vv in zip(pairs, v):
//!             h[a, a] += vv; h[b, b] += vv; h[a, b] -= vv; h[b, a] -= vv
//!         step = np.linalg.lstsq(h + np.ones((n, n)) * h.trace() / n, -g, rcond=None)[0]
//!         th += step; th -= th.mean()
//!         if np.abs(step).max() < 1e-14:
//!             break
//!     return th * 400 / np.log(10) + 1000
//!
//! df = fixture(sys.argv[1])
//! for reweighted in (False, True):
//!     ds = PairDataset.from_pandas(df, reweighted=reweighted, min_pair_count=50)
//!     bt = BradleyTerry(n_competitors=len(ds.competitors))
//!     r = bt.compute_ratings_and_cis(ds, ci_method="sandwich")
//!     exact = exact_mle(ds)
//!     print("reweighted" if reweighted else "unweighted")
//!     for k, m in enumerate(r["competitors"]):
//!         print(f'    ("{m}", {exact[k]:.9f}, {float(r["ratings"][k]):.6f}, '
//!               f'{float(r["rating_lower"][k]):.6f}, {float(r["rating_upper"][k]):.6f}),')
//! ```

mod common;

use ranking::bt::Counts;
use ranking::leaderboard::{CiMethod, LeaderboardConfig, MIN_PAIR_COUNT, compute};

/// (model, exact optimum, arena-rank's rating, its lower and upper sandwich bound).
type Expected = [(&'static str, f64, f64, f64, f64); 10];

const UNWEIGHTED: Expected = [
    ("m00", 860.210768686, 860.210977, 827.610527, 892.811426),
    ("m01", 919.199816961, 919.200011, 902.788520, 935.611503),
    ("m02", 954.237238404, 954.236821, 934.414465, 974.059178),
    ("m03", 951.797550788, 951.798160, 922.394472, 981.201848),
    ("m04", 997.872777598, 997.872323, 981.438059, 1014.306586),
    ("m05", 1019.864233314, 1019.863767, 1003.703595, 1036.023938),
    ("m06", 1024.689901857, 1024.689970, 995.169520, 1054.210420),
    ("m07", 1059.867965710, 1059.868017, 1037.040863, 1082.695171),
    ("m08", 1072.192514557, 1072.192737, 1044.377690, 1100.007784),
    ("m09", 1140.067232125, 1140.067218, 1111.189922, 1168.944514),
];

const REWEIGHTED: Expected = [
    ("m00", 855.962173853, 855.961994, 821.653108, 890.270880),
    ("m01", 921.455672718, 921.455650, 902.123906, 940.787394),
    ("m02", 950.269179143, 950.269058, 925.555715, 974.982400),
    ("m03", 945.428729998, 945.429429, 912.806737, 978.052121),
    ("m04", 989.392382889, 989.392233, 967.787148, 1010.997318),
    ("m05", 1017.926441133, 1017.926485, 994.156651, 1041.696319),
    ("m06", 1033.277799602, 1033.278083, 1001.862451, 1064.693715),
    ("m07", 1066.916585122, 1066.916333, 1042.445545, 1091.387120),
    ("m08", 1077.435291659, 1077.434911, 1047.957499, 1106.912324),
    ("m09", 1141.935743884, 1141.935824, 1111.673648, 1172.198000),
];

fn counts() -> Counts {
    common::unbalanced()
}

fn check(reweight: Option<f64>, expected: &Expected) {
    let cfg = LeaderboardConfig {
        ci: CiMethod::Sandwich,
        reweight,
        ..LeaderboardConfig::new()
    };
    let lb = compute(&counts(), &cfg);
    assert_eq!(lb.rows.len(), 10);
    for row in &lb.rows {
        let (name, exact, theirs, lower, upper) = expected[row.model];
        let rating = row.rating.expect("finite rating");
        assert!(
            (rating - exact).abs() < 1e-6,
            "{name}: {rating} vs exact {exact}"
        );
        assert!(
            (rating - theirs).abs() < 0.02,
            "{name}: {rating} vs {theirs}"
        );
        let (lo, hi) = (row.lower.expect("lower"), row.upper.expect("upper"));
        assert!((lo - lower).abs() < 0.05, "{name}: lower {lo} vs {lower}");
        assert!((hi - upper).abs() < 0.05, "{name}: upper {hi} vs {upper}");
    }
}

#[test]
fn sandwich_intervals_match_arena_rank() {
    check(None, &UNWEIGHTED);
}

#[test]
fn reweighted_sandwich_intervals_match_arena_rank() {
    check(Some(MIN_PAIR_COUNT), &REWEIGHTED);
}

#[test]
fn rank_spread_and_tiers_are_consistent_with_the_intervals() {
    let lb = compute(&counts(), &LeaderboardConfig::new());
    let mut last_tier = 0;
    for (k, row) in lb.rows.iter().enumerate() {
        let (best, worst) = row.rank_spread.expect("spread");
        assert_eq!(Some(best), row.rank_ub);
        let rank = k + 1;
        assert!((best..=worst).contains(&rank), "{rank}: {best}..{worst}");
        let tier = row.tier.expect("tier");
        assert!(tier == last_tier || tier == last_tier + 1);
        last_tier = tier;
    }
    // The fixture spans two ln-units of strength: more than one tier, fewer than ten.
    assert!(last_tier > 1 && last_tier < 10, "{last_tier} tiers");
}
