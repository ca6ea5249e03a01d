"""Who a campaign goes to, who is left out and why, and what each recipient reads.

An audience is chosen three ways: contacts with a tag, a CSV of numbers (its
other columns may fill variables), or every contact. Each candidate is kept
or excluded with one reason, checked in this order:

- ``invalid_number``: a CSV cell that is not a phone number;
- ``duplicate``: the same number again (the first one is kept);
- ``opted_out``: they opted out (rule 2);
- ``archived``: an archived contact;
- ``unregistered_sender``: a US number, and the workspace does not send from
  the chosen, unregistered sender (rule 10);
- ``no_whatsapp_opt_in``: a WhatsApp campaign to someone who never wrote to
  the business on WhatsApp nor gave their opt-in;
- ``missing_value``: a variable has no value for them and no fallback;
- ``invalid_value``: a value WhatsApp refuses in a template (line breaks…).

Everything is computed on columns (pandas and DuckDB), never row by row, so
a 100k audience is built in a fraction of a second.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core import contacts_csv, contacts_csv_mapping, csv_files, phones
from core.db import Database, Transaction
from core.errors import ValidationError
from core.templates import BAD_PARAMETER_RE, VARIABLE_RE, Template, variables

MAX_RECIPIENTS = 200_000
KINDS = {"tag": "Contacts with a tag", "csv": "A CSV of numbers", "all": "All contacts who have not opted out"}
REASONS = {
    "invalid_number": "Not a valid phone number",
    "duplicate": "Listed more than once",
    "opted_out": "Opted out",
    "archived": "Archived contact",
    "unregistered_sender": "US number, and the sender is not registered",
    "no_whatsapp_opt_in": "No WhatsApp opt-in",
    "missing_value": "A variable has no value",
    "invalid_value": "A value WhatsApp does not accept",
}
# What a contact fills in by itself (as the composer's templates do), then anything typed once for all.
FIELDS = {
    "first_name": "First name",
    "last_name": "Last name",
    "name": "Full name",
    "phone": "Phone number",
    "email": "Email",
    "sender": "Sender's display name",
}
CSV_PREFIX = "csv:"
SOURCES = {"field": "Contact field", "column": "CSV column", "text": "The same text for everyone"}
OPT_IN_HEADERS = {"whatsappoptin", "optin", "whatsappconsent", "consent", "whatsapp"}
YES = {"yes", "y", "true", "1", "x", "✓", "si", "sí"}


@dataclass(frozen=True)
class CsvAudience:
    """An uploaded list: the phone cells as given and its other columns (text)."""

    frame: pd.DataFrame  # 'given' (the phone cell) and the file's other columns
    file_name: str = ""
    phone_column: str = ""

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != "given"]


@dataclass(frozen=True)
class AudienceSpec:
    kind: str  # 'tag' | 'csv' | 'all'
    tag: str | None = None
    csv: CsvAudience | None = None

    def describe(self) -> dict[str, Any]:
        if self.kind == "tag":
            return {"kind": "tag", "tag": self.tag}
        if self.kind == "csv" and self.csv is not None:
            return {"kind": "csv", "file": self.csv.file_name, "rows": len(self.csv.frame)}
        return {"kind": self.kind}


@dataclass(frozen=True)
class VariableSource:
    source: str  # 'field' | 'column' | 'text'
    value: str  # the field's key, the column's name, or the text
    fallback: str = ""  # used when a field or column is empty for someone

    def as_json(self) -> dict[str, str]:
        return {"source": self.source, "value": self.value, "fallback": self.fallback}


@dataclass
class Audience:
    recipients: pd.DataFrame  # contact_id (nullable), phone, given, zone…, body, template_values
    excluded: pd.DataFrame  # contact_id, phone, given, reason
    candidates: int
    counts: dict[str, int] = field(default_factory=dict)  # excluded, by reason
    values: dict[str, pd.Series] = field(default_factory=dict)  # each variable's value per recipient

    @property
    def size(self) -> int:
        return len(self.recipients)


# ---- the CSV ------------------------------------------------------------------------------------------


def read_csv_audience(data: bytes, file_name: str = "", phone_column: str | None = None) -> CsvAudience:
    """An uploaded CSV of numbers, with or without a header line; one sentence when it cannot be used."""
    if not data or not data.strip():
        raise ValidationError("That file is empty.")
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines > MAX_RECIPIENTS + 1:
        raise ValidationError(
            f"That file has {lines:,} lines; a campaign goes to at most {MAX_RECIPIENTS:,} recipients. "
            "Split it into several campaigns."
        )
    frame = _read_rows(data)
    columns = list(frame.columns)
    if phone_column is None:
        phone_column = contacts_csv_mapping.guess_mapping(columns).get("phone") or columns[0]
    if phone_column not in columns:
        raise ValidationError(f"The file has no column “{phone_column}”; choose the column that holds the numbers.")
    frame = frame.rename(columns={phone_column: "given"}).reset_index(drop=True)
    frame["given"] = csv_files.unquote(frame["given"].astype(str)).str.strip()
    return CsvAudience(frame=frame, file_name=file_name, phone_column=phone_column)


def _read_rows(data: bytes) -> pd.DataFrame:
    """The list's rows under its header's names, or under "column 1", "column 2"… when its first line
    is already a number. Such a file is read again without a header: read with one, its first line's
    cells were made into unique names (an empty cell "Unnamed: 1", a repeated value "X.1") that would
    have been sent as that recipient's values."""
    try:
        parsed = csv_files.read_csv(io.BytesIO(data))
    except ValidationError as exc:  # one line alone reads as a header without rows: it may be a number
        parsed, refused = None, exc
    else:
        refused = None
        if not phones.to_e164(str(parsed.frame.columns[0])):
            return parsed.frame
    rows = csv_files.read_csv(io.BytesIO(data), header=False).frame
    if refused is not None and not phones.to_e164(str(rows.iloc[0, 0])):
        raise refused
    rows.columns = [f"column {i + 1}" for i in range(len(rows.columns))]
    return rows.reset_index(drop=True)


