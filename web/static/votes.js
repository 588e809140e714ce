// The result step's shortcuts (issue 19): "einstimmig", "mehrheitlich" and "namentlich" fill the
// counts from the voting members present at the TOP (data-voters) or the roll call; the server
// fills and checks them the same way, this only shows them before sending.
(function () {
  "use strict";
  var form = document.querySelector("form[data-voters]");
  var mode = form && form.querySelector("#abstimmung");
  if (!mode) { return; }
  var voters = parseInt(form.getAttribute("data-voters"), 10);
  var yes = form.querySelector("#ja"), no = form.querySelector("#nein"), abstain = form.querySelector("#enthaltungen");
  function value(input) { var n = parseInt(input.value, 10); return isNaN(n) ? null : n; }
  function fill() {
    if (!yes || !no || !abstain) { return; }
    if (mode.value === "einstimmig") {
      no.value = "0";
      yes.value = String(voters - (value(abstain) || 0));
    } else if (mode.value === "mehrheitlich" && value(no) !== null) {
      yes.value = String(voters - value(no) - (value(abstain) || 0));
    } else if (mode.value === "namentlich" && form.getAttribute("data-roll-call")) {
      var counts = form.getAttribute("data-roll-call").split(",");
      yes.value = counts[0]; no.value = counts[1]; abstain.value = counts[2];
    }
  }
  mode.addEventListener("change", fill);
  [no, abstain].forEach(function (input) { if (input) { input.addEventListener("input", fill); } });
}());
