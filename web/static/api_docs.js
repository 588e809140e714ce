// The API's browsable documentation: Swagger UI (npm swagger-ui-dist, served locally),
// started here rather than inline, so the strict Content-Security-Policy holds.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-url"),
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
    validatorUrl: null,
  });
})();
