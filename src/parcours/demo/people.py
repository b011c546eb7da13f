"""Seeded, vectorized personal data that looks French: names, emails, phones, IBANs, addresses.

Everything is drawn from small built-in lists with a numpy ``Generator``; the same seed
always gives the same people. Values that must be unique (emails, phones, IBANs,
meter points) are made unique by construction, so a value identifies one person
unless the generator shares it on purpose (see ``truth.json``'s ``shared_identifiers``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FIRST_NAMES = ["Marie", "Jean", "Pierre", "Michel", "Philippe", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Alain", "Nicolas", "Christophe", "Stéphane", "Sébastien", "Laurent", "Julien", "David", "Frédéric", "Éric", "Céline", "Sandrine", "Valérie", "Christine", "Martine", "Monique", "Patrick", "Thierry", "Olivier", "Anne", "Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Sarah", "Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Raphaël", "Mathis", "Thomas", "Antoine", "Maxime", "Alexandre", "Quentin", "Romain", "Aurélie", "Émilie", "Julie", "Laura", "Pauline", "Mathilde", "Hélène", "Agnès", "Bernard", "Dominique", "Gérard", "Jacques", "Daniel", "René", "Yves", "Claude", "Josiane", "Odile", "Margaux", "Océane", "Clément", "Théo", "Baptiste", "Noémie", "Amandine", "Élodie", "Audrey", "Caroline", "Virginie", "Karine", "Fabrice", "Cédric", "Jérôme", "Vincent", "Benoît", "Yann", "Gaëlle", "Solène", "Maëlle", "Loïc", "Hervé", "Joël", "Annick", "Brigitte", "Colette", "Lucie", "Zoé", "Adèle"]

LAST_NAMES = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier", "Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland", "Leclercq", "Guillaume", "Lecomte", "Lopez", "Jean", "Dupuy", "Guillot", "Hubert", "Berger", "Carpentier", "Sanchez", "Dupuis", "Moulin", "Louis", "Deschamps", "Huet", "Vasseur", "Perez", "Boucher", "Fleury", "Royer", "Klein", "Jacquet", "Adam", "Paris", "Poirier", "Marty", "Aubry", "Guyot", "Carré", "Charles", "Renault", "Charpentier", "Ménard", "Maillard", "Baron", "Bertin", "Bailly", "Hervé", "Schneider", "Fernandez", "Le Gall", "Collet", "Léger", "Bouvier", "Julien", "Prévost", "Millet", "Perrot", "Daniel", "Le Roux", "Cousin", "Germain", "Breton", "Besson"]

EMAIL_DOMAINS = (
    "gmail.com", "orange.fr", "free.fr", "laposte.net", "sfr.fr", "hotmail.fr", "outlook.fr",
    "wanadoo.fr", "yahoo.fr", "bbox.fr",
)

STREET_TYPES = ("rue", "avenue", "boulevard", "impasse", "allée", "chemin", "place")
STREET_NAMES = (
    "de la République", "Victor Hugo", "Jean Jaurès", "des Lilas", "du Moulin", "de la Gare",
    "Pasteur", "de l'Église", "des Écoles", "du Général de Gaulle", "Gambetta", "des Tilleuls",
    "de Verdun", "Émile Zola", "du Château", "des Peupliers", "Jules Ferry", "de la Paix",
)

#: region code -> (cities with postal codes, mean temperature °C, seasonal amplitude °C)
REGIONS: dict[str, tuple[tuple[tuple[str, str], ...], float, float]] = {
    "IDF": ((("Paris", "75011"), ("Versailles", "78000"), ("Créteil", "94000"), ("Nanterre", "92000")), 12.3, 7.5),
    "HDF": ((("Lille", "59000"), ("Amiens", "80000"), ("Roubaix", "59100")), 11.0, 7.0),
    "GES": ((("Strasbourg", "67000"), ("Metz", "57000"), ("Reims", "51100")), 10.8, 9.0),
    "ARA": ((("Lyon", "69003"), ("Grenoble", "38000"), ("Clermont-Ferrand", "63000")), 12.0, 9.5),
    "OCC": ((("Toulouse", "31000"), ("Montpellier", "34000"), ("Nîmes", "30000")), 14.5, 8.0),
    "PAC": ((("Marseille", "13001"), ("Nice", "06000"), ("Toulon", "83000")), 15.5, 7.5),
    "BRE": ((("Rennes", "35000"), ("Brest", "29200"), ("Vannes", "56000")), 12.0, 5.5),
    "NAQ": ((("Bordeaux", "33000"), ("Limoges", "87000"), ("Poitiers", "86000")), 13.5, 7.5),
}


def ascii_slug(text: str) -> str:
    """Lowercase ASCII form of a name for emails and handles ("Hélène Le Gall" -> "helene-le-gall")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "-").replace("'", "")


