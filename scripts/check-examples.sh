#!/usr/bin/env bash
# Examples/LogQuant, an out-of-tree plugin package: builds it, runs its XCTest suite and its
# demo (from Swift and from recipe.json), then loads it into qatkit-run at run time.
source "$(dirname "$0")/lib-kit.sh"
ensure_qatkit_run
EXAMPLE="$ROOT/Examples/LogQuant"
start=$(date +%s)
build_and_test "$EXAMPLE"
(cd "$EXAMPLE" && swift run --skip-build --scratch-path "$SCRATCH" logquant-demo)
echo "Examples/LogQuant: built, tested and run in $(( $(date +%s) - start )) s"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$QATKIT_RUN" build-plugin "$EXAMPLE"/Sources/LogQuant/*.swift --output "$WORK/libLogQuant.so"
out=$("$QATKIT_RUN" --plugin "$WORK/libLogQuant.so" check-plugin --config "$EXAMPLE/recipe.json" --out "$WORK/checkpoints")
echo "$out"
grep -q "bit-identical" <<<"$out"
grep -q "from plugin 'LogQuant'" <<<"$out"
echo "check-examples: Examples/LogQuant builds, passes, runs, and loads at run time"
