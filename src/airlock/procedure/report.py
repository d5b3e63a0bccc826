"""The migration report a DPO files: mandate, plan, what was extracted and left out, reconciliation, who did what.

Markdown for reading and diffing, PDF (reportlab) for filing. Counts, digests,
key ids and names of the people who acted — never record values.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, Preformatted, SimpleDocTemplate, Spacer

from airlock.procedure.records import RunStore


def markdown(runs: RunStore, run_id: str) -> str:
    run = runs.get(run_id)
    entities = runs.entities(run_id)
    events = runs.events(run_id)
    plan = json.loads(run.plan) if run.plan else {}
    lines = [
        f"# Migration report — run {run.id}",
        "",
        f"- Mandate: {run.mandate_id} (digest `{run.mandate_digest}`)",
        f"- Source: {run.source} (profile {run.profile})",
        f"- Target: {run.target}",
        f"- State: {run.status.replace('_', ' ')}",
        f"- Deadline for destroying staged data: {run.deadline}",
        f"- Plan digest approved by the controller: `{run.plan_digest}`",
        "",
        "## Plan (dry run)",
        "",
        "| entity | in source | in scope | conditions | left in the source |",
        "|---|---|---|---|---|",
    ]
    for e in plan.get("entities", []):
        lines.append(
            f"| {e['entity']} | {e['in_source']} | {e['extracted']} | {'; '.join(e['conditions']) or 'all'} | "
            f"{', '.join(e['not_allowed']) or '—'} |"
        )
    if plan.get("not_named"):
        lines.append(f"\nEntities not named by the mandate, not extracted: {', '.join(plan['not_named'])}.")
    sensitive = [(e["entity"], tag, n) for e in plan.get("entities", []) for tag, n in e.get("sensitive", {}).items()]
    if sensitive:
        lines += ["", "Sensitive categories:", ""]
        lines += [f"- {tag}: {n['in_scope_otherwise']} result(s) otherwise in scope, {n['extracted']} extracted" for _, tag, n in sensitive]
    lines += ["", "## Extraction, loading and reconciliation", "",
              "| entity | staged | loaded | source (in scope) | target | reconciled |", "|---|---|---|---|---|---|"]
    for e in entities:
        verdict = {True: "yes", False: "NO", None: "—"}[e.reconciled]
        if e.differences:
            verdict += " (" + ", ".join(f"{k} {v}" for k, v in json.loads(e.differences).items() if v) + ")"
        lines.append(f"| {e.entity} | {e.rows_read} | {e.rows_written} | {e.source_rows if e.source_rows is not None else '—'} | "
                     f"{e.target_rows if e.target_rows is not None else '—'} | {verdict} |")
    lines += ["", "## Scope report", "", "Values extracted per field (and a digest of each field), as staged:", ""]
    for e in entities:
        if e.fields:
            lines.append(f"- {e.entity}: " + ", ".join(f"{name} {f['values']} ({f['digest']})" for name, f in json.loads(e.fields).items()))
    rejected = [json.loads(ev.detail).get("rejected") for ev in events if ev.step == "finish extraction"]
    if rejected and rejected[-1] not in (None, "0"):
        lines.append(f"\n{rejected[-1]} source record(s) could not be converted: quarantined, sealed in the vault, not loaded.")
    redacted = [json.loads(json.loads(ev.detail).get("redacted", "{}")) for ev in events if ev.step == "finish loading"]
    if redacted and any(redacted[-1].values()):
        lines.append("Free text redacted: " + ", ".join(f"{k} {v}" for k, v in redacted[-1].items() if v) + ".")
    if run.waiver:
        lines += ["", f"Reconciliation differences were waived by the controller: “{run.waiver}”."]
    lines += ["", "## Steps and actors", "", "| when (UTC) | step | state | actor |", "|---|---|---|---|"]
    for ev in events:
        lines.append(f"| {ev.at:%Y-%m-%d %H:%M:%S} | {ev.step} | {ev.from_state} → {ev.to_state} | {ev.actor_role} {ev.actor_name} (key {ev.actor_key}) |")
    if run.certificate:
        cert = json.loads(run.certificate)
        lines += ["", "## Deletion", "", f"Staged data destroyed at {cert.get('deleted_at')}; certificate signed by the processor, "
                  f"destroyed keys {', '.join(cert.get('destroyed_keys', []))}."]
    return "\n".join(lines) + "\n"


def write_report(runs: RunStore, run_id: str, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = markdown(runs, run_id)
    md = out / f"{run_id}.report.md"
    md.write_text(text, encoding="utf-8")
    pdf = out / f"{run_id}.report.pdf"
    styles = getSampleStyleSheet()
    story = []
    for line in text.splitlines():
        if line.startswith("# "):
            story.append(Paragraph(escape(line[2:]), styles["Title"]))
        elif line.startswith("## "):
            story += [Spacer(1, 0.3 * cm), Paragraph(escape(line[3:]), styles["Heading2"])]
        elif line.startswith("|"):
            if not line.startswith("|---"):
                story.append(Preformatted(" · ".join(c.strip() for c in line.strip("|").split("|")), styles["Code"], maxLineLength=110))
        elif line.strip():
            story.append(Paragraph(escape(line.replace("`", "")), styles["BodyText"]))
    SimpleDocTemplate(str(pdf), pagesize=A4, title=f"Airlock migration report {run_id}", leftMargin=1.5 * cm, rightMargin=1.5 * cm).build(story)
    return md, pdf
