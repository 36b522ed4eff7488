// Builds FastApp's static assets into ../src/fastapp/static/dist/ with
// content-hashed names and a manifest.json mapping logical name -> file name.
// Usage: npm run build   (Node 20+, no dependencies beyond package.json)
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const DIST = path.join(ROOT, "src", "fastapp", "static", "dist");
const NM = path.join(HERE, "node_modules");
const HASH_LEN = 10;
const HASHED_NAME = new RegExp(`^[A-Za-z0-9_-]+\\.[0-9a-f]{${HASH_LEN}}\\.[A-Za-z0-9]+$`);

// Logical name -> source file. "app.css" is produced by Tailwind below.
const SOURCES = {
  "franken.css": path.join(NM, "franken-ui", "dist", "css", "core.min.css"),
  "franken.js": path.join(NM, "franken-ui", "dist", "js", "core.iife.js"),
  "icons.js": path.join(NM, "franken-ui", "dist", "js", "icon.iife.js"),
  "htmx.js": path.join(NM, "htmx.org", "dist", "htmx.min.js"),
  "app.js": path.join(HERE, "src", "app.js"),
  "swagger-ui.css": path.join(NM, "swagger-ui-dist", "swagger-ui.css"),
  "swagger-ui-bundle.js": path.join(NM, "swagger-ui-dist", "swagger-ui-bundle.js"),
  "swagger-init.js": path.join(HERE, "src", "swagger-init.js"),
  "swagger-fixes.css": path.join(HERE, "src", "swagger-fixes.css"),
};

// Hosts of absolute URLs found in the outputs that were reviewed and are never
// fetched when a page loads. A new host fails the build until someone reviews it.
const REVIEWED_HOSTS = {
  // XML/SVG namespaces and JSON Schema / OpenAPI dialect identifiers: names, not fetches.
  "www.w3.org": "namespace identifier",
  "json-schema.org": "JSON Schema dialect identifier",
  "spec.openapis.org": "OpenAPI dialect identifier",
  // Comments and error-message links.
  "tailwindcss.com": "license comment",
  "github.com": "license comment / code comment",
  "datatracker.ietf.org": "RFC reference in a comment or message",
  "www.rfc-editor.org": "RFC reference in a comment or message",
  "reactjs.org": "error message link",
  "redux.js.org": "error message link",
  "fb.me": "error message link",
  "swagger.io": "link text",
  "vladimirgorej.com": "author link in a comment",
  "spdx.org": "license link rendered from the spec",
  "example.com": "documentation example",
  "base": "dummy base for new URL() in Swagger UI's sanitizeUrl",
  // Link targets built by a linkifier (only rendered as <a href>, never loaded).
  "twitter.com": "linkifier link target",
  "www.facebook.com": "linkifier link target",
  "www.tiktok.com": "linkifier link target",
  "instagram.com": "linkifier link target",
  "soundcloud.com": "linkifier link target",
  // Swagger UI's default spec validator badge: disabled by validatorUrl: null in swagger-init.js.
  "validator.swagger.io": "disabled in swagger-init.js (validatorUrl: null)",
  // franken-ui/UIkit video embeds: only when a page uses uk-video with such a link.
  "www.youtube": "only for uk-video embeds (FastApp uses none)",
  "player.vimeo.com": "only for uk-video embeds (FastApp uses none)",
  "vimeo.com": "only for uk-video embeds (FastApp uses none)",
};

function sha256(buf) {
  return createHash("sha256").update(buf).digest("hex");
}

function fail(message) {
  console.error(`build failed: ${message}`);
  process.exit(1);
}

function findMonsterUI() {
  const check = (dir) => dir && fs.existsSync(path.join(dir, "__init__.py"));
  if (process.env.MONSTERUI_DIR) {
    if (check(process.env.MONSTERUI_DIR)) return process.env.MONSTERUI_DIR;
    fail(`MONSTERUI_DIR=${process.env.MONSTERUI_DIR} is not a monsterui package`);
  }
  const code = "import monsterui,os;print(os.path.dirname(monsterui.__file__))";
  const attempts = [
    [path.join(ROOT, ".venv", "bin", "python"), ["-c", code]],
    ["uv", ["run", "--frozen", "python", "-c", code]],
  ];
  for (const [cmd, args] of attempts) {
    try {
      const out = execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      const dir = out.trim().split("\n").pop();
      if (check(dir)) return dir;
    } catch {
      // try the next way
    }
  }
  return fail("cannot find the monsterui package: run `uv sync` in the repository first");
}

