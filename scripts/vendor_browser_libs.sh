#!/usr/bin/env bash
# Rebuild the atlas view's vendored browser libraries from the npm registry (never a CDN):
#   deck.gl 9.4.0         its own single-file build (dist.min.js), as published
#   regl-scatterplot 1.16 bundled with its dependencies into one IIFE by esbuild (the
#                         package's UMD build expects regl and pub-sub-es as globals)
# Each goes into vizkit/app/vendor/<library>/ with its licences. Needs node and npm.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund deck.gl@9.4.0 regl-scatterplot@1.16.0 esbuild@0.28.2 >/dev/null
out="$root/vizkit/app/vendor"
mkdir -p "$out/deck.gl" "$out/regl-scatterplot"
cp node_modules/deck.gl/dist.min.js "$out/deck.gl/deck.min.js"
cp node_modules/deck.gl/LICENSE "$out/deck.gl/LICENSE"
printf 'import createScatterplot from "regl-scatterplot";\nglobalThis.createScatterplot = createScatterplot;\n' > entry.js
node_modules/@esbuild/linux-x64/bin/esbuild entry.js --bundle --format=iife --minify \
  --legal-comments=none --outfile="$out/regl-scatterplot/regl-scatterplot.bundle.js"
for d in regl-scatterplot regl regl-line pub-sub-es dom-2d-camera camera-2d-simple gl-matrix \
         earcut @flekschas/utils; do
  v=$(node -e "console.log(require('./node_modules/$d/package.json').version)")
  f=$(ls "node_modules/$d" | grep -i -E '^licen' | head -1)
  echo "=== $d $v ($f)"; cat "node_modules/$d/$f"; echo
done > "$out/regl-scatterplot/LICENSES"
echo "vendored into $out"
