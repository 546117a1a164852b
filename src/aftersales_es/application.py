"""The embedding entry point kept at its first address: ``AfterSales`` and
friends live in :mod:`aftersales_es.engine`."""

from aftersales_es.engine import DEFAULT_STORE, AfterSales, Fired, store_env

__all__ = ["DEFAULT_STORE", "AfterSales", "Fired", "store_env"]
