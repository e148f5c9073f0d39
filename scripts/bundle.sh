#!/usr/bin/env bash
# Bundles corridor into dist/bundle/corridor.mjs and its chunks/ with esbuild (a pinned dev
# dependency): what the image runs with Node.js alone, no node_modules beside it.
#
#   npm run bundle && node dist/bundle/corridor.mjs --help
#
# Commands and what only some of them need (the AWS SDK for the agent, @kubernetes/client-node for
# explain, audit and kubeconfigs with auth plugins, yaml for YAML kubeconfigs) stay behind
# import() in the source, and esbuild splits each into chunk files of its own (chunks/, beside
# corridor.mjs): a process reads, parses and holds only the code of what it runs, so the agent
# never loads @kubernetes/client-node's 1.5 MB (docs/performance.md). demo/ is loaded by a name
# esbuild does not follow and is not in the bundle (`corridor demo` says so). Also writes
# dist/bundle/meta.json (esbuild's metafile: which package files went in, for the SBOM).
# CORRIDOR_BUNDLE_DIR: another directory than dist/bundle (the tests bundle into their own).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(node -p 'require("./package.json").version')
out=${CORRIDOR_BUNDLE_DIR:-dist/bundle}
mkdir -p "$out"
# Chunk names carry a hash of their content: those of an earlier build must not pile up.
rm -rf "$out/chunks"
# The banner gives the CommonJS dependencies bundled into this ES module the require() of Node's
# own modules (node:events...) that esbuild's ESM output does not provide.
npx --no-install esbuild src/cli/corridor.ts \
  --bundle --platform=node --format=esm --target=node22 \
  --splitting --outdir="$out" --entry-names=corridor --chunk-names='chunks/[name]-[hash]' --out-extension:.js=.mjs \
  --metafile="$out/meta.json" \
  --define:CORRIDOR_BUNDLED_VERSION="\"$version\"" \
  --banner:js="import { createRequire as corridorCreateRequire } from 'node:module'; const require = corridorCreateRequire(import.meta.url);" \
  --minify-whitespace --minify-syntax --legal-comments=eof --charset=utf8 --log-level=warning
echo "bundle: $out/corridor.mjs ($(du -k "$out/corridor.mjs" | cut -f1) KB) and $(find "$out/chunks" -type f | wc -l) chunks ($(du -sk "$out/chunks" | cut -f1) KB), corridor $version" >&2
