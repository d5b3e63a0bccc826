"""Paperwork that matches what Airlock does: the Art. 28(3) agreement, its checker, Art. 30(2) records, a posture check.

Every security claim comes from :func:`airlock.paperwork.settings.current`, the
live configuration, so no document claims a measure that is switched off.
See docs/paperwork.md.
"""

from airlock.paperwork.agreement import LANGUAGES, agreement
from airlock.paperwork.checker import (
           Finding,
           Report,
           check_agreement,
           check_text,
           read_agreement,
)
from airlock.paperwork.document import Document, Part
from airlock.paperwork.settings import Settings, current

__all__ = ["LANGUAGES", "Document", "Finding", "Part", "Report", "Settings", "agreement", "check_agreement",
           "check_text", "current", "read_agreement"]
