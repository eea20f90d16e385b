"""SOQL over HTTP: filters, relationships, ordering, paging, counting and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from .helpers import DATA, SandboxApi, exact


@pytest.fixture
async def accounts(api: SandboxApi) -> list[str]:
    rows = [
        ("Acme Corp", "Enterprise", "Paris"),
        ("acme labs", "SMB", None),
        ("Globex", "Mid-Market", "Berlin"),
        ("Initech", None, "Austin"),
        ("O'Reilly", "SMB", "Dublin"),
    ]
    return [
        await api.create("Account", Name=name, Segment__c=segment, BillingCity=city)
        for name, segment, city in rows
    ]


async def names(api: SandboxApi, soql: str) -> list[str]:
    return [r["Name"] for r in await api.records(soql)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'ACME CORP'", ["Acme Corp"]),  # text equality ignores case
        ("Name != 'Globex'", ["Acme Corp", "acme labs", "Initech", "O'Reilly"]),
        ("Name LIKE 'acme%'", ["Acme Corp", "acme labs"]),
        ("Name NOT LIKE '%C%'", ["Globex", "O'Reilly"]),
        ("Name = 'O\\'Reilly'", ["O'Reilly"]),
        ("Segment__c IN ('SMB', 'Enterprise')", ["Acme Corp", "acme labs", "O'Reilly"]),
        ("Segment__c NOT IN ('SMB')", ["Acme Corp", "Globex", "Initech"]),
        ("Segment__c = null", ["Initech"]),
        ("BillingCity != null AND Segment__c = 'SMB'", ["O'Reilly"]),
        (
            "(Segment__c = 'SMB' OR Segment__c = null) AND BillingCity != null",
            ["Initech", "O'Reilly"],
        ),
        ("NOT Name LIKE 'a%'", ["Globex", "Initech", "O'Reilly"]),
        ("Name > 'h' AND Name < 'o'", ["Initech"]),
        ("CreatedDate = TODAY", ["Acme Corp", "acme labs", "Globex", "Initech", "O'Reilly"]),
        (
            "CreatedDate = LAST_N_DAYS:3",
            ["Acme Corp", "acme labs", "Globex", "Initech", "O'Reilly"],
        ),
        ("CreatedDate < YESTERDAY", []),
        ("CreatedDate > TOMORROW", []),
    ],
)
async def test_where_filters(
    api: SandboxApi, accounts: list[str], where: str, expected: list[str]
) -> None:
    assert await names(api, f"SELECT Name FROM Account WHERE {where}") == expected


async def test_datetime_and_id_filters(api: SandboxApi, accounts: list[str]) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(await names(api, f"SELECT Name FROM Account WHERE CreatedDate > {past}")) == 5
    assert await names(api, f"SELECT Name FROM Account WHERE CreatedDate < {past}") == []
    fifteen = accounts[2][:15]
    assert await names(api, f"SELECT Name FROM Account WHERE Id = '{fifteen}'") == ["Globex"]
    both = f"'{accounts[0].lower()}', '{accounts[3]}'"
    assert await names(api, f"SELECT Name FROM Account WHERE Id IN ({both})") == [
        "Acme Corp",
        "Initech",
    ]


async def test_order_by_with_nulls_limit_offset(api: SandboxApi, accounts: list[str]) -> None:
    assert await names(api, "SELECT Name FROM Account ORDER BY Segment__c, Name DESC") == [
        "Initech",
        "Acme Corp",
        "Globex",
        "O'Reilly",
        "acme labs",
    ]
    assert await names(
        api, "SELECT Name FROM Account ORDER BY Segment__c DESC NULLS FIRST, Name LIMIT 3"
    ) == ["Initech", "acme labs", "O'Reilly"]
    assert await names(api, "SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1") == [
        "acme labs",
        "Globex",
    ]


async def test_count(api: SandboxApi, accounts: list[str]) -> None:
    count = exact(await api.query("SELECT COUNT() FROM Account WHERE Segment__c = 'SMB'"))
    assert count == {"totalSize": 2, "done": True, "records": []}
    aggregate = exact(await api.query("SELECT COUNT(BillingCity) FROM Account"))
    assert aggregate["records"] == [{"attributes": {"type": "AggregateResult"}, "expr0": 4}]


async def test_relationship_fields_in_select_where_and_order(api: SandboxApi) -> None:
    _, first = await api.deal(("SKU-1", "2", "10.50"), account_name="Zeta")
    _, second = await api.deal(("SKU-2", "1", "99.99"), account_name="Alpha")
    records = await api.records(
        "SELECT Id, Quantity, Product2.ProductCode, Product2.Name, Opportunity.Account.Name "
        "FROM OpportunityLineItem WHERE Opportunity.Account.Name LIKE '%a' "
        "ORDER BY Opportunity.Account.Name"
    )
    assert [
        (r["Product2"]["ProductCode"], r["Opportunity"]["Account"]["Name"]) for r in records
    ] == [("SKU-2", "Alpha"), ("SKU-1", "Zeta")]
    line = records[1]
    assert line["Quantity"] == Decimal("2.00")
    assert line["Product2"]["attributes"]["type"] == "Product2"
    assert line["Product2"]["Name"] == "Product SKU-1"
    assert line["Opportunity"]["attributes"]["url"] == f"{DATA}/sobjects/Opportunity/{first}"
    assert second != first

    orphan = await api.create(
        "Opportunity", Name="No account", StageName="Prospecting", CloseDate="2026-01-01"
    )
    rows = await api.records(f"SELECT Name, Account.Name FROM Opportunity WHERE Id = '{orphan}'")
    assert rows[0]["Account"] is None


async def test_paging_with_batch_size_and_query_locator(api: SandboxApi) -> None:
    for index in range(7):
        await api.create("Product2", Name=f"P{index}", ProductCode=f"C{index}")
    first = exact(
        await api.query(
            "SELECT ProductCode FROM Product2 ORDER BY ProductCode",
            **{"Sforce-Query-Options": "batchSize=3"},
        )
    )
    assert (first["totalSize"], first["done"], len(first["records"])) == (7, False, 3)
    assert first["nextRecordsUrl"].startswith(f"{DATA}/query/01g")
    assert first["nextRecordsUrl"].endswith("-3")
    codes = [r["ProductCode"] for r in first["records"]]
    page = first
    while not page["done"]:
        page = exact(await api.http.get(page["nextRecordsUrl"]))
        assert page["totalSize"] == 7
        codes += [r["ProductCode"] for r in page["records"]]
    assert codes == [f"C{i}" for i in range(7)]
    assert "nextRecordsUrl" not in page


async def test_default_page_is_the_whole_result_below_2000(api: SandboxApi) -> None:
    for index in range(3):
        await api.create("Account", Name=f"A{index}")
    result = exact(await api.query("SELECT Id FROM Account"))
    assert (result["done"], len(result["records"])) == (True, 3)
    assert "nextRecordsUrl" not in result


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Lead", "INVALID_TYPE"),
        ("SELECT Colour__c FROM Account", "INVALID_FIELD"),
        ("SELECT Owner.Name FROM Account", "INVALID_FIELD"),  # User is not modelled
        ("SELECT Nope.Name FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Amount = '5'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE IsWon = 1", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Name = 5", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Amount LIKE '5%'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE AccountId = 'nope'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id, id FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b' AND Name = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id FROM", "MALFORMED_QUERY"),
        ("", "MALFORMED_QUERY"),
    ],
)
async def test_query_errors(api: SandboxApi, soql: str, code: str) -> None:
    response = await api.query(soql)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


async def test_invalid_locator(api: SandboxApi) -> None:
    for locator in ("nope", "01gAAAAAAAAAAAAAAA-5"):
        response = await api.http.get(f"{DATA}/query/{locator}")
        assert response.status_code == 400
        assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
