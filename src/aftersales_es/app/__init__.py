"""The service layer: commands, their handlers and the ``AfterSales`` service
that loads aggregates, decides and saves, plus idempotency and the deadline
sweep. It uses the domain and the store adapters, nothing above them."""
