"""``airlock demo``: a whole secure migration on the embedded default, end to end, in one directory."""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from airlock.errors import AirlockError
from airlock.mandate import sign_mandate, verify_mandate
from airlock.signing import SigningIdentity

console = Console()
MARKER = ".airlock-demo"


def demo_mandate(today: dt.date, recipient: str) -> dict[str, Any]:
    """The controller's instruction for the demo: 2015-2020 results of 26 of the 28 sites, no HIV, STI,
    hepatitis, genetics or oncology results, identity without address, comments redacted or dropped."""
    return {
        "version": 1,
        "id": "demo-labo-exemple",
        "controller": {
            "name": "Laboratoire de biologie médicale Exemple (démonstration)",
            "address": "1 place de la Démonstration, 75001 Paris, France",
            "dpo": {"name": "Déléguée à la protection des données", "email": "dpo@labo-exemple.invalid"},
        },
        "processor": {
            "name": "Prestataire de migration (démonstration)",
            "address": "2 rue de l'Exemple, 69001 Lyon, France",
            "contact": {"name": "Ingénieur migration", "email": "migration@prestataire.invalid"},
        },
        "purpose": "Demonstration: migrate 2015-2020 results of the old LIS to the new one for continuity of care.",
        "source": {"name": "BLIS (synthetic)", "kind": "blis-1.27"},
        "target": {"name": "Canonical SQL and FHIR R4", "kind": "airlock-canonical"},
        "scope": {
            "entities": {
                "site": {"fields": ["site_id", "name", "city"]},
                "patient": {"fields": ["patient_id", "nir", "birth_name", "first_names", "sex", "birth_date"]},
                "practitioner": {"fields": ["practitioner_id", "name"]},
                "order": {"fields": ["order_id", "patient_id", "practitioner_id", "site_id", "ordered_at"]},
                "specimen": {
                    "fields": ["specimen_id", "order_id", "patient_id", "type_code", "type_name", "collected_at", "site_id", "comment"],
                    "free_text": {"comment": "redact"},
                },
                "result": {
                    "fields": [
                        "result_id", "report_id", "order_id", "specimen_id", "patient_id", "site_id", "collected_at",
                        "test_code", "test_name", "measure_code", "measure_name", "loinc", "sensitivity", "value_type",
                        "value_numeric", "value_text", "unit", "reference_low", "reference_high", "reference_text",
                        "abnormal_flag", "status", "result_at", "validated_at", "validator",
                    ],
                    "transformations": {"validator": "pseudonymise"},
                },
            },
            "collected": {"from": "2015-01-01", "to": "2020-12-31"},
            "sites": [str(i) for i in range(1, 27)],
            "sensitivity": ["pregnancy"],
        },
        "deadline": (today + dt.timedelta(days=90)).isoformat(),
        "grace_days": 0,
        "sub_processors": [],
        "delivery": {"channel": "files", "recipient": recipient},
    }


