#!/usr/bin/env bash
# The CUDA 13.0 toolchain for Verdict's `cuda` feature, from registry packages only, on a
# machine with no GPU and no driver (README, "Training on NVIDIA GPUs").
#
#   scripts/cuda.sh env      installs the compiler if missing; prints the variables to export
#   scripts/cuda.sh check    `cargo check --features cuda` of the trainer and the binary
#   scripts/cuda.sh build    the release binary with `cuda` (also installs the libraries it links)
#
# What it installs, once, under $CARGO_TARGET_DIR/cuda-13.0 (or $VERDICT_CUDA_DIR):
# - NVIDIA's PyPI wheels, pinned to 13.0: nvcc with ptxas and cicc (nvvm), the headers (crt, cccl,
#   runtime), and for linking cudart, cuBLAS, cuRAND and NVRTC. 13.0 because cudarc refuses
#   toolkits newer than it knows and the GPU machines run driver 580 (CUDA 13.0): PTX from a
#   newer nvcc does not load there.
# - For linking only, libcuda.so from Debian's `libcuda1` (non-free, the driver's own user-space
#   library; no PyPI wheel carries NVIDIA's libcuda stub). The binary records `libcuda.so.1`,
#   which the GPU machine's driver provides at run time.
# CUDA_COMPUTE_CAP=90 (Hopper) is set, so no nvidia-smi is asked.
set -euo pipefail
cd "$(dirname "$0")/.."

NVCC_VERSION=13.0.88
COMPILER_WHEELS=(
  "nvidia-cuda-nvcc==$NVCC_VERSION"
  "nvidia-nvvm==$NVCC_VERSION"
  "nvidia-cuda-crt==$NVCC_VERSION"
  "nvidia-cuda-cccl==13.0.85"
  "nvidia-cuda-runtime==13.0.96"
)
LIBRARY_WHEELS=(
  "nvidia-cublas==13.0.2.14"
  "nvidia-curand==10.4.5.25"
  "nvidia-cuda-nvrtc==$NVCC_VERSION"
)
LIBCUDA_DEB=pool/non-free/n/nvidia-graphics-drivers/libcuda1_550.163.01-2_amd64.deb
LIBCUDA_SHA256=8feff97aac61d6f27ded96a3c25b9e68025a680476e6072ff7eaf10623509135

TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
ROOT="${VERDICT_CUDA_DIR:-$TARGET_DIR/cuda-13.0}"
CUDA="$ROOT/nvidia/cu13"
LIBS="$ROOT/libraries"
# What the linker reads: the unversioned library names and libcuda.so.
STUBS="$ROOT/link"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# pip's --target skips a top-level folder that is already there (`nvidia/`), so the compiler
# and the libraries go to two folders.
pip_install() {
  local dest="$1" ; shift
  [ -f "$dest/.installed" ] && return
  say "pip install --target $dest $*"
  mkdir -p "$dest"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$dest" "$@"
  touch "$dest/.installed"
}

install_compiler() {
  pip_install "$ROOT" "${COMPILER_WHEELS[@]}"
}

# The unversioned names the linker looks for (-lcudart, -lcublas, ...), and libcuda.so.
install_libraries() {
  install_compiler
  pip_install "$LIBS" "${LIBRARY_WHEELS[@]}"
  mkdir -p "$STUBS"
  ln -sfn libcudart.so.13 "$CUDA/lib/libcudart.so"
  local lib
  for lib in cublas cublasLt curand nvrtc; do
    local so
    so="$(cd "$LIBS/nvidia/cu13/lib" && ls "lib$lib.so."* | sort | head -1)"
    ln -sfn "$LIBS/nvidia/cu13/lib/$so" "$STUBS/lib$lib.so"
  done
  if [ ! -e "$STUBS/libcuda.so" ]; then
    say "libcuda.so for linking, from Debian's libcuda1"
    local tmp
    tmp="$(mktemp -d)"
    curl -fsSL "http://deb.debian.org/debian/$LIBCUDA_DEB" -o "$tmp/libcuda1.deb"
    echo "$LIBCUDA_SHA256  $tmp/libcuda1.deb" | sha256sum -c --quiet
    dpkg-deb -x "$tmp/libcuda1.deb" "$tmp/x"
    cp "$(find "$tmp/x" -name 'libcuda.so.*.*' -type f | head -1)" "$STUBS/libcuda.so"
    rm -rf "$tmp"
  fi
}

print_env() {
  cat <<EOF
export CUDA_HOME="$CUDA"
export CUDA_PATH="$CUDA"
export PATH="$CUDA/bin:\$PATH"
export CUDA_COMPUTE_CAP=90
export LIBRARY_PATH="$CUDA/lib:$STUBS\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
EOF
}

case "${1:-env}" in
  env)
    install_compiler
    print_env
    ;;
  check)
    install_compiler
    eval "$(print_env)"
    say "cargo check --features cuda (trainer, and the verdict binary)"
    cargo check --locked -p trainer --features cuda --all-targets
    cargo check --locked -p server --features cuda
    ;;
  build)
    install_libraries
    eval "$(print_env)"
    say "cargo build --release --features cuda"
    cargo build --locked --release -p server --features cuda
    ;;
  *)
    echo "usage: scripts/cuda.sh [env|check|build]" >&2
    exit 2
    ;;
esac
