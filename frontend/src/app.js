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

  // The notification bell (data-bell): its badge and label follow the unread count live over
  // Server-Sent Events; where EventSource is missing or keeps failing, the count is polled.
  var POLL_MS = 30000;
  var STREAM_FAILURES = 3;

  function startBell() {
    var bell = document.querySelector("[data-bell]");
    if (!bell) return;
    var menu = bell.querySelector("[data-bell-menu]");
    var toggle = bell.querySelector("[data-bell-toggle]");
    var badge = bell.querySelector("[data-bell-badge]");
    var list = document.getElementById("notification-menu");

    function setCount(value) {
      var count = Number(value) || 0;
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.hidden = count === 0;
      toggle.setAttribute("aria-label", count === 0 ? "Notifications" : "Notifications, " + count + " unread");
    }

    // The menu's list loads when it opens (and again when something new arrives while open).
    function refreshMenu() {
      if (menu.open && list && window.htmx) window.htmx.trigger(list, "bell-open");
    }
    menu.addEventListener("toggle", refreshMenu);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        toggle.focus();
      }
    });
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });

    function announce(data) {
      var region = document.getElementById("toasts");
      if (!region || !data.title) return;
      var toast = document.createElement("div");
      toast.setAttribute("data-toast", "");
      toast.setAttribute("role", "status");
      toast.className = "alert alert-info shadow-lg";
      var safeLink = typeof data.link === "string" && data.link.charAt(0) === "/" && data.link.charAt(1) !== "/";
      var text = document.createElement(safeLink ? "a" : "span");
      text.textContent = data.title;
      if (safeLink) {
        text.href = data.link;
        text.className = "underline";
      }
      toast.appendChild(text);
      region.appendChild(toast);
      armToasts(region);
    }

    var polling = null;
    function stopPolling() {
      if (polling !== null) window.clearInterval(polling);
      polling = null;
    }
    function poll() {
      window
        .fetch(bell.getAttribute("data-count-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) stopPolling(); // signed out meanwhile
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (data) setCount(data.unread);
        })
        .catch(function () {});
    }
    function startPolling() {
      if (polling !== null) return;
      poll();
      polling = window.setInterval(poll, POLL_MS);
    }

    if (typeof window.EventSource !== "function") {
      startPolling();
      return;
    }
    var failures = 0;
    var source = new window.EventSource(bell.getAttribute("data-stream-url"));
    source.addEventListener("unread", function (event) {
      failures = 0;
      setCount(JSON.parse(event.data).unread);
    });
    source.addEventListener("notification", function (event) {
      failures = 0;
      var data = JSON.parse(event.data);
      setCount(data.unread);
      announce(data);
      refreshMenu();
    });
    source.addEventListener("error", function () {
      // The browser reconnects by itself; after repeated failures, or a refusal it will not
      // retry, the count is polled instead.
      failures += 1;
      if (failures >= STREAM_FAILURES || source.readyState === window.EventSource.CLOSED) {
        source.close();
        startPolling();
      }
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
  }
  document.addEventListener("DOMContentLoaded", startBell);
  // The file uploader (data-uploader on its form): files picked or dropped are sent one request
  // each to the API with XMLHttpRequest, so each gets a progress bar; the server's problem+json
  // detail is shown per file. When they are done the list (data-refresh-target) is reloaded.
  // Without JavaScript the same form posts as a plain multipart form to its action.
  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function uploadOne(url, file, purpose, row) {
    var bar = row.querySelector("progress");
    var status = row.querySelector("[data-upload-status]");
    return new Promise(function (resolve) {
      var request = new XMLHttpRequest();
      request.open("POST", url);
      request.setRequestHeader("X-CSRF-Token", csrfToken());
      request.setRequestHeader("Accept", "application/json");
      request.upload.onprogress = function (event) {
        if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
      };
      function fail(message) {
        row.setAttribute("data-state", "error");
        status.textContent = message;
        status.setAttribute("role", "alert");
        status.className = "text-sm text-red-700 dark:text-red-400";
        resolve(false);
      }
      request.onload = function () {
        if (request.status >= 200 && request.status < 300) {
          bar.value = 100;
          row.setAttribute("data-state", "done");
          status.textContent = "Uploaded";
          resolve(true);
          return;
        }
        var detail = "";
        try {
          detail = JSON.parse(request.responseText).detail || "";
        } catch (error) {
          detail = "";
        }
        if (typeof detail !== "string") detail = "";
        fail(detail || "The upload failed (error " + request.status + ").");
      };
      request.onerror = function () { fail("The server could not be reached. Check your connection and try again."); };
      var body = new FormData();
      body.append("file", file);
      if (purpose) body.append("purpose", purpose);
      request.send(body);
    });
  }

  function startUploader(form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector("[data-drop-zone]") || form;
    var list = form.querySelector("[data-upload-list]");
    var url = form.getAttribute("data-upload-url");
    var purposeField = form.querySelector("[name=purpose]");

    function send(files) {
      if (!files || files.length === 0) return;
      var purpose = purposeField ? purposeField.value : "";
      var pending = Array.prototype.map.call(files, function (file) {
        var row = document.createElement("li");
        row.className = "space-y-1";
        row.setAttribute("data-upload-item", "");
        row.setAttribute("data-state", "uploading");
        var name = document.createElement("span");
        name.className = "text-sm font-medium break-all";
        name.textContent = file.name;
        var bar = document.createElement("progress");
        bar.className = "uk-progress w-full";
        bar.max = 100;
        bar.value = 0;
        bar.setAttribute("aria-label", "Uploading " + file.name);
        var status = document.createElement("p");
        status.className = "text-sm";
        status.setAttribute("data-upload-status", "");
        status.textContent = "Uploading…";
        row.appendChild(name);
        row.appendChild(bar);
        row.appendChild(status);
        list.appendChild(row);
        return uploadOne(url, file, purpose, row);
      });
      Promise.all(pending).then(function (results) {
        input.value = "";
        if (results.indexOf(true) === -1) return;
        var target = document.querySelector(form.getAttribute("data-refresh-target"));
        if (target && window.htmx) window.htmx.trigger(target, "files-changed");
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(input.files);
    });
    input.addEventListener("change", function () { send(input.files); });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.setAttribute("data-dragging", "1");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.removeAttribute("data-dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer) send(event.dataTransfer.files);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof window.FormData !== "function" || typeof window.XMLHttpRequest !== "function") return;
    document.querySelectorAll("form[data-uploader]").forEach(startUploader);
  });
})();
