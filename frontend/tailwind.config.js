// Tailwind configuration for FastApp's app.css. Run through build.mjs, which
// finds the installed MonsterUI package and passes its folder in MONSTERUI_DIR.
const path = require("node:path");
const plugin = require("tailwindcss/plugin");
const daisyui = require("daisyui");
const daisyThemes = require("daisyui/src/theming/themes");
const daisyColors = require("daisyui/src/theming/functions");

const monsteruiDir = process.env.MONSTERUI_DIR;
if (!monsteruiDir) {
  // Without MonsterUI's sources most component classes would be purged: refuse.
  throw new Error("MONSTERUI_DIR is not set: run `npm run build` rather than tailwindcss directly");
}

const posix = (p) => p.split(path.sep).join("/");

// daisyUI's own theme injection either follows prefers-color-scheme or
// [data-theme]; franken-ui switches with the `dark` class on <html>. So daisyUI
// injects no theme, and this plugin sets its default light/dark variables at
// zero specificity: MonsterUI's inline `:root { --p: from hsl(var(--primary)) ... }`
// mapping always wins, and the variables it does not map (neutral, success,
// warning, radii, animation) still follow the `.dark` class.
const daisyDefaults = plugin(({ addBase }) => {
  addBase({
    ":where(:root)": daisyColors.convertColorFormat(daisyThemes.light),
    ":where(:root.dark)": daisyColors.convertColorFormat(daisyThemes.dark),
  });
});

/** @type {import('tailwindcss').Config} */
module.exports = {
  content: [
    posix(path.join(__dirname, "..", "src", "fastapp", "**", "*.py")),
    posix(path.join(monsteruiDir, "**", "*.py")),
    posix(path.join(__dirname, "src", "**", "*.js")),
  ],
  // Class names that Python code assembles at run time (e.g. f"alert-{level}").
  safelist: [
    "alert",
    "step",
    "steps",
    "loading",
    "toast",
    "badge",
    "btn",
    { pattern: /^alert-/ },
    { pattern: /^steps-/ },
    { pattern: /^step-/ },
    { pattern: /^loading-/ },
    { pattern: /^toast-/ },
    { pattern: /^badge-/ },
    { pattern: /^btn-/ },
  ],
  darkMode: "selector",
  corePlugins: {
    // franken-ui's core.min.css already carries the preflight reset.
    preflight: false,
  },
  plugins: [daisyui, daisyDefaults],
  daisyui: {
    themes: [],
    darkTheme: false,
    logs: false,
  },
};
