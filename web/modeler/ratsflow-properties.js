// The properties panel's group "Im Rat": what ratsflow reads from a model element
// (spiffworkflow:properties, engine/process/rules.py and effects.py; scripts in Python), each
// chosen from what the server knows (forms, Gremien, effects, due rules, guards, roles, end
// states), so that the administrator picks names the deploy accepts. Labels come from the
// server, translated there (web/modeler.py).
import {
  SelectEntry, TextAreaEntry, TextFieldEntry, isSelectEntryEdited, isTextAreaEntryEdited, isTextFieldEntryEdited
} from '@bpmn-io/properties-panel';
import { jsx } from '@bpmn-io/properties-panel/preact/jsx-runtime';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is, isAny } from 'bpmn-js/lib/util/ModelUtil';

const PROPERTIES = 'spiffworkflow:Properties';
const PROPERTY = 'spiffworkflow:Property';
const CAMUNDA_GROUPS = 'camunda:candidateGroups';
const OTHER_DURATION = '__dauer';
// An ISO 8601 duration in days/weeks/months/years (what a due or follow-up date may be).
const DURATION = /^P(?=\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$/;

function propertiesOf(bo) {
  const extensions = bo.get('extensionElements');
  return extensions ? (extensions.get('values') || []).find((v) => is(v, PROPERTIES)) : undefined;
}

export function readProperty(element, name) {
  const properties = propertiesOf(getBusinessObject(element));
  const found = properties && (properties.get('properties') || []).find((p) => p.get('name') === name);
  return found ? found.get('value') : undefined;
}

// Set (a value) or remove (undefined, '') named properties of an element, and set or remove
// attributes of its business object, as one command: one step to undo.
export function writeProperties(element, changes, attributes, services) {
  const { bpmnFactory, commandStack } = services;
  const bo = getBusinessObject(element);
  const commands = [];
  const update = (moddleElement, properties) =>
    commands.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement, properties } });
  let extensions = bo.get('extensionElements');
  if (!extensions) {
    extensions = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    extensions.$parent = bo;
    update(bo, { extensionElements: extensions });
  }
  let properties = propertiesOf(bo);
  if (!properties) {
    properties = bpmnFactory.create(PROPERTIES, { properties: [] });
    properties.$parent = extensions;
    update(extensions, { values: [...(extensions.get('values') || []), properties] });
  }
  let list = [...(properties.get('properties') || [])];
  Object.keys(changes).forEach((name) => {
    const value = changes[name];
    const existing = list.find((p) => p.get('name') === name);
    if (value === undefined || value === '') {
      list = list.filter((p) => p !== existing);
    } else if (existing) {
      update(existing, { value });
    } else {
      const created = bpmnFactory.create(PROPERTY, { name, value });
      created.$parent = properties;
      list.push(created);
    }
  });
  update(properties, { properties: list });
  if (attributes && Object.keys(attributes).length) {
    update(bo, attributes);
  }
  commandStack.execute('properties-panel.multi-command-executor', commands);
}

function useWriter() {
  const services = { bpmnFactory: useService('bpmnFactory'), commandStack: useService('commandStack') };
  return (element, changes, attributes) => writeProperties(element, changes, attributes, services);
}

// The choices, with "none" first and the element's present value kept even when the server
// does not know it (the deploy will say why; the panel must not hide it).
function choices(vocabulary, options, current) {
  const all = [{ value: '', label: vocabulary.labels.none }, ...options];
  if (current && !all.some((o) => o.value === current)) {
    all.push({ value: current, label: vocabulary.labels.unknown.replace('{value}', current) });
  }
  return all;
}

function PropertySelect(props) {
  const { element, id, label, property, options, vocabulary } = props;
  const write = useWriter();
  const getValue = () => readProperty(element, property) || '';
  return jsx(SelectEntry, {
    element, id, label, getValue,
    setValue: (value) => write(element, { [property]: value || undefined }),
    getOptions: () => choices(vocabulary, options, getValue())
  });
}

function PropertyText(props) {
  const { element, id, label, property, vocabulary, duration } = props;
  const write = useWriter();
  return jsx(TextFieldEntry, {
    element, id, label, debounce: useService('debounceInput'),
    getValue: () => readProperty(element, property) || '',
    // An invalid value stays in the field with its message and is not written into the model.
    setValue: (value, error) => error || write(element, { [property]: (value || '').trim() || undefined }),
    validate: duration ? (value) => (value && !DURATION.test(value.trim()) ? vocabulary.labels.notDuration : null)
      : undefined
  });
}

// Who does a user task: the Gremium of the Beratung or of the Sitzung (an expression,
// candidateOrganization), or one Gremium by its short name (candidateGroup; Camunda's
// camunda:candidateGroups is read too and replaced on change).
function candidateOf(element) {
  const expression = readProperty(element, 'candidateOrganization');
  if (expression) { return 'o:' + expression; }
  const group = readProperty(element, 'candidateGroup') || getBusinessObject(element).get(CAMUNDA_GROUPS);
  return group ? 'g:' + group : '';
}

