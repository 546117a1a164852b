"""The PostgreSQL recorder of the hash chain (see :mod:`.recorders`), in its own
module so that a SQLite store never imports psycopg."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier

from aftersales_es.adapters.recorders import CHAIN_META, DIGESTS, ChainError, chain_rows


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL recorder that writes each event's digest in the insert transaction."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(datastore.schema)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (originator_id uuid NOT NULL,"
                " originator_version bigint NOT NULL, digest text NOT NULL,"
                " PRIMARY KEY (originator_id, originator_version))"
            ).format(schema, Identifier(DIGESTS)),
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (name text PRIMARY KEY, value text)").format(
                schema, Identifier(CHAIN_META)
            ),
        ]
        self.insert_digests_statement = SQL("INSERT INTO {}.{} VALUES (%s, %s, %s)").format(
            schema, Identifier(DIGESTS)
        )

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # Computed before anything is sent: a missing previous digest writes nothing.
        kwargs["_digests"][:] = chain_rows(stored_events, kwargs.get("chain") or {})

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:
            raise ChainError("POSTGRES_ENABLE_DB_FUNCTIONS inserts events without their digests")
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs, _digests=[])
        return ids

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # After the events' insert (under eventsourcing's table lock, so two
        # writers never wait on each other's digest rows), before the commit.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        curs.executemany(self.insert_digests_statement, kwargs["_digests"])
        return ids
