"""One root for every error the library raises: :class:`AfterSalesError`.

A refused command names the case, its state, the command and the rule that
refused it, so that an operator reading a log line knows what to fix.
"""

from __future__ import annotations


class AfterSalesError(Exception):
    """Root of every error raised by aftersales_es."""


class InvalidInputError(AfterSalesError, ValueError):
    """A command, order, scenario or rule-set input failed validation."""


class RuleSetError(InvalidInputError):
    """A rule-set file or override is invalid."""


class ScenarioError(InvalidInputError):
    """A scenario file is invalid as a whole (malformed, steps out of order)."""


class NotFoundError(AfterSalesError, LookupError):
    """Something named by a command does not exist."""


class CaseNotFoundError(NotFoundError):
    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id!r} not found")
        self.case_id = case_id


class OrderNotFoundError(NotFoundError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} not found")
        self.order_id = order_id


class AlreadyExistsError(AfterSalesError):
    """A case or order id is already taken."""


class ConcurrencyError(AfterSalesError):
    """Another writer changed the case or order first and retrying did not help."""


class CommandRefusedError(AfterSalesError):
    """A command is not allowed: wrong state, actor, kind, window or invariant.

    Carries ``case_id``, ``state``, ``command`` and ``rule`` so that callers can
    act on it without parsing the message.
    """

    def __init__(self, case_id: str, state: str, command: str, rule: str, reason: str) -> None:
        self.case_id = case_id
        self.state = state
        self.command = command
        self.rule = rule
        self.reason = reason
        super().__init__(f"case {case_id} (state {state}): {command} refused [{rule}]: {reason}")


class TransitionNotAllowedError(CommandRefusedError):
    """The statechart has no such transition for this state, kind and actor."""


class WindowClosedError(CommandRefusedError):
    """The command came outside its time window (or after a deadline fell due)."""


class RefundCapError(CommandRefusedError):
    """Refunds on one order would exceed the order amount."""


class OpenCaseExistsError(CommandRefusedError):
    """The order already has an open case."""


class NotAllowedError(CommandRefusedError):
    """A rule of the platform forbids the command (kind not offered, must support, ...)."""


class StatechartError(AfterSalesError):
    """A transition table is malformed (unknown or unreachable states, traps, ...)."""


class DeadlineNotPendingError(AfterSalesError):
    """A deadline was asked to fire but the case no longer has it pending."""


class StoreKeyError(AfterSalesError):
    """The store cannot be read with the configured cipher.

    The ``CIPHER_KEY`` is wrong, missing or malformed, or the store was
    written with another encryption setting than the one configured.
    """


class VersionMismatchError(AfterSalesError):
    """A command sent on the condition that the case is at ``expected`` found it
    at another version (someone changed it since the sender read it): nothing
    is written. Carries ``case_id``, ``state``, ``command``, ``version`` (the
    current one) and ``expected``."""

    def __init__(self, case_id: str, state: str, command: str, version: int, expected: int) -> None:
        self.case_id = case_id
        self.state = state
        self.command = command
        self.version = version
        self.expected = expected
        super().__init__(
            f"case {case_id} (state {state}): {command} expected version {expected}, "
            f"the case is at version {version}"
        )
