"""Who is asking: a bearer token (API) or the console's session cookie."""

from __future__ import annotations

import hashlib

from fastapi import Request

from aftersales_es.app.access import Principal
from aftersales_es.http.problems import Problem
from aftersales_es.http.service import Service

COOKIE = "aftersales_token"


def service_of(request: Request) -> Service:
    """The service the request's app holds."""
    svc: Service = request.app.state.service
    return svc


# Both dependencies are async: they run on the event loop, not each in a
# worker thread of its own (a thread hop costs more than they do; a token
# is looked up in the store at most once per TTL).
async def service(request: Request) -> Service:
    """The service, as a route dependency."""
    return service_of(request)


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE)


async def principal(request: Request) -> Principal:
    """The principal of the request's token; 401 without a live one."""
    token = token_of(request)
    found = service_of(request).resolve(token) if token else None
    if found is None:
        raise Problem(401, "unauthorized", "Unauthorized", "a valid bearer token is needed")
    return found


def csrf(token: str) -> str:
    """The console's form token: bound to the session, useless without its cookie."""
    return hashlib.sha256(f"csrf:{token}".encode()).hexdigest()[:32]
