"""Does an agreement contain every mention Art. 28(3) GDPR requires? Text, Markdown, PDF or DOCX.

>>> report = check_text("The processor processes the personal data only on documented instructions from the controller.")
>>> [f.element.key for f in report.findings if f.found]
['a_instructions']
>>> report.complete
False
>>> normalise("Durée  de l’Objet")
"duree de l'objet"
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from airlock.errors import AirlockError
from airlock.paperwork.rules import ELEMENTS, WINDOW, Element

__all__ = ["Finding", "Report", "check_agreement", "check_text", "language", "normalise", "read_agreement"]

SUFFIXES = (".txt", ".md", ".pdf", ".docx")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@dataclass(frozen=True)
class Finding:
    element: Element
    found: bool
    language: str | None = None
    excerpt: str | None = None  # the matching passage, from the normalised text


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]

    @property
    def complete(self) -> bool:
        return all(f.found for f in self.findings)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(f.element.key for f in self.findings if not f.found)


def normalise(text: str) -> str:
    """Lower case, accents and typographic quotes and dashes removed, hyphenated line breaks joined, single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "‐": "-", "‑": "-", "—": "-", "\u00a0": " "}))
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1-\2", text)
    return re.sub(r"\s+", " ", text).lower()


def check_text(text: str) -> Report:
    """Each Art. 28(3) element found (in French or English) or missing in ``text``."""
    flat = normalise(text)
    first = language(flat)
    return Report(tuple(_find(element, flat, first) for element in ELEMENTS))


def check_agreement(path: Path | str) -> Report:
    return check_text(read_agreement(path))


def read_agreement(path: Path | str) -> str:
    """The text of a .txt, .md, .pdf or .docx agreement; AirlockError naming the file otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise AirlockError(f"{path}: cannot read a {suffix or 'suffix-less'} file; give the agreement as {', '.join(SUFFIXES)}")
    try:
        if suffix == ".pdf":
            return _pdf_text(path)
        if suffix == ".docx":
            return _docx_text(path)
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AirlockError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise AirlockError(f"{path}: not UTF-8 text; save it as UTF-8 or give the PDF or DOCX") from None


def language(flat: str) -> str:
    """"fr" or "en", by the commoner set of function words; rules of that language are tried first.

    >>> language("le sous-traitant et le responsable du traitement"), language("the processor and the controller")
    ('fr', 'en')
    """
    french = len(re.findall(r"\b(?:le|la|les|des|du|et)\b", flat))
    english = len(re.findall(r"\b(?:the|and|of|shall)\b", flat))
    return "fr" if french > english else "en"


def _find(element: Element, flat: str, first: str) -> Finding:
    for lang, rule in sorted(element.rules.items(), key=lambda item: item[0] != first):
        anchor, companions = rule.compiled()
        for match in anchor.finditer(flat):
            window = flat[max(0, match.start() - WINDOW) : match.end() + WINDOW]
            if all(c.search(window) for c in companions):
                return Finding(element, True, lang, _excerpt(flat, match.start(), match.end()))
    return Finding(element, False)


def _excerpt(flat: str, start: int, end: int) -> str:
    """The sentence around a match, at most about 240 characters."""
    left = max(flat.rfind(". ", 0, start) + 2, start - 120, 0)
    right = flat.find(". ", end)
    right = min(right + 1 if right != -1 else len(flat), end + 120)
    return flat[left:right].strip()


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    except (PdfReadError, ValueError) as e:
        raise AirlockError(f"{path}: not a readable PDF ({type(e).__name__}); export it again") from None


def _docx_text(path: Path) -> str:
    # A .docx is a zip of WordprocessingML; paragraphs are w:p, their text runs w:t.
    try:
        with zipfile.ZipFile(path) as z:
            root = ElementTree.fromstring(z.read("word/document.xml"))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as e:
        raise AirlockError(f"{path}: not a readable DOCX ({type(e).__name__}); save it again from the word processor") from None
    return "\n\n".join("".join(t.text or "" for t in p.iter(f"{_W}t")) for p in root.iter(f"{_W}p"))
