"""What the HTTP layer holds: the application, the tokens, the command runner.

:func:`run_command` is the one path every write takes, from the JSON API
and from the console alike: look the case (or order) up, check access in
the service layer (:mod:`aftersales_es.app.access`), map the HTTP
idempotency key and precondition onto the engine, and execute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import anyio
from eventsourcing.application import AggregateNotFoundError

from aftersales_es.app import access
from aftersales_es.app import commands as cmds
from aftersales_es.app.access import Principal
from aftersales_es.app.idempotency import CommandRecord, key_uuid
from aftersales_es.app.tokens import Tokens
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import NotFoundError
from aftersales_es.engine import AfterSales
from aftersales_es.http.problems import Problem

#: Longest client Idempotency-Key: the engine's limit less the principal's scope.
MAX_KEY = 80
#: Seconds a resolved token is trusted before the table is asked again.
TOKEN_TTL = 5.0
#: Commands decided and saved at once, per store kind. SQLite has one writer:
#: more threads only race for its lock and for the GIL (and, on one case,
#: for its version), which measured slower. PostgreSQL waits on the network.
COMMAND_THREADS = {"sqlite": 2, "postgres": 10}
T = TypeVar("T")


@dataclass
class Service:
    """The application and what the routes share across requests."""

    app: AfterSales
    tokens: Tokens
    #: Threads running commands at once (0: by store kind, :data:`COMMAND_THREADS`).
    command_threads: int = 0

    def __post_init__(self) -> None:
        # A case's parties never change: remember them for the feed's filter.
        self.parties = lru_cache(maxsize=100_000)(self._parties)
        self._tokens: dict[str, tuple[float, Principal]] = {}
        sql = getattr(self.app, "sql", None)
        dialect = getattr(sql, "dialect", "postgres")
        self.command_threads = self.command_threads or COMMAND_THREADS.get(dialect, 10)
        self._limiter: anyio.CapacityLimiter | None = None

    async def run_write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` (a command: blocking, it writes) in a worker
        thread, at most :attr:`command_threads` at once. Reads and pages keep
        the rest of the thread pool, so a command waiting on the store's
        write lock never holds them up, and the event loop never blocks."""
        if self._limiter is None:  # created on the loop it serves
            self._limiter = anyio.CapacityLimiter(self.command_threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def resolve(self, token: str) -> Principal | None:
        """The token's principal, remembered for :data:`TOKEN_TTL` seconds: a
        revoked token stops working within that time."""
        now = time.monotonic()
        hit = self._tokens.get(token)
        if hit is not None and now - hit[0] < TOKEN_TTL:
            return hit[1]
        found = self.tokens.resolve(token)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        if found is not None:
            self._tokens[token] = (now, found)
        return found

    def _parties(self, case_id: str) -> tuple[str, str]:
        return self.app.parties(case_id)

    def seen(self, principal: Principal, case_id: str) -> _Seen:
        """The case's parties, from the cache; 404 unless the principal may see it.

        Access is decided on the parties alone; the state is loaded only to
        word a refusal, so an allowed command loads its case once, to run it."""
        seller, buyer = self.parties(case_id)
        view = _Seen(case_id, seller, buyer, self)
        access.see(principal, view)
        return view

    def visible_case(self, principal: Principal, case_id: str, version: int | None = None) -> Case:
        """The case, or :class:`CaseNotFoundError` if it is missing or not the principal's."""
        case = self.app.get_case(case_id, version=version)
        access.see(principal, case)
        return case

    def attachment(
        self, principal: Principal, case_id: str, digest: str
    ) -> tuple[dict[str, Any], bytes]:
        """A file of a case the principal may see: its reference and bytes.

        A file is served only through a case that cites it, so whoever may
        not see that case learns nothing, not even that the file exists.
        """
        case = self.visible_case(principal, case_id)
        ref = next((a for a in case.attachments if a["digest"] == digest), None)
        data = None if ref is None else self.app.blobs.get(digest)
        if ref is None or data is None:
            raise NotFoundError(f"case {case_id}: no attachment {digest}")
        return ref, data


@dataclass
class _Seen:
    """A case as access sees it: parties now, state and kind on demand."""

    case_id: str
    seller_id: str
    buyer_id: str
    svc: Service

    def _case(self) -> Case:
        return self.svc.app.get_case(self.case_id)

    @property
    def state(self) -> str:
        return self._case().state

    @property
    def kind(self) -> str:
        return self._case().kind

    @property
    def proposal(self) -> dict[str, Any] | None:
        return self._case().proposal

    @property
    def goods(self) -> str | None:
        return self._case().goods


def etag(case: Case) -> str:
    return f'"{case.version}"'


def _tags(if_match: str) -> set[str]:
    return {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}


def expected_version(svc: Service, case_id: str, name: str, if_match: str | None) -> int | None:
    """The version an ``If-Match`` asks the case to be at (None: any).

    The engine checks it on the state it decides on, in the same
    version-checked write, so the precondition holds across threads and
    server processes. Of several tags, the one the case is at now is
    expected (the case moved on if none matches)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tags = _tags(if_match)
    if len(tags) == 1 and (tag := next(iter(tags))).isdigit():
        return int(tag)
    current = svc.app.get_case(case_id)
    if str(current.version) in tags:
        return current.version
    raise Problem(
        412,
        "precondition-failed",
        "Precondition failed",
        f"case {case_id} is at version {current.version}, not {if_match}",
        case=case_id,
        state=current.state,
        command=name,
        version=current.version,
    )


def engine_key(principal: Principal, key: str) -> str:
    """The engine key for a client key: scoped to the principal's role and party,
    so one client's key never meets (or reveals) another's command."""
    if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable() or " " in key:
        raise Problem(
            422,
            "invalid-input",
            "Invalid Idempotency-Key",
            f"1..{MAX_KEY} printable ASCII, no spaces",
        )
    party = principal.seller or principal.buyer or "-"
    return f"http:{principal.role}:{party}:{key}"


def _first_at(app: AfterSales, key: str) -> datetime | None:
    """When a keyed command was first decided (None: never): a replayed key
    answers its first outcome, whatever the case's version is now. (A store
    of partitions keeps the record in its case's partition.)"""
    for part in getattr(app, "partitions", [app]):
        try:
            record: CommandRecord = part.repository.get(key_uuid(key))
        except AggregateNotFoundError:
            continue
        return record.at
    return None


def run_command(
    svc: Service,
    principal: Principal,
    case_id: str,
    name: str,
    data: dict[str, Any],
    *,
    key: str | None = None,
    if_match: str | None = None,
    now: datetime | None = None,
    files: Mapping[str, bytes] | None = None,
) -> Case:
    """Check access, the precondition and the key, then run one command.

    ``files``: the bytes of new attachments the command cites, by digest;
    the engine writes them only once the command is decided."""
    app = svc.app
    data = {k: v for k, v in data.items() if v is not None}
    replay = False
    if key is not None:
        data["idempotency_key"] = engine_key(principal, key)
        first = _first_at(app, data["idempotency_key"])
        replay = first is not None
    if now is not None:
        data.setdefault("at", now)
    # Without an instant the engine takes "now" when it decides, inside the
    # write's retries, so it never precedes the case's last event.
    cmd = cmds.parse_command(name, {**data, "case": case_id})
    if isinstance(cmd, cmds.Apply):
        seller, buyer = app.order_parties(cmd.order)
        access.authorize_apply(principal, cmd.order, buyer, seller)
        return app.execute(cmd, files=files)
    cmd = access.authorize(principal, svc.seen(principal, case_id), cmd)
    # A replayed key answers its first outcome whatever the version is now.
    expected = None if replay else expected_version(svc, case_id, name, if_match)
    return app.execute(cmd, expected_version=expected, files=files)
