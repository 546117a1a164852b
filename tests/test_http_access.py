"""Every role against every endpoint: who sees and does what over HTTP.

C1 belongs to seller S1 and buyer B1, C2 to S2 and B2. A principal that may
not see a case gets 404, exactly as for a missing case; one that sees it but
may not send the command gets 403 naming the rule ``access``; a denied
request writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .http_world import PRINCIPALS, World, build, order_facts

ROLES = list(PRINCIPALS)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build(tmp_path / "http.db")


def expect(table: dict[str, int], who: str) -> int:
    return table[who]


SEES_C1 = {"buyer": 200, "other_buyer": 404, "seller": 200, "other_seller": 404}
SEES_C1 |= {"platform": 200, "auditor": 200, "admin": 200}


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("path", ["/cases/C1", "/cases/C1/history", "/cases/C1/next"])
def test_case_reads_by_role_only_own_cases_visible(world: World, who: str, path: str) -> None:
    # given C1 of S1/B1; when each principal reads it
    r = world.client.get(path, headers=world.as_(who))
    # then only its parties and the read-all roles see it; others get a bare 404
    assert r.status_code == SEES_C1[who], r.text
    if r.status_code == 404:
        assert r.json() == world.client.get(
            path.replace("C1", "NOPE"), headers=world.as_(who)
        ).json() | {"detail": r.json()["detail"]}
        assert "S1" not in r.text and "B1" not in r.text


@pytest.mark.parametrize("who", ROLES)
def test_case_list_by_role_shows_only_own_cases(world: World, who: str) -> None:
    r = world.client.get("/cases", headers=world.as_(who))
    assert r.status_code == 200
    seen = [row["case_id"] for row in r.json()["items"]]
    mine = {"buyer": ["C1"], "seller": ["C1"], "other_buyer": ["C2"], "other_seller": ["C2"]}
    assert seen == mine.get(who, ["C1", "C2"])


# command -> principal -> status (C1 is requested; 409: access passed, the statechart refused)
COMMAND_ACCESS: dict[str, dict[str, int]] = {
    "approve": {"seller": 200, "admin": 200, "buyer": 403, "platform": 403, "auditor": 403},
    "withdraw": {"buyer": 200, "admin": 200, "seller": 403, "platform": 403, "auditor": 403},
    "rule": {"platform": 409, "admin": 409, "buyer": 403, "seller": 403, "auditor": 403},
    # KS-8: either party may ask the platform to intervene from requested.
    "escalate": {"seller": 200, "admin": 200, "buyer": 200, "platform": 403, "auditor": 403},
}
BODIES = {"rule": {"in_favour_of": "buyer"}}


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("command", list(COMMAND_ACCESS))
def test_commands_by_role_follow_the_statechart_actors(
    world: World, who: str, command: str
) -> None:
    # given C1 requested; when each principal sends the command
    before = world.events()
    body = BODIES.get(command, {})
    r = world.client.post(f"/cases/C1/{command}", json=body, headers=world.as_(who))
    # then: the other party's principals get 404, the rest per the table's actors
    want = COMMAND_ACCESS[command].get(who, 404)
    assert r.status_code == want, r.text
    if want != 200:
        assert r.headers["content-type"] == "application/problem+json"
        assert world.events() == before, "a denied command wrote events"
    if want == 403:
        assert r.json()["rule"] == "access" and r.json()["case"] == "C1"
        assert r.json()["state"] == "requested" and r.json()["command"] == command


def test_escalate_as_other_party_by_buyer_refused(world: World) -> None:
    # given a buyer token; when it escalates claiming to be the seller; then 403
    r = world.client.post("/cases/C1/escalate", json={"by": "seller"}, headers=world.as_("buyer"))
    assert r.status_code == 403 and r.json()["rule"] == "access"


APPLY = {"buyer": 200, "admin": 200, "seller": 403, "platform": 403, "auditor": 403}


@pytest.mark.parametrize("who", ROLES)
def test_apply_by_role_only_the_orders_buyer(world: World, who: str) -> None:
    body = {"order": "O3", "kind": "refund_only", "reason": "quality_issue"}
    r = world.client.post("/cases/C3/apply", json=body, headers=world.as_(who))
    assert r.status_code == APPLY.get(who, 404), r.text


REGISTER = {"platform": 201, "admin": 201}


@pytest.mark.parametrize("who", ROLES)
def test_register_order_by_role_platform_and_admin_only(world: World, who: str) -> None:
    facts = order_facts("O9", "S1", "B1")
    body = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in facts.items()}
    r = world.client.post("/orders", json=body, headers=world.as_(who))
    assert r.status_code == REGISTER.get(who, 403), r.text


LEDGER = {"seller": 200, "other_seller": 200, "buyer": 403, "other_buyer": 403}


@pytest.mark.parametrize("who", ROLES)
def test_deductions_by_role_seller_sees_own(world: World, who: str) -> None:
    r = world.client.get("/deductions", headers=world.as_(who))
    assert r.status_code == LEDGER.get(who, 200)
    r = world.client.get("/deductions?seller=S1", headers=world.as_(who))
    assert r.status_code == {**LEDGER, "other_seller": 404}.get(who, 200)


@pytest.mark.parametrize("who", ROLES)
def test_settlement_by_role_seller_sees_own(world: World, who: str) -> None:
    r = world.client.get("/sellers/S1/settlement", headers=world.as_(who))
    assert r.status_code == {**LEDGER, "other_seller": 404}.get(who, 200), r.text


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("path", ["/audit", "/verify"])
def test_audit_and_verify_by_role_read_all_roles_only(world: World, who: str, path: str) -> None:
    r = world.client.get(path, headers=world.as_(who))
    assert r.status_code == (200 if PRINCIPALS[who][0] in ("platform", "auditor", "admin") else 403)
    if r.status_code == 200 and path == "/verify":
        assert r.json()["ok"] is True and r.json()["cases"] == 2


@pytest.mark.parametrize("who", ROLES)
def test_event_feed_by_role_only_own_cases(world: World, who: str) -> None:
    r = world.client.get("/events?follow=false", headers=world.as_(who))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    cases = {
        line.split('"case_id": "')[1][:2] for line in r.text.splitlines() if '"case_id"' in line
    }
    mine = {"buyer": {"C1"}, "seller": {"C1"}, "other_buyer": {"C2"}, "other_seller": {"C2"}}
    assert cases == mine.get(who, {"C1", "C2"})


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/cases"), ("get", "/cases/C1"), ("post", "/cases/C1/approve"), ("get", "/audit"),
     ("get", "/events"), ("get", "/deductions"), ("post", "/orders"), ("get", "/whoami")],
)  # fmt: skip
def test_any_endpoint_without_token_unauthorized(world: World, method: str, path: str) -> None:
    r = getattr(world.client, method)(path, **({"json": {}} if method == "post" else {}))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = getattr(world.client, method)(path, headers={"Authorization": "Bearer as_nope_x"})
    assert r.status_code == 401


def test_revoked_token_unauthorized(world: World) -> None:
    service = world.client.app.app.state.service  # type: ignore[attr-defined]
    token_id = world.tokens["seller"].split("_")[1]
    service.tokens.revoke(token_id)
    assert world.client.get("/cases", headers=world.as_("seller")).status_code == 401
