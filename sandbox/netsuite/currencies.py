"""The sandbox account's currencies: internal id, ISO code (NetSuite's ``symbol``, the
"ISO Code" field of a currency record) and name.

Records store a currency by its code; the REST API answers a reference (``{"id",
"refName"}``), and SuiteQL answers the internal id, as a real account does, so a
connector that reads SuiteQL must look the code up (``SELECT id, symbol FROM currency``).
"""

from __future__ import annotations

BASE_CURRENCY = "USD"

CURRENCIES: dict[str, str] = {
    "1": "USD",
    "2": "GBP",
    "3": "CAD",
    "4": "EUR",
    "5": "JPY",
    "6": "AUD",
    "7": "CHF",
}
"""Internal id → ISO code."""
CURRENCY_IDS: dict[str, str] = {code: id_ for id_, code in CURRENCIES.items()}
CURRENCY_NAMES: dict[str, str] = {
    "USD": "US Dollar",
    "GBP": "British Pound",
    "CAD": "Canadian Dollar",
    "EUR": "Euro",
    "JPY": "Japanese Yen",
    "AUD": "Australian Dollar",
    "CHF": "Swiss Franc",
}


def currency_view_sql() -> str:
    """SuiteQL's ``currency`` table as an SQLite view of the constants above (our own
    values, so building the text is safe)."""
    rows = " UNION ALL ".join(
        f"SELECT {int(id_)} AS id, '{CURRENCY_NAMES[code]}' AS name, '{code}' AS symbol, "
        f"'{'T' if code == BASE_CURRENCY else 'F'}' AS isbasecurrency, 'F' AS isinactive"
        for id_, code in CURRENCIES.items()
    )
    return f"DROP VIEW IF EXISTS currency;\nCREATE VIEW currency AS {rows};\n"
