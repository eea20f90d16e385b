"""Salesforce record ids: 15-char case-sensitive ids and their 18-char checksummed form.

The 18-char form appends three characters that encode which of the first fifteen are
upper case, so an id survives case-insensitive systems (spreadsheets, SQL collations).
The sandbox issues 18-char ids and accepts both forms, exactly as Salesforce does.
"""

from __future__ import annotations

import secrets
import string

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ALNUM = frozenset(_BASE62)

# Characters 4-5 of a real id name the pod; a constant keeps ids looking familiar.
_POD = "5g00"


def checksum_suffix(id15: str) -> str:
    """The three characters Salesforce appends to turn a 15-char id into 18."""
    suffix = []
    for chunk_start in range(0, 15, 5):
        flags = 0
        for position, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << position
        suffix.append(_SUFFIX_ALPHABET[flags])
    return "".join(suffix)


def new_id(key_prefix: str) -> str:
    """A fresh 18-char id. Random rather than sequential: uniqueness without a counter row."""
    body = "".join(secrets.choice(_BASE62) for _ in range(15 - len(key_prefix) - len(_POD)))
    id15 = key_prefix + _POD + body
    return id15 + checksum_suffix(id15)


def normalize_id(value: str) -> str | None:
    """The canonical 18-char id for a 15- or 18-char id (any case for 18), or None.

    An 18-char id typed in the wrong case is repaired from its suffix, which records
    the case of every letter; an inconsistent suffix means the id is malformed.
    """
    if len(value) not in (15, 18) or not set(value) <= _ALNUM:
        return None
    if len(value) == 15:
        return value + checksum_suffix(value)
    suffix = value[15:].upper()
    if any(char not in _SUFFIX_ALPHABET for char in suffix):
        return None
    chars = []
    for index, char in enumerate(value[:15]):
        upper = bool(_SUFFIX_ALPHABET.index(suffix[index // 5]) & (1 << (index % 5)))
        if upper and not char.isalpha():
            return None
        chars.append(char.upper() if upper else char.lower())
    id15 = "".join(chars)
    return id15 + suffix


def locator() -> str:
    """A query cursor id (Salesforce's start with the 01g prefix)."""
    return new_id("01g")
