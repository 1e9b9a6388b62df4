//! Parity with Chatbot Arena's reference implementation (FastChat,
//! `fastchat/serve/monitor/rating_systems.py`) on a fixed synthetic battle log.
//!
//! The fixture and the expected numbers come from this script, run with numpy 2, scipy and
//! pandas against FastChat's `rating_systems.py` (`python3 ref.py data/arena_small.csv`):
//!
//! ```python
//! import sys, json, numpy as np, pandas as pd
//! sys.path.insert(0, "/tmp/fastchat")  # fastchat/serve/monitor/rating_systems.py from lm-sys/FastChat
//! import rating_systems as rs
//!
//! rng = np.random.default_rng(20261127)
//! models = [f"model-{i}" for i in range(8)]
//! strength = np.linspace(-0.6, 0.6, 8)
//! rows = []
//! for _ in range(3000):
//!     a, b = rng.choice(8, size=2, replace=False)
//!     ta, tb = rng.integers(50, 900, size=2)
//!     ha, hb, la, lb, ba, bb = rng.integers(0, 8, size=6)
//!     logit = np.log(10) * (strength[a] - strength[b]) + 0.4 * (ta - tb) / (ta + tb + 1)
//!     u = rng.random()
//!     if u < 0.2:
//!         w = "tie"
//!     elif u < 0.3:
//!         w = "tie (bothbad)"
//!     else:
//!         w = "model_a" if rng.random() < 1 / (1 + np.exp(-logit)) else "model_b"
//!     rows.append(dict(model_a=models[a], model_b=models[b], winner=w,
//!                      sum_assistant_a_tokens=int(ta), header_count_a=int(ha), list_count_a=int(la), bold_count_a=int(ba),
//!                      sum_assistant_b_tokens=int(tb), header_count_b=int(hb), list_count_b=int(lb), bold_count_b=int(bb)))
//! df = pd.DataFrame(rows)
//! df.to_csv(sys.argv[1], index=False)
//! df["conv_metadata"] = df.apply(lambda r: {k: r[k] for k in rs.STYLE_CONTROL_ELEMENTS_V1}, axis=1)
//! elo = rs.compute_elo(df)
//! bt = rs.compute_bt(df)
//! sc, params = rs.compute_style_control(df)
//! boot = rs.compute_bootstrap_bt(df, num_round=500, num_cpu=2)
//! width = (boot.quantile(0.975) - boot.quantile(0.025))
//! for m in models:
//!     print(f'("{m}", {elo[m]:.6f}, {bt[m]:.6f}, {sc[m]:.6f}, {width[m]:.4f}),')
//! print("params", [round(p, 8) for p in params])
//! ```

use ranking::Outcome;
use ranking::bt::{BootstrapConfig, BtConfig, Counts};
use ranking::elo::{EloConfig, online_elo};
use ranking::leaderboard::{CiMethod, LeaderboardConfig, compute};
use ranking::style::{self, StyleBattle, StyleConfig, StyleCounts};

/// (model, online Elo, Bradley–Terry, style-controlled, 95% CI width over 500 rounds).
const EXPECTED: [(&str, f64, f64, f64, f64); 8] = [
    ("model-0", 849.356255, 841.466902, 841.100853, 39.5875),
    ("model-1", 894.999016, 903.960532, 903.966721, 38.3038),
    ("model-2", 924.358828, 922.153261, 922.660461, 36.5653),
    ("model-3", 982.555737, 981.657262, 981.061946, 36.8005),
    ("model-4", 1009.160317, 1015.631840, 1016.209068, 35.9325),
    ("model-5", 1082.917934, 1086.825455, 1086.528703, 37.5795),
    ("model-6", 1118.871997, 1110.274195, 1109.823465, 38.6690),
    ("model-7", 1137.779916, 1138.030553, 1138.648783, 37.5135),
];
const EXPECTED_STYLE_PARAMS: [f64; 4] = [0.08828265, 0.02007098, 0.01305097, -0.00340749];

fn fixture() -> Vec<StyleBattle> {
    let index = |name: &str| {
        EXPECTED
            .iter()
            .position(|e| e.0 == name)
            .expect("known model")
    };
    include_str!("data/arena_small.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().expect("number");
            let outcome = match f[2] {
                "model_a" => Outcome::A,
                "model_b" => Outcome::B,
                "tie" => Outcome::Tie,
                _ => Outcome::BothBad,
            };
            StyleBattle {
                a: index(f[0]),
                b: index(f[1]),
                outcome,
                style_a: StyleCounts {
                    tokens: n(3),
                    headers: n(4),
                    lists: n(5),
                    bold: n(6),
                },
                style_b: StyleCounts {
                    tokens: n(7),
                    headers: n(8),
                    lists: n(9),
                    bold: n(10),
                },
            }
        })
        .collect()
}

#[test]
fn online_elo_matches_fastchat() {
    let battles: Vec<_> = fixture().iter().map(|b| (b.a, b.b, b.outcome)).collect();
    let elo = online_elo(8, &battles, &EloConfig::new());
    for (m, e) in EXPECTED.iter().enumerate() {
        assert!(
            (elo[m] - e.1).abs() < 1e-6,
            "{}: {} vs {}",
            e.0,
            elo[m],
            e.1
        );
    }
}

#[test]
fn bradley_terry_matches_fastchat_within_a_hundredth() {
    let counts = Counts::from_battles(8, fixture().iter().map(|b| (b.a, b.b, b.outcome)));
    let cfg = LeaderboardConfig {
        ci: CiMethod::Bootstrap,
        bootstrap: BootstrapConfig {
            rounds: 500,
            seed: 7,
        },
        ..LeaderboardConfig::new()
    };
    let lb = compute(&counts, &cfg);
    for row in &lb.rows {
        let e = EXPECTED[row.model];
        let rating = row.rating.expect("finite");
        assert!((rating - e.2).abs() < 0.01, "{}: {rating} vs {}", e.0, e.2);
        // CI widths agree within bootstrap sampling noise (different random streams).
        let width = row.upper.unwrap() - row.lower.unwrap();
        assert!(
            (width / e.4 - 1.0).abs() < 0.15,
            "{}: width {width} vs {}",
            e.0,
            e.4
        );
    }
    assert_eq!(lb.unconverged_rounds, 0);
}

#[test]
fn style_control_matches_fastchat() {
    let battles = fixture();
    let feats = style::features(&battles);
    let fit = style::fit(8, &battles, &feats, None, None, &StyleConfig::new());
    assert!(fit.converged);
    let bt = BtConfig::new();
    for (m, e) in EXPECTED.iter().enumerate() {
        let rating = bt.scale * fit.natural[m] + bt.init_rating;
        assert!((rating - e.3).abs() < 0.01, "{}: {rating} vs {}", e.0, e.3);
    }
    // FastChat's L-BFGS stops at gtol 1e-6; Newton goes on to the exact optimum, so the
    // coefficients agree to about 1e-5.
    for (got, want) in fit.coefficients.iter().zip(EXPECTED_STYLE_PARAMS) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}
