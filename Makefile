# The two commands: `make run` (set up, build, serve with the embedded database) and
# `make test` (every test). Both install what is missing first.
.PHONY: run test gpu
run:
	scripts/run.sh
test:
	scripts/test.sh
# The `verdict` binary with training on NVIDIA GPUs (target/release/verdict); installs the
# CUDA 13.0 toolchain from PyPI first. No GPU is needed to build it.
gpu:
	scripts/cuda.sh build
