#!/usr/bin/env bash
# Run-time plugins end to end: builds plugin libraries with `qatkit-run build-plugin` from a
# scaffolded package, loads one with --plugin (before and after the command) and uses its
# algorithm by name in a conversion (check-plugin: PTQ, checkpoint round trip, restore without
# the plugin names it); then the refusals, each with exit code 2 and its message: another ABI
# version, a library that is not a plugin, a file that is not a library, a plugin whose names
# clash (nothing registered), a missing file.
source "$(dirname "$0")/lib-kit.sh"
ensure_qatkit_run
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$QATKIT_RUN" new-plugin RtQuant --kind quantizer --out "$WORK" --qatkit "$ROOT" >/dev/null
SRC="$WORK/RtQuant/Sources/RtQuant"

start=$(date +%s)
"$QATKIT_RUN" build-plugin "$SRC"/*.swift --output "$WORK/libRtQuant.so"
echo "build-plugin: $(( $(date +%s) - start )) s"
"$QATKIT_RUN" --plugin "$WORK/libRtQuant.so" list | grep -q "rt_quant .*\[RtQuant\]"
"$QATKIT_RUN" list --plugin "$WORK/libRtQuant.so" | grep -q "rt_quant .*\[RtQuant\]"
out=$("$QATKIT_RUN" --plugin "$WORK/libRtQuant.so" check-plugin --out "$WORK/ckpt")
echo "$out"
grep -q "^rt_quant .*RtQuant .*bit-identical" <<<"$out"
grep -q "refused: the checkpoint needs the quantizer 'rt_quant' from plugin 'RtQuant'" <<<"$out"

# Another ABI version: the entry point reports 42.
mkdir -p "$WORK/abi"
cp "$SRC"/*.swift "$WORK/abi/"
sed -i 's/-> Int32 { PluginABI.version }/-> Int32 { PluginABI.version + 41 }/' "$WORK/abi/RuntimeEntryPoints.swift"
grep -q "PluginABI.version + 41" "$WORK/abi/RuntimeEntryPoints.swift"
"$QATKIT_RUN" build-plugin "$WORK/abi"/*.swift --output "$WORK/libRtQuantABI.so" >/dev/null
expect_failure 2 "was built for plugin ABI version 42, this program loads version 1" \
  "$QATKIT_RUN" --plugin "$WORK/libRtQuantABI.so" list

# A shared library without the entry points.
"$QATKIT_RUN" build-plugin "$SRC/RtQuantPlugin.swift" "$SRC/RtQuantQuantizer.swift" --output "$WORK/libNotAPlugin.so" >/dev/null
expect_failure 2 "is a shared library but not a QATKit plugin: it does not export 'qatkit_plugin_abi_version'" \
  "$QATKIT_RUN" --plugin "$WORK/libNotAPlugin.so" list

# A file that is not a library, and a path that does not exist.
echo "not a library" >"$WORK/libText.so"
expect_failure 2 "it is not a shared library" "$QATKIT_RUN" --plugin "$WORK/libText.so" list
expect_failure 2 "does not exist" "$QATKIT_RUN" --plugin "$WORK/libMissing.so" list

# A library whose second plugin takes a registered name: nothing of it is registered.
mkdir -p "$WORK/clash"
cp "$SRC"/*.swift "$WORK/clash/"
cat >"$WORK/clash/Clash.swift" <<'SWIFT'
import QATKit
import QATRegistry

public enum ClashPlugin: QATPlugin {
  public static let name = "Clash"
  public static let summary = "registers a name that is taken"
  public static func register(in registry: inout Registry) throws {
    try registry.register(quantizer: "lsq", summary: "taken") { try TensorQuantizer(attributes: $0) }
  }
}
SWIFT
sed -i 's/\[RtQuantPlugin.self\]/[RtQuantPlugin.self, ClashPlugin.self]/' "$WORK/clash/RuntimeEntryPoints.swift"
"$QATKIT_RUN" build-plugin "$WORK/clash"/*.swift --output "$WORK/libClash.so" >/dev/null
expect_failure 2 "plugin 'Clash' from '$WORK/libClash.so' could not register, so nothing from the library was registered" \
  "$QATKIT_RUN" --plugin "$WORK/libClash.so" list
echo "check-runtime-plugin: loaded, used by name, refusals clear"
