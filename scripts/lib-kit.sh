# Shared setup for the contributor-kit checks (sourced by scripts/check-*.sh).
#
# These checks build *other* packages that depend on QATKit by path. Each such package
# compiles QATKit again (about two minutes in debug on 2 cores), so all of them share one
# scratch directory: QATKIT_KIT_SCRATCH (set by .ci/run to one temporary folder for the whole
# run), else a folder under the system temporary directory. The first package pays for the
# QATKit build, the others reuse it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
SCRATCH=${QATKIT_KIT_SCRATCH:-${TMPDIR:-/tmp}/qatkit-kit-scratch}
export QATKIT_PATH="$ROOT"
QATKIT_RUN="$ROOT/.build/debug/qatkit-run"

# Builds qatkit-run (debug) if it is not there yet.
ensure_qatkit_run() {
  if [ ! -x "$QATKIT_RUN" ]; then (cd "$ROOT" && swift build --product qatkit-run); fi
}

# build_and_test DIR: builds a package with its tests and runs them, failing on warnings.
build_and_test() {
  local dir=$1 log
  log=$(mktemp)
  (cd "$dir" && swift build --build-tests --scratch-path "$SCRATCH" 2>&1) | tee "$log"
  if grep -E "warning:" "$log" | grep -v "^warning: 'main'" | grep -q .; then
    echo "error: $dir builds with warnings" >&2
    exit 1
  fi
  (cd "$dir" && swift test --skip-build --scratch-path "$SCRATCH")
}

# expect_failure CODE TEXT COMMAND...: COMMAND must exit with CODE and print TEXT on stderr.
expect_failure() {
  local code=$1 text=$2 err status
  shift 2
  err=$(mktemp)
  set +e
  "$@" >/dev/null 2>"$err"
  status=$?
  set -e
  if [ "$status" -ne "$code" ] || ! grep -qF -- "$text" "$err"; then
    echo "error: '$*' exited $status (expected $code); stderr:" >&2
    cat "$err" >&2
    echo "expected to contain: $text" >&2
    exit 1
  fi
  echo "ok (exit $code): $(head -c 160 "$err")"
}
