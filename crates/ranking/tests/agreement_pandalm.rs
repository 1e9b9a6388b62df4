//! Agreement on PandaLM's human votes (`pandalm/testset-v1.json` of the outside test data,
//! crates/testdata: three
//! annotators per item, labels 0 = tie, 1 = response 1 better, 2 = response 2 better) equals
//! the reference implementations to 1e-9. The expected numbers come from this script
//! (scikit-learn 1.9.1, statsmodels, krippendorff 0.9.0, numpy 2.4.6), run from the repository
//! root:
//!
//! ```python
//! import json
//! import krippendorff
//! import numpy as np
//! from sklearn.metrics import cohen_kappa_score
//! from statsmodels.stats.inter_rater import fleiss_kappa, aggregate_raters
//!
//! rows = json.load(open("../shared/data/pandalm/testset-v1.json"))
//! a = [[r[f"annotator{k}"] for r in rows] for k in (1, 2, 3)]
//! for i, j in [(0, 1), (0, 2), (1, 2)]:
//!     print(f"cohen {i+1}-{j+1}", repr(cohen_kappa_score(a[i], a[j])))
//! table, _ = aggregate_raters(np.array(a).T)
//! print("fleiss", repr(fleiss_kappa(table, method="fleiss")))
//! print("alpha nominal", repr(krippendorff.alpha(reliability_data=a, level_of_measurement="nominal")))
//! # Ordered: response 2 better < tie < response 1 better.
//! scale = {2: -1.0, 0: 0.0, 1: 1.0}
//! o = [[scale[v] for v in coder] for coder in a]
//! print("alpha interval", repr(krippendorff.alpha(reliability_data=o, level_of_measurement="interval")))
//! print("alpha ordinal", repr(krippendorff.alpha(reliability_data=o, level_of_measurement="ordinal")))
//! # Missing values: annotator 3 drops every fifth item.
//! m = [list(map(float, a[0])), list(map(float, a[1])),
//!      [np.nan if k % 5 == 0 else float(v) for k, v in enumerate(a[2])]]
//! print("alpha nominal missing", repr(krippendorff.alpha(reliability_data=m, level_of_measurement="nominal")))
//! ```

use ranking::agreement::{Level, cohen_kappa, fleiss_kappa, krippendorff_alpha};

fn annotators() -> [Vec<i64>; 3] {
    let path = testdata::path("pandalm/testset-v1.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    [1, 2, 3].map(|k| {
        rows.iter()
            .map(|r| r[format!("annotator{k}")].as_i64().unwrap())
            .collect()
    })
}

fn close(got: Option<f64>, want: f64) {
    let got = got.expect("a value");
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[test]
fn cohen_and_fleiss_match_scikit_learn_and_statsmodels() {
    let a = annotators();
    assert_eq!(a[0].len(), 999);
    close(cohen_kappa(&a[0], &a[1]), 0.852_022_678_516_702_4);
    close(cohen_kappa(&a[0], &a[2]), 0.878_943_811_250_038_4);
    close(cohen_kappa(&a[1], &a[2]), 0.861_661_454_076_290_7);
    let table: Vec<Vec<f64>> = (0..a[0].len())
        .map(|i| {
            (0..3)
                .map(|label| a.iter().filter(|coder| coder[i] == label).count() as f64)
                .collect()
        })
        .collect();
    close(fleiss_kappa(&table), 0.864_175_364_997_549);
}

#[cfg_attr(
    not(outside_data),
    ignore = "needs outside data: PandaLM (see crates/testdata)"
)]
#[test]
fn krippendorff_matches_the_krippendorff_package() {
    let a = annotators();
    let nominal: Vec<Vec<Option<f64>>> = a
        .iter()
        .map(|c| c.iter().map(|&v| Some(v as f64)).collect())
        .collect();
    close(
        krippendorff_alpha(&nominal, Level::Nominal),
        0.864_220_685_196_081_6,
    );
    let scale = |v: i64| match v {
        2 => -1.0,
        0 => 0.0,
        _ => 1.0,
    };
    let ordered: Vec<Vec<Option<f64>>> = a
        .iter()
        .map(|c| c.iter().map(|&v| Some(scale(v))).collect())
        .collect();
    close(
        krippendorff_alpha(&ordered, Level::Interval),
        0.877_217_208_129_372_5,
    );
    close(
        krippendorff_alpha(&ordered, Level::Ordinal),
        0.877_463_673_777_404_4,
    );
    let mut missing = nominal;
    for (k, v) in missing[2].iter_mut().enumerate() {
        if k % 5 == 0 {
            *v = None;
        }
    }
    close(
        krippendorff_alpha(&missing, Level::Nominal),
        0.858_205_054_185_424_1,
    );
}
