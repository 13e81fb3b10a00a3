"""A flow's templates filled for speech, per language: ``{amount:money}`` → "one hundred
and twenty-five dollars, fifty cents", ``{due_date:date}`` → "December 10, 2026" /
"2026년 12월 10일", ``{code:digits}`` → "4 0 1 7". Numbers in words come from num2words
where it knows the language, dates and times from Babel's CLDR data; anything else is
said as written. A field the contact does not have is said as nothing (and logged)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from callcontrol.flows.model import Text

log = structlog.get_logger(__name__)

# The currency a bare amount is in, by language (a ``currency`` field overrides it).
CURRENCY = {"en": "USD", "es": "EUR", "ko": "KRW", "hi": "INR", "ta": "INR", "te": "INR",
            "ml": "INR", "gu": "INR", "mr": "INR", "bn": "INR", "kn": "INR", "pa": "INR",
            "or": "INR"}  # fmt: skip


def base(language: str) -> str:
    return language.split("-")[0].split("_")[0].lower()


def pick(text: Text, language: str, default: str) -> str:
    """The template in ``language``, else in the flow's own language."""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get(base(language)) or text.get(default) or ""


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).replace(",", "").strip().lstrip("$€£₩₹"))
    except (InvalidOperation, ValueError):
        return None


def money(value: Any, language: str, currency: str | None = None) -> str:
    from babel.numbers import format_currency
    from num2words import num2words

    amount = _decimal(value)
    if amount is None:
        return str(value)
    lang = base(language)
    code = currency or CURRENCY.get(lang, "USD")
    if code == "KRW" or amount == amount.to_integral_value():
        amount = amount.quantize(Decimal(1))
    try:
        if lang == "ko":  # num2words has no won with decimals; the won has no minor unit
            return f"{num2words(int(amount), lang='ko')} 원"
        if amount == amount.to_integral_value():
            # num2words says "ninety-nine dollars, zero cents": the whole amount alone.
            from num2words import CONVERTER_CLASSES

            forms = CONVERTER_CLASSES[lang].CURRENCY_FORMS[code][0]
            unit = forms[0] if amount == 1 else forms[-1]
            return f"{num2words(int(amount), lang=lang)} {unit}"
        return str(num2words(amount, lang=lang, to="currency", currency=code))
    except (NotImplementedError, ValueError, KeyError, TypeError):
        try:
            return str(format_currency(amount, code, locale=lang))
        except Exception:  # noqa: BLE001 - an unknown locale: the number as written
            return f"{amount} {code}"


def number(value: Any, language: str) -> str:
    from num2words import num2words

    amount = _decimal(value)
    if amount is None:
        return str(value)
    try:
        return str(num2words(amount if amount % 1 else int(amount), lang=base(language)))
    except (NotImplementedError, ValueError, KeyError, TypeError):
        return str(amount)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def spoken_date(value: Any, language: str) -> str:
    from babel.dates import format_date

    day = _as_date(value)
    if day is None:
        return str(value)
    try:
        return str(format_date(day, format="long", locale=base(language)))
    except Exception:  # noqa: BLE001 - an unknown locale: English
        return str(format_date(day, format="long", locale="en"))


def spoken_time(value: Any, language: str) -> str:
    from babel.dates import format_time

    try:
        at = value if isinstance(value, time) else time.fromisoformat(str(value).strip())
    except ValueError:
        return str(value)
    try:
        return str(format_time(at, format="short", locale=base(language)))
    except Exception:  # noqa: BLE001
        return str(format_time(at, format="short", locale="en"))


def digits(value: Any) -> str:
    return " ".join(ch for ch in str(value) if ch.isalnum())


class _Speech(string.Formatter):
    def __init__(self, language: str, values: Mapping[str, Any]) -> None:
        self.language = language
        self.values = values
        self.missing: list[str] = []

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        value = self.values.get(str(key))
        if value is None or value == "":
            self.missing.append(str(key))
            return ""
        return value

    def format_field(self, value: Any, format_spec: str) -> str:
        if value == "":
            return ""
        if format_spec == "money":
            return money(value, self.language, self.values.get("currency"))
        if format_spec == "date":
            return spoken_date(value, self.language)
        if format_spec == "time":
            return spoken_time(value, self.language)
        if format_spec == "number":
            return number(value, self.language)
        if format_spec == "digits":
            return digits(value)
        return str(value)


def render(template: str, values: Mapping[str, Any], language: str) -> str:
    """``template`` with its fields filled for speech in ``language``."""
    speech = _Speech(language, values)
    text = speech.format(template)
    if speech.missing:
        log.warning("a flow template names fields this call does not have", fields=speech.missing)
    return " ".join(text.split())