def demo(
    out: Annotated[Path, typer.Option(help="Directory for everything the demo writes (re-created on each run).")] = Path("demo-output"),
    patients: Annotated[int, typer.Option(help="Synthetic patients in the source.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic source.")] = 2026,
) -> None:
    """Run a whole secure migration on the embedded default (SQLite) and print where its outputs are.

    Generates a synthetic BLIS source; makes the lab's (controller's) and the processor's identities; writes
    the lab's mandate and has both sign it; then runs the procedure: plan, the controller's approval,
    extraction into the encrypted vault, loading into a canonical SQLite database and into FHIR R4 files
    encrypted to the lab's age key, reconciliation,
    the controller's acceptance, purge by crypto-shredding with a signed deletion certificate, and the report.

    Example:

        airlock demo --out demo-output --patients 300
    """
    from airlock.procedure.records import RunStore
    from airlock.procedure.report import write_report
    from airlock.procedure.runner import Procedure, Targets
    from airlock.store import open_store
    from airlock.synth import blis
    from airlock.vault import PassphraseKeyring, Vault
    from airlock.vault.certificate import DeletionCertificate
    from airlock.vault.delivery import keygen

    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise AirlockError(f"{out} exists and was not made by 'airlock demo'; give another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, mode=0o700)
    (out / MARKER).touch()
    out = out.resolve()
    home = out / "airlock-home"  # the demo's own store, vault and keyring
    home.mkdir(mode=0o700)
    source_url = f"sqlite:///{out / 'source-blis.db'}"

    console.rule("1. Synthetic source LIS (BLIS 1.27 schema)")
    summary = blis.generate(source_url, patients=patients, seed=seed)
    console.print(f"{patients} patients, {summary.results} result values written to {out / 'source-blis.db'} in {summary.seconds:.1f} s")

    console.rule("2. Identities: the lab (controller) and the processor")
    # Private keys and the keyring passphrase stay in memory: the demo writes no secret to disk.
    controller = SigningIdentity.generate("Déléguée à la protection des données", "controller")
    processor = SigningIdentity.generate("Ingénieur migration", "processor")
    keys = out / "keys"
    keys.mkdir(mode=0o700)
    controller.public.save(keys / "controller.pub.json")
    processor.public.save(keys / "processor.pub.json")
    keyring = PassphraseKeyring.create(home / "keyring.json", secrets.token_urlsafe(24))
    # The lab's age identity opens the FHIR delivery; in real life it never leaves the lab.
    recipient = keygen(keys / "controller-age-identity.txt")
    console.print(f"controller key {controller.public.key_id}, processor key {processor.public.key_id}, vault KEK {keyring.key_id}")

    console.rule("3. The controller's mandate, signed and countersigned")
    mandate_path = out / "mandate.yaml"
    mandate_path.write_text(yaml.safe_dump(demo_mandate(dt.date.today(), recipient), allow_unicode=True, sort_keys=False))
    sign_mandate(mandate_path, controller)
    sign_mandate(mandate_path, processor)
    signed = verify_mandate(mandate_path, controller.public, processor.public)
    console.print(f"mandate {signed.mandate.id} v{signed.mandate.version} in force, digest {signed.mandate.digest[:16]}…")

    console.rule("4. The procedure")
    target_db, fhir_dir = out / "target-canonical.db", out / "fhir"
    with open_store(f"sqlite:///{home / 'airlock.db'}") as store:
        p = Procedure(RunStore(store), Vault(home / "vault"), keyring)
        run = p.create(mandate_path, source_url, Targets(f"sqlite:///{target_db}", fhir_dir), processor)
        console.print(f"run {run.id} planned; plan digest {run.plan_digest[:16]}…")
        p.approve(run.id, controller)
        console.print("plan approved by the controller (signature over the plan digest)")
        p.extract(run.id, processor)
        console.print(f"extracted into the encrypted vault ({home / 'vault' / run.id})")
        p.load(run.id, processor)
        run = p.reconcile(run.id, processor)
        console.print("reconciled: " + ("every entity matches" if run.reconciled_ok else "DIFFERENCES"))
        p.accept(run.id, controller)
        run = p.purge(run.id, processor, "accepted by the controller")
        certificate = DeletionCertificate.load(home / "vault" / run.id / "certificate.json")
        certificate.verify(processor.public)
        certificate.save(out / "deletion-certificate.json")
        certificate.render_pdf(out / "deletion-certificate.pdf")
        report_md, report_pdf = write_report(p.store, run.id, out)
        entities = p.store.entities(run.id)

    console.rule("Result")
    for e in sorted(entities, key=lambda e: e.entity):
        console.print(f"{e.entity:<13} {e.rows_written:>8,} rows loaded, reconciled: {'yes' if e.reconciled else 'NO'}")
    console.print(f"staged data destroyed; certificate verifies (keys {', '.join(certificate.destroyed_keys)})")

    console.rule("Outputs")
    for what, where in (
        ("source (synthetic BLIS)", out / "source-blis.db"),
        ("mandate and signatures", mandate_path),
        ("public identities", keys),
        ("canonical SQL target", target_db),
        ("FHIR R4 target (encrypted)", f"{fhir_dir}  (open: airlock delivery open {fhir_dir} --identity {keys / 'controller-age-identity.txt'} --out DIR)"),
        ("migration report", f"{report_md} and .pdf"),
        ("deletion certificate", out / "deletion-certificate.json"),
        ("store, vault, keyring", home),
    ):
        console.print(f"{what:<26} {where}")
