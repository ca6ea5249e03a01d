"""CSV import (encodings, size, mapping, per-row report, bulk) and export (formula injection)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from core import contacts, contacts_csv, contacts_csv_mapping
from core.actions import contacts as contact_actions
from core.errors import PermissionDenied, ValidationError
from tests.factories import add_contact


@pytest.fixture
def ana(make_user):
    return make_user("ana", "standard")


def load(db, user, data: bytes, mapping=None, progress=None):
    parsed = contacts_csv.read_csv(data)
    return contacts_csv.import_contacts(
        db, user, parsed, mapping or contacts_csv_mapping.guess_mapping(parsed.columns), progress=progress
    )


def contact(db, phone):
    rows = db.dicts("SELECT * FROM contacts WHERE phone = ?", [phone])
    return rows[0] if rows else None


def by_row(report) -> dict[int, tuple[str, str]]:
    return {int(r.Row): (r.Result, r.Reason) for r in report.rows.itertuples()}


# ---- reading: encodings, separators, refusals ------------------------------------------------


def test_utf8_with_bom(db, ana):
    data = "\ufeffName,Phone\nJosé Núñez,(415) 867-0100\n".encode()
    parsed = contacts_csv.read_csv(data)
    assert parsed.columns == ["Name", "Phone"] and parsed.encoding == "UTF-8 with BOM"
    report = load(db, ana, data)
    assert report.created == 1
    assert contact(db, "+14158670100")["name"] == "José Núñez"
    assert contact(db, "+14158670100")["search_name"] == "jose nunez"


def test_latin1_falls_back(db, ana):
    data = "nombre;teléfono\nJosé Müller;415 867 0101\n".encode("latin-1")
    parsed = contacts_csv.read_csv(data)
    assert parsed.delimiter == ";"
    assert "Latin-1" in parsed.encoding or "1252" in parsed.encoding
    assert load(db, ana, data).created == 1
    assert contact(db, "+14158670101")["name"] == "José Müller"


def test_utf16_and_tab_separated(db, ana):
    data = "Full name\tMobile\nÅsa Öberg\t+1 415 867 0102\n".encode("utf-16")
    assert load(db, ana, data).created == 1
    assert contact(db, "+14158670102")["name"] == "Åsa Öberg"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"name,phone\n", "no rows"),
        (b"PK\x03\x04rest-of-a-workbook", "Excel"),
        (b"name,phone\nAna,4158670103\nBob,4158670104,extra,cells\n", "Line 3"),
    ],
)
def test_unreadable_files_get_one_sentence(data, words):
    with pytest.raises(ValidationError, match=words) as info:
        contacts_csv.read_csv(data)
    assert "\n" not in str(info.value)


class HugeUpload:
    """Says it is 100 MB (like Streamlit's UploadedFile.size) and fails if anyone reads it."""

    size = 100 * 1024 * 1024
    name = "huge.csv"

    def read(self, *args):
        raise AssertionError("the file was read before its size was checked")

    getvalue = read


def test_files_over_50_mb_are_refused_before_reading():
    with pytest.raises(ValidationError) as info:
        contacts_csv.read_csv(HugeUpload())
    message = str(info.value)
    assert "100.0 MB" in message and "50 MB" in message and message.count(".") <= 2


def test_big_file_on_disk_is_refused_by_its_size(tmp_path, monkeypatch):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:
        f.truncate(100 * 1024 * 1024)  # sparse: 100 MB that take no room
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail("opened a file over the limit"))
    with pytest.raises(ValidationError, match="up to 50 MB"):
        contacts_csv.read_csv(path)


def test_unsized_stream_is_read_only_up_to_the_limit():
    class Stream(io.RawIOBase):
        served = 0

        def readable(self):
            return True

        def read(self, n=-1):
            n = 1024 if n is None or n < 0 else n
            self.served += n
            return b"a" * n

    stream = Stream()
    with pytest.raises(ValidationError, match="up to 1 MB"):
        contacts_csv.read_csv(stream, max_bytes=1024 * 1024)
    assert stream.served <= 1024 * 1024 + 1


