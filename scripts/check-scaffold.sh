#!/usr/bin/env bash
# `qatkit-run new-plugin` for every kind: generates the package in a temporary folder, builds
# it (no warnings) and runs its tests, as generated. Prints how long each step took.
source "$(dirname "$0")/lib-kit.sh"
ensure_qatkit_run
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for kind in quantizer calibrator criterion balancer mode; do
  name="Kit$(echo "${kind:0:1}" | tr a-z A-Z)${kind:1}"
  "$QATKIT_RUN" new-plugin "$name" --kind "$kind" --out "$WORK" --qatkit "$ROOT"
  start=$(date +%s)
  build_and_test "$WORK/$name"
  echo "scaffold $kind ($name): built and tested in $(( $(date +%s) - start )) s"
done
# Refusals: an existing folder, a bad name, an unknown kind.
expect_failure 2 "already exists" "$QATKIT_RUN" new-plugin KitQuantizer --kind quantizer --out "$WORK"
expect_failure 2 "not a plugin name" "$QATKIT_RUN" new-plugin my-quant --kind quantizer --out "$WORK"
expect_failure 2 "(did you mean 'criterion'?)" "$QATKIT_RUN" new-plugin KitX --kind critrion --out "$WORK"
echo "check-scaffold: every kind builds and passes its tests as generated"
