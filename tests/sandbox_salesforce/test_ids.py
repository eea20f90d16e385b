from __future__ import annotations

import pytest

from sandbox.salesforce.ids import checksum_suffix, new_id, normalize_id


def test_checksum_matches_salesforce_documented_example() -> None:
    assert checksum_suffix("001D000000IRFma") == "IAH"


def test_new_ids_are_18_chars_with_prefix_and_valid_suffix() -> None:
    ids = {new_id("006") for _ in range(500)}
    assert len(ids) == 500
    for record_id in ids:
        assert len(record_id) == 18 and record_id.startswith("006")
        assert record_id[15:] == checksum_suffix(record_id[:15])


@pytest.mark.parametrize(
    "given",
    [
        "001D000000IRFma",
        "001D000000IRFmaIAH",
        "001d000000irfmaiah",
        "001D000000IRFMAIAH",
    ],
)
def test_normalize_accepts_15_char_and_any_case_18_char(given: str) -> None:
    assert normalize_id(given) == "001D000000IRFmaIAH"


@pytest.mark.parametrize(
    "given", ["", "001", "001D000000IRFma!", "001D000000IRFmaI9H", "0010000000000000Z9"]
)
def test_normalize_rejects_malformed(given: str) -> None:
    assert normalize_id(given) is None
