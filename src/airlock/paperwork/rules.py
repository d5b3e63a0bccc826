"""What an Art. 28(3) GDPR processing agreement must say, as reviewable matching rules.

One :class:`Element` per mention Art. 28(3) requires. Each has, per language,
an *anchor* pattern and *companions*: the element is found where the anchor
matches and every companion matches within :data:`WINDOW` characters of it.
Patterns run on normalised text (:func:`airlock.paperwork.checker.normalise`:
lower case, no accents, straight apostrophes, single spaces), so write them
without accents.

To review a rule, read its element's row; to add a wording a real contract
uses, add an alternative to the pattern and a sample agreement in
tests/data/agreements/ that uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ELEMENTS", "WINDOW", "Element", "Rule"]

#: Characters either side of an anchor in which its companions must appear (about a paragraph).
WINDOW = 300


@dataclass(frozen=True)
class Rule:
    anchor: str
    companions: tuple[str, ...] = ()

    def compiled(self) -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...]]:
        return re.compile(self.anchor), tuple(re.compile(c) for c in self.companions)


@dataclass(frozen=True)
class Element:
    key: str
    article: str
    label: str
    rules: dict[str, Rule]  # language -> rule


_ARTICLE = r"(?:articles?|art\.?)\s?"

ELEMENTS: tuple[Element, ...] = (
    Element("subject_matter_duration", "Art. 28(3)", "subject-matter and duration of the processing", {
        "en": Rule(r"subject[- ]?matter", (r"duration|period|until|term\b",)),
        "fr": Rule(r"\bobjet\b", (r"\bduree\b",)),
    }),
    Element("nature_purpose", "Art. 28(3)", "nature and purpose of the processing", {
        "en": Rule(r"\bnature\b", (r"\bpurposes?\b",)),
        "fr": Rule(r"\bnature\b", (r"\bfinalites?\b",)),
    }),
    Element("personal_data_types", "Art. 28(3)", "type of personal data", {
        "en": Rule(r"(?<!special )\b(?:types?|categor(?:y|ies)|kinds?) of personal data"),
        "fr": Rule(r"\b(?:types?|categories?) de donnees (?:a caractere personnel|personnelles)"),
    }),
    Element("data_subjects", "Art. 28(3)", "categories of data subjects", {
        "en": Rule(r"\b(?:categor(?:y|ies)|types?) of data subjects"),
        "fr": Rule(r"\b(?:categories?|types?) de personnes concernees"),
    }),
    Element("controller_rights", "Art. 28(3)", "obligations and rights of the controller", {
        "en": Rule(r"(?:obligations and rights|rights and obligations) of the (?:data )?controller"),
        "fr": Rule(r"(?:obligations et (?:les )?droits|droits et (?:les )?obligations) du responsable"),
    }),
    Element("a_instructions", "Art. 28(3)(a)", "processing only on documented instructions, transfers included", {
        "en": Rule(r"documented instructions?"),
        "fr": Rule(r"instructions? documentees?"),
    }),
    Element("b_confidentiality", "Art. 28(3)(b)", "authorised persons committed to confidentiality", {
        "en": Rule(r"confidential", (r"authori[sz]ed|personnel|staff|employees|persons",)),
        "fr": Rule(r"confidentialite", (r"autorisees?|personnel|salaries|personnes",)),
    }),
    Element("c_security", "Art. 28(3)(c)", "security measures required by Art. 32", {
        "en": Rule(rf"security of (?:the )?processing|{_ARTICLE}32\b(?!\s?(?:to|-|–|and)\s?3)", (r"measures?",)),
        "fr": Rule(rf"securite du traitement|{_ARTICLE}32\b(?!\s?(?:a|au|-|–|et)\s?3)", (r"mesures?",)),
    }),
    Element("d_sub_processors", "Art. 28(3)(d)", "conditions for engaging another processor (Art. 28(2) and (4))", {
        "en": Rule(r"sub-?\s?processors?|another processor|other processors?", (r"authori[sz]|consent",)),
        "fr": Rule(r"sous-traitants? ulterieurs?|autres? sous-traitants?|sous-traitance ulterieure", (r"autoris",)),
    }),
    Element("e_data_subject_rights", "Art. 28(3)(e)", "assistance with data subjects' requests to exercise their rights", {
        "en": Rule(r"data subject(?:s|'s|s')? rights|rights of (?:the )?data subjects?|exercis\w* (?:of )?(?:their|the|its) rights",
                   (r"assist|help|cooperat",)),
        "fr": Rule(r"droits des personnes concernees|exercice de (?:leurs|ses) droits", (r"aide|assist|concours",)),
    }),
    Element("f_assistance", "Art. 28(3)(f)", "assistance with Arts. 32 to 36 (security, breaches, impact assessment, prior consultation)", {
        "en": Rule(rf"{_ARTICLE}32\s?(?:to|-|–)\s?36|impact assessments?|prior consultation", (r"assist|help",)),
        "fr": Rule(rf"{_ARTICLE}32\s?(?:a|au|-|–)\s?36|analyses? d'impact|consultation prealable", (r"aide|assist|concours",)),
    }),
    Element("g_deletion_return", "Art. 28(3)(g)", "deletion or return of all personal data at the end of the services", {
        "en": Rule(r"\b(?:delet|destroy|destruct|eras)\w*", (r"\breturn\w*|hand\w* back",)),
        "fr": Rule(r"\b(?:suppr|effac|detrui|destruction)\w*", (r"\b(?:renv|restitu|retourn)\w*",)),
    }),
    Element("h_audits", "Art. 28(3)(h)", "information to demonstrate compliance, audits and inspections", {
        "en": Rule(r"\baudits?\b", (r"inspect|demonstrat|information",)),
        "fr": Rule(r"\baudits?\b", (r"inspection|demontrer|informations?",)),
    }),
    Element("infringing_instruction", "Art. 28(3) second subparagraph", "informing the controller of an instruction that infringes the law", {
        "en": Rule(r"\binfring\w*", (r"instruct", r"inform|notify|alert")),
        "fr": Rule(r"\b(?:enfrei\w*|contraire\w*|constitue\w* une violation)", (r"instruction", r"inform|averti|signal")),
    }),
)
