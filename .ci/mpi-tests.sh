#!/usr/bin/env bash
# Data-parallel (MPI) tests: installs Open MPI when missing (Debian/Ubuntu, as root), builds the
# release binaries and runs, with 2 ranks:
#   1. qatkit-mpi-check: parallel calibration bit-identical to one process (max, percentile, mse,
#      entropy), K training steps within the reduction-order bound, the fused all-reduce bit-exact
#      against a shard-by-shard reference (QAT + LSQ + KD), checkpoints written by rank 0 and
#      restored everywhere;
#   2. the default job (qatkit-run) in one process and under mpirun: same FP32 and PTQ accuracies,
#      QAT / QAT+KD accuracies within 1 point (float reduction order, see README "Data-parallel");
#   3. the bring-your-own pipeline and commands, one process vs 2 ranks: run --data iris.csv
#      (trained, and from one process's FP32 weights), train, quantize, qat, distill, eval,
#      export --quantize on Iris; run --model on the PyTorch CNN; recipe on the GELU MLP (NVFP4 +
#      KD). PTQ checkpoints from the same weights byte-identical to one process's (bit-identical
#      ranges), evaluations equal, trained stages within max(1, 1% of the test rows) test rows
#      (docs/DATA-PARALLEL.md); the table printed once; rank 0 alone writes;
#   4. a rank that throws, hangs or is killed ends the whole job with a message on every rank; so
#      does a failed write on rank 0 and ranks that read different data (qatkit-run); embed and
#      minilm, which have no data-parallel mode, refuse to run on 2 ranks.
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

section() { # NAME: starts a section and records when the previous one ended
  [ -n "${section_name:-}" ] && times="$times, $section_name $((SECONDS - section_start)) s"
  section_name=$1
  section_start=$SECONDS
  [ -n "$1" ] && echo "== $1"
}
times=""

section "qatkit-mpi-check (2 ranks)"
if "${MPIRUN[@]}" "$BIN/qatkit-mpi-check" | tee "$WORK/check.txt"; then
  pass "qatkit-mpi-check: $(tail -1 "$WORK/check.txt")"
else
  fail "qatkit-mpi-check exited non-zero"
fi

section "default job: one process vs 2 ranks"
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

# Table rows "stage recipe ranges | accuracy" (the accuracy is the first field ending in %).
table_rows() { grep -E "^(FP32|PTQ|QAT|QAT\+KD) .*%" "$1" | awk '{ key = ""; for (i = 1; i <= NF; i++) { if ($i ~ /%$/) { acc = $i; break } key = key " " $i } print key "|" acc }'; }
# The "N test rows" of a run's data line.
test_rows() { grep -oE "[0-9]+ test rows" "$1" | head -1 | awk '{ print $1 }'; }
# compare_accuracies NAME ONE.txt TWO.txt EXACT_STAGES: every row of the table in both outputs, the
# stages matching EXACT_STAGES (a regex, e.g. "FP32|PTQ") equal, the others within the tolerance:
# max(1, 1% of the test rows) test rows (1 of Iris's 30, 3 of digits' 360; docs/DATA-PARALLEL.md).
compare_accuracies() {
  local name=$1 one=$2 two=$3 exact=$4 n
  n=$(test_rows "$one")
  table_rows "$one" >"$one.rows"
  table_rows "$two" >"$two.rows"
  if [ -z "$n" ] || [ ! -s "$one.rows" ] || [ "$(cut -d'|' -f1 "$one.rows")" != "$(cut -d'|' -f1 "$two.rows")" ]; then
    fail "$name: the two tables differ in their rows"
    cat "$one" "$two"
    return
  fi
  local report
  report=$(paste -d'|' "$one.rows" "$two.rows" | awk -F'|' -v n="$n" -v exact="$exact" '
    BEGIN { tol = int(n / 100); if (tol < 1) tol = 1 }
    { a = $2 + 0; b = $4 + 0; rows = int((a > b ? a - b : b - a) * n / 100 + 0.5)
      if (exact != "" && $1 ~ ("^ (" exact ") ")) { equal++; if (rows != 0) bad++ }
      else { near++; if (rows > tol) bad++; if (rows > worst) worst = rows } }
    END { printf "%d rows equal, %d trained rows within %d of %d test rows (largest difference %d); %d outside\n", equal, near, tol, n, worst, bad + 0
          exit bad > 0 }')
  if [ $? -eq 0 ]; then pass "$name: $report"; else fail "$name: $report"; paste -d'|' "$one.rows" "$two.rows"; fi
}
# same_files NAME DIR1 DIR2 FILE...: byte-identical files written by one process and by 2 ranks.
same_files() {
  local name=$1 a=$2 b=$3 f differ=""
  shift 3
  for f in "$@"; do cmp -s "$a/$f" "$b/$f" || differ="$differ $f"; done
  if [ -z "$differ" ]; then pass "$name: $* byte-identical to one process's"; else fail "$name: differ from one process's:$differ"; fi
}
# one_and_two NAME ARGS...: qatkit-run ARGS in one process (output NAME.one) and under mpirun -np 2
# (NAME.two); @OUT@ in ARGS becomes $WORK/NAME.one or $WORK/NAME.two.
one_and_two() {
  local name=$1
  shift
  "$BIN/qatkit-run" "${@//@OUT@/$WORK/$name.one}" >"$WORK/$name.one.txt" 2>&1 || { fail "$name: one process failed"; cat "$WORK/$name.one.txt"; }
  "${MPIRUN[@]}" "$BIN/qatkit-run" "${@//@OUT@/$WORK/$name.two}" >"$WORK/$name.two.txt" 2>&1 || { fail "$name: mpirun -np 2 failed"; cat "$WORK/$name.two.txt"; }
}
# accuracy_line FILE: the percentages of its "test accuracy" line.
accuracy_line() { grep "test accuracy" "$1" | grep -oE "[0-9.]+%" | tr '\n' ' '; }
# compare_line NAME KINDS WHAT: the percentages of NAME's "test accuracy" line, one process vs 2
# ranks; KINDS has one letter per percentage: e = equal (not trained: before training, the
# teacher, eval), t = within one of Iris's 30 test rows (3.34 points; trained); WHAT says which.
compare_line() {
  local a b
  a=$(accuracy_line "$WORK/$1.one.txt")
  b=$(accuracy_line "$WORK/$1.two.txt")
  if awk -v a="$a" -v b="$b" -v k="$2" 'BEGIN { na = split(a, x, " "); nb = split(b, y, " "); ok = na == nb && na == length(k)
       for (i = 1; i <= na; i++) { d = x[i] - y[i]; if (d < 0) d = -d; if (substr(k, i, 1) == "e" ? d != 0 : d > 3.34) ok = 0 }
       exit !ok }'; then
    pass "$1 (iris): $3 $a(one process), $b(2 ranks)"
  else
    fail "$1 (iris): test accuracy line '$a' (one process), '$b' (2 ranks)"
    cat "$WORK/$1.one.txt" "$WORK/$1.two.txt"
  fi
}