# ---- building ------------------------------------------------------------------------------------------

# Names are split here, by DuckDB, rather than row by row in Python.
_CONTACT_COLUMNS = r"""ct.id AS contact_id, ct.phone, trim(coalesce(ct.name, '')) AS name,
    regexp_extract(trim(coalesce(ct.name, '')), '^\S+') AS first_name,
    trim(regexp_replace(trim(coalesce(ct.name, '')), '^\S+', '')) AS last_name,
    coalesce(ct.email, '') AS email, ct.timezone, ct.archived, ct.opted_out,
    (ct.whatsapp_opt_in_at IS NOT NULL OR wa.contact_id IS NOT NULL) AS whatsapp_opt_in"""
_CONTACT_FIELDS = [
    "contact_id",
    "phone",
    "name",
    "first_name",
    "last_name",
    "email",
    "timezone",
    "archived",
    "opted_out",
    "whatsapp_opt_in",
]
_WHATSAPP_WRITERS = """LEFT JOIN (SELECT DISTINCT contact_id FROM conversations
                                  WHERE channel = 'whatsapp' AND last_inbound_at IS NOT NULL) wa
                       ON wa.contact_id = ct.id"""


def _columns(whatsapp: bool) -> tuple[str, str]:
    """The contact columns and the join they need: who wrote on WhatsApp matters to WhatsApp campaigns only."""
    if whatsapp:
        return _CONTACT_COLUMNS, _WHATSAPP_WRITERS
    return _CONTACT_COLUMNS.replace("(ct.whatsapp_opt_in_at IS NOT NULL OR wa.contact_id IS NOT NULL)", "FALSE"), ""


def _candidates(db: Database | Transaction, spec: AudienceSpec, whatsapp: bool) -> pd.DataFrame:
    columns, join = _columns(whatsapp)
    if spec.kind == "all":
        return _df(db, f"SELECT {columns} FROM contacts ct {join} ORDER BY ct.id", [])
    if spec.kind == "tag":
        tag = " ".join((spec.tag or "").split())
        if not tag:
            raise ValidationError("Choose the tag whose contacts receive the campaign.")
        return _df(
            db,
            f"""SELECT {columns} FROM contacts ct {join}
                WHERE list_contains(list_transform(string_split(lower(coalesce(ct.tags, '')), ','), lambda x: trim(x)),
                                    lower(?))
                ORDER BY ct.id""",
            [tag],
        )
    if spec.kind == "csv":
        if spec.csv is None or spec.csv.frame.empty:
            raise ValidationError("Upload the CSV of numbers first.")
        return _csv_candidates(db, spec.csv, columns, join, whatsapp)
    raise ValidationError("Choose the audience: contacts with a tag, a CSV of numbers, or all contacts.")


