"""The OParl 1.1 server under /oparl/v1.1 (public data only; ``engine.oparl.server`` does the work).

Every answer is ``application/json; charset=utf-8`` (errors too) with ``Access-Control-Allow-Origin: *``
and an ETag (a conditional GET answers 304); gzip-compressed when the client accepts it (§2.10).
The same for every visitor: being logged in changes nothing here.

Every ``id`` (and every other URL in an object) begins with ``RATSFLOW_BASE_URL``, never with the
``Host`` a request came with: an object has one id. A request on another host, or for a
non-canonical form of an id (``/paper/01``), is answered with a 301 to the canonical URL (a
preflight excepted: browsers do not follow its redirects; the Anlagen on the files origin too).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from engine.oparl import server as oparl_out
from engine.settings import Settings

from . import files_response
from .views import request_session

bp = Blueprint("oparl", __name__, url_prefix="/oparl/v1.1")
PREFIX = "/oparl/"
JSON_TYPE = "application/json; charset=utf-8"
ID = "int"  # bounded to MAX_ID by the app's converter (web/inputs.py)
#: gzip's level for the JSON answers: about as small as 9, at a third of its time.
GZIP_LEVEL = 6

#: Lists below a Body, by their name in the Body object, and the kind of object they hold.
BODY_LISTS = {
    "organization": "organization", "person": "person", "meeting": "meeting", "paper": "paper",
    "agendaItem": "agendaitem", "consultation": "consultation", "file": "file", "membership": "membership",
    "locationList": "location", "legislativeTermList": "legislativeterm",
}


def _settings() -> Settings:
    settings: Settings = current_app.extensions["ratsflow.settings"]
    return settings


def _path(endpoint: str, **values: Any) -> str:
    """The path of a route below the app's root (as ``RATSFLOW_BASE_URL`` continues it)."""
    return url_for(endpoint, **values).removeprefix(request.script_root)


def _url(endpoint: str, **values: Any) -> str:
    """The canonical URL of a route: ``RATSFLOW_BASE_URL`` and its path, whoever asked."""
    return _settings().base_url + _path(endpoint, **values)


def _links() -> oparl_out.Links:
    """The canonical URLs. Built from prefixes found once per request (``url_for`` for every
    object of a page would cost a tenth of its time)."""
    settings = _settings()
    start = _url("public.index")
    paper = _url("public.paper", paper_id=1).removesuffix("1")
    meeting = _url("meetings.meeting", meeting_id=1).removesuffix("1")
    files = (files_response.file_url("oparl.file_access", public=True, file_id=1) if settings.files_base_url
             else _url("oparl.file_access", file_id=1)).removesuffix("1/access")

    def web(kind: str, object_id: int) -> str | None:
        if kind in {"system", "body"}:
            return start
        if kind == "paper":
            return f"{paper}{object_id}"
        if kind == "meeting":
            return f"{meeting}{object_id}"
        return None

    minutes = _url("meetings.minutes_pdf", meeting_id=1).removesuffix("1/niederschrift.pdf")
    return oparl_out.Links(
        base=settings.base_url + (bp.url_prefix or ""), web=web,
        file_access=lambda i: f"{files}{i}/access", file_download=lambda i: f"{files}{i}/download",
        license=settings.oparl_license, minutes_pdf=lambda i: f"{minutes}{i}/niederschrift.pdf")


@bp.before_request
def _canonical_address() -> ResponseReturnValue | None:
    """301 to the canonical URL: ``RATSFLOW_BASE_URL``'s host, the id as the server writes it."""
    if request.method == "OPTIONS" or request.endpoint is None or request.routing_exception is not None:
        return None
    if request.endpoint in files_response.FILE_ENDPOINTS and files_response.on_files_origin():
        return None  # the Anlagen's own origin (RATSFLOW_FILES_BASE_URL)
    base = _settings().base_url
    path = url_for(request.endpoint, **(request.view_args or {}))
    if request.host.lower() == urlsplit(base).netloc.lower() and path == request.script_root + request.path:
        return None
    query = request.query_string.decode("latin-1")
    target = base + path.removeprefix(request.script_root) + (
        "?" + quote(query, safe="=&%+;/:,@!$'()*?~") if query else "")
    return redirect(target, code=301)


