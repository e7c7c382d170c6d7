// Writes models/data/common-passwords.txt from the pinned
// @zxcvbn-ts/language-common frequency list: lower-cased, deduplicated,
// only entries of 8+ characters (shorter ones fail the length rule anyway).
// Run through scripts/vendor-assets.sh after `npm ci`.
const fs = require("fs");
const path = require("path");
const list = require("@zxcvbn-ts/language-common/dist/passwords.json.cjs");
const words = (list.default || list).map((w) => String(w).toLowerCase());
const seen = new Set();
const out = [];
for (const w of words) {
  if ([...w].length < 8 || seen.has(w) || /[\r\n]/.test(w)) continue;
  seen.add(w);
  out.push(w);
}
const dest = path.join(__dirname, "..", "models", "data", "common-passwords.txt");
fs.writeFileSync(dest, out.join("\n") + "\n");
console.log(`wrote ${out.length} passwords to ${path.relative(process.cwd(), dest)}`);
