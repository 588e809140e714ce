// The auditor's diagram: bpmn-js draws the model; completed steps, the current step and the
// sequence flows taken are marked (CSS classes rf-done, rf-current, rf-taken).
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  if (!container || !window.BpmnJS) { return; }
  var viewer = new window.BpmnJS({ container: container });
  Promise.all([
    fetch(container.dataset.model, { credentials: "same-origin" }).then(function (r) { return r.text(); }),
    fetch(container.dataset.state, { credentials: "same-origin" }).then(function (r) { return r.json(); })
  ]).then(function (loaded) {
    return viewer.importXML(loaded[0]).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var mark = function (ids, marker) {
        ids.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, marker); } });
      };
      mark(loaded[1].completed, "rf-done");
      mark(loaded[1].taken, "rf-taken");
      mark(loaded[1].current, "rf-current");
      canvas.zoom("fit-viewport");
      container.dataset.ready = "true";
    });
  }).catch(function (error) {
    container.textContent = "Das Diagramm konnte nicht geladen werden: " + error;
    container.dataset.ready = "error";
  });
})();
