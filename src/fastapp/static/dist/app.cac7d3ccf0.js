// FastApp client behaviour. Loaded as an external script so the CSP needs no
// inline code: theme mode, toast dismissal and the theme switch.
(function () {
  "use strict";
  var root = document.documentElement;
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  // The server renders the chosen mode in data-theme-mode (from the theme cookie);
  // "system" follows the operating system and keeps following it while the page is open.
  function applyTheme(mode) {
    root.setAttribute("data-theme-mode", mode);
    var dark = mode === "dark" || (mode === "system" && media !== null && media.matches);
    root.classList.toggle("dark", dark);
  }
  applyTheme(root.getAttribute("data-theme-mode") || "system");
  if (media !== null && media.addEventListener) {
    media.addEventListener("change", function () {
      applyTheme(root.getAttribute("data-theme-mode") || "system");
    });
  }

  // The server answers a theme change with an HX-Trigger event carrying the new mode.
  document.addEventListener("themeChanged", function (event) {
    var detail = event.detail || {};
    if (detail.mode) applyTheme(detail.mode);
  });

  // Toasts disappear on their own after a few seconds, or at once when dismissed.
  var TOAST_MS = 6000;
  function armToasts(scope) {
    var toasts = (scope || document).querySelectorAll("[data-toast]:not([data-armed])");
    toasts.forEach(function (toast) {
      toast.setAttribute("data-armed", "1");
      var close = toast.querySelector("[data-toast-close]");
      if (close) close.addEventListener("click", function () { toast.remove(); });
      if (toast.getAttribute("data-toast-sticky") !== "1") {
        window.setTimeout(function () { toast.remove(); }, TOAST_MS);
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { armToasts(document); });
  document.addEventListener("htmx:afterSettle", function () { armToasts(document); });
  document.addEventListener("htmx:oobAfterSwap", function () { armToasts(document); });

  // A network failure never reaches the server, so it cannot send a toast: show one here.
  document.addEventListener("htmx:sendError", function () {
    var region = document.getElementById("toasts");
    if (!region) return;
    var toast = document.createElement("div");
    toast.setAttribute("data-toast", "");
    toast.setAttribute("role", "alert");
    toast.className = "alert alert-error";
    toast.textContent = "The server could not be reached. Check your connection and try again.";
    region.appendChild(toast);
    armToasts(region);
  });

  // Destructive forms carry data-confirm: ask before they are sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
