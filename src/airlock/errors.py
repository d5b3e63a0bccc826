"""Errors a user sees: one line, naming the place (file, field or record) and what to do.

Messages never carry record values: a record is named by its entity and key, a
field by its name, never by its content, so an error can be logged or shown
without leaking patient data.
"""

from __future__ import annotations


class AirlockError(Exception):
    """Base of every error Airlock reports to its user; str() is the one-line message."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


class ProfileError(AirlockError):
    """A mapping profile is malformed or names something the source does not have."""


class SourceError(AirlockError):
    """The source cannot be reached or read."""


class RecordError(AirlockError):
    """One source record cannot be converted; names the record by entity and key only."""

    def __init__(self, entity: str, key: object, field: str, problem: str, hint: str):
        self.entity, self.key, self.field = entity, key, field
        super().__init__(f"{entity} {key}: field {field}: {problem}; {hint}")


class TargetError(AirlockError):
    """The target cannot be created or written."""
