// The Beratungsfolge of a new Vorlage: each row's session picker offers only the sessions of
// the Gremium chosen in that row (the page lists every Gremium's sessions ahead, grouped, for
// a browser without scripts; the server refuses a session of another Gremium either way).
(function () {
  "use strict";
  document.querySelectorAll("select[data-gremium-from]").forEach(function (sessions) {
    var gremium = document.getElementById(sessions.dataset.gremiumFrom);
    if (!gremium) { return; }
    var open = sessions.options[0].cloneNode(true);  // "Sitzung offen"
    var all = Array.prototype.slice.call(sessions.querySelectorAll("option[data-gremium]"))
      .map(function (option) { return option.cloneNode(true); });
    var groups = sessions.cloneNode(true);  // as the server drew it, grouped by Gremium
    var offer = function () {
      var chosen = gremium.value;
      var selected = sessions.value;
      if (!chosen) {
        sessions.replaceChildren.apply(sessions, Array.prototype.slice.call(groups.cloneNode(true).children));
      } else {
        var fitting = all.filter(function (option) { return option.dataset.gremium === chosen; })
          .map(function (option) { return option.cloneNode(true); });
        sessions.replaceChildren.apply(sessions, [open.cloneNode(true)].concat(fitting));
      }
      var kept = Array.prototype.some.call(sessions.options, function (o) { return o.value === selected; });
      sessions.value = kept ? selected : "";
    };
    gremium.addEventListener("change", offer);
    offer();
  });
})();
