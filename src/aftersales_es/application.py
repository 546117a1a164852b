"""The embedding entry point kept at its first address: ``AfterSales`` and
friends live in :mod:`aftersales_es.app.service`."""

from aftersales_es.app.service import DEFAULT_STORE, AfterSales, Fired, store_env

__all__ = ["DEFAULT_STORE", "AfterSales", "Fired", "store_env"]
