"""A small OParl 1.1 server on loopback that serves a sample (the Karlsruhe data in
../shared/oparl/karlsruhe-sample) — for ``ratsflow demo --oparl-sample``, the importer's
tests and the benchmark. Not the system's own OParl server (that is the web app's).

The objects keep their original ids (``https://web1.karlsruhe.de/oparl/…``); the importer is
told to fetch that prefix from this server (``Fetcher(rewrite=…)``), so imported objects
keep their real origin URL whichever port the server got.

Lists are paged (``page``, ``limit``), ordered by id, and honour ``created_since/until`` and
``modified_since/until`` (carried in the links); deleted objects appear only with
``modified_since``. Knobs for tests: ``ignore_filters``, ``fail`` (answer 500 for a URL a
number of times), ``hold`` (a URL whose answer waits until released: the client times out).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

KARLSRUHE = "https://web1.karlsruhe.de/oparl"
BODY_PATH = "/bodies/0001"
LISTS = {"organization": "organizations", "person": "people", "meeting": "meetings", "paper": "papers"}
SCHEMA = "https://schema.oparl.org/1.1/"
FILTERS = ("created_since", "created_until", "modified_since", "modified_until")
MAX_LIMIT = 100


def stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_sample(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The sample's lists (papers, meetings, organizations) and a few invented persons with
    memberships (the sample has none), keyed by the Body's list names."""
    data = {
        "paper": json.loads((path / "papers.json").read_text(encoding="utf-8")),
        "meeting": json.loads((path / "meetings.json").read_text(encoding="utf-8")),
        "organization": json.loads((path / "organizations.json").read_text(encoding="utf-8")),
    }
    gremien = [o["id"] for o in data["organization"] if "/organizations/gr/" in o["id"]][:3]
    persons = []
    for i, (given, family, role) in enumerate([("Anna", "Beispiel", "Vorsitz"),
                                               ("Bernd", "Muster", "Mitglied"),
                                               ("Clara", "Probe", "unbekannt")], start=1):
        pid = f"{KARLSRUHE}{BODY_PATH}/people/{9000 + i}"
        persons.append({
            "id": pid, "type": SCHEMA + "Person", "body": f"{KARLSRUHE}{BODY_PATH}",
            "name": f"{given} {family}", "familyName": family, "givenName": given,
            "membership": [{
                "id": f"{KARLSRUHE}{BODY_PATH}/memberships/{90000 + i * 10 + j}",
                "type": SCHEMA + "Membership", "person": pid, "organization": org, "role": role,
                "votingRight": True, "startDate": "2024-07-01",
                "created": "2024-07-01T09:00:00+02:00", "modified": "2024-07-01T09:00:00+02:00",
            } for j, org in enumerate(gremien[:i])],
            "created": "2024-07-01T09:00:00+02:00", "modified": "2024-07-01T09:00:00+02:00",
        })
    data["person"] = persons
    return data