def digits(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings of non-negative integers (vectorized)."""
    return pc.utf8_lpad(pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string()), width, "0")


def cat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and constant strings."""
    arrays = [p if not isinstance(p, str) else pa.scalar(p) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def take(values: list[str] | tuple[str, ...] | pa.Array, index: np.ndarray) -> pa.Array:
    """``values[index]`` as an Arrow string array (index may hold -1 for null)."""
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    idx = np.asarray(index)
    return pc.take(arr, pa.array(idx, mask=idx < 0))


def unique_suffix(base: pa.Array) -> pa.Array:
    """Append ``2``, ``3``… to repeated values so every value is unique."""
    import pandas as pd

    s = pd.Series(base.to_numpy(zero_copy_only=False))
    rank = s.groupby(s).cumcount().to_numpy()
    suffix = np.where(rank > 0, (rank + 1).astype(str), "")
    return cat(base, pa.array(suffix))


def iban_fr(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` distinct French IBANs with valid mod-97 check digits (FRkk + 23 digits)."""
    bban = np.zeros((n, 23), dtype=np.int64)
    bban[:, :5] = rng.choice(np.array([[3, 0, 0, 0, 4], [3, 0, 0, 0, 3], [1, 0, 2, 7, 8],
                                       [2, 0, 0, 4, 1], [1, 4, 5, 0, 5], [3, 0, 0, 6, 6]]), n)
    bban[:, 5:21] = rng.integers(0, 10, size=(n, 16))
    # account numbers unique: overwrite the last 8 account digits with a permutation
    perm = rng.permutation(n) + rng.integers(0, 10**7)
    for k in range(8):
        bban[:, 20 - k] = (perm // 10**k) % 10
    bban[:, 21:] = rng.integers(0, 10, size=(n, 2))
    # check digits: 98 - (BBAN + "FR00" as digits) mod 97, computed column by column
    tail = np.array([1, 5, 2, 7, 0, 0])  # F=15 R=27 00
    r = np.zeros(n, dtype=np.int64)
    for col in list(bban.T) + [np.full(n, d) for d in tail]:
        r = (r * 10 + col) % 97
    check = 98 - r
    body = ["".join(map(str, row)) for row in bban]  # n people, not events
    return cat("FR", digits(check, 2), pa.array(body))


def format_iban_spaced(iban: str) -> str:
    """The IBAN as people write it: groups of four."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def format_phone_human(e164: str) -> str:
    """``+33612345678`` -> ``06 12 34 56 78``."""
    national = "0" + e164[3:]
    return " ".join(national[i : i + 2] for i in range(0, 10, 2))


@dataclass
class People:
    """``n`` persons' personal data as Arrow arrays (aligned by person index)."""

    first_name: pa.Array
    last_name: pa.Array
    email: pa.Array
    phone: pa.Array  # E.164, e.g. +33612345678
    iban: pa.Array
    address: pa.Array
    postal_code: pa.Array
    city: pa.Array
    region: pa.Array
    region_idx: np.ndarray


def make_people(rng: np.random.Generator, n: int, email_tag: str = "") -> People:
    """Draw ``n`` French-looking people with unique emails, phones and IBANs."""
    first_i = rng.integers(0, len(FIRST_NAMES), n)
    last_i = rng.integers(0, len(LAST_NAMES), n)
    first = take(FIRST_NAMES, first_i)
    last = take(LAST_NAMES, last_i)
    first_slug = take([ascii_slug(x) for x in FIRST_NAMES], first_i)
    last_slug = take([ascii_slug(x) for x in LAST_NAMES], last_i)
    style = rng.integers(0, 3, n)
    sep = take([".", "_", ""], style)
    local = cat(first_slug, sep, last_slug, email_tag)
    domain = take(EMAIL_DOMAINS, rng.integers(0, len(EMAIL_DOMAINS), n))
    email = unique_suffix(cat(local, "@", domain))
    mobile = rng.choice(10**8, size=n, replace=False)
    prefix = take(["+336", "+337"], (rng.random(n) < 0.2).astype(np.int64))
    phone = cat(prefix, digits(mobile, 8))
    regions = list(REGIONS)
    region_idx = rng.integers(0, len(regions), n)
    city_pick = rng.integers(0, 3, n)
    cities = [REGIONS[r][0][k % len(REGIONS[r][0])] for r in regions for k in range(3)]
    flat = region_idx * 3 + city_pick
    city = take([c for c, _ in cities], flat)
    postal = take([p for _, p in cities], flat)
    street = cat(
        pa.array(rng.integers(1, 180, n)).cast(pa.string()), " ",
        take(STREET_TYPES, rng.integers(0, len(STREET_TYPES), n)), " ",
        take(STREET_NAMES, rng.integers(0, len(STREET_NAMES), n)),
    )
    return People(
        first_name=first, last_name=last, email=email, phone=phone, iban=iban_fr(rng, n),
        address=street, postal_code=postal, city=city, region=take(regions, region_idx),
        region_idx=region_idx,
    )


def hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` distinct UUID-looking ids (anonymous cookies, device ids)."""
    hi = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    # an odd multiplier is a bijection modulo 2**64: distinct indices give distinct ids
    lo = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) + np.uint64(rng.integers(0, 2**62))
    out = []
    for a, b in zip(hi.tolist(), lo.tolist(), strict=True):  # identifiers, not events
        t = f"{a:016x}{b:016x}"
        out.append(f"{t[:8]}-{t[8:12]}-4{t[13:16]}-{t[16:20]}-{t[20:]}")
    return pa.array(out, pa.string())
