"""The JSON API: commands, orders, reads, ledger, audit (see :func:`create_app`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, create_model
from pydantic.json_schema import models_json_schema

from aftersales_es.app import access
from aftersales_es.app import commands as cmds
from aftersales_es.app.access import Principal
from aftersales_es.app.attachments import bundle
from aftersales_es.app.fields import Instant
from aftersales_es.audit import history as hist
from aftersales_es.http import listing, uploads
from aftersales_es.http.auth import principal, service, service_of
from aftersales_es.http.problems import Problem
from aftersales_es.http.service import Service, etag, run_command
from aftersales_es.readmodels import ledger
from aftersales_es.readmodels.settlement import settlement as settlement_of
from aftersales_es.readmodels.views import plain

router = APIRouter()
Who = Annotated[Principal, Depends(principal)]
Svc = Annotated[Service, Depends(service)]
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]
MatchHeader = Annotated[str | None, Header(alias="If-Match")]
_ENGINE_FIELDS = ("name", "case", "at", "idempotency_key")


def _body_model(cls: type[cmds.Command]) -> type[BaseModel]:
    """The request body of a command: its own fields, ``at`` optional (default: now)."""
    fields: dict[str, Any] = {
        n: (f.annotation, f) for n, f in cls.model_fields.items() if n not in _ENGINE_FIELDS
    }
    fields["at"] = (Instant | None, None)
    model: type[BaseModel] = create_model(
        f"{cls.__name__}Body",
        __config__=ConfigDict(extra="forbid"),
        __doc__=cls.__doc__,
        **fields,
    )
    return model


def case_view(svc: Service, who: Principal, case: Any) -> dict[str, Any]:
    """A case as the API returns it: its state, deadlines and the principal's next commands."""
    view = hist.state_view(case)
    view["allowed"] = [n.command for n in access.allowed_for(who, case)]
    return view


def _send(
    svc: Service,
    who: Principal,
    case_id: str,
    name: str,
    fields: dict[str, Any],
    new: uploads.Files,
    headers: tuple[str | None, str | None],
) -> tuple[bytes, str]:
    """Run one command (in a worker thread) and render its answer: the case
    view as JSON and its ETag."""
    files: dict[str, bytes] = {}
    if new:
        refs, files = bundle(new)
        fields["attachments"] = [*fields.get("attachments", ()), *refs]
    key, if_match = headers
    case = run_command(svc, who, case_id, name, fields, key=key, if_match=if_match, files=files)
    view = case_view(svc, who, case)
    return json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode(), etag(case)


def _command_route(name: str, cls: type[cmds.Command]) -> type[BaseModel]:
    Body = _body_model(cls)
    structured = uploads.structured_fields(Body) if "attachments" in Body.model_fields else None

    # The body is read and validated here, not by a FastAPI body parameter:
    # one pydantic validation from the raw bytes on the hot path, and the
    # same route takes a form with files (the OpenAPI body is declared below).
    # Path and headers are read from the request too: FastAPI's parameter
    # resolution cost more per command than the rest of the route (they are
    # declared for the OpenAPI document below).
    async def send(request: Request) -> Response:
        who = await principal(request)
        fields, new = await uploads.read_body(request, Body, structured)
        svc = service_of(request)
        case_id = request.path_params["case_id"]
        headers = (request.headers.get("idempotency-key"), request.headers.get("if-match"))
        body, tag = await svc.run_write(_send, svc, who, case_id, name, fields, new, headers)
        return Response(body, media_type="application/json", headers={"ETag": tag})

    send.__doc__ = f"Send `{name}` to the case. {cls.__doc__ or ''}".strip()
    ref = {"$ref": f"{REF}{Body.__name__}"}
    content: dict[str, Any] = {"application/json": {"schema": ref}}
    if structured is not None:
        files = {"type": "array", "items": {"type": "string", "format": "binary"}}
        form = {"type": "object", "properties": {uploads.FILE_PART: files}}
        content["multipart/form-data"] = {"schema": {"allOf": [ref, form]}}
    router.add_api_route(
        f"/cases/{{case_id}}/{name}",
        send,
        methods=["POST"],
        name=name,
        summary=name,
        tags=["commands"],
        openapi_extra={
            "parameters": COMMAND_PARAMETERS,
            "requestBody": {"required": True, "content": content},
        },
    )
    return Body


REF = "#/components/schemas/"
_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
#: What a command route reads besides its body, as FastAPI would declare it.
COMMAND_PARAMETERS = [
    {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "Idempotency-Key", "in": "header", "required": False, "schema": _TEXT,
     "description": "a retry with the same key and body answers the first outcome"},
    {"name": "If-Match", "in": "header", "required": False, "schema": _TEXT,
     "description": "the case's ETag (its version): 412 when the case has moved on"},
]  # fmt: skip
BODIES = [_command_route(_name, _cls) for _name, _cls in cmds.COMMANDS.items()]


def body_schemas() -> dict[str, Any]:
    """The command bodies' JSON schemas, for the OpenAPI document's components."""
    _, top = models_json_schema([(b, "validation") for b in BODIES], ref_template=REF + "{model}")
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas


def upload_path(path: str) -> bool:
    """Whether a request to ``path`` may carry files (a larger body limit)."""
    head, _, command = path.rpartition("/")
    return head.startswith("/cases/") and command in UPLOADS


