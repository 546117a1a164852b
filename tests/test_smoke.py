from aftersales_es.engine import AfterSales

from .helpers import event_types, order, t


def test_refund_only_approved_refunds_at_once_ks2(app: AfterSales) -> None:
    order(app)
    app.execute(
        "apply",
        case="C1",
        order="O1",
        at=t(days=3),
        kind="refund_only",
        amount="50.00",
        reason="changed_mind",
    )
    case = app.execute("approve", case="C1", at=t(days=3, hours=1))
    assert case.state == "refunded"
    assert event_types(app, "C1") == ["Applied", "Approved", "Refunded"]
    assert app.get_case("C1").refunded_total == case.refunded_total
