"""The composition root: :class:`AfterSales`, the service wired to its read models.

The service layer (:class:`aftersales_es.app.service.CaseService`) decides
and saves and knows the read models only through the ports it declares
(:mod:`aftersales_es.app.ports`); the read models
(:class:`aftersales_es.readmodels.queries.ReadModels`) know nothing of the
service. This module is the one place that knows both: it builds the read
models on the service's store and plugs them in as its deadline index. It
sits above both layers (beside the CLI, the audit and the simulator, which
all open an ``AfterSales``), so neither layer imports the other.

``AfterSales`` is also importable as ``aftersales_es.AfterSales`` and
``aftersales_es.application.AfterSales``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aftersales_es.adapters.caseviews import ViewRow
from aftersales_es.adapters.location import location, partition_count, redact
from aftersales_es.adapters.partitions import refuse_partitioned
from aftersales_es.app.ports import Row
from aftersales_es.app.service import DEFAULT_STORE, CaseService, store_env
from aftersales_es.app.sweep import Fired
from aftersales_es.domain.base import case_uuid, order_uuid
from aftersales_es.domain.case import Case
from aftersales_es.domain.rules import RuleSet
from aftersales_es.readmodels.payouts import PayoutIndex
from aftersales_es.readmodels.queries import ReadModels
from aftersales_es.readmodels.views import view_row

__all__ = ["DEFAULT_STORE", "AfterSales", "Fired", "store_env"]


#: Environment variable: keep each case's view (:mod:`.adapters.caseviews`) on a SQLite file.
CASE_VIEWS = "AFTERSALES_CASE_VIEWS"


def keeps_views(env: Mapping[str, str]) -> bool:
    """Whether ``env`` asks for stored case views: they let ``aftersales show``
    start without loading the domain, for one more page written per save
    (measured in the README). The command line asks for them; an embedding
    application does not unless it sets ``AFTERSALES_CASE_VIEWS=1``."""
    return env.get(CASE_VIEWS, "").strip().lower() in ("1", "true", "yes", "on")


class AfterSales(CaseService):
    """After-sales cases on an event store (SQLite file by default), with the
    read models that list cases, index deadlines and keep the deduction ledger."""

    deadlines: ReadModels

    def __new__(cls, store: str | os.PathLike[str] | None = None, **options: Any) -> AfterSales:
        # A store of N partitions is opened by the routing composition root,
        # which holds one AfterSales per partition (aftersales_es.partitioned).
        if partition_count(location(store)) > 1:
            from aftersales_es.partitioned import PartitionedAfterSales

            return PartitionedAfterSales(cls, store, **options)  # type: ignore[return-value]
        return super().__new__(cls)

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        rulesets: Mapping[str, str | Path | RuleSet] | None = None,
        settings: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(store, rulesets=rulesets, settings=settings, env=env)
        if self.sql.dialect == "postgres":
            refuse_partitioned(self.sql, redact(location(store)))
        self.read_models = ReadModels(self.sql, self.recorder, self.mapper.to_domain_event)
        self.projector = self.read_models.projector
        self.deadlines = self.read_models
        #: Refund payout instructions and where they stand (the payout worker's queue).
        self.payout_index = PayoutIndex(self.sql, self.recorder, self.mapper.to_domain_event)
        if keeps_views(self.env) and not self.env.get("SQLITE_DBNAME", "file:").startswith("file:"):
            self.view_rows = self._view_row

    def _view_row(self, aggregate: Any, new: Sequence[Any]) -> ViewRow | None:
        if not isinstance(aggregate, Case):
            return None
        return view_row(aggregate, new, self.ruleset_of(aggregate))

    def due(self, now: datetime, limit: int = 100) -> list[Row]:
        """Deadlines due at ``now`` (case id, name, due), earliest first."""
        return self.read_models.due(now, limit)

    def cases(
        self, state: str | None = None, platform: str | None = None, **page: Any
    ) -> list[dict[str, Any]]:
        """Cases from the read model, optionally by state and platform (``order``,
        ``after`` and ``limit`` as :meth:`ReadModels.cases` takes them)."""
        return self.read_models.cases(state, platform, **page)

    def deductions(self, seller: str | None = None) -> list[dict[str, Any]]:
        """The seller deduction ledger (read model), in time order."""
        return self.read_models.deductions(seller)

    def parties(self, case_id: str) -> tuple[str, str]:
        """The case's seller and buyer. They never change, so a cached copy of
        the case answers as well as the store (access checks ask on every request)."""
        case = self._peek(case_uuid(case_id)) or self.get_case(case_id)
        return case.seller_id, case.buyer_id

    def order_parties(self, order_id: str) -> tuple[str, str]:
        """The order's seller and buyer (as :meth:`parties`: from the cache if it
        holds it). An order read from the store is kept in the cache: the
        ``apply`` checked with it decides on it next (the write verifies it)."""
        order = self._peek(order_uuid(order_id))
        if order is None:
            order = self.get_order(order_id)
            self._keep(order)
        return order.seller_id, order.buyer_id
