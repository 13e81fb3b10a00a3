"""Contact lists: CSV or XLSX in, validated contacts out (no I/O but the bytes given).

Columns are matched by name, in any order and case: ``name``, ``phone`` (also
``number``, ``mobile``, ``phone number``; required), ``timezone``/``time zone``,
``region``/``country`` (ISO 3166 alpha-2, used to read national numbers), ``language``
(ISO 639-1). Every other column is a custom field the script may use (``loan_id``,
``amount``, ``due_date``…; names lower-cased, spaces as ``_``). Numbers are parsed and
normalised to E.164 by ``phonenumbers`` (the row's region, else the campaign's). A
number twice in a file is one contact (the later row's fields win; counted as merged).
Any error — a row, a column and the reason — and nothing is imported.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

MAX_ROWS = 100_000
PHONE = ("phone", "number", "mobile", "phone_number", "telephone", "msisdn")
NAME = ("name", "full_name", "contact", "customer")
TIMEZONE = ("timezone", "time_zone", "tz")
REGION = ("region", "country")
LANGUAGE = ("language", "lang")


class TableError(ValueError):
    """The file cannot be read as a table (not CSV/XLSX, no header, no phone column…)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # as a spreadsheet shows it: the header is row 1
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass(slots=True)
class ParsedContact:
    phone: str
    name: str | None = None
    timezone: str | None = None
    region: str | None = None
    language: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Parsed:
    contacts: list[ParsedContact]
    errors: list[RowError]
    rows: int
    merged: int

    @property
    def ok(self) -> bool:
        return not self.errors


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def read_table(data: bytes, filename: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV (UTF-8, any common delimiter) or the first XLSX sheet."""
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:
            raise TableError(f"not a readable XLSX workbook: {exc}") from exc
        sheet = book.worksheets[0]
        table = [
            ["" if v is None else str(v).strip() for v in row]
            for row in sheet.iter_rows(values_only=True)
        ]
        book.close()
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TableError("a CSV file must be UTF-8") from exc
        try:
            dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        table = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), dialect)]
    table = [row for row in table if any(row)]
    if not table:
        raise TableError("the file has no rows")
    if len(table) - 1 > MAX_ROWS:
        raise TableError(f"at most {MAX_ROWS} contacts per file")
    return table[0], table[1:]


def parse_contacts(header: list[str], rows: list[list[str]], default_region: str = "US") -> Parsed:
    keys = [_key(h) for h in header]

    def find(names: tuple[str, ...]) -> int | None:
        return next((i for i, k in enumerate(keys) if k in names), None)

    phone_col = find(PHONE)
    if phone_col is None:
        raise TableError(f"no phone column (one of: {', '.join(PHONE)})")
    special = {
        "name": find(NAME),
        "timezone": find(TIMEZONE),
        "region": find(REGION),
        "language": find(LANGUAGE),
    }
    used = {phone_col, *(i for i in special.values() if i is not None)}
    by_phone: dict[str, ParsedContact] = {}
    errors: list[RowError] = []
    merged = 0
    for n, raw in enumerate(rows, start=2):
        row = raw + [""] * (len(keys) - len(raw))

        def cell(i: int | None, row: list[str] = row) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        region = cell(special["region"]).upper() or default_region.upper()
        number = cell(phone_col)
        if not number:
            errors.append(RowError(n, header[phone_col], "no number"))
            continue
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException as exc:
            errors.append(RowError(n, header[phone_col], f"not a phone number: {exc}"))
            continue
        if not phonenumbers.is_valid_number(parsed):
            errors.append(
                RowError(n, header[phone_col], f"{number!r} is not a valid number for {region}")
            )
            continue
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        tz = cell(special["timezone"]) or None
        if tz is not None:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errors.append(
                    RowError(n, header[special["timezone"] or 0], f"unknown time zone {tz!r}")
                )
                continue
        language = cell(special["language"]).lower() or None
        if language is not None and not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})?", language):
            errors.append(
                RowError(n, header[special["language"] or 0], f"not a language code: {language!r}")
            )
            continue
        fields = {keys[i]: row[i].strip() for i in range(len(keys)) if i not in used and keys[i]}
        contact = ParsedContact(
            phone=e164,
            name=cell(special["name"]) or None,
            timezone=tz,
            region=region,
            language=language,
            fields={k: v for k, v in fields.items() if v},
        )
        if e164 in by_phone:
            merged += 1
            earlier = by_phone[e164]
            contact.fields = {**earlier.fields, **contact.fields}
            contact.name = contact.name or earlier.name
        by_phone[e164] = contact
    return Parsed(list(by_phone.values()), errors, len(rows), merged)


def normalise(number: str, region: str = "US") -> str:
    """One number in E.164, or ValueError (DNC entries, "call now")."""
    try:
        parsed = phonenumbers.parse(number, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid number for {region}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def number_timezone(e164: str) -> str | None:
    """The number's time zone when its prefix has exactly one (phonenumbers' data)."""
    from phonenumbers import timezone as tzdata

    zones = tzdata.time_zones_for_number(phonenumbers.parse(e164, None))
    return str(zones[0]) if len(zones) == 1 and zones[0] != "Etc/Unknown" else None
