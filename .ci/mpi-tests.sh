#!/usr/bin/env bash
# Data-parallel (MPI) tests: installs Open MPI when missing (Debian/Ubuntu, as root), builds the
# release binaries and runs, with 2 ranks:
#   1. qatkit-mpi-check: parallel calibration bit-identical to one process (max, percentile, mse,
#      entropy), K training steps within the reduction-order bound, the fused all-reduce bit-exact
#      against a shard-by-shard reference (QAT + LSQ + KD), checkpoints written by rank 0 and
#      restored everywhere;
#   2. the default job (qatkit-run) in one process and under mpirun: same FP32 and PTQ accuracies,
#      QAT / QAT+KD accuracies within 1 point (float reduction order, see README "Data-parallel");
#   3. a rank that throws, hangs or is killed ends the whole job with a message on every rank.
# Prints "N passed, N failed" last; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

if ! command -v mpirun >/dev/null 2>&1 || ! ldconfig -p | grep -q "libmpi.so.40"; then
  echo "== installing Open MPI (libopenmpi-dev openmpi-bin)"
  if [ "$(id -u)" != 0 ]; then
    echo "Open MPI is missing and this is not root: install libopenmpi-dev and openmpi-bin first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq libopenmpi-dev openmpi-bin >/dev/null || {
    echo "apt-get install of Open MPI failed" >&2
    exit 1
  }
fi
mpirun --version | head -1

echo "== building release binaries"
swift build -c release --product qatkit-run 2>&1 | tail -1
swift build -c release --product qatkit-mpi-check 2>&1 | tail -1
BIN=.build/release
# Containers often forbid the cross-memory attach Open MPI's shared-memory transport tries first.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN=(timeout 600 mpirun --allow-run-as-root --oversubscribe -np 2)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

echo "== qatkit-mpi-check (2 ranks)"
if "${MPIRUN[@]}" "$BIN/qatkit-mpi-check" | tee "$WORK/check.txt"; then
  pass "qatkit-mpi-check: $(tail -1 "$WORK/check.txt")"
else
  fail "qatkit-mpi-check exited non-zero"
fi

echo "== default job: one process vs 2 ranks"
"$BIN/qatkit-run" --out "$WORK/one" >"$WORK/one.txt" 2>&1 || fail "qatkit-run (one process) failed"
"${MPIRUN[@]}" "$BIN/qatkit-run" --out "$WORK/two" >"$WORK/two.txt" 2>&1 || fail "mpirun -np 2 qatkit-run failed"
# stage, recipe and ranges are fixed-width columns; accuracy is the first field ending in %.
rows() { grep -E "^(FP32|PTQ|QAT|QAT\+KD) " "$1" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /%$/) { acc = $i; break } print substr($0, 1, 64) "|" acc }'; }
rows "$WORK/one.txt" >"$WORK/one.rows"
rows "$WORK/two.txt" >"$WORK/two.rows"
if [ "$(wc -l <"$WORK/one.rows")" -ne 22 ] || [ "$(wc -l <"$WORK/two.rows")" -ne 22 ]; then
  fail "default job: expected 22 table rows in both runs"
  cat "$WORK/one.txt" "$WORK/two.txt"
else
  report=$(paste -d'|' "$WORK/one.rows" "$WORK/two.rows" | awk -F'|' '
    { a = $2 + 0; b = $4 + 0; d = a > b ? a - b : b - a; stage = substr($1, 1, 6)
      if (stage ~ /^(FP32|PTQ) /) { if (a != b) bad++; exact++ } else { if (d > 1.0) bad++; if (d > worst) worst = d; near++ } }
    END { printf "%d FP32/PTQ rows equal, %d QAT rows within 1 point (largest difference %.2f points); %d outside\n", exact, near, worst, bad + 0; exit bad > 0 }')
  if [ $? -eq 0 ]; then pass "default job accuracies: $report"; else fail "default job accuracies: $report"; paste -d'|' "$WORK/one.rows" "$WORK/two.rows"; fi
fi
grep -q "^data-parallel over 2 processes" "$WORK/two.txt" && [ "$(grep -c "^FP32" "$WORK/two.txt")" -eq 1 ] &&
  pass "mpirun -np 2 qatkit-run prints the table once, from rank 0" || fail "mpirun -np 2 qatkit-run output"

echo "== failures end the job on every rank"
scenario() { # name, expected message on stderr
  local start=$SECONDS
  QATKIT_COLLECTIVE_TIMEOUT=5 "${MPIRUN[@]}" "$BIN/qatkit-mpi-check" "$1" >"$WORK/$1.txt" 2>&1
  local rc=$? took=$((SECONDS - start))
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 60 ] && grep -q "$2" "$WORK/$1.txt" &&
    grep -q "stopped by the MPI launcher" "$WORK/$1.txt"; then
    pass "$1: the job ended in ${took} s with exit code $rc, the failure named and the other rank saying why it stopped"
  else
    fail "$1: exit code $rc after ${took} s"
    cat "$WORK/$1.txt"
  fi
}
scenario fail-throw "rank 1 of 2: error: injected failure"
scenario fail-hang "did not complete within 5.0 s"
scenario fail-kill "exited on signal 9"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
