"""Whether a fulfilment completed its order, over generated orders and shipments: the
order is complete at exactly the fulfilment that ships its last unit, whatever the
split, and never before."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.netsuite.fulfilment import complete_after


@st.composite
def shipped_in_parts(draw: st.DrawFn) -> tuple[dict[str, Decimal], list[dict[str, Decimal]]]:
    """An order (item -> quantity) and fulfilments that ship all of it, in any split."""
    ordered = draw(
        st.dictionaries(st.sampled_from("abcde"), st.integers(1, 9), min_size=1, max_size=4)
    )
    parts: list[dict[str, Decimal]] = []
    left = dict(ordered)
    while any(left.values()):
        part: dict[str, Decimal] = {}
        for item, quantity in left.items():
            if quantity:
                take = draw(st.integers(0, quantity))
                if take:
                    part[item] = Decimal(take)
        if not part:  # ship at least one unit, as NetSuite refuses an empty fulfillment
            item = next(i for i, q in left.items() if q)
            part[item] = Decimal(1)
        for item, quantity in part.items():
            left[item] -= int(quantity)
        parts.append(part)
    return {k: Decimal(v) for k, v in ordered.items()}, parts


@given(shipped_in_parts())
def test_complete_exactly_at_the_last_fulfilment(
    case: tuple[dict[str, Decimal], list[dict[str, Decimal]]],
) -> None:
    ordered, parts = case
    ids = [str(100 + n) for n in range(len(parts))]
    shipped = dict(zip(ids, parts, strict=True))
    verdicts = [complete_after(i, ordered, ids, shipped) for i in ids]
    assert verdicts == [False] * (len(ids) - 1) + [True]
