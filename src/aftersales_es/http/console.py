"""The web console: server-rendered pages over the same routes' service calls.

Works without JavaScript: every action is a plain form posted to the server
and answered with a redirect (post/redirect/get). The session is the API
token in an HttpOnly, SameSite=Strict cookie; each form also carries a
token derived from it, so another site cannot post on the user's behalf.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from aftersales_es.app import access
from aftersales_es.app.access import Principal
from aftersales_es.audit import history as hist
from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.domain.statechart import STATES
from aftersales_es.http import listing
from aftersales_es.http.auth import COOKIE, csrf, principal, service, service_of
from aftersales_es.http.charts import ledger_chart
from aftersales_es.http.problems import Problem
from aftersales_es.http.service import Service, run_command
from aftersales_es.http.svg import statechart_svg
from aftersales_es.readmodels import ledger

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
Svc = Annotated[Service, Depends(service)]
#: Extra form inputs a command needs on its button: (field, label, kind).
FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "reject": [("reason", "Reason", "text")],
    "propose": [("kind", "Plan", "kind"), ("amount", "Amount", "text")],
    "ship_back": [("carrier", "Carrier", "text"), ("tracking_number", "Tracking number", "text")],
    "ship_replacement": [("carrier", "Carrier", "text"), ("tracking_number", "Tracking", "text")],
    "submit_evidence": [("note", "Note", "text")],
    "rule": [
        ("outcome", "Outcome (optional: refund, partial_refund, return_then_refund, ...)", "text"),
        ("refund_amount", "Refund amount (optional)", "text"),
    ],
    "approve": [("return_address", "Return address (optional)", "text")],
    "propose_partial_refund": [("amount", "Amount", "text"), ("reason", "Reason", "text")],
}
SOON = timedelta(hours=48)


Who = Annotated[Principal, Depends(principal)]  # no session: 401, shown as the login form


def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    token = request.cookies.get(COOKIE, "")
    ctx.setdefault("user", None)
    return templates.TemplateResponse(
        request, name, {"csrf": csrf(token) if token else "", **ctx}, status_code=status
    )


def left(due: datetime, now: datetime) -> str:
    """Time left until ``due`` in days and hours ("overdue" once past)."""
    secs = int((due - now).total_seconds())
    d, rest = divmod(abs(secs), 86400)
    h, rest = divmod(rest, 3600)
    text = f"{d}d {h}h" if d else f"{h}h {rest // 60}m"
    return f"{text} left" if secs >= 0 else f"overdue by {text}"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
    if service_of(request).resolve(token.strip()) is None:
        return page(request, "login.html", 401, error="That token is not valid.")
    out = RedirectResponse("/console/cases", status_code=303)
    out.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", max_age=8 * 3600)
    return out


@router.post("/logout")
def logout() -> Response:
    out = RedirectResponse("/console/login", status_code=303)
    out.delete_cookie(COOKIE)
    return out


@router.get("/cases", response_class=HTMLResponse)
def cases(
    request: Request,
    user: Who,
    svc: Svc,
    state: str = "",
    platform: str = "",
    seller: str = "",
    due: str = "",
    q: str = "",
    cursor: str = "",
) -> HTMLResponse:
    now = datetime.now(UTC)
    f = listing.Filters(state or None, platform or None, seller or None, None, q or None)
    if due == "soon":
        f = listing.Filters(f.state, f.platform, f.seller, now + SOON, f.q)
    rows, nxt = listing.page(svc, user, f, cursor or None, 50)
    form = {"state": state, "platform": platform, "seller": seller, "due": due, "q": q}
    return page(request, "cases.html", user=user, rows=rows, next=nxt, form=form, states=STATES)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: str, user: Who, svc: Svc, done: str = "", error: str = ""
) -> HTMLResponse:
    case = svc.visible_case(user, case_id)
    now = datetime.now(UTC)
    events = svc.app.case_events(case_id)
    rows = hist.timeline(events)
    path = ["requested", *[r["state_after"] for r in rows]]
    deadlines = [{**d.as_dict(), "left": left(d.due, now)} for d in sorted(case.pending_deadlines)]
    allowed = access.allowed_for(user, case)
    return page(
        request,
        "case.html",
        user=user,
        case=hist.state_view(case),
        timeline=rows,
        deadlines=deadlines,
        actions=[(n, FIELDS.get(n.command, [])) for n in allowed],
        svg=statechart_svg(case.kind, case.state, path),
        done=done,
        error=error,
    )


@router.post("/cases/{case_id}/act")
async def act(request: Request, case_id: str, user: Who, svc: Svc) -> Response:
    form = await request.form()
    token = request.cookies.get(COOKIE, "")
    if form.get("csrf") != csrf(token):
        raise Problem(403, "forbidden", "Forbidden", "the form is stale; reload the page")
    command = str(form.get("command", ""))
    data = {
        k: str(v).strip()
        for k, v in form.items()
        if k not in ("csrf", "command", "version") and str(v).strip()
    }
    if user.role == "admin" and command in access.PARTY_FIELD and "by" not in data:
        data["by"] = str(form.get("actor", "buyer"))
    data.pop("actor", None)
    target = f"/console/cases/{case_id}"
    try:
        run_command(svc, user, case_id, command, data, if_match=str(form.get("version") or "*"))
    except (AfterSalesError, Problem) as exc:
        from urllib.parse import quote

        return RedirectResponse(f"{target}?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"{target}?done={command}", status_code=303)


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(request: Request, user: Who, svc: Svc, seller: str = "") -> HTMLResponse:
    if user.role == "seller":
        seller = user.seller or ""
    elif not user.reads_all:
        raise Problem(403, "forbidden", "Forbidden", f"role {user.role} has no ledger")
    data = ledger.report(svc.app, seller=seller or None)
    return page(
        request,
        "ledger.html",
        user=user,
        seller=seller,
        totals=data["totals"],
        by_currency=data["by_currency"],
        chart=ledger_chart(data["deductions"]),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: Who, svc: Svc, run: str = "") -> HTMLResponse:
    if not user.reads_all:
        raise Problem(403, "forbidden", "Forbidden", f"role {user.role} cannot run the audit")
    result: dict[str, Any] | None = None
    if run == "audit":
        from aftersales_es.audit.check import audit

        result = {"kind": "audit", **audit(svc.app).as_dict()}
        result["ok"] = not result["mismatches"]
    elif run == "verify":
        from dataclasses import asdict

        from aftersales_es.audit.chain import verify

        v = verify(svc.app)
        findings = [asdict(f) for f in v.findings]
        result = {"kind": "verify", "cases": v.cases, "events": v.events, "findings": findings}
        result["ok"] = not findings
    return page(request, "audit.html", user=user, result=result)


def error_page(request: Request, body: dict[str, Any]) -> Response:
    """A problem as a console page (the login form when there is no session)."""
    if body.get("status") == 401:
        return RedirectResponse("/console/login", status_code=303)
    title = str(body.get("title", "Error"))
    detail = str(body.get("detail", ""))
    return page(request, "error.html", int(body.get("status", 500)), title=title, detail=detail)
