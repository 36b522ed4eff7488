// Starts Swagger UI on #swagger-ui without inline script (CSP): the page gives
// the OpenAPI document's address in data-openapi-url.
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("swagger-ui");
    if (!el || typeof window.SwaggerUIBundle !== "function") return;
    window.SwaggerUIBundle({
      url: el.getAttribute("data-openapi-url"),
      dom_id: "#swagger-ui",
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      // Deep links put an <a> inside each operation's toggle button (nested interactive controls).
      deepLinking: false,
      persistAuthorization: false,
      // The default would load a badge from an outside validator service.
      validatorUrl: null,
      // "Try it out" sends the browser's cookies, so unsafe calls carry the page's CSRF token.
      requestInterceptor: function (request) {
        var meta = document.querySelector('meta[name="csrf-token"]');
        if (meta) request.headers["X-CSRF-Token"] = meta.getAttribute("content");
        return request;
      },
      onComplete: function () {
        // Swagger UI wraps the server picker in an empty <label>: give it a name.
        var servers = document.getElementById("servers");
        if (servers && !servers.getAttribute("aria-label")) servers.setAttribute("aria-label", "Server");
      },
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
