"""Templates filled for speech, per language."""

from __future__ import annotations

from callcontrol.flows.render import pick, render

VALUES = {"name": "Dana", "amount": "125.50", "due": "2026-12-10", "at": "14:30", "code": "4017"}


def test_money_dates_times_and_digits_are_said_in_words_of_the_language() -> None:
    text = "{name}: {amount:money} on {due:date} at {at:time}, code {code:digits}."
    assert render(text, VALUES, "en") == (
        "Dana: one hundred and twenty-five dollars, fifty cents on December 10, 2026 at "
        "2:30 PM, code 4 0 1 7."
    )
    assert render(text, VALUES, "es") == (
        "Dana: ciento veinticinco euros con cincuenta céntimos on 10 de diciembre de 2026 "
        "at 14:30, code 4 0 1 7."
    )
    assert render("{amount:money} {due:date}", {"amount": "125000", "due": "2026-12-10"}, "ko") == (
        "십이만 오천 원 2026년 12월 10일"
    )
    assert render("{amount:money}", {"amount": "99", "currency": "GBP"}, "en") == (
        "ninety-nine pounds sterling"
    )


def test_a_missing_or_odd_value_is_said_as_it_is_or_not_at_all() -> None:
    assert render("Hello {name}, {missing}!", {"name": "Dana"}, "en") == "Hello Dana, !"
    assert (
        render("{due:date} {amount:money}", {"due": "soon", "amount": "lots"}, "en") == "soon lots"
    )


def test_a_text_in_the_callers_language_else_the_flows() -> None:
    text = {"en": "Hello", "es": "Hola"}
    assert pick(text, "es-MX", "en") == "Hola"
    assert pick(text, "ko", "en") == "Hello"
    assert pick("Hi", "es", "en") == "Hi"