function buildTailwind(monsteruiDir) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fastapp-css-"));
  const out = path.join(tmp, "app.css");
  try {
    execFileSync(
      path.join(NM, ".bin", "tailwindcss"),
      ["-c", path.join(HERE, "tailwind.config.js"), "-i", path.join(HERE, "src", "app.css"), "-o", out, "--minify"],
      {
        cwd: HERE,
        env: { ...process.env, MONSTERUI_DIR: monsteruiDir, BROWSERSLIST_IGNORE_OLD_DATA: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    return fs.readFileSync(out);
  } catch (err) {
    process.stderr.write(err.stderr ? err.stderr.toString() : String(err));
    return fail("tailwindcss failed");
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function checkCss(css) {
  // MonsterUI's and FastApp's classes must have survived purging.
  const wanted = [".flex{", ".btn{", ".alert-error{", ".navbar{", ".space-y-4>", ".loading{", ".toast{", ".steps{"];
  const text = css.toString("utf8");
  const missing = wanted.filter((sel) => !text.includes(sel));
  if (missing.length) fail(`app.css lacks expected selectors: ${missing.join(" ")}`);
}

// Returns a list of problems: remote loads in CSS, unreviewed URL hosts anywhere.
function scanUrls(name, buf) {
  const text = buf.toString("utf8");
  const problems = [];
  if (name.endsWith(".css")) {
    for (const m of text.matchAll(/url\(\s*(['"]?)([^'")]*)\1\s*\)/g)) {
      if (!m[2].startsWith("data:") && /^(?:[a-z]+:)?\/\//i.test(m[2])) problems.push(`${name}: remote url(${m[2]})`);
    }
    for (const m of text.matchAll(/@import\s+[^;]+;/g)) problems.push(`${name}: ${m[0]}`);
  }
  const hosts = new Map();
  // Absolute URLs, and protocol-relative ones inside string literals ("//host.tld/...").
  for (const m of text.matchAll(/(?:https?:\/\/|["'`(]\/\/(?=[A-Za-z0-9-]+\.[A-Za-z]))([A-Za-z0-9.-]+)/g)) {
    hosts.set(m[1], (hosts.get(m[1]) || 0) + 1);
  }
  for (const [host, count] of hosts) {
    if (!Object.hasOwn(REVIEWED_HOSTS, host)) problems.push(`${name}: unreviewed URL host ${host} (${count}x)`);
  }
  return { problems, hosts };
}

function hashedName(logical, buf) {
  const ext = path.extname(logical);
  return `${path.basename(logical, ext)}.${sha256(buf).slice(0, HASH_LEN)}${ext}`;
}

function writeIfChanged(file, buf) {
  if (fs.existsSync(file) && fs.readFileSync(file).equals(buf)) return;
  fs.writeFileSync(file, buf);
}

function kb(n) {
  return `${(n / 1024).toFixed(1)} KiB`.padStart(11);
}

function checkLockfile() {
  // The lock must name no registry: installs go through each machine's own npm setup.
  const lock = fs.readFileSync(path.join(HERE, "package-lock.json"), "utf8");
  if (/"resolved":\s*"[a-z+]+:\/\//i.test(lock)) {
    fail('package-lock.json has "resolved" URLs: reinstall with omit-lockfile-registry-resolved=true (see .npmrc)');
  }
}

function main() {
  checkLockfile();
  const monsteruiDir = findMonsterUI();
  console.log(`monsterui: ${monsteruiDir}`);

  const outputs = { "app.css": buildTailwind(monsteruiDir) };
  for (const [logical, src] of Object.entries(SOURCES)) {
    if (!fs.existsSync(src)) fail(`missing ${src} (run npm ci first)`);
    outputs[logical] = fs.readFileSync(src);
  }
  checkCss(outputs["app.css"]);

  const problems = [];
  const urlHosts = {};
  for (const [logical, buf] of Object.entries(outputs)) {
    const { problems: p, hosts } = scanUrls(logical, buf);
    problems.push(...p);
    if (hosts.size) urlHosts[logical] = [...hosts.keys()].sort();
  }
  if (problems.length) fail(`asset URL check:\n  ${problems.join("\n  ")}`);

  fs.mkdirSync(DIST, { recursive: true });
  const manifest = {};
  const written = new Set(["manifest.json"]);
  for (const logical of Object.keys(outputs).sort()) {
    const name = hashedName(logical, outputs[logical]);
    writeIfChanged(path.join(DIST, name), outputs[logical]);
    manifest[logical] = name;
    written.add(name);
  }
  writeIfChanged(path.join(DIST, "manifest.json"), Buffer.from(JSON.stringify(manifest, null, 2) + "\n"));

  for (const entry of fs.readdirSync(DIST)) {
    if (written.has(entry)) continue;
    if (HASHED_NAME.test(entry)) {
      fs.rmSync(path.join(DIST, entry));
      console.log(`removed stale ${entry}`);
    } else {
      console.warn(`warning: unexpected file left in dist/: ${entry}`);
    }
  }

  console.log(`\n${"file".padEnd(40)}${"raw".padStart(11)}${"gzip".padStart(11)}`);
  let raw = 0;
  let gz = 0;
  for (const logical of Object.keys(manifest)) {
    const buf = outputs[logical];
    const g = zlib.gzipSync(buf, { level: 9 }).length;
    raw += buf.length;
    gz += g;
    console.log(`${manifest[logical].padEnd(40)}${kb(buf.length)}${kb(g)}`);
  }
  console.log(`${"total".padEnd(40)}${kb(raw)}${kb(gz)}`);
  console.log("\nabsolute URLs in outputs (reviewed: none is fetched on page load):");
  for (const [logical, hosts] of Object.entries(urlHosts)) console.log(`  ${logical}: ${hosts.join(", ")}`);
  console.log(`\nwrote ${Object.keys(manifest).length} files and manifest.json to ${path.relative(HERE, DIST)}`);
}

main();
