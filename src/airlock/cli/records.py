"""``airlock records``: the processor's record of processing activities (GDPR Art. 30(2))."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from airlock.errors import AirlockError
from airlock.mandate import load_mandate
from airlock.paperwork import current
from airlock.paperwork.records import entries, to_csv, to_document


class Format(StrEnum):
    CSV = "csv"
    MD = "md"
    PDF = "pdf"


def records(
    mandates: list[Path] = typer.Argument(..., help="The mandate YAML files the processor works under."),
    format: Format = typer.Option(Format.MD, "--format", help="csv, md (Markdown) or pdf."),
    lang: str = typer.Option("fr", "--lang", help="fr or en."),
    out: Path | None = typer.Option(None, "--out", help="File to write [default: stdout; required for pdf]."),
) -> None:
    """Write the processor's record (Art. 30(2)) from MANDATE...: per controller, the processing carried out,
    transfers outside the EEA and the security measures in force (from the live settings).

    Example: airlock records mandates/*.yaml --format csv --out registre.csv
    """
    rows = entries([load_mandate(m) for m in mandates], current(), lang)
    if format is Format.PDF:
        if out is None:
            raise AirlockError("--format pdf needs --out FILE (a PDF is not printed to the terminal)")
        to_document(rows, lang).write_pdf(out)
        typer.echo(f"record written to {out}")
        return
    text = to_csv(rows) if format is Format.CSV else to_document(rows, lang).markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"record written to {out}")