section "bring your own data and model: one process vs 2 ranks"
IRIS=(--data Examples/byo/iris.csv --label-column species)
one_and_two iris run "${IRIS[@]}" --out @OUT@ --json @OUT@/results.json --quiet
compare_accuracies "run --data iris.csv (100 + 33 epochs)" "$WORK/iris.one.txt" "$WORK/iris.two.txt" ""
if grep -q "^data-parallel over 2 processes" "$WORK/iris.two.txt" && [ "$(grep -c "^FP32 " "$WORK/iris.two.txt")" -eq 1 ] &&
  [ -s "$WORK/iris.two/results.json" ] && [ -s "$WORK/iris.two/report.html" ] &&
  [ "$(ls "$WORK/iris.two" | grep -c safetensors)" -eq 10 ] && [ -z "$(ls -a "$WORK/iris.two" | grep -i tmp)" ]; then
  pass "run --data iris.csv on 2 ranks: the table printed once; 10 checkpoints, results.json and report.html written, nothing else"
else
  fail "run --data iris.csv on 2 ranks: output or files"
  cat "$WORK/iris.two.txt"
  ls -a "$WORK/iris.two"
fi
# The same pipeline from the FP32 weights one process trained: PTQ byte-identical.
FP32="$WORK/iris.one/fp32.safetensors"
one_and_two irisw run "${IRIS[@]}" --weights "$FP32" --out @OUT@ --quiet
compare_accuracies "run --data iris.csv --weights FP32 (10 QAT epochs)" "$WORK/irisw.one.txt" "$WORK/irisw.two.txt" "FP32|PTQ"
same_files "run --data iris.csv --weights FP32" "$WORK/irisw.one" "$WORK/irisw.two" fp32.safetensors int8-max-ptq.safetensors w4a4-max-ptq.safetensors \
  w4a4-lsq-ptq.safetensors
