"""Money and time: the two value types every other model builds on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import pycountry
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 alphabetic code such as ``USD``."""


def _iso_4217(code: str) -> str:
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{code!r} is not an ISO 4217 currency")
    return code


IsoCurrencyCode = Annotated[CurrencyCode, AfterValidator(_iso_4217)]
"""A currency code checked against the ISO 4217 list, for input from outside: an unknown
code is refused where it arrives instead of failing later in the ERP."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC. Naive datetimes are refused."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Money(BaseModel):
    """An exact amount in one currency. Never a float."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: CurrencyCode

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