function CandidateSelect(props) {
  const { element, id, label, vocabulary } = props;
  const write = useWriter();
  const options = [
    ...vocabulary.candidates.map((c) => ({ value: 'o:' + c.value, label: c.label })),
    ...vocabulary.bodies.map((b) => ({ value: 'g:' + b.value, label: b.label }))
  ];
  return jsx(SelectEntry, {
    element, id, label,
    getValue: () => candidateOf(element),
    setValue: (value) => write(element, {
      candidateOrganization: value.startsWith('o:') ? value.slice(2) : undefined,
      candidateGroup: value.startsWith('g:') ? value.slice(2) : undefined
    }, getBusinessObject(element).get(CAMUNDA_GROUPS) ? { [CAMUNDA_GROUPS]: undefined } : {}),
    getOptions: () => choices(vocabulary, options, candidateOf(element))
  });
}

// The due date: a rule of the council (agenda closing, after the session, …) or a duration.
function DueSelect(props) {
  const { element, id, label, vocabulary } = props;
  const write = useWriter();
  const current = () => {
    const value = readProperty(element, 'dueDate') || '';
    return DURATION.test(value) ? OTHER_DURATION : value;
  };
  return jsx(SelectEntry, {
    element, id, label,
    getValue: current,
    setValue: (value) => write(element, { dueDate: value === OTHER_DURATION ? 'P1W' : (value || undefined) }),
    getOptions: () => choices(vocabulary, [...vocabulary.dueRules,
      { value: OTHER_DURATION, label: vocabulary.labels.duration }], current())
  });
}

function ScriptArea(props) {
  const { element, id, label } = props;
  const modeling = useService('modeling');
  return jsx(TextAreaEntry, {
    element, id, label, monospace: true, rows: 6, debounce: useService('debounceInput'),
    getValue: () => getBusinessObject(element).get('script') || '',
    setValue: (value) => modeling.updateProperties(element, { script: value || undefined, scriptFormat: 'python' })
  });
}

function entriesFor(element, vocabulary) {
  const L = vocabulary.labels;
  const entries = [];
  const select = (property, label, options) => entries.push({
    id: 'ratsflow-' + property, component: PropertySelect, isEdited: isSelectEntryEdited,
    property, label, options, vocabulary
  });
  const text = (property, label, duration, id) => entries.push({
    id: 'ratsflow-' + (id || property), component: PropertyText, isEdited: isTextFieldEntryEdited,
    property, label, duration, vocabulary
  });
  if (is(element, 'bpmn:UserTask')) {
    select('formJsonSchemaFilename', L.form, vocabulary.forms);
    entries.push({ id: 'ratsflow-candidate', component: CandidateSelect, isEdited: isSelectEntryEdited,
                   label: L.candidate, vocabulary });
    entries.push({ id: 'ratsflow-dueDate', component: DueSelect, isEdited: isSelectEntryEdited,
                   label: L.due, vocabulary });
    if (DURATION.test(readProperty(element, 'dueDate') || '')) {
      text('dueDate', L.dueDuration, true, 'dueDuration');
    }
    text('followUpDate', L.followUp, true);
    select('completableFrom', L.guard, vocabulary.guards);
  }
  if (is(element, 'bpmn:ScriptTask')) {
    entries.push({ id: 'ratsflow-script', component: ScriptArea, isEdited: isTextAreaEntryEdited, label: L.script });
  }
  if (isAny(element, ['bpmn:Activity', 'bpmn:Event'])) {
    select('effect', L.effect, vocabulary.effects);
    select('role', L.role, vocabulary.roles);
  }
  if (is(element, 'bpmn:EndEvent')) {
    select('endState', L.endState, vocabulary.endStates);
  }
  if (is(element, 'bpmn:UserTask')) {
    text('titleEn', L.titleEn, false);
  }
  return entries;
}

// Camunda's groups whose settings mean nothing here (the deploy refuses them) or that "Im Rat"
// replaces (who does a task, its form, its script).
const DROPPED = /^CamundaPlatform__(TaskListener|AsynchronousContinuations|Input|Output|ExecutionListener|JobExecution|HistoryCleanup|Tasklist|CandidateStarter|ExternalTask|ProcessVariables|Implementation|Connector|Field|InMapping|OutMapping|Error|Escalation|UserAssignment|Form|Script|StartInitiator|BusinessKey)/;

export default function RatsflowPropertiesProvider(propertiesPanel, config) {
  const vocabulary = config;
  this.getGroups = function (element) {
    return function (groups) {
      const kept = groups.filter((g) => !DROPPED.test(g.id));
      const entries = entriesFor(element, vocabulary);
      if (entries.length) {
        const after = kept.findIndex((g) => g.id === 'general');
        kept.splice(after + 1, 0, { id: 'ratsflow', label: vocabulary.labels.group, entries });
      }
      return kept;
    };
  };
  propertiesPanel.registerProvider(100, this);
}

RatsflowPropertiesProvider.$inject = ['propertiesPanel', 'config.ratsflow'];
