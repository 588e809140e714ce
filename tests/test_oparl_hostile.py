"""The OParl importer against hostile servers: real HTTP servers on 127.0.0.1 whose answers
loop, never end, drip, swell, nest without end, point elsewhere (another port standing for an
internal service), reuse another source's ids, carry control characters or serve what is no
document. Every run ends within its bounds, names what it refused in the summary, writes
whole pages only and can go on where it stopped. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from engine.council import Body, File, Paper, Person
from engine.files import FileStore
from engine.oparl.fetch import Fetcher, FetchError, Refused, json_depth, public_address
from engine.oparl.importer import Importer, OparlOrigin, OparlSource, Summary

from .conftest import NOW

T = "https://schema.oparl.org/1.1/"
PDF = b"%PDF-1.4\n% ein Dokument\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
#: Time a whole test may take (bounds under test are around 2 s; the rest is slack for slow CI).
BOUND = 15.0

Route = Callable[[BaseHTTPRequestHandler, dict[str, str]], None]


class Hostile:
    """An HTTP server on 127.0.0.1; a test sets what each path answers (``routes``)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.sent = 0  # bytes the streaming routes got out
        self.closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                parts = urlsplit(self.path)
                server.requests.append(self.path)
                route = server.routes.get(parts.path)
                try:
                    if route is None:
                        send(self, {"error": "nicht gefunden"}, status=404)
                    else:
                        route(self, {k: v[-1] for k, v in parse_qs(parts.query).items()})
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: as it should

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def json(self, path: str, payload: Any) -> None:
        self.routes[path] = lambda h, _q: send(h, payload)

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def send(handler: BaseHTTPRequestHandler, payload: Any, status: int = 200) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def redirect(to: str) -> Route:
    def answer(handler: BaseHTTPRequestHandler, _query: dict[str, str]) -> None:
        handler.send_response(302)
        handler.send_header("Location", to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


def document(content: bytes, mime: str = "application/pdf") -> Route:
    def answer(handler: BaseHTTPRequestHandler, _query: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", mime)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)
    return answer


def page(data: list[Any], following: str | None = None) -> dict[str, Any]:
    return {"data": data, "links": {"next": following} if following else {}}


def oparl(server: Hostile, system: str = "/system", suffix: str = "") -> None:
    """A System with one Body whose lists are empty (a test fills what it needs)."""
    u = server.url
    server.json(system, {"id": u + system, "type": T + "System", "body": u + "/bodies" + suffix})
    server.json("/bodies" + suffix, page([{
        "id": u + "/body" + suffix, "type": T + "Body", "name": "Hostilstadt" + suffix,
        "organization": u + "/orgs" + suffix, "person": u + "/people" + suffix,
        "meeting": u + "/meetings" + suffix, "paper": u + "/papers" + suffix}]))
    for name in ("/orgs", "/people", "/meetings", "/papers"):
        server.json(name + suffix, page([]))


def paper(u: str, number: int, name: str = "Vorlage", **fields: Any) -> dict[str, Any]:
    return {"id": f"{u}/paper/{number}", "type": T + "Paper", "name": f"{name} {number}",
            "reference": f"H/{number}", "paperType": "Mitteilung", **fields}


def file(u: str, number: int, download: str) -> dict[str, Any]:
    return {"id": f"{u}/file/{number}", "type": T + "File", "name": f"Anlage {number}",
            "fileName": f"anlage{number}.pdf", "downloadUrl": download}


@pytest.fixture
def source() -> Iterator[Hostile]:
    server = Hostile()
    oparl(server)
    yield server
    server.close()


@pytest.fixture
def internal() -> Iterator[Hostile]:
    """Another service on this machine (another port): nothing may ever be asked of it."""
    server = Hostile()
    server.routes["/secret.pdf"] = document(PDF + b"% vertraulich\n")
    server.json("/org/1", {"id": server.url + "/org/1", "type": T + "Organization", "name": "Intern",
                           "classification": "Ausschuss"})
    server.json("/papers", page([]))
    yield server
    server.close()


def run(database, source: Hostile, system: str = "/system", fetcher: dict[str, Any] | None = None,  # type: ignore[no-untyped-def]
        **options: Any) -> tuple[Summary, str, float]:
    """One run (the fetcher allows loopback: the source is on it); its summary, its lines, its time."""
    started = time.monotonic()
    with Fetcher(**{"sleep": lambda _s: None, "timeout": 2.0, "allow_private": True, **(fetcher or {})}) as client:
        summary = Importer(database, client, now=NOW, **options).run(source.url + system)
    took = time.monotonic() - started
    assert took < BOUND, summary.lines()
    return summary, "\n".join(summary.lines()), took


def count(database, model: type[Any]) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def resume(database, source: Hostile, system: str = "/system") -> dict[str, str]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        row = s.exec(select(OparlSource).where(OparlSource.url == source.url + system)).one()
        return dict(json.loads(row.resume))


# ----------------------------------------------------------------------------- 1. lists that never end


def test_next_in_a_circle_ends_the_list(database, source) -> None:  # type: ignore[no-untyped-def]
    u = source.url

    def papers(handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        number = int(query.get("page", "1"))
        send(handler, page([paper(u, number)], f"{u}/papers?page={2 if number == 1 else 1}"))

    source.routes["/papers"] = papers
    summary, text, _ = run(database, source)
    assert "'next' führt im Kreis (Liste paper): Liste dort beendet" in text
    assert len([r for r in source.requests if r.startswith("/papers")]) <= 3
    assert count(database, Paper) == 2 and not summary.complete


def test_endless_empty_pages_stop_at_the_page_bound_and_the_next_run_goes_on(database, source) -> None:  # type: ignore[no-untyped-def]
    u = source.url

    def papers(handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        send(handler, page([], f"{u}/papers?page={int(query.get('page', '1')) + 1}"))

    source.routes["/papers"] = papers
    summary, text, _ = run(database, source, max_pages=5)
    assert (f"{u}/papers?page=6", "mehr als 5 Seiten in einer Liste (Höchstzahl je Lauf)") in summary.failed_pages
    assert "mehr als 5 Seiten" in text and not summary.complete
    assert resume(database, source) == {f"{u}/papers": f"{u}/papers?page=6"}
    source.requests.clear()
    run(database, source, max_pages=5)
    asked = [r for r in source.requests if r.startswith("/papers")]
    assert asked[0] == "/papers?page=6"
    assert resume(database, source) == {f"{u}/papers": f"{u}/papers?page=11"}


def test_a_body_list_that_points_to_itself_ends(database, source) -> None:  # type: ignore[no-untyped-def]
    u = source.url
    body = {"id": u + "/body", "type": T + "Body", "name": "Hostilstadt", "paper": u + "/papers"}
    source.json("/bodies", page([u + "/system", body], u + "/bodies"))
    summary, text, _ = run(database, source)
    assert "'next' führt im Kreis: Liste dort beendet" in text
    assert "kein Body in der Liste der Körperschaften" in text
    assert count(database, Body) == 1 and source.requests.count("/bodies") == 1


# ----------------------------------------------------------------------------- 2. slow servers


def drip(server: Hostile, every: float = 0.05) -> Route:
    """An answer one byte at a time, the headers too, for as long as anyone listens."""
    def answer(handler: BaseHTTPRequestHandler, _query: dict[str, str]) -> None:
        text = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"data": [' + b" " * 10**7
        for byte in text:
            if server.closing.wait(every):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
    return answer


def test_a_server_dripping_bytes_is_cut_off_at_the_run_time_and_the_next_run_goes_on(database, source) -> None:  # type: ignore[no-untyped-def]
    source.routes["/papers"] = drip(source)
    summary, text, took = run(database, source, max_seconds=2)
    assert 1.5 < took < 6
    assert "Zeitlimit des Laufs erreicht (2 s): abgebrochen, der nächste Lauf setzt fort" in text
    assert (f"{source.url}/papers?limit=100", "Zeitlimit des Laufs erreicht") in summary.failed_pages
    assert resume(database, source) == {f"{source.url}/papers": f"{source.url}/papers?limit=100"}
    assert not summary.complete
    source.json("/papers", page([paper(source.url, 1)]))  # the server has recovered
    source.requests.clear()
    again, text, _ = run(database, source)
    assert again.complete, text
    assert "/papers?limit=100" in source.requests and count(database, Paper) == 1


def test_one_response_may_not_take_longer_than_its_deadline(database, source) -> None:  # type: ignore[no-untyped-def]
    source.routes["/papers"] = drip(source)  # every read gets a byte in time: no read timeout
    summary, text, took = run(database, source, fetcher={"response_seconds": 1.0, "retries": 1})
    assert took < 6
    assert (f"{source.url}/papers?limit=100", "Zeitüberschreitung nach 2 Versuchen") in summary.failed_pages


# ----------------------------------------------------------------------------- 3. answers too large


def flood(server: Hostile, declared: int | None, content: bytes = b"x") -> Route:
    """An answer of ``declared`` bytes (or, without a Content-Length, 600 MB), sent as fast as taken."""
    def answer(handler: BaseHTTPRequestHandler, _query: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declared is not None:
            handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        chunk = content + b" " * (65536 - len(content))
        for _ in range((declared or 600 * 2**20) // 65536):
            if server.closing.is_set():
                return
            handler.wfile.write(chunk)
            server.sent += len(chunk)
            chunk = b" " * 65536
    return answer


@pytest.mark.parametrize("declared", [200 * 2**20, None], ids=["200-MB-angekuendigt", "600-MB-ohne-Laenge"])
def test_an_answer_larger_than_the_cap_is_not_read(database, source, declared) -> None:  # type: ignore[no-untyped-def]
    source.routes["/papers"] = flood(source, declared, b'{"data": [')
    tracemalloc.start()
    try:
        summary, _text, _ = run(database, source, fetcher={"max_bytes": 2**20})
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (f"{source.url}/papers?limit=100", "Antwort größer als 1 MB: nicht gelesen") in summary.failed_pages
    assert peak < 40 * 2**20
    assert source.sent < 64 * 2**20  # what the socket buffers took, not 600 MB


def test_a_small_answer_that_unpacks_to_a_large_one_is_not_unpacked(database, source) -> None:  # type: ignore[no-untyped-def]
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip
    bomb = packer.compress(b'{"data": [') + b"".join(packer.compress(b" " * 2**20) for _ in range(200))
    bomb += packer.flush()  # 200 MB of JSON in about 200 KB

    def answer(handler: BaseHTTPRequestHandler, _query: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(bomb)))
        handler.end_headers()
        handler.wfile.write(bomb)

    source.routes["/papers"] = answer
    source.routes["/meetings"] = lambda h, q: send(h, b"{}")
    tracemalloc.start()
    try:
        summary, _text, _ = run(database, source, fetcher={"max_bytes": 2**20})
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(bomb) < 2**20
    assert (f"{source.url}/papers?limit=100", "Antwort größer als 1 MB: nicht gelesen") in summary.failed_pages
    assert peak < 40 * 2**20


def test_a_document_larger_than_an_upload_is_not_stored(database, source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    u = source.url
    source.routes["/big.pdf"] = flood(source, None, PDF)
    source.routes["/small.pdf"] = document(PDF)
    source.json("/papers", page([paper(u, 1, mainFile=file(u, 1, u + "/big.pdf"),
                                       auxiliaryFile=[file(u, 2, u + "/small.pdf")])]))
    store = FileStore(tmp_path / "files")
    summary, text, _ = run(database, source, files=store, with_files=True, max_file_bytes=2**20)
    assert "Datei nicht abrufbar (Antwort größer als 1 MB: nicht gelesen)" in text
    with database.unit_of_work(write=False) as s:
        stored = {f.name: f.sha_512_checksum for f in s.exec(select(File))}
    assert stored["Anlage 1"] is None and stored["Anlage 2"] is not None
    assert source.sent < 64 * 2**20
    with Fetcher() as fetcher:  # by default a document may be as large as an upload
        assert Importer(database, fetcher).max_file_bytes == database.settings.max_upload_bytes


# ----------------------------------------------------------------------------- 4. nesting, crashes


def test_deeply_nested_json_is_refused_and_the_run_ends(database, source) -> None:  # type: ignore[no-untyped-def]
    source.json("/papers", b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    source.json("/meetings", b'{"data": [], "x": ' + b"[" * 64 + b"]" * 64 + b"}")  # 65 deep
    deep_in_strings: Any = "[[[["
    for _ in range(20):
        deep_in_strings = [deep_in_strings, "]]]["]
    source.json("/orgs", {"data": [], "x": deep_in_strings})  # 22 deep, brackets in strings aside
    summary, _text, _ = run(database, source)
    reason = "JSON tiefer verschachtelt als 64 Ebenen: nicht gelesen"
    assert (f"{source.url}/papers?limit=100", reason) in summary.failed_pages
    assert (f"{source.url}/meetings?limit=100", reason) in summary.failed_pages
    assert not any("/orgs" in url for url, _ in summary.failed_pages)
    assert json_depth(b'{"a": "[[[[\\\\", "b": [[1], {"c": "]]]\\"["}]}') == 3


def test_an_unexpected_error_in_a_list_reader_ends_the_run_with_a_line(database, source) -> None:  # type: ignore[no-untyped-def]
    class Breaking(Fetcher):
        def json(self, url: str, params: dict[str, str] | None = None) -> Any:
            if "/papers" in url:
                raise RecursionError("maximum recursion depth exceeded")
            return super().json(url, params)

    started = time.monotonic()
    with Breaking(sleep=lambda _s: None, timeout=2, allow_private=True) as fetcher:
        summary = Importer(database, fetcher, now=NOW).run(source.url + "/system")
    assert time.monotonic() - started < BOUND
    assert (f"{source.url}/papers?limit=100", "unerwarteter Fehler beim Abruf (RecursionError)") \
        in summary.failed_pages
    assert "Seite nicht abrufbar" in "\n".join(summary.lines()) and not summary.complete


# ----------------------------------------------------------------------------- 5. only the source


def test_nothing_outside_the_source_is_asked_for_or_stored(database, source, internal, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    u, inside = source.url, internal.url
    source.routes["/to-inside"] = redirect(inside + "/secret.pdf")
    source.routes["/meetings"] = redirect(inside + "/papers")
    source.json("/papers", page([
        paper(u, 1, underDirectionOf=[inside + "/org/1"], mainFile=file(u, 1, inside + "/secret.pdf"),
              auxiliaryFile=[file(u, 2, u + "/to-inside"), file(inside, 3, u + "/to-inside")]),
        paper(inside, 2),  # an object of another host, listed by this one
    ], inside + "/papers?page=2"))
    store = FileStore(tmp_path / "files")
    summary, text, _ = run(database, source, files=store, with_files=True)
    assert internal.requests == []
    assert "'next' auf einem fremden Host (Liste paper): nicht gefolgt" in text
    assert "Objekt mit id auf einem fremden Host: abgelehnt" in text
    assert "Abruf verweigert: anderer Host als die Quelle: nicht abgerufen" in text
    assert inside + "/secret.pdf" in text and not summary.complete
    with database.unit_of_work(write=False) as s:
        papers = s.exec(select(Paper.name)).all()
        files = {f.name: f.sha_512_checksum for f in s.exec(select(File))}
        origins = s.exec(select(OparlOrigin.origin_url)).all()
    assert papers == ["Vorlage 1"] and files == {"Anlage 1": None, "Anlage 2": None}
    assert not any(o.startswith(inside) for o in origins)
    assert not any(p.is_file() for p in (tmp_path / "files").rglob("*"))


def test_an_allowed_host_may_serve_the_documents(database, source, internal, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    u, inside = source.url, internal.url
    source.routes["/to-inside"] = redirect(inside + "/secret.pdf")
    source.json("/papers", page([paper(u, 1, mainFile=file(u, 1, inside + "/secret.pdf"),
                                       auxiliaryFile=[file(u, 2, u + "/to-inside")])]))
    store = FileStore(tmp_path / "files")
    summary, text, _ = run(database, source, files=store, with_files=True,
                           fetcher={"allow_hosts": [f"127.0.0.1:{internal.port}"]})
    assert summary.complete, text
    with database.unit_of_work(write=False) as s:
        assert all(f.sha_512_checksum for f in s.exec(select(File)))
    assert internal.requests == ["/secret.pdf", "/secret.pdf"]


def test_addresses_that_are_not_public_need_allow_private(database, source) -> None:  # type: ignore[no-untyped-def]
    summary, text, _ = run(database, source, fetcher={"allow_private": False})
    assert source.requests == [] and not summary.complete
    assert "keine öffentliche Adresse (127.0.0.1)" in text
    # a name that resolves to loopback, even when the host is allowed by name
    with Fetcher(allow_hosts=[f"localhost:{source.port}"], sleep=lambda _s: None) as fetcher, \
            pytest.raises(Refused, match="keine öffentliche Adresse"):
        fetcher.get(f"http://localhost:{source.port}/system")
    assert source.requests == []
    for address in ("127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "2002:7f00:1::"):
        assert not public_address(address), address
    assert public_address("8.8.8.8") and public_address("2a00:1450:4001:80b::200e")


def test_only_http_urls_on_the_source_are_fetched() -> None:
    with Fetcher(allow_private=True) as fetcher:
        with pytest.raises(FetchError, match="keine http"):
            fetcher.add_source("file:///etc/passwd")
        fetcher.add_source("http://127.0.0.1:8000/oparl/system")
        assert fetcher.allowed("http://127.0.0.1:8000/other")
        assert not fetcher.allowed("https://127.0.0.1:8000/other")
        assert not fetcher.allowed("http://127.0.0.1:8001/other")
        assert not fetcher.allowed("http://localhost:8000/other")
        assert not fetcher.allowed("gopher://127.0.0.1:8000/")


# ----------------------------------------------------------------------------- 6. another source's objects


def test_another_source_cannot_change_or_delete_the_first_ones_objects(database, source) -> None:  # type: ignore[no-untyped-def]
    u = source.url
    source.json("/papers", page([paper(u, 1), paper(u, 2)]))
    first, _, _ = run(database, source)
    assert first.complete and count(database, Paper) == 2
    oparl(source, "/system2", "2")  # a second source on the same server, reusing the first one's ids
    source.json("/papers2", page([
        paper(u, 1, name="Übernommen"),
        {"id": f"{u}/paper/2", "type": T + "Paper", "deleted": True},
        paper(u, 3, body=u + "/body2"),
    ]))
    summary, text, _ = run(database, source, "/system2")
    assert summary.problems["Objekt einer anderen Quelle: nicht geändert"] == 2, text
    with database.unit_of_work(write=False) as s:
        names = sorted(s.exec(select(Paper.name)).all())
        owners = {o.origin_url: o.source_id for o in s.exec(select(OparlOrigin))}
        sources = {row.url: row.id for row in s.exec(select(OparlSource))}
    assert names == ["Vorlage 1", "Vorlage 2", "Vorlage 3"]
    assert owners[f"{u}/paper/1"] == owners[f"{u}/paper/2"] == sources[u + "/system"]
    assert owners[f"{u}/paper/3"] == sources[u + "/system2"]
    again, _, _ = run(database, source)  # the first source: as it was
    assert again.complete and again.writes == 0


# ----------------------------------------------------------------------------- 7. control characters


def test_control_characters_are_cleaned_and_the_rest_of_the_page_goes_in(database, source) -> None:  # type: ignore[no-untyped-def]
    u = source.url
    source.json("/people", page([
        {"id": u + "/person/1", "type": T + "Person", "familyName": "Muster\x00mann", "givenName": "Eva\x07"},
        {"id": u + "/person/2", "type": T + "Person", "familyName": "Ohnefehl", "givenName": "Jo"},
        {"id": u + "/person/3", "type": T + "Person", "familyName": "Halb\ud800", "givenName": "Tab\tNeu\nZeile"},
        {"id": u + "/person/\x00", "type": T + "Person", "familyName": "Ohne Id"},
    ]))
    summary, text, _ = run(database, source)
    assert "Steuerzeichen (z. B. NUL) aus Textfeldern entfernt" in text
    assert summary.problems["Steuerzeichen (z. B. NUL) aus Textfeldern entfernt"] == 3
    assert u + "/person/1" in text and u + "/person/3" in text
    with database.unit_of_work(write=False) as s:
        people = {(p.family_name, p.given_name) for p in s.exec(select(Person))}
    assert people == {("Mustermann", "Eva"), ("Ohnefehl", "Jo"), ("Halb", "Tab\tNeu\nZeile")}
    assert "Objekt ohne id" in text


# ----------------------------------------------------------------------------- 8. documents by content


def test_only_allow_listed_documents_are_stored(database, source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    u = source.url
    source.routes["/doc.pdf"] = document(PDF)
    source.routes["/tool.pdf"] = document(EXE)  # an executable that calls itself a PDF
    source.routes["/page.pdf"] = document(b"<html><script>alert(1)</script></html>", "text/html")
    source.json("/papers", page([paper(u, 1, mainFile=file(u, 1, u + "/doc.pdf"),
                                       auxiliaryFile=[file(u, 2, u + "/tool.pdf"), file(u, 3, u + "/page.pdf")])]))
    store = FileStore(tmp_path / "files")
    summary, text, _ = run(database, source, files=store, with_files=True)
    reason = "Datei leer oder von keinem erlaubten Typ: nicht gespeichert"
    assert summary.problems[reason] == 2 and u + "/tool.pdf" in text and u + "/page.pdf" in text
    with database.unit_of_work(write=False) as s:
        files = {f.name: (f.sha_512_checksum, f.mime_type) for f in s.exec(select(File))}
        stored = s.exec(select(func.count()).select_from(File).where(col(File.sha_512_checksum).is_not(None))).one()
    assert stored == 1 and files["Anlage 1"][1] == "application/pdf"
    assert files["Anlage 2"][0] is None and files["Anlage 3"][0] is None
