// Bundles GraphiQL and the console into dist/: one HTML page each, and their scripts, styles
// and fonts under dist/assets/ with content hashes in their names (the server lets browsers
// cache those for good). Everything comes from node_modules; the pages load nothing from
// elsewhere. The hookwing server embeds dist/ in release builds and reads it in debug builds.
import { build } from "esbuild";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const dist = path.join(here, "dist");
const pages = {
  graphiql: { title: "GraphiQL · Hookwing", entry: "src/graphiql/main.jsx" },
  console: { title: "Console · Hookwing", entry: "src/console/main.jsx" },
};

await rm(dist, { recursive: true, force: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: Object.fromEntries(Object.entries(pages).map(([name, page]) => [name, page.entry])),
  outdir: dist,
  entryNames: "assets/[name]-[hash]",
  chunkNames: "assets/chunk-[hash]",
  assetNames: "assets/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: ["es2022"],
  jsx: "automatic",
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".svg": "file", ".png": "file" },
  define: { "process.env.NODE_ENV": '"production"' },
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
for (const [name, page] of Object.entries(pages)) {
  const [script, output] = Object.entries(result.metafile.outputs).find(
    ([, out]) => out.entryPoint === page.entry,
  );
  const href = (file) => "/" + path.relative(dist, path.join(here, file));
  const style = output.cssBundle
    ? `<link rel="stylesheet" href="${href(output.cssBundle)}">`
    : "";
  await mkdir(dist, { recursive: true });
  await writeFile(
    path.join(dist, `${name}.html`),
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(page.title)}</title>
${style}
<script type="module" src="${href(script)}"></script>
</head>
<body>
<div id="root"></div>
<noscript>This page needs JavaScript.</noscript>
</body>
</html>
`,
  );
}
console.log(`built ${Object.keys(pages).join(" and ")} into ${path.relative(process.cwd(), dist) || "."}`);
