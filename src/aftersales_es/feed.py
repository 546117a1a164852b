"""The event feed kept at its first address: it lives in
:mod:`aftersales_es.audit.feed`."""

from aftersales_es.audit.feed import follow, iter_events

__all__ = ["follow", "iter_events"]
