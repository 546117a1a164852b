"""aftersales_es: e-commerce after-sales cases as event-sourced aggregates.

``from aftersales_es import AfterSales`` is the embedding entry point (see
:mod:`aftersales_es.engine`). It is imported on first use, so that importing
a sub-package (the CLI, say) does not load the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

__all__ = ["AfterSales"]


def __getattr__(name: str) -> Any:
    if name == "AfterSales":
        from aftersales_es.engine import AfterSales

        return AfterSales
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