# ---- mapping -------------------------------------------------------------------------------------


def test_headers_that_differ_only_by_spaces_stay_two_columns(db, ana):
    # "Phone" and "Phone " are two columns to pandas; trimmed, they were one name for two columns,
    # and the import failed with a traceback instead of reading the first.
    parsed = contacts_csv.read_csv(b"Name,Phone, Phone \nAna,415 867 0190,415 867 0191\n")
    assert parsed.columns == ["Name", "Phone", "Phone.1"]
    report = load(db, ana, b"Name,Phone, Phone \nAna,415 867 0190,415 867 0191\n")
    assert (report.created, report.rejected) == (1, 0)
    assert contact(db, "+14158670190")["name"] == "Ana"


def test_mapping_is_guessed_from_usual_headers():
    guess = contacts_csv_mapping.guess_mapping(
        ["First Name", "Last Name", "Mobile Number", "E-mail", "Tags", "Notes", "Time zone", "Company"]
    )
    assert guess == {
        "phone": "Mobile Number",
        "name": None,
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "E-mail",
        "tags": "Tags",
        "notes": "Notes",
        "timezone": "Time zone",
    }
    assert contacts_csv_mapping.guess_mapping(["Name", "Cell phone"])["phone"] == "Cell phone"
    assert contacts_csv_mapping.guess_mapping(["number", "name"]) == {
        **dict.fromkeys(contacts_csv_mapping.TARGETS),
        "phone": "number",
        "name": "name",
    }


def test_missing_phone_column_is_a_clear_error(db, ana):
    parsed = contacts_csv.read_csv(b"Name,Company\nAna,Acme\n")
    with pytest.raises(ValidationError, match="Choose the column that holds the phone numbers") as info:
        contacts_csv.import_contacts(db, ana, parsed, contacts_csv_mapping.guess_mapping(parsed.columns))
    assert "“Company”" in str(info.value)
    headerless = contacts_csv.read_csv(b"Ana,4158670105\nBob,4158670106\n")
    with pytest.raises(ValidationError, match="add a header line"):
        contacts_csv.import_contacts(db, ana, headerless, contacts_csv_mapping.guess_mapping(headerless.columns))


def test_caller_can_override_the_mapping(db, ana):
    parsed = contacts_csv.read_csv(b"Who,Where,Other\nAna,4158670107,4158670999\n")
    with pytest.raises(ValidationError, match="no column “Nope”"):
        contacts_csv.import_contacts(db, ana, parsed, {"phone": "Nope"})
    with pytest.raises(ValidationError, match="chosen for both"):
        contacts_csv.import_contacts(db, ana, parsed, {"phone": "Where", "name": "Where"})
    report = contacts_csv.import_contacts(db, ana, parsed, {"phone": "Other", "name": "Who"})
    assert report.created == 1 and contact(db, "+14158670999")["name"] == "Ana"


# ---- the per-row report --------------------------------------------------------------------------


def test_a_thousand_bad_numbers_among_good_ones(db, ana):
    lines = ["name,phone,email"]
    for i in range(2000):
        if i % 2:
            lines.append(f"Bad {i},12-{i},")
        else:
            lines.append(f"Good {i},(415) 86{i // 1000}-{i % 1000:04d},good{i}@example.com")
    report = load(db, ana, ("\n".join(lines) + "\n").encode())
    assert (report.created, report.updated, report.rejected) == (1000, 0, 1000)
    rejected = report.rows[report.rows["Result"] == "rejected"]
    assert rejected["Reason"].str.contains("is not a valid phone number").all()
    assert int(rejected["Row"].iloc[0]) == 3  # the header is row 1
    assert db.scalar("SELECT count(*) FROM contacts") == 1000
    assert db.scalar("SELECT count(*) FROM contacts WHERE phone_digits <> substr(phone, 2) OR search_name = ''") == 0