class OparlStore:
    """The served objects: lists by name, every object (embedded ones too) by its id."""

    def __init__(self, data: dict[str, list[dict[str, Any]]], base: str = KARLSRUHE) -> None:
        self.base = base
        self.lock = threading.Lock()
        self.lists: dict[str, list[dict[str, Any]]] = {k: sorted(v, key=lambda o: o["id"])
                                                        for k, v in data.items()}
        self.by_id: dict[str, dict[str, Any]] = {}
        for objects in self.lists.values():
            for obj in objects:
                self._index(obj)
        body = f"{base}{BODY_PATH}"
        self.system = {"id": f"{base}/system", "type": SCHEMA + "System",
                       "oparlVersion": "https://schema.oparl.org/1.1/", "name": "Beispiel-RIS",
                       "body": f"{base}/bodies", "created": "2019-01-01T00:00:00+01:00",
                       "modified": "2019-01-01T00:00:00+01:00"}
        self.body: dict[str, Any] = {
            "id": body, "type": SCHEMA + "Body", "system": self.system["id"], "name": "Stadt Karlsruhe",
            "shortName": "Karlsruhe", "website": "https://www.karlsruhe.de", "ags": "08212000",
            "legislativeTerm": [
                {"id": f"{body}/legislativeterms/1", "type": SCHEMA + "LegislativeTerm",
                 "name": "Wahlperiode 2019–2024", "startDate": "2019-07-01", "endDate": "2024-06-30"},
                {"id": f"{body}/legislativeterms/2", "type": SCHEMA + "LegislativeTerm",
                 "name": "Wahlperiode 2024–2029", "startDate": "2024-07-01", "endDate": "2029-06-30"}],
            "created": "2019-01-01T00:00:00+01:00", "modified": "2019-01-01T00:00:00+01:00",
            **{name: f"{body}/{path}" for name, path in LISTS.items() if name in self.lists},
        }
        self.by_id[body] = self.body
        self.by_id[self.system["id"]] = self.system

    def _index(self, obj: Any) -> None:
        if isinstance(obj, dict):
            if isinstance(obj.get("id"), str) and obj.get("type", "").startswith("https://schema.oparl.org"):
                self.by_id[obj["id"]] = obj
            for value in obj.values():
                self._index(value)
        elif isinstance(obj, list):
            for value in obj:
                self._index(value)

    def change(self, url: str, **fields: Any) -> None:
        """Change a served object (``modified`` set to now), as the source RIS would."""
        with self.lock:
            self.by_id[url].update(fields, modified=stamp())

    def delete(self, url: str) -> None:
        """The object stays as a tombstone (``deleted: true``, seen only with ``modified_since``)."""
        with self.lock:
            obj = self.by_id[url]
            keep: dict[str, Any] = {k: obj[k] for k in ("id", "type", "created", "body") if k in obj}
            obj.clear()
            obj.update(keep, deleted=True, modified=stamp())

    def add(self, name: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self.lists[name].append(obj)
            self.lists[name].sort(key=lambda o: o["id"])
            self._index(obj)

    def page(self, name: str, query: dict[str, str], ignore_filters: bool) -> dict[str, Any]:
        limit = min(MAX_LIMIT, max(1, int(query.get("limit", "20"))))
        number = max(1, int(query.get("page", "1")))
        with self.lock:
            objects = list(self.lists[name])
        if not ignore_filters:
            with_deleted = "modified_since" in query
            objects = [o for o in objects if _matches(o, query) and (with_deleted or not o.get("deleted"))]
        else:
            objects = [o for o in objects if not o.get("deleted")]
        total = len(objects)
        pages = max(1, -(-total // limit))
        carried = {k: v for k, v in query.items() if k in FILTERS or k == "limit"}
        url = f"{self.base}{BODY_PATH}/{LISTS[name]}"

        def link(n: int) -> str:
            return f"{url}?{urlencode({**carried, 'page': n})}"

        links = {"first": link(1), "last": link(pages), "self": link(number)}
        if number < pages:
            links["next"] = link(number + 1)
        return {"data": objects[(number - 1) * limit:number * limit],
                "pagination": {"totalElements": total, "elementsPerPage": limit, "currentPage": number,
                               "totalPages": pages},
                "links": links}


def _matches(obj: dict[str, Any], query: dict[str, str]) -> bool:
    for key in FILTERS:
        if key not in query:
            continue
        field, bound = key.split("_")
        if field not in obj:
            return False
        value, limit = _parse(obj[field]), _parse(query[key])
        if (bound == "since" and value < limit) or (bound == "until" and value > limit):
            return False
    return True


def file_content(url: str) -> bytes:
    """The bytes served for a File's accessUrl/downloadUrl (the sample has no documents)."""
    return b"%PDF-1.4\n% Beispielinhalt " + url.encode() + b"\n%%EOF\n"


class SampleServer:
    """The store on ``http://127.0.0.1:<port>``; a context manager that closes its thread."""

    def __init__(self, store: OparlStore) -> None:
        self.store = store
        self.ignore_filters = False
        self.fail: dict[str, int] = {}  # URL (path?query) -> how many more 500s
        self.hold: dict[str, threading.Event] = {}  # URL -> answered once the event is set
        self.requests: list[str] = []
        self.on_request: Callable[[str], None] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                server._answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def rewrite(self) -> dict[str, str]:
        """For ``Fetcher(rewrite=…)``: fetch the store's public base from here."""
        return {self.store.base: self.url + "/oparl"}

    def start(self) -> SampleServer:
        self.thread.start()
        return self

    def close(self) -> None:
        for event in self.hold.values():
            event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def __enter__(self) -> SampleServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        wanted = handler.path.removeprefix("/oparl")
        self.requests.append(wanted)
        if self.on_request is not None:
            self.on_request(wanted)
        if wanted in self.hold:
            self.hold[wanted].wait(30)
            return _send(handler, 503, {"error": "gehalten"})
        if self.fail.get(wanted, 0) > 0:
            self.fail[wanted] -= 1
            return _send(handler, 500, {"error": "Interner Fehler"})
        path = parts.path.removeprefix("/oparl")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        public = self.store.base + path
        if "/downloadfiles/" in path:
            content = file_content(public)
            handler.send_response(200)
            handler.send_header("Content-Type", "application/pdf")
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
            return None
        for name, list_path in LISTS.items():
            if path == f"{BODY_PATH}/{list_path}" and name in self.store.lists:
                return _send(handler, 200, self.store.page(name, query, self.ignore_filters))
        if path == "/bodies":
            return _send(handler, 200, {"data": [self.store.body], "pagination": {
                "totalElements": 1, "elementsPerPage": 1, "currentPage": 1, "totalPages": 1},
                "links": {}})
        with self.store.lock:
            obj = self.store.by_id.get(public)
            body = json.dumps(obj) if obj is not None else None
        if body is None:
            return _send(handler, 404, {"error": "nicht gefunden"})
        return _send(handler, 200, json.loads(body))


def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def objects(data: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for values in data.values():
        yield from values
