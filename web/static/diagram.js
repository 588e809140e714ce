// A BPMN diagram drawn by bpmn-js from the model at data-model. The auditor's diagram also
// has data-state: its completed steps, the current step and the sequence flows taken are
// marked (CSS classes rf-done, rf-current, rf-taken). A model version's page has none.
// A page may have several (the models a call activity calls, below the caller's).
(function () {
  "use strict";
  if (!window.BpmnJS) { return; }

  function draw(container) {
    var viewer = new window.BpmnJS({ container: container });
    var noState = Promise.resolve({ completed: [], taken: [], current: [] });
    Promise.all([
      fetch(container.dataset.model, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      }),
      container.dataset.state ?
        fetch(container.dataset.state, { credentials: "same-origin" }).then(function (r) { return r.json(); }) :
        noState
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
  }

  document.querySelectorAll(".diagram[data-model]").forEach(draw);
})();