def test_duplicate_rows_keep_the_first(db, ana):
    data = (
        b"name,phone\nFirst,415 867 0110\nBad,nope\nSecond,+1 (415) 867-0110\n\nOther,4158670111\nThird,14158670110\n"
    )
    report = load(db, ana, data)
    rows = by_row(report)
    assert rows[2] == ("created", "")
    assert rows[3][0] == "rejected"
    assert rows[4] == ("rejected", "Same number as row 2, which is imported instead.")
    assert rows[6] == ("created", "")  # the blank line 5 is skipped, and counted
    assert rows[7][1].startswith("Same number as row 2")
    assert contact(db, "+14158670110")["name"] == "First"


def test_other_bad_cells_reject_their_row_with_the_reason(db, ana):
    data = (
        b"name,phone,email,timezone\nA,4158670120,not-an-email,\nB,4158670121,,Mars/Base\n"
        b"C,4158670122,c@example.com,america/chicago\n"
    )
    rows = by_row(load(db, ana, data))
    assert rows[2][0] == "rejected" and "not an email address" in rows[2][1]
    assert rows[3][0] == "rejected" and "not a time zone" in rows[3][1]
    assert rows[4] == ("created", "")
    assert contact(db, "+14158670122")["timezone"] == "America/Chicago"


def test_known_numbers_are_updated_with_non_empty_cells(db, ana):
    kept = add_contact(db, phone="+14158670130", name="Old Name", opted_out=True)
    db.write(
        lambda tx: tx.execute("UPDATE contacts SET email = 'keep@example.com', notes = 'keep' WHERE id = ?", [kept])
    )
    same = contact_actions.do_create_contact(db, ana, phone="+14158670131", name="Same Person")
    data = (
        b"First name,Last name,Phone,Email,Notes,Tags\nNew,N\xc3\xa1me,4158670130,,,vip\n"
        b"Same,Person,4158670131,,,\nBrand,New,4158670132,,,\n"
    )
    report = load(db, ana, data)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (1, 1, 1, 0)
    r = contact(db, "+14158670130")
    assert (r["name"], r["search_name"], r["email"], r["notes"], r["tags"]) == (
        "New Náme",
        "new name",
        "keep@example.com",
        "keep",
        "vip",
    )
    assert r["opted_out"] is True  # an import never opts anyone back in
    assert by_row(report)[3] == ("unchanged", "")
    assert set(report.rows["Contact id"].dropna()) == {kept, same, contact(db, "+14158670132")["id"]}
    assert db.scalar("SELECT count(*) FROM events WHERE name = 'contacts.imported'") == 1