UPLOADS = frozenset(n for n, c in cmds.COMMANDS.items() if "attachments" in c.model_fields)


@router.post("/orders", status_code=201, tags=["orders"])
def register_order(order: cmds.RegisterOrder, who: Who, svc: Svc) -> dict[str, Any]:
    """Register an order (platform and admin)."""
    access.authorize_order(who)
    o = svc.app.register_order(order)
    return {"order_id": o.order_id, "seller": o.seller_id, "buyer": o.buyer_id}


@router.get("/whoami", tags=["reads"])
def whoami(who: Who) -> dict[str, Any]:
    """The role and party of the token."""
    return {"role": who.role, "seller": who.seller, "buyer": who.buyer, "name": who.name}


@router.get("/cases", tags=["reads"])
def list_cases(
    who: Who,
    svc: Svc,
    state: str | None = None,
    platform: str | None = None,
    seller: str | None = None,
    due_before: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Cases the principal may see, by case id, ``limit`` at a time (``cursor``: the
    ``next_cursor`` of the previous page)."""
    f = listing.Filters(state, platform, seller, due_before)
    rows, nxt = listing.page(svc, who, f, cursor, limit)
    return {"items": rows, "next_cursor": nxt}


@router.get("/cases/{case_id}", tags=["reads"])
def get_case(case_id: str, response: Response, who: Who, svc: Svc) -> dict[str, Any]:
    """The case now, with its ETag (the version, for ``If-Match``)."""
    case = svc.visible_case(who, case_id)
    response.headers["ETag"] = etag(case)
    return case_view(svc, who, case)


@router.get("/cases/{case_id}/history", tags=["reads"])
def get_history(
    case_id: str,
    who: Who,
    svc: Svc,
    version: Annotated[int | None, Query(ge=1)] = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The case's timeline, now or as it stood at ``version`` or at ``as_of``."""
    svc.visible_case(who, case_id)
    return hist.history(svc.app, case_id, version=version, as_of=as_of)


@router.get("/cases/{case_id}/next", tags=["reads"])
def get_next(case_id: str, who: Who, svc: Svc) -> dict[str, Any]:
    """The commands the principal may send now, who else may act, and the
    deadline that acts if nobody does."""
    case = svc.visible_case(who, case_id)
    pending = case.pending_deadline
    return {
        "case": case_id,
        "state": case.state,
        "version": case.version,
        "allowed": [vars_(n) for n in access.allowed_for(who, case)],
        "all": [vars_(n) for n in access.next_commands(case)],
        "deadline": None if pending is None else plain(pending.as_dict()),
    }


@router.get("/cases/{case_id}/attachments/{digest}", tags=["reads"])
def get_attachment(case_id: str, digest: str, who: Who, svc: Svc) -> Response:
    """A file of the case (a photo, video or PDF), as the media type read from
    its bytes; 404 for a case the principal may not see or a file it does not cite."""
    ref, data = svc.attachment(who, case_id, digest)
    headers = {
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(ref['name'])}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    return Response(data, media_type=ref["media_type"], headers=headers)


def vars_(n: access.NextCommand) -> dict[str, str]:
    return {"command": n.command, "actor": n.actor, "dest": n.dest}


def _seller_scope(who: Principal, seller: str | None) -> str | None:
    if who.role == "seller":
        if seller not in (None, who.seller):
            raise Problem(404, "not-found", "Not found", f"seller {seller!r} not found")
        return who.seller
    if not who.reads_all:
        raise Problem(403, "forbidden", "Forbidden", f"role {who.role} has no ledger")
    return seller


@router.get("/deductions", tags=["ledger"])
def deductions(
    who: Who,
    svc: Svc,
    seller: str | None = None,
    reason: str | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Any:
    """The deduction ledger with totals (a seller sees its own)."""
    seller = _seller_scope(who, seller)
    return plain(ledger.report(svc.app, seller=seller, start=start, end=end, reason=reason))


@router.get("/sellers/{seller}/settlement", tags=["ledger"])
def settlement(
    seller: str,
    who: Who,
    svc: Svc,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Any:
    """A seller's settlement for a period: deductions, freight, refunds borne and
    points, with totals per currency (the same query as ``aftersales settlement``)."""
    _seller_scope(who, seller)
    return plain(settlement_of(svc.app, seller=seller, start=start, end=end))


def _reads_all(who: Principal) -> None:
    if not who.reads_all:
        raise Problem(403, "forbidden", "Forbidden", f"role {who.role} cannot run the audit")


@router.get("/audit", tags=["audit"])
def run_audit(who: Who, svc: Svc) -> dict[str, Any]:
    """Re-derive every case and the ledger from the events and compare."""
    from aftersales_es.audit.check import audit

    _reads_all(who)
    return audit(svc.app).as_dict()


@router.get("/verify", tags=["audit"])
def run_verify(who: Who, svc: Svc, case: Annotated[list[str] | None, Query()] = None) -> Any:
    """Recompute the hash chains (all cases, or ``case=``) and list findings."""
    from dataclasses import asdict

    from aftersales_es.audit.blobs import check as check_blobs
    from aftersales_es.audit.chain import verify

    _reads_all(who)
    result = verify(svc.app, case or [])
    result.findings += check_blobs(svc.app, case or [])
    return {
        "cases": result.cases,
        "events": result.events,
        "findings": [asdict(f) for f in result.findings],
        "ok": not result.findings,
    }
