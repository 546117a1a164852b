"""Read models: the tracking projector and every read query (cases, the
deadline index, the deduction ledger), kept in one place."""
