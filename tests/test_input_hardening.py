"""Input hardening: every command input is validated before anything
is recorded. Each bad value gives one clear error naming the field
(:class:`InvalidInputError`) and writes nothing; the same command with a good
value is then accepted, so the refusal was about that field alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales_es.domain.errors import AfterSalesError, InvalidInputError
from aftersales_es.engine import AfterSales

from .helpers import order, refused, t

APPLY: dict[str, Any] = {
    "case": "C1",
    "order": "O1",
    "at": t(days=3),
    "kind": "return_refund",
    "amount": "50.00",
    "reason": "changed_mind",
}

BAD_AMOUNTS: list[tuple[object, str]] = [
    ("-1.00", "negative"),
    ("-0.01", "negative"),
    ("NaN", "not a finite"),
    ("nan", "not a finite"),
    ("sNaN", "not a finite"),
    ("Infinity", "not a finite"),
    ("-inf", "not a finite"),
    (Decimal("NaN"), "not a finite"),
    (Decimal("-Infinity"), "not a finite"),
    ("50.001", "more decimals than CNY"),
    ("0.005", "more decimals than CNY"),
    ("1000000000000.01", "larger than"),
    ("9" * 30, "larger than"),
    ("1" * 41, "longer than"),
    ("1E+2", "plain decimal"),
    ("1e-3", "plain decimal"),
    ("1_000", "plain decimal"),
    (" 50 ", "plain decimal"),
    ("50,00", "plain decimal"),
    ("٥٠", "plain decimal"),  # Arabic-Indic digits: Decimal() would take them
    ("0x10", "plain decimal"),
    ("+5", "plain decimal"),
    ("", "plain decimal"),
    ("50.00 CNY", "plain decimal"),  # a currency belongs to the order, not the amount
    ("USD 50", "plain decimal"),
    (12.5, "decimal strings"),
    (True, "decimal strings"),
    ([50], "decimal string"),
]


@pytest.fixture
def app() -> Iterator[AfterSales]:
    """A fresh in-memory SQLite store: validation does not depend on the backend."""
    application = AfterSales("memory")
    yield application
    application.close()


@pytest.fixture
def given_order(app: AfterSales) -> AfterSales:
    """Given: order O1 (120.00 CNY on Kuaishou), delivered two days after payment."""
    order(app)
    return app


@pytest.mark.parametrize(("value", "words"), BAD_AMOUNTS)
def test_bad_apply_amount_is_refused_naming_the_field(
    given_order: AfterSales, value: object, words: str
) -> None:
    app = given_order
    with refused(app, InvalidInputError, "amount", words):
        app.execute("apply", **{**APPLY, "amount": value})
    assert app.execute("apply", **APPLY).state == "requested"


@pytest.mark.parametrize(
    ("command", "field", "value", "words"),
    [
        ("propose", "amount", "-5", "negative"),
        ("propose", "amount", "NaN", "not a finite"),
        ("propose", "amount", "10.001", "more decimals than CNY"),
        ("propose", "amount", 1e3, "decimal strings"),
        ("rule", "refund_amount", "-5", "negative"),
        ("rule", "refund_amount", "Infinity", "not a finite"),
        ("rule", "refund_amount", "10.129", "more decimals than CNY"),
        ("rule", "refund_amount", "1" + "0" * 13, "larger than"),
    ],
)
def test_bad_amount_of_a_later_command_is_refused(
    given_order: AfterSales, command: str, field: str, value: object, words: str
) -> None:
    app = given_order
    app.execute("apply", **APPLY)
    data: dict[str, Any] = {"case": "C1", "at": t(days=3, hours=1), field: value}
    if command == "propose":
        data["kind"] = "refund_only"
    else:
        app.execute("escalate", case="C1", at=t(days=3, minutes=30), by="seller")
        data["in_favour_of"] = "buyer"
    with refused(app, InvalidInputError, field, words):
        app.execute(command, **data)
    assert app.execute(command, **{**data, field: "10.00"}).version > 1


def test_amount_finer_than_a_zero_decimal_currency_is_refused(app: AfterSales) -> None:
    """JPY has no minor unit: 100.5 is over-precise, 100.0 is 100."""
    order(app, amount="1000", currency="JPY")
    with refused(app, InvalidInputError, "amount", "more decimals than JPY allows (0)"):
        app.execute("apply", **{**APPLY, "amount": "100.5"})
    assert app.execute("apply", **{**APPLY, "amount": "100.0"}).amount == Decimal(100)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("currency", "XXX", "unknown currency"),
        ("currency", "cny", "currency"),
        ("currency", "", "currency"),
        ("currency", "CNY\n", "currency"),
        ("amount", "0", "greater than zero"),
        ("amount", "-120.00", "negative"),
        ("amount", "120.001", "more decimals than CNY"),
        ("amount", 120.0, "decimal strings"),
        ("id", "", "id"),
        ("id", "O 1", "id"),
        ("id", "O" * 65, "id"),
        ("buyer", "B1\x00", "buyer"),
        ("platform", "kuaishou\r\n", "platform"),
        ("paid_at", datetime(2026, 5, 10, 20, 0), "timezone"),  # naive: the point
        ("paid_at", "2026-05-10T20:00:00", "timezone"),
        ("paid_at", datetime(9999, 1, 1, tzinfo=UTC), "outside"),
        ("shipped_at", "tomorrow", "shipped_at"),
        ("gs", "perhaps", "gs"),
        ("unknown", "x", "unknown"),
    ],
)
def test_bad_order_fact_is_refused_naming_the_field(
    app: AfterSales, field: str, value: object, words: str
) -> None:
    with refused(app, InvalidInputError, field, words):
        facts: dict[str, Any] = {field: value}
        order(app, **facts)
    order(app)
    assert app.get_order("O1").amount == Decimal("120.00")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("case", "", "case"),
        ("case", "C" * 65, "case"),
        ("case", "C 1", "case"),
        ("case", "C1\n", "case"),
        ("case", "Ç1", "case"),
        ("case", 17, "case"),
        ("order", "", "order"),
        ("order", "O1;DROP TABLE", "order"),
        ("idempotency_key", "", "idempotency_key"),
        ("idempotency_key", "k" * 129, "idempotency_key"),
        ("idempotency_key", "key with spaces", "idempotency_key"),
        ("idempotency_key", "k\x00", "idempotency_key"),
        ("idempotency_key", "ключ", "idempotency_key"),
        ("kind", "refund", "kind"),
        ("kind", "", "kind"),
        ("kind", None, "kind"),
        ("reason", "be cause", "reason"),  # not an id (a catalogue id refuses in the case)
        ("at", datetime(2026, 5, 13, 20, 0), "timezone"),  # naive: the point
        ("at", "2026-05-13T20:00:00", "timezone"),
        ("at", "2026-05-13", "at"),
        ("at", "soon", "at"),
        ("at", datetime(9999, 12, 31, tzinfo=UTC), "outside"),
        ("at", datetime(1, 1, 1, tzinfo=UTC), "outside"),
        ("surprise", "x", "surprise"),
    ],
)
def test_bad_apply_field_is_refused_naming_the_field(
    given_order: AfterSales, field: str, value: object, words: str
) -> None:
    app = given_order
    with refused(app, InvalidInputError, field, words):
        app.execute("apply", **{**APPLY, field: value})
    assert app.execute("apply", **APPLY).state == "requested"


def test_command_without_at_happens_at_the_services_clock(given_order: AfterSales) -> None:
    # given: a service whose clock reads a day after delivery
    app = given_order
    app.clock = lambda: t(days=3)  # type: ignore[method-assign]
    # when: the command gives no instant (at=None: "now")
    case = app.execute("apply", **{**APPLY, "at": None})
    # then: it is stamped with the clock's reading
    assert case.applied_at == t(days=3)


def test_missing_required_field_is_refused_naming_it(given_order: AfterSales) -> None:
    app = given_order
    data = {k: v for k, v in APPLY.items() if k != "kind"}
    with refused(app, InvalidInputError, "kind", "required"):
        app.execute("apply", **data)


@pytest.mark.parametrize(
    ("command", "field", "value"),
    [
        ("reject", "reason", "x" * 501),
        ("reject", "reason", "not\x00ok"),
        ("reject", "reason", "escape \x1b[31mred"),
        ("reject", "reason", "next\x85line"),  # C1 control (NEL)
        ("reject", "reason", "abc\u202edcb"),  # right-to-left override
        ("reject", "reason", "line\u2028separator"),
        ("reject", "reason", 42),
        ("escalate", "by", "platform"),
        ("escalate", "by", "system"),
        ("escalate", "by", "Buyer"),
        ("submit_evidence", "by", "auditor"),
        ("submit_evidence", "note", "x" * 501),
        ("submit_evidence", "note", "bell\x07"),
        ("ship_back", "carrier", "DHL\n"),
        ("ship_back", "carrier", "D" * 65),
        ("ship_back", "tracking_number", "SF123\t456"),
        ("ship_back", "tracking_number", "9" * 65),
        ("propose", "kind", "voucher"),
        ("propose", "offline", "perhaps"),
        ("rule", "in_favour_of", "platform"),
        ("rule", "seller_liable", "perhaps"),
        ("approve", "amount", "10.00"),
        ("approve", "actor", "platform"),
    ],
)
def test_bad_text_actor_or_extra_field_is_refused_naming_it(
    given_order: AfterSales, command: str, field: str, value: object
) -> None:
    app = given_order
    app.execute("apply", **APPLY)
    with refused(app, InvalidInputError, command, field):
        app.execute(command, case="C1", at=t(days=3, hours=1), **{field: value})


@pytest.mark.parametrize("name", ["refund", "Approve", "", "approve;", "__class__"])
def test_unknown_command_is_refused_naming_the_known_ones(
    given_order: AfterSales, name: str
) -> None:
    with refused(given_order, InvalidInputError, "command", "unknown", "approve"):
        given_order.execute(name, case="C1", at=t(days=3))


def test_several_bad_fields_give_one_error_naming_each(given_order: AfterSales) -> None:
    app = given_order
    with refused(app, InvalidInputError, "kind", "reason", "at"):
        app.execute("apply", **{**APPLY, "kind": "x", "reason": "y y", "at": "z"})
    with pytest.raises(InvalidInputError) as info:
        app.execute("apply", **{**APPLY, "kind": "x", "reason": "y y", "at": "z"})
    assert "\n" not in str(info.value) and str(info.value).startswith("apply: ")


def test_marking_an_order_shipped_without_timezone_is_refused(given_order: AfterSales) -> None:
    app = given_order
    order(app, "O2", shipped_at=None, delivered_at=None)
    with refused(app, InvalidInputError, "shipped_at", "timezone"):
        app.mark_shipped("O2", datetime(2026, 5, 11, 9, 0))


TEXT = st.text(st.characters(codec="utf-8"), max_size=80)
AMOUNT = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text("0123456789.-+eE_ ", max_size=16),
    st.integers(-(10**14), 10**14),
    st.floats(),
)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(note=TEXT, carrier=TEXT, tracking=TEXT, amount=AMOUNT)
def test_random_inputs_either_pass_or_are_refused_writing_nothing(
    note: str, carrier: str, tracking: str, amount: object
) -> None:
    """Whatever text or amount arrives, the outcome is an accepted command or an
    AfterSalesError with nothing written; never another exception."""
    app = AfterSales("memory")
    try:
        order(app)
        app.execute("apply", **APPLY)
        app.execute("approve", case="C1", at=t(days=3, hours=1))
        attempts: list[tuple[str, dict[str, Any]]] = [
            ("ship_back", {"carrier": carrier, "tracking_number": tracking}),
            ("escalate", {"by": "buyer"}),
            ("submit_evidence", {"note": note}),
            ("rule", {"in_favour_of": "buyer", "refund_amount": amount}),
        ]
        for i, (command, args) in enumerate(attempts):
            before = app.notification_count()
            try:
                app.execute(command, case="C1", at=t(days=3, hours=2 + i), **args)
            except AfterSalesError:
                assert app.notification_count() == before
    finally:
        app.close()
