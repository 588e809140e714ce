// The modeler (Verwaltung → Modeler, web/templates/modeler.html), bundled by esbuild at set-up
// (`npm --prefix web ci` runs `npm run build`; the bundle lands in web/build/, outside the
// repository): bpmn-js Modeler with the properties panel; Camunda's moddle descriptor (what
// engine/workflow/camunda.py reads from models drawn in Camunda Modeler) and ratsflow's own
// (spiffworkflow:properties, which the engine reads), edited in the group "Im Rat"
// (ratsflow-properties.js); German labels; "Prüfen" and "Bereitstellen" through the JSON API with
// the session's CSRF token, so the browser hears the same findings as the CLI.
import Modeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, CamundaPlatformPropertiesProviderModule
} from 'bpmn-js-properties-panel';
import camunda from 'camunda-bpmn-moddle/resources/camunda.json';
import spiffworkflow from './spiffworkflow.json';
import RatsflowPropertiesProvider from './ratsflow-properties.js';

// Labels of the modeler and its panel in German (bpmn-js asks its "translate" service).
const GERMAN = {
  "General": "Allgemein", "Name": "Name", "ID": "ID", "Documentation": "Dokumentation",
  "Element documentation": "Dokumentation des Elements", "Process documentation": "Dokumentation des Prozesses",
  "User assignment": "Zuständigkeit", "Assignee": "Bearbeitung durch", "Candidate groups": "Gremium (Kurzname)",
  "Candidate users": "Benutzer", "Due date": "Fällig (Dauer wie P3D oder Fristregel)",
  "Follow up date": "Wiedervorlage (Dauer wie P1D)", "Priority": "Priorität", "Forms": "Formular",
  "Form": "Formular", "Type": "Art", "Form key": "Formular (NAME.schema.json)", "Condition": "Bedingung",
  "Condition type": "Art der Bedingung", "Expression": "Ausdruck (Python)", "Script": "Skript",
  "Format": "Sprache", "Script type": "Art des Skripts", "Inline script": "Im Modell", "External resource": "Datei",
  "Timer": "Zeitereignis", "Date": "Zeitpunkt", "Duration": "Dauer", "Cycle": "Wiederholung", "Value": "Wert",
  "<none>": "<keine>", "Extension properties": "Weitere Eigenschaften (Camunda)",
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

const translation = {
  translate: ['value', (template, replacements) => (GERMAN[template] || template)
    .replace(/{([^}]+)}/g, (_, key) => (replacements || {})[key] || '{' + key + '}')]
};
const ratsflowPanel = {
  __init__: ['ratsflowPropertiesProvider'],
  ratsflowPropertiesProvider: ['type', RatsflowPropertiesProvider]
};

const root = document.getElementById('modeler');
const result = document.getElementById('modeler-result');

function say(title, lines, failed) {
  result.textContent = '';
  const p = document.createElement('p');
  p.textContent = title;
  if (failed) { p.className = 'error'; }
  result.appendChild(p);
  if (lines.length) {
    const ul = document.createElement('ul');
    lines.forEach((line) => { const li = document.createElement('li'); li.textContent = line; ul.appendChild(li); });
    result.appendChild(ul);
  }
  root.dataset.state = failed ? 'refused' : 'ok';
}

async function start() {
  const vocabulary = JSON.parse(root.dataset.vocabulary);
  const modeler = new Modeler({
    container: '#modeler-canvas',
    propertiesPanel: { parent: '#modeler-panel' },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule,
                        CamundaPlatformPropertiesProviderModule, translation, ratsflowPanel],
    moddleExtensions: { camunda, spiffworkflow },
    ratsflow: vocabulary
  });
  window.ratsflowModeler = modeler;  // the browser test edits through it, as a person would
  const xml = await (await fetch(root.dataset.model, { credentials: 'same-origin' })).text();
  const { warnings } = await modeler.importXML(xml);
  modeler.get('canvas').zoom('fit-viewport');
  const deploy = document.getElementById('modeler-deploy');
  if (warnings.length) {
    // What the modeler does not know would be lost on saving: say so, and deploy nothing from here.
    deploy.disabled = true;
    say(vocabulary.labels.unknownContent, warnings.map((w) => w.message), true);
  }
  root.dataset.ready = 'true';

  async function send(url, verb) {
    const saved = await modeler.saveXML({ format: true });
    const response = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': root.dataset.csrf },
      body: JSON.stringify({ files: [{ name: root.dataset.file, content: saved.xml }] })
    });
    const body = await response.json();
    let lines = [];
    (body.models || []).forEach((m) => { (m.findings || []).forEach((f) => lines.push(f.text)); });
    if (body.errors) { Object.keys(body.errors).forEach((k) => { lines = lines.concat(body.errors[k]); }); }
    if (body.ok) {
      const m = body.models[0];
      say(verb === 'check' ? vocabulary.labels.checked
        : (m.new ? vocabulary.labels.deployed : vocabulary.labels.unchanged).replace('{version}', m.version), [], false);
    } else {
      say(body.message || vocabulary.labels.refused, lines, true);
    }
  }
  document.getElementById('modeler-check').addEventListener('click', () => send(root.dataset.check, 'check'));
  deploy.addEventListener('click', () => send(root.dataset.deploy, 'deploy'));
}

if (root) {
  start().catch((error) => {
    root.dataset.ready = 'error';
    say(JSON.parse(root.dataset.vocabulary).labels.broken + ' ' + error, [], true);
  });
}
