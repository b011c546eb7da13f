"""French free text with planted personal data, for text analytics and redaction tests.

Each verbatim gets a business category and a sentiment (the truth the text helper
must recover) and, with known probabilities, personal data written as people write it
(an email, a phone number in national format, an IBAN in groups of four, the author's
own name). Every planted item is recorded, so redaction recall can be measured.

The texts are composed in a Python loop over verbatims — a few per hundred events,
not a loop over events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from parcours.demo.people import format_iban_spaced, format_phone_human

SENTIMENTS = ("negative", "neutral", "positive")

ENERGIE_TEXTS: dict[str, dict[str, list[str]]] = {
    "billing": {
        "negative": [
            "Ma facture de {month} est deux fois plus élevée que d'habitude, je la conteste.",
            "On m'a prélevé deux fois le même montant ce mois-ci, c'est inadmissible.",
            "Je ne comprends pas la régularisation annuelle, le montant est énorme.",
            "Facture erronée : vous me facturez une consommation estimée bien supérieure au réel.",
            "Le prélèvement de {month} a été fait avant la date prévue, mon compte est à découvert.",
            "Toujours pas reçu le remboursement promis sur ma facture, je suis excédé.",
        ],
        "neutral": [
            "Je souhaite recevoir le détail de ma facture de {month}.",
            "Pouvez-vous modifier la date de prélèvement de mes factures ?",
            "Est-il possible de passer à la mensualisation pour étaler les paiements ?",
            "Je voudrais un duplicata de la facture du {day} {month}.",
        ],
        "positive": [
            "Merci pour le remboursement rapide du trop-perçu sur ma facture.",
            "La mensualisation me convient très bien, factures claires.",
        ],
    },
    "meter": {
        "negative": [
            "Le compteur Linky affiche un index qui ne correspond pas à ma consommation.",
            "Le technicien n'est jamais venu relever le compteur malgré le rendez-vous.",
            "Depuis la pose du nouveau compteur ma consommation a doublé, il doit être défectueux.",
            "Impossible de transmettre mon index en ligne, le site refuse le relevé.",
        ],
        "neutral": [
            "Je transmets mon relevé de compteur du mois de {month}.",
            "Quand le compteur communicant sera-t-il installé chez moi ?",
            "Comment lire l'index heures creuses sur mon compteur ?",
        ],
        "positive": [
            "La pose du compteur s'est très bien passée, technicien ponctuel.",
            "Très pratique de suivre ma consommation jour par jour grâce au compteur.",
        ],
    },
    "move": {
        "negative": [
            "Mon déménagement a été mal pris en compte, je paie encore l'ancien logement.",
            "Trois semaines après mon emménagement, toujours pas d'électricité au nouveau logement.",
        ],
        "neutral": [
            "Je déménage le mois prochain et souhaite transférer mon contrat.",
            "Merci de résilier le contrat de mon ancien logement au {day} {month}.",
            "Quels documents fournir pour la mise en service du nouvel appartement ?",
        ],
        "positive": [
            "Transfert de contrat lors du déménagement très simple, merci.",
            "Mise en service du nouveau logement faite en 24 heures, parfait.",
        ],
    },
    "price": {
        "negative": [
            "La hausse du prix du kWh est scandaleuse, je vais comparer les offres.",
            "Votre offre est bien plus chère que celle des concurrents.",
            "Encore une augmentation de l'abonnement, je vais changer de fournisseur.",
        ],
        "neutral": [
            "Quelle est la différence entre l'offre heures creuses et l'offre base ?",
            "Pouvez-vous m'envoyer la grille tarifaire en vigueur au {day} {month} ?",
            "Existe-t-il une offre verte à prix fixe sur deux ans ?",
        ],
        "positive": [
            "Le tarif heures creuses m'a permis de bien réduire ma facture.",
            "Prix bloqué pendant deux ans, c'est rassurant, merci.",
        ],
    },
    "service_quality": {
        "negative": [
            "Quarante minutes d'attente au téléphone et personne pour m'aider.",
            "Conseiller désagréable, on m'a raccroché au nez.",
            "Trois appels, trois réponses différentes : votre service client est incompétent.",
            "Aucune réponse à mes mails depuis deux semaines.",
        ],
        "neutral": [
            "Je voudrais être rappelé par un conseiller en fin de journée.",
            "Quels sont les horaires d'ouverture du service client le samedi ?",
        ],
        "positive": [
            "Conseillère très aimable et efficace, problème réglé en cinq minutes.",
            "Service client réactif, merci pour votre aide.",
            "Enfin un conseiller qui prend le temps d'expliquer, bravo.",
        ],
    },
    "outage": {
        "negative": [
            "Coupure de courant depuis ce matin, aucune information de votre part.",
            "Troisième coupure cette semaine, mon congélateur a tout perdu.",
            "Panne générale dans la rue depuis hier soir et le numéro d'urgence ne répond pas.",
        ],
        "neutral": [
            "Une coupure est-elle prévue dans mon quartier le {day} {month} ?",
            "Comment signaler une panne d'électricité sur le réseau ?",
        ],
        "positive": [
            "Courant rétabli très vite après la tempête, bravo aux équipes.",
            "Merci d'avoir prévenu de la coupure pour travaux, c'était bien organisé.",
        ],
    },
}

FIDELITE_TEXTS: dict[str, dict[str, list[str]]] = {
    "coupon": {
        "negative": [
            "Le coupon chargé sur ma carte n'a pas été déduit en caisse.",
            "Les bons de réduction expirent avant même que je puisse les utiliser.",
        ],
        "neutral": [
            "Comment activer les coupons de la semaine sur l'application ?",
            "Le coupon café est-il valable dans tous les magasins ?",
        ],
        "positive": ["Super les coupons café ce mois-ci, merci !", "Des réductions vraiment utiles cette semaine."],
    },
    "checkout": {
        "negative": [
            "En caisse, ma carte n'a pas été reconnue et j'ai perdu mes avantages.",
            "La caissière a refusé d'appliquer ma réduction, très désagréable.",
        ],
        "neutral": ["Peut-on utiliser deux coupons sur le même ticket de caisse ?"],
        "positive": ["Passage en caisse rapide et coupons appliqués automatiquement."],
    },
    "card": {
        "negative": [
            "J'ai perdu ma carte de fidélité et mes points ont disparu.",
            "Ma nouvelle carte ne fonctionne toujours pas après trois semaines.",
        ],
        "neutral": ["Je voudrais une deuxième carte pour mon conjoint.", "Comment fusionner mes deux cartes ?"],
        "positive": ["Nouvelle carte reçue en deux jours, parfait."],
    },
    "points": {
        "negative": [
            "Mes points de {month} n'ont jamais été crédités.",
            "Le solde de points affiché est faux, il manque mes derniers achats.",
        ],
        "neutral": ["Quand expirent les points cumulés sur ma carte ?"],
        "positive": ["J'ai pu utiliser mes points pour un bon d'achat, très content."],
    },
    "store": {
        "negative": [
            "Rayons vides et personnel débordé dans mon magasin habituel.",
            "Magasin sale et files d'attente interminables samedi dernier.",
        ],
        "neutral": ["Quels sont les horaires du magasin le {day} {month} ?"],
        "positive": ["Magasin propre et personnel accueillant.", "Très bon accueil au rayon frais, merci."],
    },
}

FILLERS = {
    "negative": ["C'est la deuxième fois que je vous écris.", "J'attends une réponse rapide.",
                 "Je suis client depuis des années et je n'ai jamais vu ça.", ""],
    "neutral": ["Merci d'avance.", "Dans l'attente de votre retour.", ""],
    "positive": ["Bonne continuation.", "À recommander.", ""],
}

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")
OPENERS = {"complaint": ("Bonjour, ", "Réclamation : ", ""),
           "email": ("Madame, Monsieur, ", "Bonjour, ", "Bonsoir, "),
           "advisor": ("Note conseiller : le client indique : ", "Compte rendu d'entretien : ", "Échange client : "),
           "social": ("", "", "Franchement… ")}
HASHTAGS = ("#service #client", "@marque", "#fail", "#merci", "#consommation", "")
GENERIC_SUBJECTS = ("Réclamation", "Demande d'information", "Urgent", "Mon contrat", "Question")
SUBJECTS = {
    "billing": "Facture", "meter": "Compteur", "move": "Déménagement", "price": "Tarifs",
    "service_quality": "Service client", "outage": "Coupure", "coupon": "Coupon",
    "checkout": "Passage en caisse", "card": "Carte", "points": "Points", "store": "Magasin",
}


@dataclass
class VerbatimSource:
    """Who wrote what, where: one entry per verbatim (aligned arrays)."""

    verbatim_id: list[str]
    channel: list[str]
    ts: np.ndarray  # µs
    user_id: list[str | None]
    author: list[str | None]
    first_name: list[str]
    last_name: list[str]
    email: list[str]
    phone: list[str]
    iban: list[str | None]


def compose(
    rng: np.random.Generator, src: VerbatimSource, texts: dict[str, dict[str, list[str]]]
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Write the verbatims; returns (verbatims rows, truth labels, planted personal data)."""
    n = len(src.verbatim_id)
    cats = sorted(texts)
    cat_i = rng.integers(0, len(cats), n)
    sent_p = {"complaint": [0.85, 0.15, 0.0], "social": [0.6, 0.15, 0.25],
              "email": [0.45, 0.45, 0.10], "advisor": [0.3, 0.55, 0.15]}
    u = rng.random((n, 6))
    rows: dict[str, list[object]] = {k: [] for k in ("subject", "text")}
    labels: dict[str, list[object]] = {"verbatim_id": [], "channel": [], "category": [], "sentiment": []}
    pii: dict[str, list[object]] = {"verbatim_id": [], "kind": [], "value": []}
    for i in range(n):
        channel = src.channel[i]
        category = cats[cat_i[i]]
        probs = sent_p[channel]
        sentiment = SENTIMENTS[int(np.searchsorted(np.cumsum(probs), u[i, 0] * 0.999999, side="right"))]
        options = texts[category].get(sentiment) or texts[category]["neutral"]
        body = options[int(u[i, 1] * len(options))].format(
            month=MONTHS[int(u[i, 2] * 12)], day=1 + int(u[i, 3] * 28)
        )
        openers = OPENERS[channel]
        filler = FILLERS[sentiment][int(u[i, 5] * 997) % len(FILLERS[sentiment])]
        parts = [openers[int(u[i, 3] * 991) % len(openers)] + body]
        if channel == "social":
            parts.append(HASHTAGS[int(u[i, 5] * 983) % len(HASHTAGS)])
        elif filler:
            parts.append(filler)
        planted: list[tuple[str, str]] = []
        social = channel == "social"
        if u[i, 4] < (0.08 if social else 0.35):
            phone = format_phone_human(src.phone[i]) if u[i, 5] < 0.7 else src.phone[i]
            parts.append(f"Vous pouvez me joindre au {phone}.")
            planted.append(("phone", phone))
        if u[i, 5] < (0.05 if social else 0.3):
            parts.append(f"Mon adresse mail : {src.email[i]}")
            planted.append(("email", src.email[i]))
        raw_iban = src.iban[i]
        if not social and raw_iban and category in ("billing", "points", "move") and u[i, 3] < 0.5:
            iban = format_iban_spaced(raw_iban) if u[i, 2] < 0.5 else raw_iban
            parts.append(f"Mon IBAN est {iban}, merci de mettre à jour le prélèvement.")
            planted.append(("iban", iban))
        if channel == "advisor":
            name = f"{src.first_name[i]} {src.last_name[i]}"
            parts.insert(0, f"Appel de {name}.")
            planted.append(("name", name))
        elif not social and u[i, 4] > 0.4:
            name = f"{src.first_name[i]} {src.last_name[i]}"
            parts.append(f"Cordialement, {name}")
            planted.append(("name", name))
        subject = SUBJECTS[category] if u[i, 2] < 0.5 else GENERIC_SUBJECTS[int(u[i, 4] * 977) % len(GENERIC_SUBJECTS)]
        rows["subject"].append(None if social else subject)
        rows["text"].append(" ".join(p for p in parts if p))
        labels["verbatim_id"].append(src.verbatim_id[i])
        labels["channel"].append(channel)
        labels["category"].append(category)
        labels["sentiment"].append(sentiment)
        for kind, value in planted:
            pii["verbatim_id"].append(src.verbatim_id[i])
            pii["kind"].append(kind)
            pii["value"].append(value)
    table = pa.table(
        {
            "verbatim_id": pa.array(src.verbatim_id, pa.string()),
            "channel": pa.array(src.channel, pa.string()),
            "user_id": pa.array(src.user_id, pa.string()),
            "author": pa.array(src.author, pa.string()),
            "ts": pa.array(src.ts, pa.timestamp("us", tz="UTC")),
            "subject": pa.array(rows["subject"], pa.string()),
            "text": pa.array(rows["text"], pa.string()),
            "language": pa.array(["fr"] * n, pa.string()),
        }
    )
    return table, pa.table(labels), pa.table(pii, schema=pa.schema(
        [("verbatim_id", pa.string()), ("kind", pa.string()), ("value", pa.string())]))