def _csv_candidates(
    db: Database | Transaction, upload: CsvAudience, columns: str, join: str, whatsapp: bool
) -> pd.DataFrame:
    # The list's own columns keep their names under a prefix: a column "first_name" is not the field.
    frame = upload.frame.rename(columns={c: CSV_PREFIX + c for c in upload.columns})
    given = frame["given"].astype(str)
    if isinstance(db, Transaction):
        raise TypeError("parse the CSV before the transaction")
    phone, _errors = contacts_csv.parse_phone_cells(db, given, phones.DEFAULT_REGION)
    frame["phone"] = phone.astype(object)
    numbers = [p for p in pd.unique(frame["phone"].dropna())]
    known = (
        _df(
            db,
            f"SELECT {columns} FROM contacts ct {join} WHERE ct.phone IN (SELECT unnest(?::VARCHAR[]))",
            [numbers],
        )
        if numbers
        else pd.DataFrame(columns=_CONTACT_FIELDS)
    )
    merged = frame.merge(known, on="phone", how="left")
    # A list's opt-in column is WhatsApp consent only on a WhatsApp campaign's list: an SMS list's
    # "consent" is consent to texts, and recorded as WhatsApp's it would let later WhatsApp campaigns in.
    opt_in_column = next((c for c in upload.columns if _key(c) in OPT_IN_HEADERS), None) if whatsapp else None
    said_yes = (
        merged[CSV_PREFIX + opt_in_column].astype(str).str.strip().str.lower().isin(YES)
        if opt_in_column
        else pd.Series(False, index=merged.index)
    )
    merged["whatsapp_opt_in"] = merged["whatsapp_opt_in"].fillna(False).astype(bool) | said_yes
    merged["csv_opt_in"] = said_yes
    for column in ("archived", "opted_out"):
        merged[column] = merged[column].fillna(False).astype(bool)
    return merged


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", phones.normalize_name(str(header)))


def _df(db: Database | Transaction, sql: str, params: list) -> pd.DataFrame:
    if isinstance(db, Transaction):
        return db.execute(sql, params).df()
    return db.df(sql, params)


def default_sources(template: Template, csv: CsvAudience | None) -> dict[str, VariableSource]:
    """A first guess for each variable: a CSV column of that name (the list knows best), else a contact
    field of that name; ``first_name`` and ``name`` fall back to “there” (“Hi there,”)."""
    found = {}
    columns = {_key(c): c for c in (csv.columns if csv is not None else [])}
    for name in variables(template):
        if _key(name) in columns:
            found[name] = VariableSource("column", columns[_key(name)])
        elif name in FIELDS:
            found[name] = VariableSource("field", name, "there" if name in ("first_name", "name") else "")
    return found


def check_sources(template: Template, sources: dict[str, VariableSource], csv: CsvAudience | None) -> None:
    for name in variables(template):
        source = sources.get(name)
        if source is None or not str(source.value or "").strip():
            raise ValidationError(f"Choose where {{{{{name}}}}} comes from: a contact field, a CSV column or a text.")
        if source.source == "field" and source.value not in FIELDS:
            raise ValidationError(f"“{source.value}” is not a contact field Parley can fill {{{{{name}}}}} with.")
        if source.source == "column" and (csv is None or source.value not in csv.columns):
            raise ValidationError(f"{{{{{name}}}}} comes from the CSV column “{source.value}”, which the file lacks.")
        if source.source not in SOURCES:
            raise ValidationError(f"Choose where {{{{{name}}}}} comes from: a contact field, a CSV column or a text.")


def _display_phone(phone: pd.Series) -> pd.Series:
    """(415) 555-0123 for North American numbers, the international form otherwise."""
    us = phone.str.match(r"^\+1\d{10}$").fillna(False)
    national = "(" + phone.str.slice(2, 5) + ") " + phone.str.slice(5, 8) + "-" + phone.str.slice(8, 12)
    other = phone[~us].map(lambda p: phones.format_phone_display(p) if isinstance(p, str) else "")
    return national.where(us, other).fillna("")


def _field(frame: pd.DataFrame, key: str, sender_label: str) -> pd.Series:
    if key in ("name", "first_name", "last_name", "email"):
        return frame[key].astype(object).where(frame[key].notna(), "")  # numbers new to Parley have none
    if key == "phone":
        return _display_phone(frame["phone"].fillna("").astype(str))
    if key == "sender":
        return pd.Series(sender_label, index=frame.index)
    raise ValidationError(f"“{key}” is not a contact field.")


def _values(frame: pd.DataFrame, template: Template, sources: dict[str, VariableSource], sender_label: str):
    values: dict[str, pd.Series] = {}
    for name in variables(template):
        source = sources[name]
        if source.source == "text":
            series = pd.Series(" ".join(source.value.split()), index=frame.index)
        elif source.source == "field":
            series = _field(frame, source.value, sender_label)
        else:
            series = frame[CSV_PREFIX + source.value].fillna("").astype(str).str.strip()
        if source.fallback:
            series = series.where(series != "", " ".join(source.fallback.split()))
        values[name] = series.astype(str)
    return values


