#!/usr/bin/env bash
# Copy pinned front-end assets (see package.json / package-lock.json) into the
# repository so the Go binary can embed htmx and the e2e tests can inject axe-core.
# Re-run after changing a pin; commit the resulting files.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ ! -d node_modules/htmx.org || ! -d node_modules/axe-core || ! -d node_modules/@zxcvbn-ts/language-common ]]; then
  npm ci --no-audit --no-fund
fi

htmx_dir=node_modules/htmx.org
axe_dir=node_modules/axe-core

# htmx 4 ships its classic (IIFE, sets window.htmx) minified build as dist/htmx.min.js;
# the ESM build is dist/htmx.esm.min.js and dist/htmax.* bundles extensions (not used).
for f in "$htmx_dir/dist/htmx.min.js" "$htmx_dir/LICENSE" "$axe_dir/axe.min.js" "$axe_dir/LICENSE"; do
  [[ -f "$f" ]] || { echo "vendor-assets: missing $f" >&2; exit 1; }
done

mkdir -p assets/vendor e2e/testdata
install -m 0644 "$htmx_dir/dist/htmx.min.js" assets/vendor/htmx.min.js
install -m 0644 "$htmx_dir/LICENSE"          assets/vendor/htmx.LICENSE
install -m 0644 "$axe_dir/axe.min.js"        e2e/testdata/axe.min.js
install -m 0644 "$axe_dir/LICENSE"           e2e/testdata/axe.LICENSE

htmx_version="$(node -p "require('./$htmx_dir/package.json').version")"
axe_version="$(node -p "require('./$axe_dir/package.json').version")"
echo "vendored htmx.org@$htmx_version -> assets/vendor/htmx.min.js"
echo "vendored axe-core@$axe_version -> e2e/testdata/axe.min.js"

# The common-password list the binary ships (models/data).
node scripts/common-passwords.js
install -m 0644 node_modules/@zxcvbn-ts/language-common/LICENSE.txt models/data/common-passwords.LICENSE
