"""A client's walk over this system's own OParl server (through the Flask test client), shared by
the crawl test and the round trip: every URL in every object and every ``next`` link is followed,
every object (embedded ones too) is checked against the OParl 1.1 schemas, and nothing may point
nowhere, be null or be an empty string."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from .oparl_schema import errors_of

ROOT = "http://localhost"
SYSTEM = f"{ROOT}/oparl/v1.1/system"


def _urls(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _urls(value, found)
    elif isinstance(node, list):
        for value in node:
            _urls(value, found)
    elif isinstance(node, str) and node.startswith(ROOT + "/"):
        found.append(node)


def _objects(node: Any, found: list[dict[str, Any]]) -> None:
    """The object and every object embedded in it (anything with an id and a type)."""
    if isinstance(node, dict):
        if "id" in node and "type" in node:
            found.append(node)
        for value in node.values():
            _objects(value, found)
    elif isinstance(node, list):
        for value in node:
            _objects(value, found)


def _nulls(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _nulls(v, f"{path}/{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _nulls(v, f"{path}/{i}")]
    return [path] if node is None or node == "" else []


def crawl(client: Any, start: str = SYSTEM, *, pages: bool = True) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Walk everything reachable from ``start``: the objects by id, and the text of every answer.

    ``pages=False``: the public HTML pages an object links to (``web``) are not asked for (the
    crawl test asks for them; a larger walk saves the time of rendering them)."""
    objects: dict[str, dict[str, Any]] = {}
    texts: list[str] = []
    seen = {start}
    todo = deque([start])
    problems: list[str] = []
    while todo:
        url = todo.popleft()
        response = client.get(url.removeprefix(ROOT))
        response.close()
        if response.status_code != 200:
            problems.append(f"{url}: {response.status_code}")
            continue
        if "/oparl/" not in url or url.endswith(("/access", "/download")):
            continue  # a public HTML page or a file: it answers, that is all
        assert response.headers["Content-Type"] == "application/json; charset=utf-8", url
        assert response.headers["Access-Control-Allow-Origin"] == "*", url
        text = response.get_data(as_text=True)
        texts.append(text)
        payload = json.loads(text)
        problems += [f"{url}: null or empty at {p}" for p in _nulls(payload)]
        found: list[str] = []
        if "data" in payload and "links" in payload:  # a list page
            assert set(payload) == {"data", "pagination", "links"}, url
            for item in payload["data"]:
                _urls(item, found)
            found += [payload["links"]["next"]] if "next" in payload["links"] else []
            roots = payload["data"]
        else:
            _urls(payload, found)
            roots = [payload]
        for root in roots:
            embedded: list[dict[str, Any]] = []
            _objects(root, embedded)
            for obj in embedded:
                problems += [f"{obj['id']}: {e}" for e in errors_of(obj)]
                objects.setdefault(obj["id"], obj)
        for link in found:
            if link not in seen and (pages or "/oparl/" in link):
                seen.add(link)
                todo.append(link)
    assert not problems, "\n".join(problems[:40])
    return objects, texts
