"""The analytics copy: identifiers pseudonymized, free text redacted with the customer's
own identifiers looked up in the raw reference tables, whatever the write order."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from parcours.privacy.pseudonymize import is_pseudonym, pseudonym

T0 = datetime(2025, 3, 1, tzinfo=UTC)

CUSTOMERS = pa.table({
    "customer_number": ["C001", "C002"],
    "first_name": ["Élodie", "Jean-Pierre"],
    "last_name": ["Lefèvre", "N'Diaye"],
    "email": ["elodie.lefevre@orange.fr", "jp.ndiaye@free.fr"],
    "phone": ["+33612345678", "+33798765432"],
    "address": ["12 rue des Lilas", "3 avenue Foch"],
    "iban": ["FR7630006000011234567890189", "FR7610278000019876543210123"],
})

TEXTS = [
    ("V1", "C001", "Appel de Élodie Lefèvre. Elle rappelle au 06 12 34 56 78, mail elodie.lefevre@orange.fr."),
    ("V2", "C001", "Bonjour, ELODIE LEFEVRE ici, IBAN FR76 3000 6000 0112 3456 7890 189. Cordialement, elodie"),
    ("V3", "C002", "Note conseiller : Jean Pierre N'Diaye habite 3 avenue Foch, joignable +33798765432"),
    ("V4", None, "Post anonyme : écrivez à contact.client@exemple.fr ou 01.45.67.89.10"),
    ("V5", "C002", "Merci Élodie pour votre aide"),  # another customer's name: not this one's
]


def _verbatims():
    return pa.table({
        "verbatim_id": [t[0] for t in TEXTS],
        "channel": ["advisor"] * len(TEXTS),
        "user_id": [t[1] for t in TEXTS],
        "ts": pa.array([T0] * len(TEXTS), pa.timestamp("us", tz="UTC")),
        "text": [t[2] for t in TEXTS],
        "subject": ["Appel de Jean-Pierre"] * 4 + [None],
    })


EXPECTED = {
    "V1": "Appel de [NAME] [NAME]. Elle rappelle au [PHONE], mail [EMAIL].",
    "V2": "Bonjour, [NAME] [NAME] ici, IBAN [IBAN]. Cordialement, [NAME]",
    "V3": "Note conseiller : [NAME] [NAME] habite [ADDRESS], joignable [PHONE]",
    "V4": "Post anonyme : écrivez à [EMAIL] ou [PHONE]",
    "V5": "Merci Élodie pour votre aide",
}


def _analytics_texts(ws):
    rows = ws.lake.read("energie", "analytics", "verbatims").to_pylist()
    return {r["verbatim_id"]: r for r in rows}


@pytest.mark.parametrize("order", ["customers_first", "verbatims_first"])
def test_own_identifiers_masked_whatever_the_order(workspace, order):
    if order == "customers_first":
        workspace.write("energie", "customers", CUSTOMERS)
        workspace.write("energie", "verbatims", _verbatims())
    else:
        workspace.write("energie", "verbatims", _verbatims())
        workspace.write("energie", "customers", CUSTOMERS)
    got = _analytics_texts(workspace)
    assert {k: v["text"] for k, v in got.items()} == EXPECTED
    secret = workspace.keys.get("energie")
    assert got["V1"]["user_id"] == pseudonym(secret, "C001")
    assert got["V4"]["user_id"] is None
    # subject: the owner's name is masked, a name of another person is not
    assert got["V3"]["subject"] == "Appel de [NAME]"
    assert got["V1"]["subject"] == "Appel de Jean-Pierre"
    # raw keeps the text as written; one row per verbatim in each zone
    raw = workspace.lake.read("energie", "raw", "verbatims")
    assert raw.num_rows == len(got) == 5
    assert "Élodie Lefèvre" in raw.column("text")[0].as_py()


def test_reference_tables_pseudonymized(workspace):
    workspace.write("energie", "customers", CUSTOMERS)
    row = workspace.lake.read("energie", "analytics", "customers").to_pylist()[0]
    for col in ("customer_number", "first_name", "last_name", "email", "phone", "address", "iban"):
        assert is_pseudonym(row[col]), col
