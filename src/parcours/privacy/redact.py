"""Redaction of personal data inside free text (verbatims) for the analytics zone.

Two layers, both applied to every free-text column:

1. **Patterns** for what has a shape: emails (also "name at domain dot fr"), IBANs,
   payment-card numbers, phone numbers (French and international formats), and long
   digit runs (customer, contract and meter-point numbers).
2. **The customer's own identifiers**: the row's ``user_id`` is looked up in the raw
   zone's reference tables (first and last name, email, phone, address, IBAN, customer
   number, cards, meter points — see :mod:`parcours.privacy.zones`), and each is masked
   wherever it appears, case- and accent-insensitively ("Élodie", "ELODIE", "elodie").

Masks name what was removed (``[EMAIL]``, ``[NAME]`` …) so text analytics still read
"the customer gave their phone number" without the number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

import pyarrow as pa

# Order matters: emails first (they contain names and digits), IBANs and cards before
# phones (they contain digit runs), long numbers last.
PATTERNS: list[tuple[str, str]] = [
    ("[EMAIL]", r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}"),
    (
        "[EMAIL]",
        r"(?i)[\w.%+\-]+\s*(?:\(at\)|\[at\]|\sat\s|\sarobase\s)\s*[\w\-]+"
        r"(?:\s*(?:\(dot\)|\[dot\]|\sdot\s|\spoint\s|\.)\s*[\w\-]+)+",
    ),
    ("[IBAN]", r"(?i)\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,4})?\b"),
    ("[CARD]", r"\b\d(?:[ \-]?\d){12,18}\b"),
    (
        "[PHONE]",
        r"(?:(?:\+|\b00)\d{1,3}[\s.\-]?(?:\(0\)[\s.\-]?)?|\b0)[1-9](?:[\s.\-]?\d{2}){4}\b",
    ),
    ("[PHONE]", r"(?:\+|\b00)\d{1,3}(?:[\s.\-]?\d){7,12}\b"),
    ("[NUMBER]", r"\b[A-Z]{0,4}[\-_]?\d{7,}\b"),
]

_COMPILED = [(token, re.compile(pattern)) for token, pattern in PATTERNS]

_FOLD = {
    "a": "aàáâãäå",
    "c": "cç",
    "e": "eèéêë",
    "i": "iìíîï",
    "n": "nñ",
    "o": "oòóôõö",
    "u": "uùúûü",
    "y": "yýÿ",
}


def _strip_accents(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )


def _value_pattern(value: str) -> str:
    """A regex for one identifier value: accents optional, any case, flexible separators."""
    base = _strip_accents(value.strip()).lower()
    parts = []
    for ch in base:
        if ch in _FOLD:
            parts.append(f"[{_FOLD[ch]}]")
        elif ch in " -'’._":
            parts.append(r"[\s\-'’._]?")
        else:
            parts.append(re.escape(ch))
    return "".join(parts)


Identity = str | tuple[str, str]
"""An identifier value, or ``(mask, value)`` such as ``("[ADDRESS]", "3 avenue Foch")``;
a bare value is masked as ``[NAME]``."""


def own_identifiers_regex(values: Iterable[Identity]) -> tuple[re.Pattern[str], list[str]] | None:
    """One regex matching any of a person's identifier values as whole words, and the
    mask of each alternative (by group number)."""
    pairs = {("[NAME]", v) if isinstance(v, str) else (v[0], v[1]) for v in values}
    cleaned = sorted(
        {(m, v.strip()) for m, v in pairs if v and len(v.strip()) >= 2},
        key=lambda p: (-len(p[1]), p),
    )
    if not cleaned:
        return None
    alternatives = "|".join(f"({_value_pattern(v)})" for _, v in cleaned)
    regex = re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)
    return regex, [m for m, _ in cleaned]


def redact_text(text: str, own: tuple[re.Pattern[str], list[str]] | None = None) -> str:
    """Mask personal data in one text; ``own`` (from :func:`own_identifiers_regex`) masks
    the person's own identifiers — after the patterns, so an email containing the
    person's name is masked as an email."""
    for token, pattern in _COMPILED:
        text = pattern.sub(token, text)
    if own is not None:
        regex, masks = own
        text = regex.sub(lambda m: masks[(m.lastindex or 1) - 1], text)
    return text


def redact_array(
    array: pa.ChunkedArray | pa.Array,
    owners: pa.ChunkedArray | pa.Array | None = None,
    identities: Mapping[str, Iterable[Identity]] | None = None,
) -> pa.Array:
    """Mask personal data in a string column.

    Args:
        array: the free text.
        owners: per row, the key of the person the text is about (``user_id``), or null.
        identities: person key -> that person's identifier values (names, email …).
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    # Python's re, not Arrow's RE2: RE2's \w and \b are ASCII-only and would cut
    # "zoé.m@orange.fr" after the accent, leaving "zoé" behind.
    if owners is None or not identities:
        return pa.array(
            [None if t is None else redact_text(t) for t in array.to_pylist()], type=pa.string()
        )
    if isinstance(owners, pa.ChunkedArray):
        owners = owners.combine_chunks()
    cache: dict[str, tuple[re.Pattern[str], list[str]] | None] = {}
    out: list[str | None] = []
    for text, owner in zip(array.to_pylist(), owners.to_pylist(), strict=True):
        if text is None:
            out.append(None)
            continue
        own = None
        if owner is not None and owner in identities:
            if owner not in cache:
                cache[owner] = own_identifiers_regex(identities[owner])
            own = cache[owner]
        out.append(redact_text(text, own))
    return pa.array(out, type=pa.string())
