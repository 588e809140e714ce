// Dragging agenda items into a new order, where a fine pointer (a mouse) is available.
// Without it (touch, keyboard, no script) the arrow buttons do the same.
(function () {
  "use strict";
  var table = document.getElementById("agenda-table");
  if (!table || !window.matchMedia("(pointer: fine)").matches) { return; }
  var body = table.tBodies[0];
  var save = document.getElementById("agenda-save-order");
  var order = document.getElementById("agenda-order");
  var hint = document.getElementById("agenda-drag-hint");
  var dragged = null;
  hint.hidden = false;
  Array.prototype.forEach.call(body.rows, function (row) {
    row.draggable = true;
    row.addEventListener("dragstart", function (event) {
      dragged = row;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", row.dataset.item);
    });
    row.addEventListener("dragover", function (event) {
      if (!dragged || dragged === row || dragged.dataset.public !== row.dataset.public) { return; }
      event.preventDefault();  // within its own part only
    });
    row.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!dragged || dragged === row) { return; }
      var rect = row.getBoundingClientRect();
      var after = event.clientY > rect.top + rect.height / 2;
      body.insertBefore(dragged, after ? row.nextSibling : row);
      order.value = Array.prototype.map.call(body.rows, function (r) { return r.dataset.item; }).join(",");
      save.hidden = false;
      dragged = null;
    });
  });
})();