def _gzip_accepted() -> bool:
    return request.accept_encodings.quality("gzip") > 0


def json_response(payload: Any, status: int = 200) -> Response:
    """JSON as OParl clients read it; a 200 with an ETag (its own for the gzip form) and
    answered 304 to a matching ``If-None-Match``, compressed when the client accepts gzip."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    response = Response(body, status=status, content_type=JSON_TYPE)
    response.vary.add("Accept-Encoding")
    if status != 200:
        return response
    compress = _gzip_accepted()
    etag = hashlib.sha256(body).hexdigest()[:40]
    response.set_etag(etag + "-gzip" if compress else etag)  # one ETag per representation
    response.make_conditional(request)
    if compress and response.status_code == 200:
        response.set_data(gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0))
        response.headers["Content-Encoding"] = "gzip"
    return response


def error_response(status: int, message: str) -> Response:
    """Errors as OParl clients read them: JSON, with the status and a German message."""
    return json_response({"error": message, "status": status}, status)


def _query() -> oparl_out.Query:
    try:
        return oparl_out.parse_query(request.args)
    except oparl_out.BadFilter as exc:
        abort(error_response(400, str(exc)))


@bp.get("/system")
def system() -> ResponseReturnValue:
    return json_response(oparl_out.system(_links()))


@bp.get("/body")
def bodies() -> ResponseReturnValue:
    return _list("body", _url("oparl.bodies"))


@bp.get(f"/<any({', '.join(k for k in oparl_out.TYPES)}):kind>/<{ID}:object_id>")
def one(kind: str, object_id: int) -> ResponseReturnValue:
    found = oparl_out.get_object(request_session(), kind, object_id, _links())
    if found is None:
        abort(404)
    return json_response(found)


@bp.get(f"/meeting/<{ID}:meeting_id>/resultsProtocol")
def meeting_minutes(meeting_id: int) -> ResponseReturnValue:
    """A Sitzung's released Niederschrift (public part) as an OParl File."""
    found = oparl_out.meeting_minutes(request_session(), meeting_id, _links())
    if found is None:
        abort(404)
    return json_response(found)


@bp.get(f"/body/<{ID}:body_id>/<any({', '.join(BODY_LISTS)}):name>")
def body_list(body_id: int, name: str) -> ResponseReturnValue:
    if not oparl_out.exists_in_body(request_session(), "body", body_id):
        abort(404)
    return _list(BODY_LISTS[name], _url("oparl.body_list", body_id=body_id, name=name), body_id=body_id)


@bp.get(f"/organization/<{ID}:organization_id>/meeting")
def organization_meetings(organization_id: int) -> ResponseReturnValue:
    if not oparl_out.exists_in_body(request_session(), "organization", organization_id):
        abort(404)
    return _list("meeting", _url("oparl.organization_meetings", organization_id=organization_id),
                 organization_id=organization_id)


def _list(kind: str, list_url: str, **scope: int) -> Response:
    query = _query()
    page = oparl_out.list_page(request_session(), kind, query, _links(), **scope)
    return json_response(oparl_out.list_json(page, query, list_url))


def _file(file_id: int, attachment: bool) -> Response:
    """The bytes of a public Anlage as ``web.files_response`` serves every stored file (its
    allow-listed type, not whatever type an import stored; on the files origin if set)."""
    f = oparl_out.public_file(request_session(), file_id)
    if f is None:
        abort(404)
    return files_response.to_files_origin(public=True) \
        or files_response.file_response(f, attachment=attachment, max_age=3600)


@bp.get(f"/file/<{ID}:file_id>/access")
def file_access(file_id: int) -> ResponseReturnValue:
    return _file(file_id, attachment=False)


@bp.get(f"/file/<{ID}:file_id>/download")
def file_download(file_id: int) -> ResponseReturnValue:
    return _file(file_id, attachment=True)


def _cors(response: Response) -> Response:
    """CORS for everything under /oparl/ (the spec asks for ``*``); a preflight answers 204."""
    if not request.path.startswith(PREFIX):
        return response
    if request.method == "OPTIONS":
        response = Response(status=204, content_type=JSON_TYPE)
        response.headers["Allow"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "If-None-Match, If-Modified-Since, Accept"
        response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_cors)
