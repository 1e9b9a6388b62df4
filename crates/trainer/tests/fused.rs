//! The fused CPU kernels (RMSNorm, SiLU-gate, attention, the blockwise output log-probs) give
//! the values and gradients of the generic candle operations they replace, for tied and
//! untied embeddings, both rotary layouts, grouped-query attention, padding and LoRA.

mod common;

use candle_core::Device;
use common::{CASES, inputs, load_pair, max_abs, run, same_gradients};

#[test]
fn fused_kernels_match_the_generic_operations() {
    let dir = tempfile::tempdir().unwrap();
    for spec in CASES {
        let (fused, mut generic, case) = load_pair(dir.path(), spec, &Device::Cpu, &Device::Cpu);
        generic.set_fused(false);

        let (logits_f, sums_f, loss_f) = run(&fused);
        let (logits_g, sums_g, loss_g) = run(&generic);
        let d = max_abs(&(&logits_f - &logits_g).unwrap());
        assert!(d < 1e-4, "{case}: logits differ by {d}");
        let d = max_abs(&(&sums_f - &sums_g).unwrap());
        assert!(d < 1e-4, "{case}: log-probs differ by {d}");
        // And both equal the log-softmax of the full logits.
        let (ids, _, comp) = inputs(&Device::Cpu);
        let (reference, _) = trainer::loss::sequence_logps(&logits_g, &ids, &comp).unwrap();
        let d = max_abs(&(&sums_f - &reference).unwrap());
        assert!(
            d < 1e-4,
            "{case}: log-probs differ from the full log-softmax by {d}"
        );
        same_gradients(&case, &fused, &loss_f, &generic, &loss_g, 1e-3);
    }
}
