"""Redaction of personal data inside free text (verbatims) for the analytics zone."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

# Order matters: IBANs and card numbers before phone numbers (they contain digit runs).
PATTERNS: list[tuple[str, str]] = [
    ("[EMAIL]", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"),
    ("[IBAN]", r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b"),
    ("[CARD]", r"\b(?:\d[ \-]?){12,18}\d\b"),
    ("[PHONE]", r"(?:\+33\s?|\b0)[1-9](?:[\s.\-]?\d{2}){4}\b"),
]


def redact_text(text: str) -> str:
    for token, pattern in PATTERNS:
        text = re.sub(pattern, token, text)
    return text


def redact_array(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Mask emails, IBANs, card and phone numbers in a string column (vectorized)."""
    for token, pattern in PATTERNS:
        array = pc.replace_substring_regex(array, pattern=pattern, replacement=token)
    return array
