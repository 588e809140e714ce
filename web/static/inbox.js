// The inbox list refreshes itself on the first page, so new tasks show up without a reload.
// It never replaces the list while someone is selecting tasks or has focus inside it.
(function () {
  "use strict";
  var list = document.getElementById("liste");
  var status = document.getElementById("liste-status");
  if (!list || list.dataset.firstPage !== "true" || !window.fetch) { return; }
  var INTERVAL = 30000;
  function busy() {
    return document.querySelector("input[form=bulk]:checked") !== null ||
      list.contains(document.activeElement);
  }
  function ids(root) {
    return Array.prototype.map.call(root.querySelectorAll("tbody tr a[href]"), function (a) {
      return a.getAttribute("href");
    }).join(" ");
  }
  function refresh() {
    if (document.hidden || busy()) { return; }
    fetch(list.dataset.poll, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || busy()) { return; }
        var fresh = document.createElement("div");
        fresh.innerHTML = html;
        if (ids(fresh) === ids(list)) { return; }
        list.innerHTML = html;
        if (status) { status.textContent = status.dataset.message || "Die Liste wurde aktualisiert."; }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }
  window.setInterval(refresh, INTERVAL);
})();
