"""The error types kept at their first address: they live in
:mod:`aftersales_es.domain.errors`."""

from aftersales_es.domain.errors import (
    AfterSalesError,
    AlreadyExistsError,
    CaseNotFoundError,
    CommandRefusedError,
    ConcurrencyError,
    DeadlineNotPendingError,
    InvalidInputError,
    NotAllowedError,
    NotFoundError,
    OpenCaseExistsError,
    OrderNotFoundError,
    RefundCapError,
    RuleSetError,
    ScenarioError,
    StoreKeyError,
    TransitionNotAllowedError,
    VersionMismatchError,
    WindowClosedError,
)

__all__ = [
    "AfterSalesError",
    "AlreadyExistsError",
    "CaseNotFoundError",
    "CommandRefusedError",
    "ConcurrencyError",
    "DeadlineNotPendingError",
    "InvalidInputError",
    "NotAllowedError",
    "NotFoundError",
    "OpenCaseExistsError",
    "OrderNotFoundError",
    "RefundCapError",
    "RuleSetError",
    "ScenarioError",
    "StoreKeyError",
    "TransitionNotAllowedError",
    "VersionMismatchError",
    "WindowClosedError",
]
