//! The noisy Bradley–Terry likelihood against crowd-kit 1.4.2 (PyPI `crowd-kit`), whose
//! `NoisyBradleyTerry._compute_log_likelihood` with `regularization_ratio = 0` is the negative
//! log-likelihood Verdict's fit starts from (Verdict adds its own priors; crowd-kit's own
//! gradient is not used as a reference: ours is checked against finite differences in
//! `src/noisy_bt.rs`). Votes, parameters and the loss come from this script:
//!
//! ```python
//! import numpy as np, pandas as pd
//! from crowdkit.aggregation import NoisyBradleyTerry
//! from crowdkit.aggregation.utils import factorize
//! rng = np.random.default_rng(20261202)
//! models = [f"m{i}" for i in range(5)]
//! rows = []
//! for _ in range(40):
//!     w = f"w{rng.integers(0, 4)}"
//!     l, r = rng.choice(5, size=2, replace=False)
//!     rows.append((w, models[l], models[r], models[l] if rng.random() < 0.6 else models[r]))
//! df = pd.DataFrame(rows, columns=["worker", "left", "right", "label"])
//! labels, np_data = factorize(df[["left", "right", "label"]].values)
//! workers, np_workers = factorize(df.worker.values)
//! x = rng.normal(size=1 + len(labels) + 2 * len(workers))
//! loss = NoisyBradleyTerry._compute_log_likelihood(x, np_data + 1, np_workers, len(labels), len(workers), 0.0)
//! print("votes:", ";".join(f"{w},{l},{r},{int(lab == l)}" for w, l, r, lab in rows))
//! print("s:", [float(v) for v in x[1:1 + len(labels)]])
//! print("q:", [float(v) for v in x[1 + len(labels):1 + len(labels) + len(workers)]])
//! print("gamma:", [float(v) for v in x[1 + len(labels) + len(workers):]])
//! print("loss:", repr(loss))
//! ```

use ranking::noisy_bt::{NoisyVote, nll};

/// (worker, left, right, left won) as the script printed them.
const VOTES: &str = "w0,m3,m1,1;w2,m0,m3,1;w2,m0,m4,1;w0,m2,m1,0;w0,m4,m3,0;w0,m2,m1,1;w2,m3,m4,0;w0,m4,m3,1;w0,m0,m2,1;w1,m3,m2,1;w3,m1,m2,0;w1,m4,m0,1;w2,m3,m0,1;w1,m1,m0,1;w2,m3,m2,0;w3,m1,m3,1;w0,m0,m1,1;w1,m4,m2,1;w2,m4,m0,1;w2,m0,m4,0;w3,m0,m4,0;w2,m1,m3,1;w1,m4,m0,1;w1,m2,m1,1;w1,m0,m2,0;w0,m1,m3,0;w3,m2,m3,0;w0,m4,m0,0;w1,m1,m3,1;w1,m1,m3,1;w2,m1,m3,1;w3,m3,m1,1;w0,m2,m4,1;w0,m2,m1,0;w3,m3,m1,0;w1,m4,m0,1;w2,m0,m1,0;w3,m2,m3,1;w0,m4,m3,1;w0,m1,m2,0";
const S: [f64; 5] = [
    0.09696055448348102,
    -1.0166893578214398,
    1.1855030802660935,
    -0.9240499504928041,
    -0.9068552486592146,
];
const Q: [f64; 4] = [
    0.035578428209003546,
    -0.18838093905115375,
    -0.753743145722167,
    2.179901321200778,
];
const GAMMA: [f64; 4] = [
    -0.9995704102962664,
    0.45805928991643646,
    -0.4466867818356802,
    1.56904561801748,
];
const LOSS: f64 = 32.1710647731535;

#[test]
fn negative_log_likelihood_equals_crowd_kit_loss() {
    let index = |s: &str| s[1..].parse::<usize>().expect("index");
    let votes: Vec<NoisyVote> = VOTES
        .split(';')
        .map(|v| {
            let f: Vec<&str> = v.split(',').collect();
            NoisyVote {
                annotator: index(f[0]),
                left: index(f[1]),
                right: index(f[2]),
                left_won: f[3] == "1",
                count: 1.0,
            }
        })
        .collect();
    assert_eq!(votes.len(), 40);
    let ours = nll(&votes, &S, &Q, &GAMMA, None);
    assert!((ours - LOSS).abs() < 1e-10, "{ours} vs {LOSS}");
}
