"""The one error a mandate raises when it is malformed, refused or not (yet) valid."""

from __future__ import annotations

from airlock.errors import AirlockError


class MandateError(AirlockError):
    """A mandate is malformed, asks for what no mandate may authorise, is unsigned, expired or badly chained.

    The message names the mandate file and the YAML path (``scope.entities.patient.fields[2]``).
    """