def test_progress_goes_from_zero_to_one(db, ana):
    seen = []
    lines = "\n".join(f"P{i},415867{i:04d}" for i in range(300))
    load(db, ana, ("name,phone\n" + lines + "\n").encode(), progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_supervisors_cannot_import(db, make_user):
    sam = make_user("sam", "supervisor")
    with pytest.raises(PermissionDenied):
        load(db, sam, b"name,phone\nA,4158670140\n")


# ---- export --------------------------------------------------------------------------------------


def exported(db, user, **kw) -> pd.DataFrame:
    data = contacts_csv.export_contacts(db, user, **kw)
    assert data.startswith(b"\xef\xbb\xbf")
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.mark.parametrize("evil", ['=HYPERLINK("http://x")', "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", " =1+1"])
def test_export_neutralises_formulas(db, ana, evil):
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670150", name="Safe", notes=evil)
    db.write(lambda tx: tx.execute("UPDATE contacts SET name = ? WHERE id = ?", [evil, cid]))
    stored = contact(db, "+14158670150")["notes"]  # notes keep inner text, not leading blanks
    frame = exported(db, ana, archived="all")
    assert frame.loc[0, "name"] == "'" + evil
    risky = stored[0] in "=+-@\t\r" or stored.lstrip()[:1] in ("=", "+", "-", "@")
    assert frame.loc[0, "notes"] == ("'" + stored if risky else stored)
    assert frame.loc[0, "phone"] == "'+14158670150"  # numbers start with '+': exported as text


def test_export_then_import_changes_nothing(db, ana):
    contact_actions.do_create_contact(
        db,
        ana,
        phone="+14158670160",
        name="Round Trip",
        email="rt@example.com",
        tags="vip, kids",
        notes="-careful",
        timezone="Europe/Paris",
    )
    before = contact(db, "+14158670160")
    report = load(db, ana, contacts_csv.export_contacts(db, ana))
    assert (report.unchanged, report.rejected) == (1, 0)
    after = contact(db, "+14158670160")
    assert {k: after[k] for k in contacts.FIELDS} == {k: before[k] for k in contacts.FIELDS}


def test_export_then_import_keeps_a_quote_people_typed(db, ana):
    # Stored text that already starts with a quote before formula-like text: the export's quote is
    # added on top, and the import takes only that one off again.
    contact_actions.do_create_contact(
        db, ana, phone="+14158670165", name="'=Quoted Name", notes="'+1 for her idea", tags="''-x"
    )
    before = contact(db, "+14158670165")
    frame = exported(db, ana)
    assert (frame.loc[0, "name"], frame.loc[0, "notes"], frame.loc[0, "tags"]) == (
        "''=Quoted Name",
        "''+1 for her idea",
        "'''-x",
    )
    report = load(db, ana, contacts_csv.export_contacts(db, ana))
    assert (report.unchanged, report.rejected) == (1, 0)
    after = contact(db, "+14158670165")
    assert (after["name"], after["notes"], after["tags"]) == ("'=Quoted Name", "'+1 for her idea", "''-x")
    assert {k: after[k] for k in contacts.FIELDS} == {k: before[k] for k in contacts.FIELDS}


def test_export_follows_the_filter(db, ana):
    a = contact_actions.do_create_contact(db, ana, phone="+14158670170", name="Alice Active")
    b = contact_actions.do_create_contact(db, ana, phone="+14158670171", name="Alice Archived")
    contact_actions.do_create_contact(db, ana, phone="+14158670172", name="Bob")
    contact_actions.do_archive_contact(db, ana, b)
    assert list(exported(db, ana, search="alice")["name"]) == ["Alice Active"]
    assert list(exported(db, ana, search="alice", archived="all")["name"]) == ["Alice Active", "Alice Archived"]
    assert list(exported(db, ana, search="867-0172")["name"]) == ["Bob"]
    assert a


def test_report_download_is_neutralised_too(db, ana):
    report = load(db, ana, b"name,phone\n=cmd(),+1 415 867 0180\n")
    text = report.to_csv().decode("utf-8-sig")
    assert "'=cmd()" in text and "'+1 415 867 0180" in text


def test_a_supervisor_cannot_export_the_address_book(db, make_user):
    sam = make_user("sam", role="supervisor")
    with pytest.raises(PermissionDenied) as refused:
        contacts_csv.export_contacts(db, sam, archived="all")
    assert str(refused.value) == (
        "Exporting contacts is for agents and admins: supervisors can look contacts up here, "
        "but the address book does not leave Parley with them."
    )
    assert contacts_csv.can_export(sam) is False
    assert contacts_csv.can_export(make_user("ana")) is True
    assert contacts_csv.can_export(make_user("root", role="admin")) is True


def test_an_extension_is_left_out_and_the_report_says_so(db, ana):
    data = b"name,phone\nOffice,(415) 867-0130 x12\nDesk,415-867-0131 ext. 7\nPlain,415 867 0132\n"
    rows = by_row(load(db, ana, data))
    assert rows == {
        2: ("created", "Imported without its extension x12: a text goes to the number itself."),
        3: ("created", "Imported without its extension x7: a text goes to the number itself."),
        4: ("created", ""),
    }
    assert contact(db, "+14158670130")["name"] == "Office"
