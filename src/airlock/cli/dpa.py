"""``airlock dpa``: write the controller–processor agreement (GDPR Art. 28) and check any agreement for its mentions."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from airlock.mandate import load_mandate
from airlock.paperwork import agreement, check_agreement, current
from airlock.paperwork.doctor import agreement_path

app = typer.Typer(name="dpa", help="The Art. 28 processing agreement: generate it from a mandate, check any agreement.",
                  no_args_is_help=True)


class Lang(StrEnum):
    EN = "en"
    FR = "fr"


class Format(StrEnum):
    MD = "md"
    PDF = "pdf"


@app.command()
def generate(
    mandate: Path = typer.Argument(..., help="The mandate YAML file."),
    lang: Lang = typer.Option(Lang.FR, "--lang", help="Language of the agreement."),
    format: Format = typer.Option(Format.MD, "--format", help="md (Markdown) or pdf."),
    out: Path | None = typer.Option(None, "--out", help="File to write [default: stdout for md, MANDATE.agreement.pdf for pdf]."),
) -> None:
    """Write the agreement for MANDATE: clauses after the EU standard contractual clauses (2021/915),
    Annex II from the mandate's scope, Annex III from this deployment's live settings (docs/paperwork.md).

    Example: AIRLOCK_ALERT_EMAIL=dpo@lab.example airlock dpa generate mandate.yaml --lang fr --format pdf
    """
    doc = agreement(load_mandate(mandate), current(), lang.value)
    if format is Format.MD and out is None:
        typer.echo(doc.markdown(), nl=False)
        return
    out = out or agreement_path(mandate, format.value)
    if format is Format.PDF:
        doc.write_pdf(out)
    else:
        out.write_text(doc.markdown(), encoding="utf-8")
    typer.echo(f"agreement written to {out}")


@app.command()
def check(file: Path = typer.Argument(..., help="The agreement: .txt, .md, .pdf or .docx, in French or English.")) -> None:
    """Report, for each mention GDPR Art. 28(3) requires, whether FILE contains it (with the passage found).
    Exit status 1 when anything is missing.

    Example: airlock dpa check "Contrat de maintenance 2021.pdf"
    """
    report = check_agreement(file)
    table = Table("element", "article", "status", "excerpt", title=f"Art. 28(3) mentions in {escape(str(file))}")
    for f in report.findings:
        status = "[green]found[/]" if f.found else "[red]missing[/]"
        table.add_row(f.element.label, f.element.article, status, escape(f.excerpt or ""))
    console = Console()
    console.print(table)
    if not report.complete:
        console.print(f"[red]{len(report.missing)} mention(s) missing:[/] {', '.join(report.missing)}")
        raise typer.Exit(1)
    console.print("[green]every Art. 28(3) mention found[/]")
