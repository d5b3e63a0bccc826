"""A plain document (title, then headed parts of paragraphs and lists) and its Markdown and PDF forms.

>>> doc = Document("Title", (Part(2, "Part", ("A paragraph.",), ("an item",)),))
>>> print(doc.markdown())
# Title
<BLANKLINE>
## Part
<BLANKLINE>
A paragraph.
<BLANKLINE>
- an item
<BLANKLINE>
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["Document", "Part"]


@dataclass(frozen=True)
class Part:
    level: int  # 2 for a section or annex, 3 for a clause inside it
    title: str
    paragraphs: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    note: str | None = None  # shown in italics under the title (the provisions a clause fulfils)
    elements: tuple[str, ...] = ()  # Art. 28(3) elements this part alone carries (agreement only)


@dataclass(frozen=True)
class Document:
    title: str
    parts: tuple[Part, ...]
    intro: str = ""

    def without(self, title: str) -> Document:
        """The same document without the part titled ``title`` (to test what each part carries)."""
        return replace(self, parts=tuple(p for p in self.parts if p.title != title))

    def markdown(self) -> str:
        lines = [f"# {self.title}", ""] + ([self.intro, ""] if self.intro else [])
        for part in self.parts:
            lines += [f"{'#' * part.level} {part.title}", ""]
            if part.note:
                lines += [f"*{part.note}*", ""]
            for paragraph in part.paragraphs:
                lines += [paragraph, ""]
            if part.items:
                lines += [f"- {item}" for item in part.items] + [""]
        return "\n".join(lines)

    def write_pdf(self, path: Path) -> None:
        """Render as an A4 PDF with reportlab (built-in Helvetica covers French)."""
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.lib.units import mm
        from reportlab.platypus import (
            ListFlowable,
            ListItem,
            Paragraph,
            SimpleDocTemplate,
            Spacer,
        )

        styles = getSampleStyleSheet()
        flow = [Paragraph(escape(self.title), styles["Title"])]
        if self.intro:
            flow.append(Paragraph(escape(self.intro), styles["BodyText"]))
        for part in self.parts:
            flow.append(Paragraph(escape(part.title), styles["Heading2" if part.level <= 2 else "Heading3"]))
            if part.note:
                flow.append(Paragraph(f"<i>{escape(part.note)}</i>", styles["BodyText"]))
            flow += [Paragraph(escape(p), styles["BodyText"]) for p in part.paragraphs]
            if part.items:
                flow.append(ListFlowable([ListItem(Paragraph(escape(i), styles["BodyText"])) for i in part.items],
                                         bulletType="bullet"))
            flow.append(Spacer(1, 2 * mm))
        SimpleDocTemplate(str(path), pagesize=A4, title=self.title, leftMargin=20 * mm, rightMargin=20 * mm).build(flow)
