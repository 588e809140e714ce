"""What changed between two versions of a BPMN model: elements added, removed and changed.

Elements are matched by their BPMN id. For each one the comparison looks at what a modeler
changes on purpose: its kind (``userTask``…), its name, the sequence flows in and out
(for a flow: where it comes from and goes to), a flow's condition, a gateway's default flow,
a timer's text, a script, a called process, and the extension properties
(``spiffworkflow:property``). The diagram's layout (``bpmndi``) does not count.

Pure: two XML texts in, a :class:`ModelDiff` out; parsed as safely as a deploy parses
(no DOCTYPE, no entities, no network; :func:`engine.workflow.runtime._read_xml`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
#: Containers whose children are the model's elements.
_CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess", "laneSet"}
#: Children that belong to their element (compared as one of its aspects), not elements.
_PARTS = {"extensionElements", "documentation", "incoming", "outgoing", "conditionExpression",
          "script", "multiInstanceLoopCharacteristics", "standardLoopCharacteristics",
          "ioSpecification", "dataInputAssociation", "dataOutputAssociation", "property",
          "flowNodeRef", "childLaneSet"}
_TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
#: The order in which an element's changes are listed.
ASPECTS = ("type", "name", "source", "target", "incoming", "outgoing", "condition", "default",
           "timer", "event", "script", "called", "property")


class ModelDiffError(ValueError):
    """A text that cannot be compared (not XML, a DOCTYPE, not BPMN); the message is German."""


@dataclass(frozen=True)
class Change:
    """One aspect of an element, before and after (None: not set). ``key``: the property's name."""

    aspect: str
    before: str | None
    after: str | None
    key: str = ""


@dataclass(frozen=True)
class Element:
    id: str
    kind: str  # the BPMN element's local name, e.g. "userTask"
    name: str
    aspects: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ElementChange:
    id: str
    kind: str  # the newer version's kind
    name: str  # the newer version's name
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class ModelDiff:
    added: list[Element]
    removed: list[Element]
    changed: list[ElementChange]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _root(xml: str | bytes) -> Any:
    content = xml.encode("utf-8") if isinstance(xml, str) else xml
    if _DOCTYPE.search(content.replace(b"\x00", b"")):
        raise ModelDiffError("die Datei enthält eine DOCTYPE-Deklaration; das ist nicht erlaubt")
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(
            resolve_entities=False, load_dtd=False, no_network=True, dtd_validation=False))
    except etree.XMLSyntaxError as exc:
        raise ModelDiffError(f"kein gültiges XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise ModelDiffError("die Datei enthält eine DOCTYPE-Deklaration; das ist nicht erlaubt")
    if root.tag != f"{{{BPMN}}}definitions":
        raise ModelDiffError(f"keine BPMN-Datei (das äußerste Element ist {_local(root.tag) or '?'}, "
                             "erwartet: definitions)")
    return root


def _text(node: Any) -> str:
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def elements(xml: str | bytes) -> dict[str, Element]:
    """Every element of the model's processes by id, with the aspects compared."""
    root = _root(xml)
    found: dict[str, Element] = {}
    flows: list[tuple[str, str, str]] = []  # (flow id, source, target)
    for process in root.iter(f"{{{BPMN}}}process"):
        _collect(process, found, flows)
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow_id, source, target in flows:
        outgoing.setdefault(source, []).append(flow_id)
        incoming.setdefault(target, []).append(flow_id)
    for element in found.values():
        if element.kind != "sequenceFlow":
            for aspect, ids in (("incoming", incoming.get(element.id)),
                                ("outgoing", outgoing.get(element.id))):
                if ids:
                    element.aspects[(aspect, "")] = ", ".join(sorted(ids))
    return found


def _collect(node: Any, found: dict[str, Element], flows: list[tuple[str, str, str]]) -> None:
    kind = _local(node.tag)
    if node.get("id") and etree.QName(node.tag).namespace == BPMN:
        element = Element(node.get("id"), kind, node.get("name", "") or "", _aspects(node))
        found[element.id] = element
        if kind == "sequenceFlow":
            flows.append((element.id, node.get("sourceRef", ""), node.get("targetRef", "")))
    if kind not in _CONTAINERS and kind != "lane":
        return
    for child in node:
        if isinstance(child.tag, str) and _local(child.tag) not in _PARTS \
                and not _local(child.tag).endswith("EventDefinition"):
            _collect(child, found, flows)


def _aspects(node: Any) -> dict[tuple[str, str], str]:
    aspects: dict[tuple[str, str], str] = {}

    def put(aspect: str, value: str | None, key: str = "") -> None:
        if value:
            aspects[(aspect, key)] = value

    put("name", node.get("name"))
    put("source", node.get("sourceRef"))
    put("target", node.get("targetRef"))
    put("default", node.get("default"))
    put("called", node.get("calledElement"))
    put("condition", _text(node.find(f"{{{BPMN}}}conditionExpression")))
    script = node.find(f"{{{BPMN}}}script")
    if script is None:
        script = node.find(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}script")
    put("script", "".join(script.itertext()).strip() if script is not None else None)
    events, timers = [], []
    for child in node:
        local = _local(child.tag)
        if not local.endswith("EventDefinition"):
            continue
        events.append(local.removesuffix("EventDefinition"))
        for kind in _TIMER_KINDS:
            value = child.find(f"{{{BPMN}}}{kind}")
            if value is not None:
                timers.append(f"{kind}: {_text(value)}")
        for ref in ("messageRef", "signalRef", "errorRef", "escalationRef"):
            if child.get(ref):
                events[-1] += f" ({child.get(ref)})"
    put("event", ", ".join(events))
    put("timer", "; ".join(timers))
    for prop in node.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property"):
        if prop.get("name"):
            aspects[("property", prop.get("name"))] = prop.get("value", "")
    return aspects


def _order(item: tuple[str, str]) -> tuple[int, str]:
    return ASPECTS.index(item[0]) if item[0] in ASPECTS else len(ASPECTS), item[1]


def diff(old_xml: str | bytes, new_xml: str | bytes) -> ModelDiff:
    """The differences from ``old_xml`` to ``new_xml``; each list sorted by element id."""
    old, new = elements(old_xml), elements(new_xml)
    added = [new[i] for i in sorted(new.keys() - old.keys())]
    removed = [old[i] for i in sorted(old.keys() - new.keys())]
    changed = []
    for element_id in sorted(old.keys() & new.keys()):
        before, after = old[element_id], new[element_id]
        changes = []
        if before.kind != after.kind:
            changes.append(Change("type", before.kind, after.kind))
        for aspect, key in sorted(before.aspects.keys() | after.aspects.keys(), key=_order):
            was, now = before.aspects.get((aspect, key)), after.aspects.get((aspect, key))
            if was != now:
                changes.append(Change(aspect, was, now, key))
        if changes:
            changed.append(ElementChange(element_id, after.kind, after.name, tuple(changes)))
    return ModelDiff(added, removed, changed)
