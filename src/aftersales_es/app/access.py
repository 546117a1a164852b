"""Who may see and do what: roles, principals and the checks every front door calls.

Five roles. A ``buyer`` or ``seller`` principal is bound to one buyer or
seller id: it sees only that party's cases and sends only the commands the
statechart gives its actor. ``platform`` sees every case and sends the
platform's commands (arbitration) and registers orders; ``auditor`` reads
everything and writes nothing; ``admin`` reads and sends anything.

A case the principal may not see is reported exactly as a case that does
not exist (:class:`CaseNotFoundError`), so a denied look-up leaks nothing.
A visible case with a command not for the principal's role is refused with
:class:`AccessDeniedError`, which names the case, its state and the command
like every other refusal, and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aftersales_es.app import commands as cmds
from aftersales_es.domain.errors import (
    CaseNotFoundError,
    CommandRefusedError,
    InvalidInputError,
    OrderNotFoundError,
)
from aftersales_es.domain.statechart import (
    GOODS_TRANSITIONS,
    KIND_GUARDS,
    PLAN_GUARDS,
    TRANSITIONS,
)

Role = Literal["buyer", "seller", "platform", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("buyer", "seller", "platform", "auditor", "admin")
#: Roles that see every case, the ledger of every seller, the audit and the feed.
READ_ALL = frozenset({"platform", "auditor", "admin"})
#: Commands whose sending party is a field of the command, not fixed by the table.
PARTY_FIELD = {"escalate": "by", "submit_evidence": "by", "message": "by"}
ACCESS_RULE = "access"


class AccessDeniedError(CommandRefusedError):
    """The principal's role may not send this command (or may not write at all)."""


class Parties(Protocol):
    """What access needs of a case: its parties, state, kind and plan."""

    @property
    def case_id(self) -> str: ...
    @property
    def seller_id(self) -> str: ...
    @property
    def buyer_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def proposal(self) -> dict[str, Any] | None: ...
    @property
    def goods(self) -> str | None: ...


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role, bound to a seller or buyer id for those roles."""

    role: Role
    seller: str | None = None
    buyer: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidInputError(f"role: {self.role!r} is not one of {', '.join(ROLES)}")
        if (self.role == "seller") != (self.seller is not None):
            raise InvalidInputError("a seller principal needs a seller id (and only it does)")
        if (self.role == "buyer") != (self.buyer is not None):
            raise InvalidInputError("a buyer principal needs a buyer id (and only it does)")

    @property
    def reads_all(self) -> bool:
        """Sees every case, every seller's ledger, the audit and the feed."""
        return self.role in READ_ALL

    @property
    def writes(self) -> bool:
        return self.role != "auditor"

    def sees(self, case: Parties) -> bool:
        """Whether this principal may know that ``case`` exists."""
        if self.reads_all:
            return True
        if self.role == "seller":
            return case.seller_id == self.seller
        return case.buyer_id == self.buyer

    def sees_seller(self, seller: str | None) -> bool:
        """Whether this principal may read ``seller``'s ledger (None: every seller's)."""
        return self.reads_all or (self.role == "seller" and seller == self.seller)

    def actors(self) -> frozenset[str]:
        """The statechart actors this principal may act as."""
        if self.role == "admin":
            return frozenset({"buyer", "seller", "platform"})
        if self.role == "auditor":
            return frozenset()
        return frozenset({self.role})


@dataclass(frozen=True)
class NextCommand:
    """A command the table admits now: who sends it and where it leads."""

    command: str
    actor: str
    dest: str


def next_commands(case: Parties) -> list[NextCommand]:
    """Every command some party may send on ``case`` in its state, per the statechart.

    Deadlines (actor ``system``) are not commands. Kind and plan guards are
    applied; an arbitration's outcome is the command's own choice, so both
    outcomes count. Time windows and rule-set checks still apply when sent.
    """
    plan = None
    if case.proposal is not None:
        plan = "offline" if case.proposal.get("offline") else case.proposal.get("kind")
    found: dict[tuple[str, str], str] = {}
    for t in TRANSITIONS:
        if t.source != case.state or not _admits(t.guard, case.kind, plan):
            continue
        for actor in t.actors:
            if actor != "system":
                found.setdefault((t.trigger, actor), t.dest)
    for t in GOODS_TRANSITIONS:
        if t.source == (case.goods or "") and "system" not in t.actors:
            for actor in t.actors:
                found.setdefault((t.trigger, actor), case.state)
    return [NextCommand(c, a, d) for (c, a), d in sorted(found.items())]


def _admits(guard: str | None, kind: str, plan: str | None) -> bool:
    if guard in KIND_GUARDS:
        return kind in KIND_GUARDS[guard]
    if guard in PLAN_GUARDS:
        return plan in PLAN_GUARDS[guard]
    return True  # no guard, or an outcome the command chooses


def allowed_for(principal: Principal, case: Parties) -> list[NextCommand]:
    """The next commands this principal may send on ``case`` (none if it cannot see it)."""
    if not principal.sees(case):
        return []
    mine = principal.actors()
    return [n for n in next_commands(case) if n.actor in mine]


def see(principal: Principal, case: Parties) -> None:
    """Raise :class:`CaseNotFoundError` unless the principal may see ``case``."""
    if not principal.sees(case):
        raise CaseNotFoundError(case.case_id)


def _deny(case: Parties, command: str, reason: str) -> AccessDeniedError:
    return AccessDeniedError(case.case_id, case.state, command, ACCESS_RULE, reason)


def authorize(principal: Principal, case: Parties, cmd: cmds.Command) -> cmds.Command:
    """The command this principal may send on ``case``, or a refusal.

    For commands whose party is a field (``escalate``, ``submit_evidence``),
    a buyer or seller sends as itself: the field is set to its role, and a
    body naming the other party is refused.
    """
    see(principal, case)
    if not principal.writes:
        raise _deny(case, cmd.name, f"role {principal.role} reads only")
    field = PARTY_FIELD.get(cmd.name)
    if field is not None and principal.role in ("buyer", "seller"):
        if cmd.model_fields_set & {field} and getattr(cmd, field) != principal.role:
            raise _deny(case, cmd.name, f"a {principal.role} cannot act as {getattr(cmd, field)}")
        cmd = cmd.model_copy(update={field: principal.role})
    actor = getattr(cmd, field) if field else _actor(cmd.name)
    if actor not in principal.actors():
        raise _deny(case, cmd.name, f"{cmd.name} is for the {actor}, not the {principal.role}")
    return cmd


def _actor(command: str) -> str:
    for t in (*TRANSITIONS, *GOODS_TRANSITIONS):
        if t.trigger == command and "system" not in t.actors:
            return t.actors[0]
    raise InvalidInputError(f"command: unknown command {command!r}")


def authorize_apply(principal: Principal, order_id: str, buyer: str, seller: str) -> None:
    """A buyer applies on its own orders, admin on any; an order the principal
    may not see is reported exactly as a missing one."""
    if principal.role == "admin" or (principal.role == "buyer" and principal.buyer == buyer):
        return
    if not (principal.reads_all or (principal.role == "seller" and principal.seller == seller)):
        raise OrderNotFoundError(order_id)
    reason = f"role {principal.role} cannot apply"
    raise AccessDeniedError("(new)", "none", "apply", ACCESS_RULE, reason)


def authorize_order(principal: Principal) -> None:
    """Orders come from the platform: platform and admin register them."""
    if principal.role not in ("platform", "admin"):
        reason = f"role {principal.role} cannot register orders"
        raise AccessDeniedError("(none)", "none", "register_order", ACCESS_RULE, reason)
