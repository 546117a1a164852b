"""The event store: eventsourcing's SQLite and PostgreSQL recorders, the
read-set check at write time, and the SQL helpers the read models use."""
