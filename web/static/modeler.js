// The modeler (Verwaltung): bpmn-js Modeler with the properties panel and Camunda's moddle
// descriptor; only the groups whose settings mean something here; German labels; "Prüfen"
// and "Bereitstellen" through the JSON API with the session's CSRF token.
(function () {
  "use strict";
  var root = document.getElementById("modeler");
  var Panel = window.BpmnJSPropertiesPanel;
  if (!root || !window.BpmnJS || !Panel) { return; }

  // Labels of the modeler and its panel in German (bpmn-js asks its "translate" service).
  var GERMAN = {
    "General": "Allgemein", "Name": "Name", "ID": "ID", "Documentation": "Dokumentation",
    "Element documentation": "Dokumentation des Elements", "Process documentation": "Dokumentation des Prozesses",
    "User assignment": "Zuständigkeit", "Assignee": "Bearbeitung durch", "Candidate groups": "Gremium (Kurzname)",
    "Candidate users": "Benutzer", "Due date": "Fällig (Dauer wie P3D oder Fristregel)",
    "Follow up date": "Wiedervorlage (Dauer wie P1D)", "Priority": "Priorität", "Forms": "Formular",
    "Form": "Formular", "Type": "Art", "Form key": "Formular (NAME.schema.json)", "Condition": "Bedingung",
    "Condition type": "Art der Bedingung", "Expression": "Ausdruck (Python)", "Script": "Skript",
    "Format": "Sprache", "Script type": "Art des Skripts", "Inline script": "Im Modell", "External resource": "Datei",
    "Timer": "Zeitereignis", "Date": "Zeitpunkt", "Duration": "Dauer", "Cycle": "Wiederholung", "Value": "Wert",
    "<none>": "<keine>", "Extension properties": "Eigenschaften (effect, completableFrom …)",
    "Create new list item": "Neuer Eintrag", "Delete item": "Eintrag löschen", "Add": "Hinzufügen",
    "Delete": "Löschen", "Executable": "Ausführbar", "Version tag": "Versionskennung",
    "Create StartEvent": "Startereignis anlegen", "Create EndEvent": "Endereignis anlegen",
    "Create Task": "Aufgabe anlegen", "Create Gateway": "Gateway anlegen",
    "Create Intermediate/Boundary Event": "Zwischenereignis anlegen", "Create expanded SubProcess": "Unterprozess anlegen",
    "Create Pool/Participant": "Pool anlegen", "Create DataObjectReference": "Datenobjekt anlegen",
    "Create DataStoreReference": "Datenspeicher anlegen", "Create Group": "Gruppe anlegen",
    "Activate hand tool": "Hand-Werkzeug", "Activate lasso tool": "Lasso-Werkzeug",
    "Activate create/remove space tool": "Platz schaffen", "Activate global connect tool": "Verbinden",
    "Append Task": "Aufgabe anhängen", "Append EndEvent": "Endereignis anhängen", "Append Gateway": "Gateway anhängen",
    "Append Intermediate/Boundary Event": "Zwischenereignis anhängen", "Change element": "Element ändern",
    "Change type": "Art ändern", "Delete element": "Element löschen", "Connect using Sequence/MessageFlow or Association": "Verbinden",
    "Connect to other element": "Mit anderem Element verbinden", "Add text annotation": "Notiz hinzufügen",
    "User task": "Benutzeraufgabe", "Script task": "Skriptaufgabe", "Service task": "Serviceaufgabe",
    "Task": "Aufgabe", "Exclusive gateway": "Exklusives Gateway", "Parallel gateway": "Paralleles Gateway",
    "Start event": "Startereignis", "End event": "Endereignis", "Timer intermediate catch event": "Zeitereignis",
    "Call activity": "Aufrufaktivität", "Sub-process (collapsed)": "Unterprozess (zugeklappt)",
    "User Task": "Benutzeraufgabe", "Script Task": "Skriptaufgabe", "Service Task": "Serviceaufgabe",
    "Exclusive Gateway": "Exklusives Gateway", "Parallel Gateway": "Paralleles Gateway",
    "Start Event": "Startereignis", "End Event": "Endereignis", "Sequence Flow": "Sequenzfluss",
    "Process": "Prozess", "Participant": "Pool", "Lane": "Bahn", "Intermediate Catch Event": "Zwischenereignis",
    "Boundary Event": "Randereignis", "Call Activity": "Aufrufaktivität", "Sub Process": "Unterprozess"
  };
  var translation = {
    translate: ["value", function (template, replacements) {
      var text = GERMAN[template] || template;
      return text.replace(/{([^}]+)}/g, function (_, key) { return (replacements || {})[key] || "{" + key + "}"; });
    }]
  };
  // What the Camunda groups offer that has no meaning here (the deploy would refuse it).
  var DROPPED = /^CamundaPlatform__(TaskListener|AsynchronousContinuations|Input|Output|ExecutionListener|JobExecution|HistoryCleanup|Tasklist|CandidateStarter|ExternalTask|ProcessVariables|Implementation|Connector|Field|InMapping|OutMapping|Error|Escalation)/;
  var onlyOurs = {
    getGroups: function () {
      return function (groups) { return groups.filter(function (g) { return !DROPPED.test(g.id); }); };
    }
  };

  var result = document.getElementById("modeler-result");
  function say(title, lines, failed) {
    result.textContent = "";
    var p = document.createElement("p");
    p.textContent = title;
    if (failed) { p.className = "error"; }
    result.appendChild(p);
    if (lines.length) {
      var ul = document.createElement("ul");
      lines.forEach(function (line) { var li = document.createElement("li"); li.textContent = line; ul.appendChild(li); });
      result.appendChild(ul);
    }
    root.dataset.state = failed ? "refused" : "ok";
  }

  fetch(root.dataset.moddle, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (camunda) {
    var modeler = new window.BpmnJS({
      container: "#modeler-canvas",
      propertiesPanel: { parent: "#modeler-panel" },
      additionalModules: [Panel.BpmnPropertiesPanelModule, Panel.BpmnPropertiesProviderModule,
                          Panel.CamundaPlatformPropertiesProviderModule, translation],
      moddleExtensions: { camunda: camunda }
    });
    window.ratsflowModeler = modeler;  // the browser test edits through it, as a person would
    modeler.get("propertiesPanel").registerProvider(100, onlyOurs);
    return fetch(root.dataset.model, { credentials: "same-origin" }).then(function (r) { return r.text(); })
      .then(function (xml) { return modeler.importXML(xml); })
      .then(function () {
        modeler.get("canvas").zoom("fit-viewport");
        root.dataset.ready = "true";
        function send(url, verb) {
          return modeler.saveXML({ format: true }).then(function (saved) {
            return fetch(url, {
              method: "POST", credentials: "same-origin",
              headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
              body: JSON.stringify({ files: [{ name: root.dataset.file, content: saved.xml }] })
            });
          }).then(function (response) { return response.json(); }).then(function (body) {
            var lines = [];
            (body.models || []).forEach(function (m) {
              (m.findings || []).forEach(function (f) { lines.push(f.text); });
            });
            if (body.errors) { Object.keys(body.errors).forEach(function (k) { lines = lines.concat(body.errors[k]); }); }
            if (body.ok) {
              var m = body.models[0];
              say(verb === "check" ? "In Ordnung: das Modell lässt sich bereitstellen." :
                  (m.new ? "Bereitgestellt als Version " + m.version + "." : "Unverändert (Version " + m.version + ")."), [], false);
            } else {
              say(body.message || "Das Modell wurde nicht bereitgestellt:", lines, true);
            }
          });
        }
        document.getElementById("modeler-check").addEventListener("click", function () { send(root.dataset.check, "check"); });
        document.getElementById("modeler-deploy").addEventListener("click", function () { send(root.dataset.deploy, "deploy"); });
      });
  }).catch(function (error) {
    root.dataset.ready = "error";
    say("Der Modeler konnte nicht geladen werden: " + error, [], true);
  });
})();
