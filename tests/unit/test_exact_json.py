from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from models import exact_json


def test_money_round_trips_digit_for_digit() -> None:
    text = '{"total": 1234567890123.4567, "rate": 0.1, "qty": 3, "lines": [19.99, null, true]}'
    value = exact_json.loads(text)
    assert value["total"] == Decimal("1234567890123.4567") and value["rate"] == Decimal("0.1")
    assert exact_json.dumps(value) == text.replace(" ", "")


def test_no_exponents_and_no_non_finite_numbers() -> None:
    assert exact_json.dumps({"a": Decimal("1E+2")}) == '{"a":100}'
    with pytest.raises(ValueError):
        exact_json.dumps(Decimal("NaN"))
    with pytest.raises(ValueError):
        exact_json.loads('{"a": NaN}')


def test_other_types_need_a_default() -> None:
    with pytest.raises(TypeError):
        exact_json.dumps({"d": date(2026, 11, 23)})
    assert (
        exact_json.dumps({"d": date(2026, 11, 23)}, default=date.isoformat) == '{"d":"2026-11-23"}'
    )
