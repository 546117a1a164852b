"""Audit: the hash chain, bulk replay, the audit itself, export and offline
replay, a case's history, and the event feed."""
