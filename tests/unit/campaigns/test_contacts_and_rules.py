"""Contact lists in, and the campaign's decisions: windows, pacing, outcomes, retries."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from callcontrol.campaigns.contacts import TableError, normalise, parse_contacts, read_table
from callcontrol.campaigns.rules import Pacer, after_attempt, in_window, outcome_of, past_end


def parse(text: str, region: str = "US"):  # type: ignore[no-untyped-def]
    header, rows = read_table(text.encode(), "contacts.csv")
    return parse_contacts(header, rows, region)


def test_a_csv_becomes_e164_contacts_with_their_custom_fields() -> None:
    result = parse(
        "Name,Phone Number,Loan ID,Amount,Due Date,Language\n"
        "Ann Lee,(415) 555-0101,L-1,120.50,2026-12-10,en\n"
        "Raj,+44 20 7946 0958,L-2,80,2026-12-11,HI\n"
        "Ann Lee,415-555-0101,L-1b,,,\n"  # the same number: merged, later fields win
    )
    assert result.ok and result.rows == 3 and result.merged == 1
    ann, raj = result.contacts
    assert ann.phone == "+14155550101" and ann.name == "Ann Lee"
    assert ann.fields == {"loan_id": "L-1b", "amount": "120.50", "due_date": "2026-12-10"}
    assert raj.phone == "+442079460958" and raj.language == "hi"


def test_semicolons_and_an_xlsx_read_the_same() -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone", "name", "timezone"])
    sheet.append(["4155550102", "Bo", "America/Los_Angeles"])
    data = io.BytesIO()
    book.save(data)
    header, rows = read_table(data.getvalue(), "list.xlsx")
    xlsx = parse_contacts(header, rows)
    csv = parse("phone;name;timezone\n4155550102;Bo;America/Los_Angeles\n")
    assert [(c.phone, c.name, c.timezone) for c in xlsx.contacts] == [
        (c.phone, c.name, c.timezone) for c in csv.contacts
    ]


def test_every_bad_row_is_reported_with_its_row_and_column() -> None:
    result = parse(
        "name,phone,timezone,language\n"
        "ok,4155550103,,\n"
        "short,123,,\n"
        "letters,call me,,\n"
        "empty,,,\n"
        "tz,4155550104,Mars/Olympus,\n"
        "lang,4155550105,,english please\n"
    )
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [
        (3, "phone"),
        (4, "phone"),
        (5, "phone"),
        (6, "timezone"),
        (7, "language"),
    ]
    assert "not a valid number for US" in result.errors[0].reason


@pytest.mark.parametrize(
    ("data", "name", "why"),
    [
        (b"", "x.csv", "no rows"),
        (b"name,email\nAnn,a@b.c\n", "x.csv", "no phone column"),
        (b"\xff\xfe\x00bad", "x.csv", "UTF-8"),
        (b"PK\x03\x04not really", "x.xlsx", "XLSX"),
    ],
)
def test_unreadable_files_say_why(data: bytes, name: str, why: str) -> None:
    with pytest.raises(TableError, match=why):
        header, rows = read_table(data, name)
        parse_contacts(header, rows)


def test_numbers_for_the_do_not_call_list_are_normalised() -> None:
    assert normalise("(415) 555-0101") == "+14155550101"
    assert normalise("020 7946 0958", "gb") == "+442079460958"
    with pytest.raises(ValueError):
        normalise("12")


def test_calling_windows_are_in_the_contacts_time() -> None:
    windows = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "20:00"}
    monday_17_utc = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert in_window(monday_17_utc, "Europe/London", windows, [])  # 17:00 there
    assert not in_window(monday_17_utc, "Asia/Seoul", windows, [])  # 02:00 Tuesday
    monday_16_utc = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert not in_window(monday_16_utc, "America/Los_Angeles", windows, [])  # 08:00 there
    assert in_window(monday_17_utc, "America/Los_Angeles", windows, [])  # 09:00: opens
    assert not in_window(monday_17_utc, "Europe/London", windows, ["2026-11-30"])  # a holiday
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert not in_window(saturday, "UTC", windows, [])
    assert in_window(saturday, "UTC", {}, [])  # no window: any time
    assert past_end(datetime(2026, 12, 5).date(), "2026-12-04")
    assert not past_end(datetime(2026, 12, 4).date(), "2026-12-04")


def test_outcomes_and_retries() -> None:
    assert outcome_of("NORMAL_CLEARING", answered=True) == "completed"
    assert outcome_of("USER_BUSY", answered=False) == "busy"
    assert outcome_of("NO_ANSWER", answered=False) == "no_answer"
    assert outcome_of("USER_NOT_REGISTERED", answered=False) == "failed"
    retries = {"busy": {"count": 2, "after_s": 900}}
    assert after_attempt("busy", 1, retries) == ("retry_scheduled", 900.0)
    assert after_attempt("busy", 2, retries) == ("retry_scheduled", 900.0)
    assert after_attempt("busy", 3, retries) == ("exhausted", None)
    assert after_attempt("no_answer", 1, retries) == ("no_answer", None)  # no rule: final
    assert after_attempt("completed", 1, retries) == ("completed", None)


def test_the_pacer_allows_the_rate_and_no_more() -> None:
    pacer = Pacer(2.0, _at=0.0)
    allowed = [t / 100 for t in range(0, 500) if pacer.take(t / 100)]
    assert 2 * 5 - 1 <= len(allowed) <= 2 * 5 + 1  # 5 s at 2/s
    gaps = [b - a for a, b in zip(allowed, allowed[1:], strict=False)]
    assert min(gaps) >= 0.5 - 1e-9  # evenly spaced: never a burst
