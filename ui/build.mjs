// Builds the console into OUT (--out, default ./dist) from SRC (--src,
// default ./src) with the packages of node_modules beside this file: the
// bundle and
// the stylesheet under hashed names (app-HASH.js, app-HASH.css), an
// index.html that loads them (no inline script or style: the broker's CSP
// allows 'self' only) and a gzip copy of each (the broker sends it when
// the client accepts gzip).  Prints the sizes.
import { build } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync, constants } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const src = arg("--src", join(here, "src"));
const out = arg("--out", join(here, "dist"));

mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) rmSync(join(out, f), { recursive: true });

const r = await build({
  entryPoints: { app: join(src, "main.js") },
  nodePaths: [join(here, "node_modules")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome100", "firefox100", "safari15"],
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  outdir: out,
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});
const names = Object.keys(r.metafile.outputs).map((p) => p.split("/").pop());
const js = names.find((n) => n.endsWith(".js"));
const css = names.find((n) => n.endsWith(".css"));
if (!js || !css) throw new Error(`the bundle lacks a script or a stylesheet: ${names}`);

const html = readFileSync(join(src, "index.html"), "utf8")
  .replace("%SCRIPT%", `/ui/${js}`)
  .replace("%STYLE%", `/ui/${css}`);
writeFileSync(join(out, "index.html"), html);

let raw = 0, gz = 0;
for (const f of readdirSync(out)) {
  if (f.endsWith(".gz")) continue;
  const bytes = readFileSync(join(out, f));
  const z = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
  writeFileSync(join(out, f + ".gz"), z);
  raw += bytes.length;
  gz += z.length;
}
console.log(`console: ${js}, ${css}, index.html: ${raw} bytes, ${gz} gzip`);
