#!/usr/bin/env bash
# Every ```swift block of CONTRIBUTING.md compiles. Each block is preceded by a marker:
#   <!-- check: file PATH -->        a file of the walkthrough package (built and tested)
#   <!-- check: snippet -->          statements (imports lifted), compiled in a package that
#                                    depends on QATKit and the walkthrough package
#   <!-- check: manifest-fragment --> a Package.swift fragment, evaluated in a dummy manifest
# A swift block without a marker fails the check.
source "$(dirname "$0")/lib-kit.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/MyQuant" "$WORK/Snippets/Sources/Snippets"
awk -v work="$WORK" '
  function fail(msg) { print "CONTRIBUTING.md:" NR ": " msg > "/dev/stderr"; bad = 1; exit 1 }
  /^<!-- check: .* -->$/ { marker = $0; sub(/^<!-- check: /, "", marker); sub(/ -->$/, "", marker); markerLine = NR; next }
  /^```swift$/ {
    if (markerLine != NR - 1) fail("a swift block without a <!-- check: ... --> marker on the line before")
    inBlock = 1; n++; body = ""; imports = ""; next
  }
  inBlock && /^```$/ {
    inBlock = 0
    if (marker ~ /^file /) {
      path = work "/MyQuant/" substr(marker, 6)
      dir = path; sub(/\/[^\/]*$/, "", dir)
      system("mkdir -p \"" dir "\"")
      printf "%s", body > path; close(path)
    } else if (marker == "snippet") {
      path = work "/Snippets/Sources/Snippets/Snippet" n ".swift"
      printf "%sfunc snippet%d() throws {\n%s}\n", imports, n, body > path; close(path)
    } else if (marker == "manifest-fragment") {
      path = work "/fragment" n "/Package.swift"
      system("mkdir -p \"" work "/fragment" n "\"")
      printf "// swift-tools-version:6.2\nimport PackageDescription\nlet package = Package(name: \"Fragment\", targets: [\n%s])\n", body > path; close(path)
    } else fail("unknown marker \"" marker "\"")
    marker = ""; next
  }
  inBlock && marker == "snippet" && /^import / { imports = imports $0 "\n"; next }
  inBlock { body = body $0 "\n" }
  END { if (bad) exit 1; if (inBlock) fail("unterminated swift block"); print n " swift blocks extracted" }
' "$ROOT/CONTRIBUTING.md"
QATKIT_NAME=$(basename "$ROOT")
cat > "$WORK/Snippets/Package.swift" <<MANIFEST
// swift-tools-version:6.2
import PackageDescription
let package = Package(
  name: "Snippets",
  platforms: [.macOS(.v15)],
  dependencies: [.package(path: "$ROOT"), .package(path: "$WORK/MyQuant")],
  targets: [
    .target(name: "Snippets", dependencies: [
      .product(name: "QATKit", package: "$QATKIT_NAME"), .product(name: "QATRegistry", package: "$QATKIT_NAME"),
      .product(name: "QATPlugins", package: "$QATKIT_NAME"), .product(name: "QATPluginTesting", package: "$QATKIT_NAME"),
      .product(name: "QATExport", package: "$QATKIT_NAME"),
      .product(name: "MyQuant", package: "MyQuant"),
    ])
  ]
)
MANIFEST
build_and_test "$WORK/MyQuant"
log=$(mktemp)
(cd "$WORK/Snippets" && swift build --scratch-path "$SCRATCH" 2>&1) | tee "$log"
if grep -E "warning:" "$log" | grep -q .; then echo "error: CONTRIBUTING snippets compile with warnings" >&2; exit 1; fi
for f in "$WORK"/fragment*/Package.swift; do
  [ -e "$f" ] || continue
  (cd "$(dirname "$f")" && swift package dump-package >/dev/null)
done
echo "check-contributing: every swift block of CONTRIBUTING.md compiles (walkthrough package built and tested)"
