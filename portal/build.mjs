// Bundles src/main.js with its npm dependencies into the gateway's static folder, offline.
// The bundle is committed; tests/portal/test_bundle.py checks it is what this build makes.
import { build } from "esbuild";

const outfile = process.argv[2] || "../gateway/portal/static/portal.js";
await build({
  entryPoints: ["src/main.js"], bundle: true, format: "esm", target: "es2022", minify: true,
  legalComments: "eof", outfile, logLevel: "warning",
});
