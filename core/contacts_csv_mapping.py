"""Which column of an imported CSV holds which contact field: the guess and the check.

``guess_mapping`` proposes a column for each field from the file's headers (exact names
first, then parts of names); ``check_mapping`` refuses, with one sentence, a mapping the
import cannot work with. Separate from ``core.contacts_csv`` (cleaning and writing the rows,
the export) because it only looks at the headers.
"""

from __future__ import annotations

import re

from core import phones
from core.csv_files import CsvFile
from core.errors import ValidationError

TARGETS = {
    "phone": "Phone number",
    "name": "Name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "tags": "Tags",
    "notes": "Notes",
    "timezone": "Time zone",
}
_EXACT = {
    "phone": {
        "phone",
        "phonenumber",
        "phoneno",
        "mobile",
        "mobilenumber",
        "mobilephone",
        "mobileno",
        "cell",
        "cellphone",
        "cellnumber",
        "number",
        "tel",
        "telephone",
        "telephonenumber",
        "msisdn",
        "whatsapp",
        "whatsappnumber",
        "sms",
        "contactnumber",
        "telefono",
        "telefone",
        "celular",
        "movil",
    },
    "name": {"name", "fullname", "contactname", "displayname", "nombre", "nom"},
    "first_name": {"first", "firstname", "givenname", "forename", "fname", "prenom"},
    "last_name": {"last", "lastname", "surname", "familyname", "lname", "apellido"},
    "email": {"email", "emailaddress", "mail", "correo"},
    "tags": {"tags", "tag", "labels", "label", "groups", "group", "segment", "segments"},
    "notes": {"notes", "note", "comments", "comment", "description", "remarks"},
    "timezone": {"timezone", "tz", "zone"},
}
_PARTIAL = [
    ("phone", ("phone", "mobile", "cell", "number", "tel")),
    ("email", ("email", "mail")),
    ("first_name", ("first", "given")),
    ("last_name", ("last", "surname", "family")),
    ("name", ("name",)),
    ("tags", ("tag",)),
    ("notes", ("note", "comment")),
    ("timezone", ("timezone",)),
]

# ---- mapping ------------------------------------------------------------------------------


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", phones.normalize_name(header))


def guess_mapping(columns: list[str]) -> dict[str, str | None]:
    """Which column holds each field, guessed from the headers (None when no column fits)."""
    mapping: dict[str, str | None] = dict.fromkeys(TARGETS)
    used: set[str] = set()
    for target, names in _EXACT.items():
        for column in columns:
            if column not in used and _key(column) in names:
                mapping[target] = column
                used.add(column)
                break
    for target, parts in _PARTIAL:
        if mapping[target] is not None:
            continue
        for column in columns:
            if column not in used and any(p in _key(column) for p in parts):
                mapping[target] = column
                used.add(column)
                break
    return mapping


def check_mapping(csv_file: CsvFile, mapping: dict[str, str | None]) -> dict[str, str]:
    """The mapping without empty choices; one sentence when it cannot work."""
    chosen = {t: c for t, c in mapping.items() if c}
    unknown = set(chosen) - set(TARGETS)
    if unknown:
        raise TypeError(f"unknown import fields: {sorted(unknown)}")
    for target, column in chosen.items():
        if column not in csv_file.columns:
            raise ValidationError(
                f"The file has no column “{column}”; choose one of its columns for {TARGETS[target]}."
            )
    if "phone" not in chosen:
        names = ", ".join(f"“{c}”" for c in csv_file.columns[:12]) or "none"
        looks_like_data = any(phones.to_e164(c) for c in csv_file.columns)
        hint = (
            " The first line looks like a contact, not column names: add a header line such as name,phone."
            if looks_like_data
            else ""
        )
        raise ValidationError(f"Choose the column that holds the phone numbers (the file's columns: {names})." + hint)
    seen: dict[str, str] = {}
    for target, column in chosen.items():
        if column in seen:
            raise ValidationError(
                f"The column “{column}” is chosen for both {TARGETS[seen[column]]} and "
                f"{TARGETS[target]}; choose it once."
            )
        seen[column] = target
    return chosen
