"""The OParl 1.1 server under /oparl/v1.1 (public data only; ``engine.oparl.server`` does the work).

Every answer is ``application/json; charset=utf-8`` (errors too) with ``Access-Control-Allow-Origin: *``
and an ETag (a conditional GET answers 304). The same for every visitor: being logged in changes
nothing here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Flask, Response, abort, request, url_for
from flask.typing import ResponseReturnValue

from engine.oparl import server as oparl_out

from . import files_response
from .views import request_session

bp = Blueprint("oparl", __name__, url_prefix="/oparl/v1.1")
PREFIX = "/oparl/"
JSON_TYPE = "application/json; charset=utf-8"
ID = "int"  # bounded to MAX_ID by the app's converter (web/inputs.py)

#: Lists below a Body, by their name in the Body object, and the kind of object they hold.
BODY_LISTS = {
    "organization": "organization", "person": "person", "meeting": "meeting", "paper": "paper",
    "agendaItem": "agendaitem", "consultation": "consultation", "file": "file", "membership": "membership",
    "locationList": "location", "legislativeTermList": "legislativeterm",
}


def _links() -> oparl_out.Links:
    """The URLs of this request's host. Built from prefixes found once per request (``url_for``
    for every object of a page would cost a tenth of its time)."""
    root = request.url_root.rstrip("/")
    start = url_for("public.index", _external=True)
    paper = url_for("public.paper", paper_id=1, _external=True).removesuffix("1")
    meeting = url_for("meetings.meeting", meeting_id=1, _external=True).removesuffix("1")
    files = files_response.file_url("oparl.file_access", public=True, file_id=1, _external=True) \
        .removesuffix("1/access")

    def web(kind: str, object_id: int) -> str | None:
        if kind in {"system", "body"}:
            return start
        if kind == "paper":
            return f"{paper}{object_id}"
        if kind == "meeting":
            return f"{meeting}{object_id}"
        return None

    return oparl_out.Links(
        base=root + (bp.url_prefix or ""), web=web,
        file_access=lambda i: f"{files}{i}/access", file_download=lambda i: f"{files}{i}/download")


def json_response(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    response = Response(body, status=status, content_type=JSON_TYPE)
    if status == 200:
        response.set_etag(hashlib.sha256(body).hexdigest()[:40])
        response.make_conditional(request)
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
    return _list("body", url_for("oparl.bodies", _external=True))


@bp.get(f"/<any({', '.join(k for k in oparl_out.TYPES)}):kind>/<{ID}:object_id>")
def one(kind: str, object_id: int) -> ResponseReturnValue:
    found = oparl_out.get_object(request_session(), kind, object_id, _links())
    if found is None:
        abort(404)
    return json_response(found)


@bp.get(f"/body/<{ID}:body_id>/<any({', '.join(BODY_LISTS)}):name>")
def body_list(body_id: int, name: str) -> ResponseReturnValue:
    if not oparl_out.exists_in_body(request_session(), "body", body_id):
        abort(404)
    return _list(BODY_LISTS[name], url_for("oparl.body_list", body_id=body_id, name=name, _external=True),
                 body_id=body_id)


@bp.get(f"/organization/<{ID}:organization_id>/meeting")
def organization_meetings(organization_id: int) -> ResponseReturnValue:
    if not oparl_out.exists_in_body(request_session(), "organization", organization_id):
        abort(404)
    return _list("meeting", url_for("oparl.organization_meetings", organization_id=organization_id,
                                    _external=True), organization_id=organization_id)


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
