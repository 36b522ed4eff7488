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
      deepLinking: true,
      persistAuthorization: false,
      // The default would load a badge from an outside validator service.
      validatorUrl: null,
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
