# Sourced by Benchmarks/onnx-compare.sh and Benchmarks/onnx-compare-minilm.sh (not run on its own):
# the parts both side-by-side comparisons share.
#
# Defines: root (the package), py (QATKIT_ORT_PYTHON, else QATKIT_TORCH_PYTHON, else python3),
# out (a temporary directory removed on exit), build_release (builds qatkit-run and qatkit-bench in
# release, honouring QATKIT_SCRATCH_PATH, and sets bin to their directory) and run_py (runs $py
# with Benchmarks/lib on PYTHONPATH, so the embedded scripts can `import ort_timing`).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
py="${QATKIT_ORT_PYTHON:-${QATKIT_TORCH_PYTHON:-python3}}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

build_release() {
  local scratch=()
  if [[ -n "${QATKIT_SCRATCH_PATH:-}" ]]; then scratch=(--scratch-path "$QATKIT_SCRATCH_PATH"); fi
  echo "building qatkit-run and qatkit-bench (release)…" >&2
  (cd "$root" && swift build -c release "${scratch[@]}" --product qatkit-run >&2 \
    && swift build -c release "${scratch[@]}" --product qatkit-bench >&2)
  bin="$(cd "$root" && swift build -c release "${scratch[@]}" --show-bin-path)"
}

run_py() { PYTHONPATH="$root/Benchmarks/lib${PYTHONPATH:+:$PYTHONPATH}" "$py" "$@"; }