def fill_series(text: str | None, values: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """``text`` with its variables replaced, for every row at once."""
    parts = VARIABLE_RE.split(text or "")  # literal, name, literal, name, …, literal
    out = pd.Series(parts[0], index=index, dtype=object)
    for i in range(1, len(parts), 2):
        out = out + values[parts[i]] + parts[i + 1]
    return out


def render_series(template: Template, values: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """What each recipient reads (header, body, footer), as ``core.templates.render`` does for one."""
    out = fill_series(template.body, values, index)
    if template.header_format == "text" and template.header_text:
        out = fill_series(template.header_text, values, index) + "\n\n" + out
    if template.footer:
        out = out + "\n\n" + template.footer
    return out


def _json_values(template: Template, values: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """Each row's variables as a JSON object, escaping each distinct value once."""
    names = variables(template)
    if not names:
        return pd.Series(None, index=index, dtype=object)
    out = pd.Series("{", index=index, dtype=object)
    for n, name in enumerate(names):
        series = values[name]
        escaped = series.map({v: json.dumps(v, ensure_ascii=False) for v in pd.unique(series)})
        out = out + ("" if n == 0 else ", ") + json.dumps(name) + ": " + escaped
    return out + "}"


def build(
    db: Database,
    spec: AudienceSpec,
    *,
    template: Template,
    sources: dict[str, VariableSource],
    sender: dict[str, Any],
) -> Audience:
    """Candidates → recipients and exclusions, the values of each variable, and the text each one gets."""
    check_sources(template, sources, spec.csv)
    frame = _candidates(db, spec, sender["channel"] == "whatsapp").reset_index(drop=True)
    candidates = len(frame)
    if candidates > MAX_RECIPIENTS:
        raise ValidationError(
            f"That audience has {candidates:,} people; a campaign goes to at most {MAX_RECIPIENTS:,}. "
            "Narrow it with a tag."
        )
    if "given" not in frame:
        frame["given"] = frame["phone"]
    reason = pd.Series(None, index=frame.index, dtype=object)

    def exclude(mask: pd.Series, code: str) -> None:
        nonlocal reason
        reason = reason.where(reason.notna() | ~mask.fillna(False).astype(bool), code)

    exclude(frame["phone"].isna(), "invalid_number")
    if spec.kind == "csv":  # contacts are unique by number; only a list can repeat one
        exclude(frame["phone"].notna() & frame["phone"].duplicated(keep="first"), "duplicate")
    exclude(frame["opted_out"].astype(bool), "opted_out")
    exclude(frame["archived"].astype(bool), "archived")
    if sender.get("send_blocked"):
        exclude(frame["phone"].fillna("").str.startswith("+1"), "unregistered_sender")
    if sender["channel"] == "whatsapp":
        exclude(~frame["whatsapp_opt_in"].astype(bool), "no_whatsapp_opt_in")
    values = _values(frame, template, sources, sender.get("label") or "")
    for series in values.values():
        exclude(series == "", "missing_value")
        if template.sendable_as_template:
            exclude(series.str.contains(BAD_PARAMETER_RE), "invalid_value")
    kept = reason.isna()
    recipients = frame[kept].copy()
    kept_values = {n: s[kept] for n, s in values.items()}
    recipients["body"] = render_series(template, kept_values, recipients.index)
    # Only a registered template goes with its values; saved text goes as the text itself.
    recipients["template_values"] = (
        _json_values(template, kept_values, recipients.index)
        if template.sendable_as_template
        else pd.Series(None, index=recipients.index, dtype=object)
    )
    recipients = recipients.reset_index(drop=True)
    kept_values = {n: s.reset_index(drop=True) for n, s in kept_values.items()}
    excluded = pd.DataFrame(
        {
            "contact_id": frame["contact_id"][~kept],
            "phone": frame["phone"][~kept],
            "given": frame["given"][~kept].astype(str),
            "reason": reason[~kept],
        }
    ).reset_index(drop=True)
    counts = {code: int(n) for code, n in excluded["reason"].value_counts().items()}
    return Audience(recipients=recipients, excluded=excluded, candidates=candidates, counts=counts, values=kept_values)


def tags(db: Database) -> list[str]:
    """Every tag in use, for the audience picker (as typed, one spelling per tag)."""
    rows = db.fetchall(
        """SELECT min(tag) FROM (SELECT trim(unnest(string_split(tags, ','))) AS tag FROM contacts
           WHERE tags IS NOT NULL AND NOT archived) WHERE tag <> '' GROUP BY lower(tag) ORDER BY lower(min(tag))"""
    )
    return [r[0] for r in rows]