# The single-stage commands, each from the same one-process checkpoints.
one_and_two train train "${IRIS[@]}" --epochs 30 --output @OUT@/fp32.safetensors --quiet
compare_line train tt "train and test accuracy within 1 of 30 test rows:"
one_and_two quantize quantize --checkpoint "$FP32" --calibrator max --output @OUT@/ptq.safetensors --quiet
same_files "quantize --calibrator max (W4A4)" "$WORK/quantize.one" "$WORK/quantize.two" ptq.safetensors
PTQ="$WORK/quantize.one/ptq.safetensors"
one_and_two qat qat --checkpoint "$PTQ" --epochs 5 --output @OUT@/qat.safetensors --quiet
compare_line qat et "PTQ equal, QAT within 1 of 30 test rows:"
one_and_two distill distill --checkpoint "$PTQ" --teacher "$FP32" --epochs 5 --output @OUT@/qat-kd.safetensors --quiet
compare_line distill ete "PTQ and teacher equal, QAT+KD within 1 of 30 test rows:"
one_and_two eval eval --checkpoint "$PTQ" --predictions @OUT@/predictions.csv
compare_line eval e "equal:"
same_files "eval --predictions" "$WORK/eval.one" "$WORK/eval.two" predictions.csv
mkdir -p "$WORK/export.one" "$WORK/export.two"
one_and_two export export "$FP32" --quantize int8 --format safetensors --output @OUT@/int8.safetensors
same_files "export --quantize int8" "$WORK/export.one" "$WORK/export.two" int8.safetensors
CNN=(--model Examples/byo/cnn_seq_digits.json --weights Examples/byo/cnn_seq_digits.safetensors)
one_and_two cnn run "${CNN[@]}" --qat-epochs 2 --out @OUT@ --quiet
compare_accuracies "run --model cnn_seq_digits.json (PyTorch weights, 2 QAT epochs)" "$WORK/cnn.one.txt" "$WORK/cnn.two.txt" "FP32|PTQ"
same_files "run --model cnn_seq_digits.json" "$WORK/cnn.one" "$WORK/cnn.two" fp32.safetensors int8-max-ptq.safetensors w4a4-max-ptq.safetensors w4a4-lsq-ptq.safetensors
one_and_two recipe recipe Examples/recipes/gelu-mlp-nvfp4-kd.json --set stages.distill.epochs=2 --set output.dir=@OUT@ --quiet
compare_accuracies "recipe gelu-mlp-nvfp4-kd.json (2 KD epochs)" "$WORK/recipe.one.txt" "$WORK/recipe.two.txt" "FP32|PTQ"
same_files "recipe gelu-mlp-nvfp4-kd.json" "$WORK/recipe.one" "$WORK/recipe.two" fp32.safetensors nvfp4-default-cfg-ptq.safetensors

section "failures end the job on every rank"
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
# qatkit-run: rank 0 cannot write its first checkpoint; every rank must say so and end.
"${MPIRUN[@]}" "$BIN/qatkit-run" "${IRIS[@]}" --epochs 1 --out /dev/null/runs --quiet >"$WORK/write.txt" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "rank 0 of 2: error: cannot write /dev/null/runs/fp32.safetensors" "$WORK/write.txt" &&
  grep -q "rank 1 of 2: error: rank 0 failed: cannot write /dev/null/runs/fp32.safetensors" "$WORK/write.txt"; then
  pass "qatkit-run, rank 0 cannot write: exit code $rc, both ranks name the failed write"
else
  fail "qatkit-run, rank 0 cannot write: exit code $rc"
  cat "$WORK/write.txt"
fi
# qatkit-run: the ranks read different CSVs (rank 1 lacks a row); every rank must refuse.
awk 'NR != 2' Examples/byo/iris.csv >"$WORK/iris-other.csv"
timeout 600 mpirun --allow-run-as-root --oversubscribe -np 1 "$BIN/qatkit-run" train --data Examples/byo/iris.csv --label-column species \
  --output "$WORK/x.safetensors" : -np 1 "$BIN/qatkit-run" train --data "$WORK/iris-other.csv" --label-column species \
  --output "$WORK/x.safetensors" >"$WORK/data.txt" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ "$(grep -c "error: the ranks prepared different data" "$WORK/data.txt")" -eq 2 ] && [ ! -e "$WORK/x.safetensors" ]; then
  pass "qatkit-run, ranks reading different data: exit code $rc, both ranks refuse before training"
else
  fail "qatkit-run, ranks reading different data: exit code $rc"
  cat "$WORK/data.txt"
fi

# embed and minilm have no data-parallel mode: under 2 ranks they refuse before any work.
echo "x" >"$WORK/one-line.txt"
for args in "minilm --epochs 0 --out $WORK/minilm" "embed --input $WORK/one-line.txt --output $WORK/e.safetensors"; do
  # shellcheck disable=SC2086
  "${MPIRUN[@]}" "$BIN/qatkit-run" $args >"$WORK/single.txt" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && grep -q "runs in one process (it has no data-parallel mode yet)" "$WORK/single.txt" &&
    [ ! -e "$WORK/minilm" ] && [ ! -e "$WORK/e.safetensors" ]; then
    pass "qatkit-run ${args%% *} under 2 ranks: exit code $rc, refused before any work"
  else
    fail "qatkit-run ${args%% *} under 2 ranks: exit code $rc"
    cat "$WORK/single.txt"
  fi
done

section ""
echo "time per section:${times#,}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
