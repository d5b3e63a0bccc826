"""The clause text of the agreement, in English and French, as data.

The structure and numbering follow the standard contractual clauses between
controllers and processors of Commission Implementing Decision (EU) 2021/915;
the wording is Airlock's own. Each clause says which Art. 28(3) element
(:mod:`airlock.paperwork.rules`) it alone carries, so that the checker and the
generator can be tested against each other: take one clause out and the
checker names exactly its element. Keep each element's words (see its rule)
inside its own clause.

Placeholders: {controller}, {processor}, {mandate_id}, {version}, {digest}.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLAUSES", "LABELS", "Clause"]


@dataclass(frozen=True)
class Clause:
    number: str
    elements: tuple[str, ...]  # Art. 28(3) elements this clause alone carries
    cites: dict[str, str]  # language -> articles and SCC clause fulfilled
    title: dict[str, str]
    text: dict[str, str]  # paragraphs separated by blank lines
    section: dict[str, str] | None = None  # heading of the section this clause opens


CLAUSES: tuple[Clause, ...] = (
    Clause("1", (), {"en": "Art. 28(3) and (4) GDPR; SCC Clause 1", "fr": "art. 28, par. 3 et 4, du RGPD ; clause 1 des CCT"},
        {"en": "Purpose and scope", "fr": "But et champ d'application"},
        {"en": "These clauses bind {controller} (the controller) and {processor} (the processor) for the migration "
               "described in Annex II, so that the processing meets Article 28(3) and (4) of Regulation (EU) 2016/679 (GDPR). "
               "Annexes I to IV are part of the clauses.",
         "fr": "Les présentes clauses lient {controller} (le responsable du traitement) et {processor} (le sous-traitant) "
               "pour la migration décrite à l'annexe II, afin que le traitement respecte l'article 28, paragraphes 3 et 4, "
               "du règlement (UE) 2016/679 (RGPD). Les annexes I à IV font partie des clauses."},
        section={"en": "Section I", "fr": "Section I"}),
    Clause("2", (), {"en": "SCC Clauses 2 to 4", "fr": "clauses 2 à 4 des CCT"},
        {"en": "Invariability, interpretation and hierarchy", "fr": "Invariabilité, interprétation et hiérarchie"},
        {"en": "The parties do not change these clauses except to complete or update the annexes. Terms defined in the GDPR "
               "have the same meaning here. Where these clauses conflict with another agreement between the parties, these "
               "clauses prevail.",
         "fr": "Les parties ne modifient pas ces clauses, sauf pour compléter ou mettre à jour les annexes. Les termes définis "
               "par le RGPD ont ici le même sens. En cas de conflit avec un autre accord entre les parties, les présentes "
               "clauses prévalent."}),
    Clause("5", ("controller_rights",), {"en": "Art. 28(3) GDPR, first subparagraph", "fr": "art. 28, par. 3, premier alinéa, du RGPD"},
        {"en": "Obligations and rights of the controller", "fr": "Obligations et droits du responsable du traitement"},
        {"en": "The obligations and rights of the controller are these: it decides the purpose and means of the processing, "
               "gives its instructions through the signed mandate and its amendments, ensures the lawfulness of the processing "
               "and keeps the right to check the processor's compliance at any time and to stop the processing.",
         "fr": "Les obligations et droits du responsable du traitement sont les suivants : il décide de la finalité et des "
               "moyens du traitement, donne ses instructions par le mandat signé et ses avenants, veille à la licéité du "
               "traitement et garde le droit de vérifier à tout moment la conformité du sous-traitant et de faire cesser "
               "le traitement."}),
    Clause("6", (), {"en": "SCC Clause 6", "fr": "clause 6 des CCT"},
        {"en": "Description of the processing", "fr": "Description du traitement"},
        {"en": "Annex II describes the processing carried out on the controller's behalf.",
         "fr": "L'annexe II décrit le traitement effectué pour le compte du responsable du traitement."},
        section={"en": "Section II: obligations of the parties", "fr": "Section II : obligations des parties"}),
    Clause("7.1(a)", ("a_instructions",), {"en": "Art. 28(3)(a) and Art. 29 GDPR; SCC Clause 7.1(a)",
                                           "fr": "art. 28, par. 3, point a), et art. 29 du RGPD ; clause 7.1 a) des CCT"},
        {"en": "Instructions", "fr": "Instructions"},
        {"en": "The processor processes personal data only on documented instructions from the controller, including as "
               "regards transfers to a third country or an international organisation, unless Union or Member State law "
               "requires otherwise; it then tells the controller of that requirement beforehand, unless that law forbids it. "
               "The documented instructions are these clauses and the mandate {mandate_id} version {version} (SHA-256 "
               "{digest}), signed by the controller and countersigned by the processor; Airlock refuses to extract anything "
               "the mandate does not list.",
         "fr": "Le sous-traitant ne traite les données à caractère personnel que sur instructions documentées du responsable "
               "du traitement, y compris pour les transferts vers un pays tiers ou une organisation internationale, sauf si le "
               "droit de l'Union ou d'un État membre l'exige ; il en informe alors au préalable le responsable, sauf si ce "
               "droit l'interdit. Ces instructions documentées sont les présentes clauses et le mandat {mandate_id} version "
               "{version} (SHA-256 {digest}), signé par le responsable du traitement et contresigné par le sous-traitant ; "
               "Airlock refuse d'extraire ce que le mandat ne liste pas."}),
    Clause("7.1(b)", ("infringing_instruction",), {"en": "Art. 28(3) GDPR, second subparagraph; SCC Clause 7.1(b)",
                                                    "fr": "art. 28, par. 3, second alinéa, du RGPD ; clause 7.1 b) des CCT"},
        {"en": "Instructions that would breach the law", "fr": "Instructions illicites"},
        {"en": "The processor immediately informs the controller if, in its opinion, an instruction infringes the GDPR or "
               "other Union or Member State data protection provisions, and does not carry it out meanwhile.",
         "fr": "Le sous-traitant informe immédiatement le responsable du traitement si, selon lui, une instruction enfreint "
               "le RGPD ou d'autres dispositions du droit de l'Union ou des États membres relatives à la protection des "
               "données, et ne l'exécute pas dans l'intervalle."}),
    Clause("7.2", (), {"en": "Art. 5(1)(b) and Art. 29 GDPR; SCC Clause 7.2", "fr": "art. 5, par. 1, point b), et art. 29 du RGPD ; clause 7.2 des CCT"},
        {"en": "Purpose limitation", "fr": "Limitation de la finalité"},
        {"en": "The processor processes the personal data only for the specific purpose set out in Annex II, and for no "
               "other purpose of its own.",
         "fr": "Le sous-traitant ne traite les données que pour la finalité précise indiquée à l'annexe II, jamais pour "
               "son propre compte."}),
    Clause("7.3", (), {"en": "Art. 28(3) GDPR; SCC Clause 7.3", "fr": "art. 28, par. 3, du RGPD ; clause 7.3 des CCT"},
        {"en": "Duration of the processing", "fr": "Durée du traitement"},
        {"en": "Processing takes place only for the period set out in Annex II; no run starts after the mandate's deadline.",
         "fr": "Le traitement n'a lieu que pendant la période indiquée à l'annexe II ; aucune exécution ne commence après "
               "l'échéance du mandat."}),
    Clause("7.4(a)", ("c_security",), {"en": "Art. 28(3)(c) and Art. 32 GDPR; SCC Clause 7.4(a)",
                                       "fr": "art. 28, par. 3, point c), et art. 32 du RGPD ; clause 7.4 a) des CCT"},
        {"en": "Security of processing", "fr": "Sécurité du traitement"},
        {"en": "The processor implements at least the technical and organisational measures of Annex III, which take all "
               "the measures required by Article 32 GDPR, having regard to the state of the art, the costs, the data "
               "and the risks to the data subjects. It reviews them regularly and tells the controller before "
               "any change that would lower them.",
         "fr": "Le sous-traitant met en œuvre au moins les mesures techniques et organisationnelles de l'annexe III, qui "
               "prennent toutes les mesures requises par l'article 32 du RGPD, compte tenu de l'état des connaissances, des "
               "coûts, des données et des risques pour les personnes. Il les réexamine régulièrement et prévient le "
               "responsable du traitement avant toute modification qui les affaiblirait."}),
    Clause("7.4(b)", ("b_confidentiality",), {"en": "Art. 28(3)(b) and Art. 29 GDPR; SCC Clause 7.4(b)",
                                              "fr": "art. 28, par. 3, point b), et art. 29 du RGPD ; clause 7.4 b) des CCT"},
        {"en": "Personnel", "fr": "Personnel"},
        {"en": "Only the processor's personnel who need it for the migration get access to the personal data. The processor "
               "ensures that the persons authorised to process them have committed themselves to confidentiality or are "
               "under an appropriate statutory obligation of confidentiality.",
         "fr": "Seuls les membres du personnel du sous-traitant qui en ont besoin pour la migration accèdent aux données. Le "
               "sous-traitant veille à ce que les personnes autorisées à les traiter s'engagent à respecter la "
               "confidentialité ou soient soumises à une obligation légale appropriée de confidentialité."}),
    Clause("7.5", (), {"en": "Art. 9 GDPR; SCC Clause 7.5", "fr": "art. 9 du RGPD ; clause 7.5 des CCT"},
        {"en": "Sensitive data", "fr": "Données sensibles"},
        {"en": "The processing concerns data concerning health, special categories of personal data under Article 9 GDPR. "
               "The processor applies the specific restrictions and additional safeguards listed in Annex II.",
         "fr": "Le traitement porte sur des données concernant la santé, catégories particulières de données au sens de "
               "l'article 9 du RGPD. Le sous-traitant applique les restrictions et garanties supplémentaires indiquées à "
               "l'annexe II."}),
    Clause("7.6", ("h_audits",), {"en": "Art. 28(3)(h) GDPR; SCC Clause 7.6", "fr": "art. 28, par. 3, point h), du RGPD ; clause 7.6 des CCT"},
        {"en": "Documentation and compliance", "fr": "Documentation et conformité"},
        {"en": "The processor makes available to the controller all information necessary to demonstrate compliance with "
               "Article 28 GDPR and these clauses: the signed mandate, the run reports, the activity logs and the deletion "
               "certificates. It allows for and contributes to audits, including inspections, by the controller or an "
               "auditor it mandates, at reasonable intervals or when there are indications of non-compliance.",
         "fr": "Le sous-traitant met à la disposition du responsable du traitement toutes les informations nécessaires pour "
               "démontrer le respect de l'article 28 du RGPD et des présentes clauses : le mandat signé, les rapports "
               "d'exécution, les journaux d'activité et les certificats d'effacement. Il permet la réalisation d'audits, y "
               "compris des inspections, par le responsable du traitement ou un auditeur qu'il mandate, et y contribue."}),
    Clause("7.7", ("d_sub_processors",), {"en": "Art. 28(2), (3)(d) and (4) GDPR; SCC Clause 7.7, option 1",
                                          "fr": "art. 28, par. 2, 3 d) et 4, du RGPD ; clause 7.7, option 1, des CCT"},
        {"en": "Use of sub-processors", "fr": "Recours à des sous-traitants ultérieurs"},
        {"en": "The processor does not engage a sub-processor without the controller's prior specific written authorisation; "
               "those authorised are listed in Annex IV, and any other requires an amendment of the mandate signed by the "
               "controller. Each sub-processor is bound by a contract imposing the same data protection obligations as "
               "these clauses; the processor remains fully liable to the controller for it.",
         "fr": "Le sous-traitant ne recrute aucun sous-traitant ultérieur sans l'autorisation écrite préalable et spécifique "
               "du responsable du traitement ; ceux qui sont autorisés figurent à l'annexe IV, et tout autre exige un avenant "
               "au mandat signé par le responsable. Chaque sous-traitant ultérieur est lié par un contrat qui lui impose les "
               "mêmes obligations que les présentes clauses ; le sous-traitant en demeure pleinement responsable."}),
    Clause("7.8", (), {"en": "Chapter V GDPR; SCC Clause 7.8", "fr": "chapitre V du RGPD ; clause 7.8 des CCT"},
        {"en": "International transfers", "fr": "Transferts internationaux"},
        {"en": "No personal data leave the European Economic Area unless the mandate and Annex IV name the country and "
               "the transfer complies with Chapter V GDPR.",
         "fr": "Aucune donnée ne quitte l'Espace économique européen sauf si le mandat et l'annexe IV nomment le pays et "
               "que le transfert respecte le chapitre V du RGPD."}),
    Clause("8(a)", ("e_data_subject_rights",), {"en": "Art. 28(3)(e) GDPR; SCC Clause 8(a) and (b)",
                                                "fr": "art. 28, par. 3, point e), du RGPD ; clause 8 a) et b) des CCT"},
        {"en": "Requests from data subjects", "fr": "Demandes des personnes concernées"},
        {"en": "The processor promptly forwards to the controller any request it receives from a data subject, without "
               "answering it unless so instructed, and assists the controller, by appropriate technical and organisational "
               "measures, in fulfilling its obligation to respond to requests for exercising the data subjects' rights.",
         "fr": "Le sous-traitant transmet sans tarder au responsable du traitement toute demande qu'il reçoit d'une personne, "
               "sans y répondre sauf instruction, et l'aide, par des mesures techniques et organisationnelles appropriées, "
               "à s'acquitter de son obligation de donner suite aux demandes d'exercice des droits des personnes concernées."}),
    Clause("8(b)", ("f_assistance",), {"en": "Art. 28(3)(f) GDPR; SCC Clause 8(c) and (d)",
                                       "fr": "art. 28, par. 3, point f), du RGPD ; clause 8 c) et d) des CCT"},
        {"en": "Other assistance", "fr": "Autre assistance"},
        {"en": "Taking into account how the data are processed and the information available to it, the processor assists "
               "the controller in ensuring compliance with Articles 32 to 36 GDPR: data protection impact assessment, prior "
               "consultation of the supervisory authority, and keeping the data accurate.",
         "fr": "Compte tenu du traitement et des informations dont il dispose, le sous-traitant aide le responsable du "
               "traitement à garantir le respect des articles 32 à 36 du RGPD : analyse d'impact relative à la protection "
               "des données, consultation préalable de l'autorité de contrôle et exactitude des données."}),
    Clause("9", (), {"en": "Arts. 33 and 34 GDPR; SCC Clause 9", "fr": "art. 33 et 34 du RGPD ; clause 9 des CCT"},
        {"en": "Personal data breaches", "fr": "Violations de données à caractère personnel"},
        {"en": "The processor notifies the controller without undue delay, and at the latest within 24 hours, after "
               "becoming aware of a personal data breach, with what it knows of its circumstances, the data and persons concerned, "
               "its likely consequences and the steps taken; it completes the notification as it learns more and helps the "
               "controller notify the supervisory authority and, where needed, the persons concerned.",
         "fr": "Le sous-traitant notifie au responsable du traitement toute violation de données à caractère personnel dans "
               "les meilleurs délais, au plus tard 24 heures après en avoir pris connaissance, avec ce qu'il sait de ses "
               "circonstances, des données et personnes touchées, de ses conséquences probables et des mesures prises ; il "
               "complète la notification à mesure et aide le responsable à notifier l'autorité de contrôle et, le cas "
               "échéant, les personnes touchées."}),
    Clause("10", ("g_deletion_return",), {"en": "Art. 28(3)(g) GDPR; SCC Clause 10(d)", "fr": "art. 28, par. 3, point g), du RGPD ; clause 10 d) des CCT"},
        {"en": "Termination, deletion or return of the data", "fr": "Fin du contrat, suppression ou restitution des données"},
        {"en": "The controller may suspend the processing or terminate these clauses if the processor breaches them. At the "
               "end of the services, the processor, at the choice of the controller, deletes all the personal data processed "
               "on its behalf and certifies it has done so, or returns all of them to the controller, and deletes the "
               "existing copies, unless Union or Member State law requires their storage.",
         "fr": "Le responsable du traitement peut suspendre le traitement ou résilier les présentes clauses si le "
               "sous-traitant ne les respecte pas. Au terme des services, le sous-traitant, au choix du responsable, supprime "
               "toutes les données à caractère personnel traitées pour son compte et certifie l'avoir fait, ou les lui "
               "restitue toutes, et détruit les copies existantes, sauf si le droit de l'Union ou d'un État membre en exige "
               "la conservation."},
        section={"en": "Section III: final provisions", "fr": "Section III : dispositions finales"}),
)

#: Headings and fixed phrases of the generated parts (title, annexes).
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Data processing agreement (GDPR Article 28)",
        "intro": "Generated by Airlock from the mandate {mandate_id} version {version} and this deployment's configuration on {today}. "
                 "Each clause names the provisions it fulfils.",
        "fulfils": "Fulfils",
        "annex1": "Annex I: list of parties", "controller": "Controller", "processor": "Processor",
        "address": "Address", "dpo": "Data protection officer", "contact": "Contact",
        "signature": "The parties sign these clauses below. The mandate {mandate_id} version {version} (SHA-256 {digest}) they "
                     "refer to is signed by the controller and countersigned by the processor with their Ed25519 keys.",
        "annex2": "Annex II: description of the processing",
        "subject": "Subject-matter and duration",
        "subject_text": "Subject-matter: the migration of the laboratory's data from {source} ({source_kind}) to {target} "
                        "({target_kind}). Duration: from the signature of the mandate until {deadline} at the latest; the "
                        "staged data are destroyed {grace_days} days after the controller accepts the migration, and by "
                        "{deadline} in any case.",
        "nature": "Nature and purpose",
        "nature_text": "Nature of the processing: read-only extraction from the source system of what the mandate lists, "
                       "encrypted staging, the transformations listed below, loading into the target system ({channel}), "
                       "reconciliation of counts, then destruction of the staged data. Purpose: {purpose}",
        "subjects": "Categories of data subjects",
        "data": "Categories of personal data",
        "data_intro": "Only these fields leave the source; every other field stays there.",
        "sensitive": "Sensitive data and safeguards",
        "health": "Results of medical laboratory tests are data concerning health (Article 9 GDPR).",
        "opted_in": "Sensitive test categories included on the controller's instruction: {tags}; safeguards: they are "
                    "delivered only to the target named above, under the measures of Annex III.",
        "excluded": "Sensitive test categories excluded at the source (their results never leave it): {tags}.",
        "treatments": "Changes applied before the data leave the source: {items}.",
        "annex3": "Annex III: technical and organisational measures",
        "annex3_intro": "Generated from this deployment's live configuration; only measures switched on are listed.",
        "annex4": "Annex IV: list of sub-processors",
        "sub_none": "None: the processor engages no sub-processor.",
        "sub_row": "{name} ({country}): {role}",
    },
    "fr": {
        "title": "Contrat de sous-traitance (article 28 du RGPD)",
        "intro": "Produit par Airlock à partir du mandat {mandate_id} version {version} et de la configuration de ce déploiement "
                 "le {today}. Chaque clause indique les dispositions qu'elle remplit.",
        "fulfils": "Remplit",
        "annex1": "Annexe I : liste des parties", "controller": "Responsable du traitement", "processor": "Sous-traitant",
        "address": "Adresse", "dpo": "Délégué à la protection des données", "contact": "Contact",
        "signature": "Les parties signent les présentes clauses ci-dessous. Le mandat {mandate_id} version {version} (SHA-256 "
                     "{digest}) auquel elles se réfèrent est signé par le responsable du traitement et contresigné par le "
                     "sous-traitant avec leurs clés Ed25519.",
        "annex2": "Annexe II : description du traitement",
        "subject": "Objet et durée",
        "subject_text": "Objet : la migration des données du laboratoire de {source} ({source_kind}) vers {target} "
                        "({target_kind}). Durée : de la signature du mandat jusqu'au {deadline} au plus tard ; les données "
                        "en transit sont détruites {grace_days} jours après la recette de la migration par le responsable du "
                        "traitement, et au plus tard le {deadline}.",
        "nature": "Nature et finalité",
        "nature_text": "Nature du traitement : extraction en lecture seule, depuis le système source, de ce que le mandat "
                       "liste, stockage intermédiaire chiffré, transformations listées ci-dessous, chargement dans le système "
                       "cible ({channel}), rapprochement des comptes, puis destruction des données en transit. Finalité : {purpose}",
        "subjects": "Catégories de personnes concernées",
        "data": "Catégories de données à caractère personnel",
        "data_intro": "Seuls ces champs quittent le système source ; tous les autres y restent.",
        "sensitive": "Données sensibles et garanties",
        "health": "Les résultats d'examens de biologie médicale sont des données concernant la santé (article 9 du RGPD).",
        "opted_in": "Catégories d'examens sensibles incluses sur instruction du responsable du traitement : {tags} ; "
                    "garanties : elles ne sont livrées qu'au système cible nommé ci-dessus, avec les mesures de l'annexe III.",
        "excluded": "Catégories d'examens sensibles exclues à la source (leurs résultats n'en sortent jamais) : {tags}.",
        "treatments": "Modifications appliquées avant que les données quittent la source : {items}.",
        "annex3": "Annexe III : mesures techniques et organisationnelles",
        "annex3_intro": "Produite à partir de la configuration effective de ce déploiement ; seules les mesures activées y figurent.",
        "annex4": "Annexe IV : liste des sous-traitants ultérieurs",
        "sub_none": "Aucun : le sous-traitant ne recourt à aucun sous-traitant ultérieur.",
        "sub_row": "{name} ({country}) : {role}",
    },
}
