"""``SalesforceClient``: the ``CrmClient`` over Salesforce's REST API, async with httpx.

Authentication is OAuth2, client credentials or the JWT bearer grant (``auth.py``): the
token is fetched on first use, cached, and fetched again once when Salesforce answers
401 (an expired session); a second 401 is an ``AuthError``. Neither a secret, a key,
an assertion nor a token ever appears in an error message or a log line.

Every write (POST, PATCH, DELETE) says who made it with ``Sforce-Call-Options:
client=<client_name>``: Salesforce stamps that into Change Data Capture's
``changeOrigin``, which is how Syncline recognises its own writes coming back as change
events and does not sync them a second time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import NotFoundError, RejectedError, TransientError
from connectors.http import build_http_client
from connectors.salesforce.auth import ClientCredentials, TokenGrant
from connectors.salesforce.errors import SYSTEM, map_error
from connectors.salesforce.listing_rows import opportunity_row
from connectors.salesforce.mapping import (
    ACCOUNT_FIELDS,
    BILLING_MIRROR_FIELDS,
    ERP_CUSTOMER_FIELD,
    LINE_FIELDS,
    OPPORTUNITY_FIELDS,
    PRODUCT_KEY_FIELD,
    RENEWAL_KEY_FIELD,
    TAX_ID_FIELD,
    account_mirror_fields,
    billing_status_fields,
    order_status_fields,
    product_fields,
    renewal_fields,
    to_account,
    to_billing_mirror,
    to_opportunity,
)
from connectors.salesforce.pubsub import PubSubSession
from connectors.salesforce.wire import (
    dumps,
    id_after,
    loads,
    soql_quote,
    to_decimal,
)
from models.crm import (
    Account,
    AccountLegalMirror,
    Opportunity,
    OpportunityBillingMirror,
    OpportunityBillingUpdate,
    OpportunityOrderUpdate,
    ProductMirror,
    RenewalOpportunity,
)
from models.order_rows import CrmRow
from models.types import Money

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# A client name goes into a header option list, so no separators, spaces or quotes.
_CLIENT_NAME_RE = re.compile(r"^[A-Za-z0-9_./-]{1,64}$")
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
CALL_OPTIONS_HEADER = "Sforce-Call-Options"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DUPLICATE_VALUE = "DUPLICATE_VALUE"
# Values per SOQL IN list: the query stays far below the URI and SOQL length limits.
IN_CHUNK = 200


def _name(value: str) -> str:
    """An sObject or field API name, checked so it cannot alter the URL path."""
    if not _NAME_RE.match(value):
        raise ValueError(f"not a Salesforce API name: {value!r}")
    return value


def _segment(value: str) -> str:
    return quote(value, safe="")


class SalesforceClient:
    """``base_url`` is where tokens come from (the login or My Domain URL); data calls go
    to the instance URL the token names. ``grant`` chooses how tokens are obtained;
    without one, client credentials with ``client_id`` and ``client_secret``."""

    def __init__(
        self,
        base_url: str,
        client_id: str = "",
        client_secret: str = "",
        api_version: str = "v59.0",
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        default_currency: str = "USD",
        client_name: str = "syncline",
        grant: TokenGrant | None = None,
    ) -> None:
        if not _CLIENT_NAME_RE.match(client_name):
            raise ValueError(f"not a usable Sforce-Call-Options client name: {client_name!r}")
        self._http = build_http_client(base_url, system=SYSTEM, transport=transport)
        self._grant = grant if grant is not None else ClientCredentials(client_id, client_secret)
        self._version = api_version if api_version.startswith("v") else f"v{api_version}"
        self._default_currency = default_currency
        self._token: str | None = None
        self._instance_url: str | None = None
        self._org_id: str | None = None
        self._token_lock = asyncio.Lock()
        self._write_headers = {CALL_OPTIONS_HEADER: f"client={client_name}"}
        # The org's standard price book never changes: looked up once, on first need.
        self._standard_pricebook_id: str | None = None

    def __repr__(self) -> str:
        return f"SalesforceClient(base_url={str(self._http.base_url)!r})"

    # --- authentication -----------------------------------------------------------------

    async def _fetch_token(self) -> None:
        try:
            response = await self._http.post("/services/oauth2/token", data=self._grant.form())
        except httpx.TransportError as exc:
            raise map_error(exc) from exc
        if response.status_code != 200:
            raise map_error(response, token_request=True)
        try:
            body = loads(response.content)
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise TransientError(
                "token response without an access token",
                system=SYSTEM,
                status_code=response.status_code,
            ) from None
        self._token = token
        self._instance_url = str(body.get("instance_url") or "").rstrip("/") or None
        # The identity URL names the org: https://…/id/<org id>/<user id>.
        identity = str(body.get("id") or "").rstrip("/").split("/")
        self._org_id = identity[-2] if len(identity) >= 2 and identity[-3:-2] == ["id"] else None
        logger.debug("salesforce: obtained an access token")

    async def _current_token(self, stale: str | None = None) -> str:
        """The cached token, fetching one if there is none or if ``stale`` was refused."""
        async with self._token_lock:
            # Concurrent callers that saw the same refused token refresh it only once.
            if self._token is None or self._token == stale:
                await self._fetch_token()
            assert self._token is not None
            return self._token

    async def pubsub_session(self, *, refresh: bool = False) -> PubSubSession:
        """This session as the Pub/Sub API takes it (``refresh`` after a refusal)."""
        token = await self._current_token(stale=self._token if refresh else None)
        if self._instance_url is None or self._org_id is None:
            raise TransientError(
                "the token response named no instance URL or org id", system=SYSTEM
            )
        return PubSubSession(token, self._instance_url, self._org_id)

    # --- requests -----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """Data calls go to the instance URL the token response named, like Salesforce."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self._instance_url}{path}" if self._instance_url else path

    def _data_path(self, suffix: str) -> str:
        return f"/services/data/{self._version}/{suffix}"

    async def _send_once(
        self,
        method: str,
        path: str,
        token: str,
        *,
        body: bytes | None,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        all_headers = {**_JSON_HEADERS, **(headers or {}), "Authorization": f"Bearer {token}"}
        try:
            response = await self._http.request(
                method, self._url(path), content=body, params=params, headers=all_headers
            )
        except httpx.TransportError as exc:
            raise map_error(exc) from exc
        logger.debug("salesforce: %s %s -> %s", method, path.split("?")[0], response.status_code)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        body = None if json_body is None else dumps(json_body)
        if method.upper() in _WRITE_METHODS:
            headers = {**self._write_headers, **(headers or {})}
        token = await self._current_token()
        response = await self._send_once(
            method, path, token, body=body, params=params, headers=headers
        )
        if response.status_code == 401:
            token = await self._current_token(stale=token)
            response = await self._send_once(
                method, path, token, body=body, params=params, headers=headers
            )
        if response.status_code >= 300:
            raise map_error(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._send(method, path, **kwargs)
        try:
            return loads(response.content)
        except ValueError:
            raise TransientError(
                "Salesforce answered with malformed JSON",
                system=SYSTEM,
                status_code=response.status_code,
            ) from None

    # --- CrmClient ----------------------------------------------------------------------

    async def get_opportunity(self, opportunity_id: str) -> Opportunity:
        opportunity, _ = await self._read_deal(opportunity_id, with_account=False)
        return opportunity

    async def get_opportunity_and_account(
        self, opportunity_id: str
    ) -> tuple[Opportunity, Account | None]:
        return await self._read_deal(opportunity_id, with_account=True)

    async def _read_deal(
        self, opportunity_id: str, *, with_account: bool
    ) -> tuple[Opportunity, Account | None]:
        """The opportunity, its line items and (``with_account``) its account in one
        Composite call: one round trip instead of three, and one call against the org's
        daily API limit ("the entire series of requests counts as a single call").
        The later subrequests name the opportunity's own ``Id`` and ``AccountId``, so
        they read what the first one read."""
        lines_soql = (
            f"SELECT {', '.join(LINE_FIELDS)} FROM OpportunityLineItem "
            f"WHERE OpportunityId = '{_OPPORTUNITY_ID}' ORDER BY CreatedDate, Id"
        )
        subrequests = [
            _composite_get(
                self._data_path(f"sobjects/Opportunity/{_segment(opportunity_id)}"), "opportunity"
            ),
            # Encoded, but for the reference, which the org resolves in the raw URL.
            _composite_get(self._data_path("query?q=" + quote(lines_soql, safe="@{}.")), "lines"),
        ]
        if with_account:
            subrequests.append(
                _composite_get(self._data_path(f"sobjects/Account/{_ITS_ACCOUNT_ID}"), "account")
            )
        body = await self._json(
            "POST",
            self._data_path("composite"),
            json_body={"allOrNone": False, "compositeRequest": subrequests},
        )
        answers = {answer.get("referenceId"): answer for answer in body["compositeResponse"]}
        record = _subrequest_body(answers["opportunity"])
        # The later subrequests name its Id: an answer without one (not this API's
        # shape) fails here, as the mapping would, not as their halted references.
        record["Id"]
        page = _subrequest_body(answers["lines"])
        lines = list(page.get("records", []))
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = await self._json("GET", str(page["nextRecordsUrl"]))
            lines.extend(page.get("records", []))
        account = None
        if with_account and record.get("AccountId"):
            try:
                account = to_account(_subrequest_body(answers["account"]))
            except NotFoundError:
                account = None  # named, but gone: the deal has no account to order for
        return to_opportunity(record, lines, self._default_currency), account

    async def get_account(self, account_id: str) -> Account:
        return to_account(await self.get("Account", account_id))

    async def write_order_status(self, opportunity_id: str, update: OpportunityOrderUpdate) -> None:
        # A PATCH of the same values is a no-op in effect, so retries are safe.
        await self.update("Opportunity", opportunity_id, order_status_fields(update))

    async def write_billing_status(
        self, opportunity_id: str, update: OpportunityBillingUpdate
    ) -> None:
        await self.update("Opportunity", opportunity_id, billing_status_fields(update))

    async def billing_mirrors(
        self, opportunity_ids: Sequence[str]
    ) -> dict[str, OpportunityBillingMirror]:
        wanted = list(dict.fromkeys(i for i in opportunity_ids if i))
        mirrors: dict[str, OpportunityBillingMirror] = {}
        for start in range(0, len(wanted), IN_CHUNK):
            listed = ", ".join(soql_quote(i) for i in wanted[start : start + IN_CHUNK])
            records = await self.query(
                f"SELECT {', '.join(BILLING_MIRROR_FIELDS)} FROM Opportunity WHERE Id IN ({listed})"
            )
            for record in records:
                mirror = to_billing_mirror(record)
                mirrors[mirror.opportunity_id] = mirror
        return mirrors

    async def find_accounts(
        self, *, erp_customer_id: str | None = None, tax_id: str | None = None
    ) -> list[Account]:
        given = ((ERP_CUSTOMER_FIELD, erp_customer_id), (TAX_ID_FIELD, tax_id))
        criteria = [f"{field} = {soql_quote(value)}" for field, value in given if value is not None]
        if not criteria:
            return []  # no criterion would otherwise mean every account
        records = await self.query(
            f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM Account "
            f"WHERE {' OR '.join(criteria)} ORDER BY CreatedDate, Id"
        )
        return [to_account(record) for record in records]

    async def accounts_mirroring(self, erp_customer_ids: Sequence[str]) -> list[Account]:
        """Accounts mirroring any of these ERP customers, by Id. Salesforce compares text
        case-insensitively, so an id differing only in case matches too: callers match
        the returned ``erp_customer_id`` themselves."""
        wanted = list(dict.fromkeys(i for i in erp_customer_ids if i))
        accounts: list[Account] = []
        for start in range(0, len(wanted), IN_CHUNK):
            listed = ", ".join(soql_quote(i) for i in wanted[start : start + IN_CHUNK])
            records = await self.query(
                f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM Account "
                f"WHERE {ERP_CUSTOMER_FIELD} IN ({listed}) ORDER BY Id"
            )
            accounts += [to_account(record) for record in records]
        # One order for the whole answer, not one per chunk.
        return sorted(accounts, key=lambda account: account.id)

    async def won_opportunities(
        self, after: str | None, limit: int, closed_since: date | None = None
    ) -> list[Opportunity]:
        """Up to ``limit`` closed-won opportunities with ``Id > after``, by Id, without
        their line items; fewer than ``limit`` only at the end (see ``_won_records``)."""
        records = await self._won_records(after, limit, closed_since)
        return [to_opportunity(record, [], self._default_currency) for record in records]

    async def won_opportunity_rows(
        self, after: str | None, limit: int, closed_since: date | None = None
    ) -> list[CrmRow]:
        """``won_opportunities`` as listing rows (``models.order_rows``)."""
        records = await self._won_records(after, limit, closed_since)
        return [opportunity_row(record, self._default_currency) for record in records]

    async def _won_records(
        self, after: str | None, limit: int, closed_since: date | None
    ) -> list[dict[str, Any]]:
        """Keyset, never OFFSET: the next page starts after the last Id returned. Salesforce
        orders and compares ``Id`` by its case-sensitive characters (digits, upper case,
        lower case), which is ordinal order, as Python sorts strings. ``after`` may be
        any string starting with 15 id characters (see ``id_after``).
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        criteria = ["IsWon = true", "IsClosed = true"]
        if after is not None:
            criteria.append(id_after(after))
        if closed_since is not None:
            criteria.append(f"CloseDate >= {closed_since.isoformat()}")
        return await self.query(
            f"SELECT {', '.join(OPPORTUNITY_FIELDS)} FROM Opportunity "
            f"WHERE {' AND '.join(criteria)} ORDER BY Id LIMIT {limit}"
        )

    async def write_account_mirror(self, account_id: str, mirror: AccountLegalMirror) -> None:
        # The same values written twice change nothing, so a retry is safe.
        await self.update("Account", account_id, account_mirror_fields(mirror))

    async def upsert_product_mirror(self, product: ProductMirror) -> None:
        product_id, created = await self.upsert(
            "Product2", PRODUCT_KEY_FIELD, product.erp_item_id, product_fields(product)
        )
        if product.price is None:
            return
        # A product created just now has no prices yet; one that existed may have one.
        entry = None if created else await self._standard_entry(product_id, product.price)
        if entry is None:
            entry = await self._create_standard_entry(product_id, product)
        if entry is not None:
            await self._update_entry(entry, product)

    async def create_renewal_opportunity(self, renewal: RenewalOpportunity) -> str:
        # Find first, then insert: an existing renewal (a retry, or one a rep has worked
        # on since) is returned untouched rather than overwritten by an upsert.
        existing = await self._find_id("Opportunity", RENEWAL_KEY_FIELD, renewal.key)
        if existing is not None:
            return existing
        try:
            return await self.create("Opportunity", renewal_fields(renewal))
        except RejectedError as exc:
            if exc.code != DUPLICATE_VALUE:
                raise
        # A concurrent attempt inserted it between the look-up and the insert.
        found = await self._find_id("Opportunity", RENEWAL_KEY_FIELD, renewal.key)
        if found is None:
            raise TransientError(
                "renewal reported as a duplicate but not found by its key", system=SYSTEM
            )
        return found

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- products and prices ------------------------------------------------------------

    async def _standard_pricebook(self) -> str:
        if self._standard_pricebook_id is None:
            found = await self.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1")
            if not found:
                raise RejectedError("the org has no standard price book", system=SYSTEM)
            self._standard_pricebook_id = str(found[0]["Id"])
        return self._standard_pricebook_id

    async def _standard_entry(self, product_id: str, price: Money) -> dict[str, Any] | None:
        """The product's standard price in ``price``'s currency, if it has one."""
        found = await self.query(
            "SELECT Id, UnitPrice, IsActive FROM PricebookEntry "
            f"WHERE Pricebook2Id = {soql_quote(await self._standard_pricebook())} "
            f"AND Product2Id = {soql_quote(product_id)} "
            f"AND CurrencyIsoCode = {soql_quote(price.currency)} LIMIT 1"
        )
        return found[0] if found else None

    async def _create_standard_entry(
        self, product_id: str, product: ProductMirror
    ) -> dict[str, Any] | None:
        """Insert the standard price; None once inserted, or the entry a concurrent
        attempt inserted first (Salesforce refuses a second one as DUPLICATE_VALUE)."""
        assert product.price is not None
        try:
            await self.create(
                "PricebookEntry",
                {
                    "Pricebook2Id": await self._standard_pricebook(),
                    "Product2Id": product_id,
                    "CurrencyIsoCode": product.price.currency,
                    "UnitPrice": product.price.amount,
                    "IsActive": product.is_active,
                },
            )
            return None
        except RejectedError as exc:
            if exc.code != DUPLICATE_VALUE:
                raise
        entry = await self._standard_entry(product_id, product.price)
        if entry is None:
            raise TransientError(
                "price reported as a duplicate but not found", system=SYSTEM
            ) from None
        return entry

    async def _update_entry(self, entry: dict[str, Any], product: ProductMirror) -> None:
        """Bring an existing standard price up to date; no write when it already is."""
        assert product.price is not None
        current = entry.get("UnitPrice")
        same_price = current is not None and to_decimal(current) == product.price.amount
        if same_price and bool(entry.get("IsActive")) == product.is_active:
            return
        await self.update(
            "PricebookEntry",
            str(entry["Id"]),
            {"UnitPrice": product.price.amount, "IsActive": product.is_active},
        )

    async def _find_id(self, sobject: str, external_field: str, value: str) -> str | None:
        """The id of the record with this external id, or None."""
        path = self._data_path(
            f"sobjects/{_name(sobject)}/{_name(external_field)}/{_segment(value)}"
        )
        try:
            record = await self._json("GET", path, params={"fields": "Id"})
        except NotFoundError:
            return None
        return str(record["Id"])

    # --- generic helpers ----------------------------------------------------------------

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> str:
        body = await self._json(
            "POST", self._data_path(f"sobjects/{_name(sobject)}/"), json_body=dict(fields)
        )
        return str(body["id"])

    async def create_many(
        self, sobject: str, records: Sequence[Mapping[str, Any]], *, all_or_none: bool = True
    ) -> list[str]:
        """Create records through sObject Collections, 200 a call; their ids in order.
        With ``all_or_none`` a refusal rolls back its call's whole batch and raises."""
        ids: list[str] = []
        for start in range(0, len(records), 200):
            batch = [
                {"attributes": {"type": _name(sobject)}, **record}
                for record in records[start : start + 200]
            ]
            answers = await self._json(
                "POST",
                self._data_path("composite/sobjects"),
                json_body={"allOrNone": all_or_none, "records": batch},
            )
            refused = [a for a in answers if not a.get("success")]
            if refused:
                raise RejectedError(
                    f"{len(refused)} of {len(batch)} {sobject} records refused: "
                    f"{refused[0].get('errors')}",
                    system=SYSTEM,
                )
            ids.extend(str(answer["id"]) for answer in answers)
        return ids

    async def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        await self._send(
            "PATCH",
            self._data_path(f"sobjects/{_name(sobject)}/{_segment(record_id)}"),
            json_body=dict(fields),
        )

    async def upsert(
        self, sobject: str, external_field: str, value: str, fields: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """Create or update by external id: ``(record id, created)``."""
        path = self._data_path(
            f"sobjects/{_name(sobject)}/{_name(external_field)}/{_segment(value)}"
        )
        response = await self._send("PATCH", path, json_body=dict(fields))
        if response.status_code == 204:  # how API versions before 46.0 answer an update
            record = await self._json("GET", path, params={"fields": "Id"})
            return str(record["Id"]), False
        body = loads(response.content)
        return str(body["id"]), bool(body.get("created", response.status_code == 201))

    async def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        record = await self._json(
            "GET", self._data_path(f"sobjects/{_name(sobject)}/{_segment(record_id)}")
        )
        if not isinstance(record, dict):
            raise TransientError("unexpected record shape", system=SYSTEM)
        return record

    async def describe_global(self) -> dict[str, Any]:
        """``describeGlobal``: every object the integration user can see, with its
        ``queryable``/``createable``/``updateable`` flags for that user."""
        body = await self._json("GET", self._data_path("sobjects"))
        if not isinstance(body, dict):
            raise TransientError("unexpected describeGlobal shape", system=SYSTEM)
        return body

    async def describe(self, sobject: str) -> dict[str, Any]:
        """One object's describe as the integration user sees it: a field it may not
        read is absent, one it may not edit has ``updateable`` false."""
        body = await self._json("GET", self._data_path(f"sobjects/{_name(sobject)}/describe"))
        if not isinstance(body, dict):
            raise TransientError("unexpected describe shape", system=SYSTEM)
        return body

    async def delete(self, sobject: str, record_id: str) -> None:
        await self._send(
            "DELETE", self._data_path(f"sobjects/{_name(sobject)}/{_segment(record_id)}")
        )

    async def query_pages(
        self, soql: str, batch_size: int | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of records, following ``nextRecordsUrl`` until ``done``."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else None
        page = await self._json(
            "GET", self._data_path("query"), params={"q": soql}, headers=headers
        )
        while True:
            yield list(page.get("records", []))
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = await self._json("GET", str(next_url), headers=headers)

    async def query(self, soql: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        async for page in self.query_pages(soql):
            records.extend(page)
        return records


# Composite references to the first subrequest's answer.
_OPPORTUNITY_ID = "@{opportunity.Id}"
_ITS_ACCOUNT_ID = "@{opportunity.AccountId}"


def _composite_get(url: str, reference_id: str) -> dict[str, str]:
    return {"method": "GET", "url": url, "referenceId": reference_id}


def _subrequest_body(answer: Mapping[str, Any]) -> Any:
    """A Composite subrequest's body, or its refusal as the error a call of its own
    would have raised (the same mapping, from its status and error body)."""
    status = int(answer.get("httpStatusCode", 500))
    if status >= 300:
        raise map_error(
            httpx.Response(
                status,
                content=dumps(answer.get("body")),
                headers=answer.get("httpHeaders") or {},
            )
        )
    return answer.get("body")
