//! Sets the cfg flags that ignore tests whose outside data is missing (crates/testdata).
fn main() {
    testdata::emit_build_cfg();
}
