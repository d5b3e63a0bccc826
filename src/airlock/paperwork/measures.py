"""The technical and organisational measures actually in force, in words (Annex III, records of processing).

Every sentence is conditioned on :class:`~airlock.paperwork.settings.Settings`
or the mandate: a measure that is switched off yields no sentence.

>>> from airlock.paperwork.settings import current
>>> any("multi-factor" in m for m in measures(current({"AIRLOCK_MFA": "off"}), "en"))
False
>>> any("multi-factor" in m for m in measures(current({}), "en"))
True
"""

from __future__ import annotations

from airlock.mandate import FreeTextPolicy, Mandate, Transformation
from airlock.paperwork.settings import Settings

__all__ = ["measures"]

_TEXT = {
    "en": {
        "cipher": "Staged data are encrypted: every extracted batch is sealed with {cipher} before it reaches disk, under a "
                  "data key unique to the run and a key per entity derived with HKDF-SHA256; the list of sealed chunks is "
                  "chained with HMAC-SHA256, so a removed, reordered or altered chunk is detected.",
        "passphrase": "Run data keys are wrapped by a key-encryption key kept in a keyring file readable by its owner only, "
                      "itself encrypted under a key derived from a passphrase with argon2id (t={t}, m={m} MiB, p={p}); "
                      "the passphrase is never taken from the command line.",
        "pkcs11": "Run data keys are wrapped inside a PKCS#11 hardware security module whose key-encryption key cannot be "
                  "extracted.",
        "mfa": "Every operator account must pass multi-factor authentication.",
        "tls": "The network interface of Airlock is served over TLS only.",
        "email": "Security events (integrity failures, purges, refused runs) raise alerts mailed to {email}.",
        "webhook": "Security events (integrity failures, purges, refused runs) raise alerts posted to a webhook on {host}.",
        "logs": "Activity logs carry no patient data (record values are never logged) and are kept {months} months, then deleted.",
        "deny": "Default deny: only the entities and fields the signed mandate lists leave the source, and sensitive test "
                "categories not opted in are filtered out at the source.",
        "pseudonymise": "Pseudonymised with a keyed hash before leaving the source (the key is destroyed with the run): {fields}.",
        "redact": "Free text redacted before leaving the source (names, NIR, phone numbers, e-mail addresses and dates masked): {fields}.",
        "purge": "Staged data are crypto-shredded (the run's data key, then its files, are destroyed) {grace} days after the "
                 "controller accepts the migration and by {deadline} at the latest; a deletion certificate signed by the "
                 "processor is given to the controller.",
    },
    "fr": {
        "cipher": "Les données en transit sont chiffrées : chaque lot extrait est scellé en {cipher} avant d'atteindre le "
                  "disque, sous une clé de données propre à l'exécution et une clé par entité dérivée par HKDF-SHA256 ; la "
                  "liste des blocs scellés est chaînée par HMAC-SHA256, de sorte qu'un bloc retiré, déplacé ou altéré est détecté.",
        "passphrase": "Les clés de données sont chiffrées par une clé de chiffrement de clés conservée dans un trousseau "
                      "lisible par son seul propriétaire, lui-même chiffré sous une clé dérivée d'une phrase secrète par "
                      "argon2id (t={t}, m={m} Mio, p={p}) ; la phrase secrète n'est jamais lue sur la ligne de commande.",
        "pkcs11": "Les clés de données sont chiffrées dans un module matériel de sécurité PKCS#11 dont la clé de chiffrement "
                  "de clés n'est pas extractible.",
        "mfa": "Tout compte d'opérateur doit passer une authentification multifacteur.",
        "tls": "L'interface réseau d'Airlock n'est servie qu'en TLS.",
        "email": "Les événements de sécurité (échecs d'intégrité, purges, exécutions refusées) déclenchent des alertes envoyées à {email}.",
        "webhook": "Les événements de sécurité (échecs d'intégrité, purges, exécutions refusées) déclenchent des alertes "
                   "transmises à un webhook sur {host}.",
        "logs": "Les journaux d'activité ne contiennent aucune donnée de patient (les valeurs des enregistrements ne sont "
                "jamais journalisées) et sont conservés {months} mois, puis effacés.",
        "deny": "Refus par défaut : seuls les entités et champs listés par le mandat signé quittent la source, et les "
                "catégories d'examens sensibles non incluses sont filtrées à la source.",
        "pseudonymise": "Pseudonymisés par hachage à clé avant de quitter la source (la clé est détruite avec l'exécution) : {fields}.",
        "redact": "Texte libre expurgé avant de quitter la source (noms, NIR, téléphones, adresses électroniques et dates "
                  "masqués) : {fields}.",
        "purge": "Les données en transit sont détruites par effacement cryptographique (la clé de données de l'exécution, "
                 "puis ses fichiers) {grace} jours après la recette de la migration par le responsable du traitement et au "
                 "plus tard le {deadline} ; un certificat d'effacement signé par le sous-traitant est remis au responsable.",
    },
}


def measures(settings: Settings, lang: str, mandate: Mandate | None = None) -> list[str]:
    """The measures in force, one sentence each; with a mandate, also its own (minimisation, purge deadline)."""
    t = _TEXT[lang]
    out = [t["cipher"].format(cipher=settings.cipher)]
    if settings.key_provider == "pkcs11":
        out.append(t["pkcs11"])
    elif settings.argon2id is not None:
        cost = settings.argon2id
        out.append(t["passphrase"].format(t=cost.time_cost, m=cost.memory_cost_kib // 1024, p=cost.parallelism))
    if settings.mfa_required:
        out.append(t["mfa"])
    if settings.tls:
        out.append(t["tls"])
    if settings.alert_email:
        out.append(t["email"].format(email=settings.alert_email))
    if settings.alert_webhook_host:
        out.append(t["webhook"].format(host=settings.alert_webhook_host))
    out.append(t["logs"].format(months=settings.log_retention_months))
    out.append(t["deny"])
    if mandate is not None:
        scopes = mandate.scope.entities.values()
        if pseudonymised := [f"{s.entity}.{f}" for s in scopes for f, how in s.transformations.items() if how is Transformation.PSEUDONYMISE]:
            out.append(t["pseudonymise"].format(fields=", ".join(pseudonymised)))
        if redacted := [f"{s.entity}.{f}" for s in scopes for f, how in s.free_text.items() if how is FreeTextPolicy.REDACT]:
            out.append(t["redact"].format(fields=", ".join(redacted)))
        out.append(t["purge"].format(grace=mandate.grace_days, deadline=mandate.deadline.isoformat()))
    return out
