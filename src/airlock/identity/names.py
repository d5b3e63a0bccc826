"""Accounts belong to natural persons: a generic name or mailbox is refused (CNIL SAN-2022-009: shared accounts).

A name or the local part of an e-mail is generic when, once digits and
separators are removed, only words that name a function, a team or a purpose
remain (admin, support, labo, test, migration, ...).

>>> check_person("Marie Curie", "marie.curie@lab.example")
>>> check_person("Support", "support@lab.example")
Traceback (most recent call last):
...
airlock.errors.AirlockError: account name 'Support': a generic name is not a person; create one account per person with their own name
>>> check_person("Marie Curie", "labo-2@lab.example")
Traceback (most recent call last):
...
airlock.errors.AirlockError: account e-mail 'labo-2@lab.example': a shared mailbox is not a person; use the person's professional address
"""

from __future__ import annotations

import re
import unicodedata

from airlock.errors import AirlockError

__all__ = ["GENERIC", "check_person", "is_generic"]

GENERIC = frozenset(
    """
    admin admins administrator administrateur administration root sysadmin superuser super system systeme
    support helpdesk hotline assistance service services info infos information contact contacts accueil office
    secretariat secretariats labo labos lab labs laboratoire laboratory biologie biology
    test tests testing tester demo essai recette qa dev ops devops it informatique dsi
    migration migrations import export transfer transfert batch backup sauvegarde data donnees
    user users utilisateur guest invite anonymous anonyme team equipe group groupe shared commun partage
    operator operateur operateurs prestataire vendor editeur airlock lis sil noreply no reply
    """.split()
)


def is_generic(text: str) -> bool:
    """True when ``text`` holds nothing but generic words, digits and separators.

    >>> is_generic("Admin 2"), is_generic("Jean Dupont"), is_generic("Équipe labo")
    (True, False, True)
    """
    words = [w for w in re.split(r"[\W\d_]+", _ascii(text.lower())) if w]
    return all(w in GENERIC for w in words)


def check_person(name: str, email: str) -> None:
    """Refuse an account whose name or e-mail names a function rather than a person."""
    if is_generic(name):
        raise AirlockError(f"account name {name!r}: a generic name is not a person; create one account per person with their own name")
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain:
        raise AirlockError(f"account e-mail {email!r}: not an e-mail address; use the person's professional address")
    if is_generic(local):
        raise AirlockError(f"account e-mail {email!r}: a shared mailbox is not a person; use the person's professional address")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
