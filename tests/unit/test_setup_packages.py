"""The setup packages for a real org and account agree with the code that uses them.

``deploy/salesforce`` (Salesforce source format) and ``deploy/netsuite`` (an SDF project)
cannot be deployed here: that needs an org and an account. What can be checked is checked:
every file is well-formed, the fields the packages ship are exactly those the connectors
read and write, with the types the code needs (and the sandboxes enforce), the
permissions cover them, and the Apex that signs the webhook builds what Syncline's
ingress verifies. Each check returns the problems it finds, so a test can also run it on
a damaged copy and see it fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest

from connectors.netsuite import mapping as netsuite_mapping
from connectors.salesforce import SalesforceClient
from connectors.salesforce.mapping import (
    ACCOUNT_FIELDS,
    CUSTOM_FIELDS,
    LINE_FIELDS,
    OPPORTUNITY_FIELDS,
    PRODUCT_KEY_FIELD,
    RENEWAL_KEY_FIELD,
    account_mirror_fields,
    billing_status_fields,
    order_status_fields,
    product_fields,
    renewal_fields,
)
from models.crm import (
    AccountLegalMirror,
    Address,
    OpportunityBillingUpdate,
    OpportunityOrderUpdate,
    ProductMirror,
    RenewalOpportunity,
)
from models.types import Money
from models.webhooks import (
    ACCOUNT_OWNED_FIELDS,
    FlowCallout,
    UnsupportedWebhook,
    parse_salesforce_webhook,
)
from sandbox.netsuite.query import TABLES, Kind
from sandbox.salesforce import flows
from sandbox.salesforce.schema import API_VERSION, find_object
from sandbox.salesforce.webhooks import changed_body, closed_won_body
from workers.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

REPO = Path(__file__).resolve().parents[2]
SALESFORCE = REPO / "deploy" / "salesforce"
NETSUITE = REPO / "deploy" / "netsuite"
SF_NS = "{http://soap.sforce.com/2006/04/metadata}"
SOURCE = Path("force-app/main/default")
# The custom setting that holds the webhook secret when Apex signs: the package's own,
# used by its Apex only.
APEX_OWN_OBJECTS = {"Syncline_Webhook_Settings__c": {"Secret__c"}}
# Standard fields Syncline writes, so the integration's permission set grants edit.
STANDARD_WRITES = {
    "Account.BillingStreet",
    "Account.BillingCity",
    "Account.BillingState",
    "Account.BillingPostalCode",
    "Account.BillingCountry",
    "Opportunity.Amount",
    "Product2.ProductCode",
}
# The change events the ingress understands (models/webhooks.py): the CDC selection.
CDC_ENTITIES = {"Account", "Opportunity"}
SANDBOX_TYPES = {
    "Text": "string",
    "Picklist": "picklist",
    "DateTime": "datetime",
    "Date": "date",
    "Currency": "currency",
    "Lookup": "reference",
}


# --- reading the package --------------------------------------------------------------------


def parse_xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # our own files, not untrusted input


def text(element: ET.Element, tag: str, ns: str = SF_NS) -> str | None:
    found = element.find(ns + tag)
    return None if found is None or found.text is None else found.text.strip()


@dataclass(frozen=True)
class PackagedField:
    type: str
    length: int | None
    external_id: bool
    unique: bool
    reference_to: str | None
    picklist: tuple[str, ...]
    precision: int | None
    scale: int | None


def packaged_fields(root: Path) -> tuple[dict[tuple[str, str], PackagedField], list[str]]:
    """Every ``objects/<Object>/fields/<Field>.field-meta.xml``, and the problems reading them."""
    fields: dict[tuple[str, str], PackagedField] = {}
    problems: list[str] = []
    for path in sorted((root / SOURCE / "objects").glob("*/fields/*.field-meta.xml")):
        obj, name = path.parent.parent.name, path.name.removesuffix(".field-meta.xml")
        element = parse_xml(path)
        if text(element, "fullName") != name:
            problems.append(f"{obj}.{name}: fullName {text(element, 'fullName')!r}")
        length, precision, scale = (text(element, tag) for tag in ("length", "precision", "scale"))
        picklist = tuple(
            text(value, "fullName") or ""
            for value in element.iter(SF_NS + "value")
            if value.find(SF_NS + "fullName") is not None
        )
        fields[(obj, name)] = PackagedField(
            type=text(element, "type") or "",
            length=int(length) if length else None,
            external_id=text(element, "externalId") == "true",
            unique=text(element, "unique") == "true",
            reference_to=text(element, "referenceTo"),
            picklist=picklist,
            precision=int(precision) if precision else None,
            scale=int(scale) if scale else None,
        )
    return fields, problems


def apex_sources(root: Path) -> dict[str, str]:
    files = [
        *(root / SOURCE / "classes").glob("*.cls"),
        *(root / SOURCE / "triggers").glob("*.trigger"),
    ]
    return {path.name: path.read_text() for path in sorted(files)}


def apex_constant(source: str, name: str) -> str:
    """A ``static final String NAME = '...';`` literal, unescaped."""
    match = re.search(rf"\bString {name} = '((?:[^'\\]|\\.)*)';", source)
    assert match, f"no String constant {name}"
    return re.sub(r"\\(.)", r"\1", match.group(1))


def case_clashes(code: str) -> list[str]:
    """Apex ignores case in names, so a local ``changed`` hides the constant ``CHANGED``:
    names that differ only in case, one of them a constant, are a compile error or a bug."""
    spellings: dict[str, set[str]] = {}
    for name in re.findall(r"\b[A-Za-z_]\w*\b", code):
        spellings.setdefault(name.lower(), set()).add(name)
    return [
        f"{' and '.join(sorted(names))} are one name to Apex"
        for names in spellings.values()
        if len(names) > 1 and any(n.isupper() and len(n) > 1 for n in names)
    ]


def without_strings_and_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL)
    source = re.sub(r"//[^\n]*", " ", source)
    return re.sub(r"'(?:[^'\\\n]|\\.)*'", "''", source)


# --- what the code uses -----------------------------------------------------------------------


def _custom(names: Any) -> set[str]:
    return {name for name in names if name.endswith("__c")}


def fields_the_code_uses() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(read, written) custom fields per object, from the connector's own field lists and
    from what its write functions actually produce for a sample."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    usd = Money(amount=Decimal("10.00"), currency="USD")
    written = {
        "Account": _custom(
            account_mirror_fields(
                AccountLegalMirror(
                    erp_customer_id="C-1",
                    legal_name="Acme",
                    billing_address=Address(),
                    synced_at=now,
                )
            )
        ),
        "Opportunity": _custom(
            {
                *order_status_fields(
                    OpportunityOrderUpdate(
                        erp_order_id="1",
                        order_number="SO1",
                        order_status="open",
                        synced_at=now,
                        fulfilment_status="Fulfilled",
                    )
                ),
                *billing_status_fields(
                    OpportunityBillingUpdate(
                        billing_status="paid",
                        invoiced_amount=Decimal(1),
                        paid_amount=Decimal(1),
                        balance=Decimal(0),
                        synced_at=now,
                    )
                ),
                *renewal_fields(
                    RenewalOpportunity(
                        key="renewal:1",
                        account_id="001000000000001AAA",
                        name="Renewal",
                        close_date=date(2027, 1, 1),
                        amount=usd,
                        renewal_of="006000000000001AAA",
                        erp_subscription_id="S-1",
                    )
                ),
                RENEWAL_KEY_FIELD,
            }
        ),
        "Product2": _custom(
            {
                *product_fields(ProductMirror(erp_item_id="I-1", sku="SKU", name="Item")),
                PRODUCT_KEY_FIELD,
            }
        ),
    }
    read = {
        "Account": _custom({*ACCOUNT_FIELDS, *ACCOUNT_OWNED_FIELDS}),
        "Opportunity": _custom(OPPORTUNITY_FIELDS),
        "OpportunityLineItem": _custom(LINE_FIELDS),
    }
    return read, written


# --- the Salesforce checks ----------------------------------------------------------------


def salesforce_problems(root: Path) -> list[str]:
    problems: list[str] = []
    for path in sorted(root.rglob("*.xml")):
        try:
            element = parse_xml(path)
        except ET.ParseError as exc:
            problems.append(f"{path.relative_to(root)}: not well-formed ({exc})")
            continue
        if not element.tag.startswith(SF_NS):
            problems.append(f"{path.relative_to(root)}: not in the metadata namespace")
    if problems:
        return problems
    problems += _api_versions(root)
    problems += _fields_against_code(root)
    problems += _permissions(root)
    problems += _change_data_capture(root)
    problems += _apex(root)
    return problems


def _api_versions(root: Path) -> list[str]:
    project = json.loads((root / "sfdx-project.json").read_text())
    version = project["sourceApiVersion"]
    problems = []
    if version != API_VERSION:
        problems.append(f"sourceApiVersion {version} but the sandbox speaks {API_VERSION}")
    connector = inspect.signature(SalesforceClient.__init__).parameters["api_version"].default
    if connector != f"v{version}":
        problems.append(f"sourceApiVersion {version} but the connector calls {connector}")
    for path in sorted(root.rglob("*-meta.xml")):
        declared = text(parse_xml(path), "apiVersion")
        if declared is not None and declared != version:
            problems.append(f"{path.name}: apiVersion {declared}, the project's is {version}")
    return problems


def _fields_against_code(root: Path) -> list[str]:
    packaged, problems = packaged_fields(root)
    read, written = fields_the_code_uses()
    declared = {(obj, name) for obj, fields in CUSTOM_FIELDS.items() for name in fields}
    used = {
        (obj, name) for uses in (read, written) for obj, names in uses.items() for name in names
    }
    for obj, name in sorted(used - declared):
        problems.append(f"{obj}.{name}: the connector uses it, CUSTOM_FIELDS does not list it")
    for obj, name in sorted(declared - used):
        problems.append(f"{obj}.{name}: listed in CUSTOM_FIELDS, no code reads or writes it")
    for obj, fields in CUSTOM_FIELDS.items():
        for name, spec in fields.items():
            if spec.written != (name in written.get(obj, set())):
                problems.append(f"{obj}.{name}: written={spec.written} disagrees with the code")
    own = {(obj, name) for obj, names in APEX_OWN_OBJECTS.items() for name in names}
    for obj, name in sorted(set(packaged) - declared - own):
        problems.append(f"{obj}.{name}: the package ships it, no code uses it")
    for obj, name in sorted(declared - set(packaged)):
        problems.append(f"{obj}.{name}: the connector uses it, the package lacks it")
    for (obj, name), field in sorted(packaged.items()):
        if (obj, name) in own or (obj, name) not in declared:
            continue
        spec = CUSTOM_FIELDS[obj][name]
        wanted = (spec.type, spec.length, spec.external_id, spec.unique, spec.reference_to)
        shipped = (field.type, field.length, field.external_id, field.unique, field.reference_to)
        if wanted != shipped:
            problems.append(
                f"{obj}.{name}: the package has {shipped}, the connector needs {wanted}"
            )
        problems += _against_sandbox(obj, name, field)
    return problems


def _against_sandbox(obj: str, name: str, field: PackagedField) -> list[str]:
    """The sandbox org must hold the field as a real org will, or tests prove too little."""
    sandbox_object = find_object(obj)
    sandbox = sandbox_object.field(name) if sandbox_object else None
    if sandbox is None:
        return [f"{obj}.{name}: the sandbox org has no such field"]
    problems = []
    if SANDBOX_TYPES.get(field.type) != sandbox.type:
        problems.append(f"{obj}.{name}: {field.type} in the package, {sandbox.type} in the sandbox")
    if field.type == "Text" and field.length != sandbox.length:
        problems.append(f"{obj}.{name}: length {field.length}, the sandbox's is {sandbox.length}")
    if (field.external_id, field.unique) != (sandbox.external_id, sandbox.unique):
        problems.append(f"{obj}.{name}: external id / unique differ from the sandbox")
    if field.reference_to != sandbox.reference_to:
        problems.append(
            f"{obj}.{name}: refers to {field.reference_to}, the sandbox's {sandbox.reference_to}"
        )
    if field.picklist != sandbox.picklist:
        problems.append(
            f"{obj}.{name}: picklist {field.picklist}, the sandbox's {sandbox.picklist}"
        )
    if field.type == "Currency" and (field.precision, field.scale) != (
        sandbox.precision,
        sandbox.scale,
    ):
        problems.append(f"{obj}.{name}: precision and scale differ from the sandbox")
    return problems


def _permission_set(root: Path, name: str) -> ET.Element:
    return parse_xml(root / SOURCE / "permissionsets" / f"{name}.permissionset-meta.xml")


def _permissions(root: Path) -> list[str]:
    problems = []
    integration = _permission_set(root, "Syncline_Integration")
    granted = {
        text(p, "field") or "": (text(p, "readable") == "true", text(p, "editable") == "true")
        for p in integration.iter(SF_NS + "fieldPermissions")
    }
    wanted = {
        f"{obj}.{name}": (True, spec.written)
        for obj, fields in CUSTOM_FIELDS.items()
        for name, spec in fields.items()
    }
    wanted.update({name: (True, True) for name in STANDARD_WRITES})
    for field in sorted(wanted.keys() | granted.keys()):
        if granted.get(field) != wanted.get(field):
            problems.append(
                f"permission set: {field} (read, edit) is {granted.get(field)}, "
                f"wanted {wanted.get(field)}"
            )
    objects = {text(p, "object"): p for p in integration.iter(SF_NS + "objectPermissions")}
    for obj, fields in CUSTOM_FIELDS.items():
        permission = objects.get(obj)
        if permission is None or text(permission, "allowRead") != "true":
            problems.append(f"permission set: no read access to {obj}")
        elif (
            any(spec.written for spec in fields.values())
            and text(permission, "allowEdit") != "true"
        ):
            problems.append(
                f"permission set: no edit access to {obj}, whose fields Syncline writes"
            )
    for entity in CDC_ENTITIES:
        permission = objects.get(entity)
        if permission is None or text(permission, "viewAllRecords") != "true":
            problems.append(f"permission set: change events for {entity} need View All on it")
    return problems


def _change_data_capture(root: Path) -> list[str]:
    problems = []
    selected = set()
    for path in sorted((root / SOURCE / "platformEventChannelMembers").glob("*-meta.xml")):
        element = parse_xml(path)
        channel, entity = text(element, "eventChannel"), text(element, "selectedEntity") or ""
        selected.add(entity)
        if path.name != f"{channel}_{entity}.platformEventChannelMember-meta.xml":
            problems.append(f"{path.name}: named unlike its channel and entity")
        if channel != "ChangeEvents":
            problems.append(f"{path.name}: channel {channel}, the standard one is ChangeEvents")
    wanted = {f"{entity}ChangeEvent" for entity in CDC_ENTITIES}
    if selected != wanted:
        problems.append(f"change data capture selects {sorted(selected)}, wanted {sorted(wanted)}")
    return problems


def _apex(root: Path) -> list[str]:
    problems = []
    sources = apex_sources(root)
    packaged, _ = packaged_fields(root)
    known = {name for _, name in packaged} | set(APEX_OWN_OBJECTS)
    for file, source in sources.items():
        for name in sorted(set(re.findall(r"\b\w+__c\b", without_strings_and_comments(source)))):
            if name not in known:
                problems.append(f"{file}: refers to {name}, which the package does not define")
        code = without_strings_and_comments(source)
        for opening, closing in ("()", "{}", "[]"):
            if code.count(opening) != code.count(closing):
                problems.append(f"{file}: unbalanced {opening}{closing}")
        problems += [f"{file}: {clash}" for clash in case_clashes(code)]
    classes = {name.removesuffix(".cls") for name in sources if name.endswith(".cls")}
    for file, source in sources.items():
        for name in set(re.findall(r"\b(Syncline\w*)\.", without_strings_and_comments(source))):
            if name not in classes and not name.endswith("__c"):
                problems.append(f"{file}: calls {name}, which is not a class of the package")
    for name in classes:
        if not (root / SOURCE / "classes" / f"{name}.cls-meta.xml").exists():
            problems.append(f"{name}.cls has no -meta.xml")
    problems += _callout(root, sources)
    return problems


def _callout(root: Path, sources: dict[str, str]) -> list[str]:
    """The webhook the Apex sends is the one Syncline's ingress verifies and reads."""
    problems = []
    signer = sources["SynclineWebhookSigner.cls"]
    job = sources["SynclineWebhookJob.cls"]
    webhook = sources["SynclineWebhook.cls"]
    test = sources["SynclineWebhookTest.cls"]
    if (apex_constant(signer, "TIMESTAMP_HEADER"), apex_constant(signer, "SIGNATURE_HEADER")) != (
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
    ):
        problems.append("the Apex sends other signature headers than Syncline reads")
    if "return timestamp + '.' + body;" not in signer:
        problems.append("the Apex signs something else than '<timestamp>.' + body")
    if "'sha256=' + EncodingUtil.convertToHex(mac)" not in signer or "'hmacSHA256'" not in signer:
        problems.append("the Apex signature is not sha256=<hex HMAC-SHA256>")
    if apex_constant(job, "PATH") != "/webhooks/salesforce":
        problems.append("the Apex posts elsewhere than POST /webhooks/salesforce")

    credential = apex_constant(job, "NAMED_CREDENTIAL")
    named = root / SOURCE / "namedCredentials" / f"{credential}.namedCredential-meta.xml"
    external_name = apex_constant(signer, "EXTERNAL_CREDENTIAL")
    external = (
        root / SOURCE / "externalCredentials" / f"{external_name}.externalCredential-meta.xml"
    )
    if not named.exists() or not external.exists():
        return [*problems, f"the Apex calls out through {credential} / {external_name}: missing"]
    nc = parse_xml(named)
    if (
        text(nc, "allowMergeFieldsInHeader") != "true"
        or text(nc, "allowMergeFieldsInBody") != "false"
    ):
        problems.append("the named credential must evaluate header formulas and nothing in bodies")
    if external_name not in {
        text(p, "externalCredential") for p in nc.iter(SF_NS + "namedCredentialParameters")
    }:
        problems.append("the named credential does not authenticate with the external credential")
    principals = {
        text(p, "parameterName")
        for p in parse_xml(external).iter(SF_NS + "externalCredentialParameters")
        if text(p, "parameterType") == "NamedPrincipal"
    }
    accesses = {
        text(a, "externalCredentialPrincipal")
        for a in _permission_set(root, "Syncline_Webhook_Sender").iter(
            SF_NS + "externalCredentialPrincipalAccesses"
        )
    }
    if accesses != {f"{external_name}-{principal}" for principal in principals} or not accesses:
        problems.append(
            f"the sender permission set grants {accesses}, the principals are {principals}"
        )

    events = {apex_constant(webhook, "CLOSED_WON"), apex_constant(webhook, "CHANGED")}
    if events != set(get_args(FlowCallout.model_fields["event"].annotation)):
        problems.append(f"the Apex sends events {events}, the ingress takes others")
    tracked = re.search(r"TRACKED_FIELDS = new List<String>\{([^}]*)\}", webhook)
    if tracked is None or tuple(re.findall(r"'(\w+)'", tracked.group(1))) != flows.TRACKED_FIELDS:
        problems.append(
            "the Apex tracks other fields than the sandbox org's changed-after-won Flow"
        )
    if apex_constant(webhook, "LINE_ITEMS") != flows.LINE_ITEMS:
        problems.append("the Apex names a line change unlike the sandbox org's Flow")

    secret, timestamp = (
        apex_constant(test, "SAMPLE_SECRET"),
        apex_constant(test, "SAMPLE_TIMESTAMP"),
    )
    body, changed = apex_constant(test, "SAMPLE_BODY"), apex_constant(test, "SAMPLE_CHANGED_BODY")
    if sign(secret, int(timestamp), body.encode()) != apex_constant(test, "SAMPLE_SIGNATURE"):
        problems.append(
            "the Apex test's sample signature is not what workers/signatures.py computes"
        )
    problems += _bodies_match_the_ingress(json.loads(body), json.loads(changed))
    return problems


def _bodies_match_the_ingress(won: dict[str, Any], changed: dict[str, Any]) -> list[str]:
    problems = []
    if parse_salesforce_webhook(won).opportunity_ids != [won["opportunityId"]]:
        problems.append("the ingress does not take the Apex's closed-won body as a won deal")
    if parse_salesforce_webhook(changed).changed_opportunity_ids != [changed["opportunityId"]]:
        problems.append("the ingress does not take the Apex's changed body as a change")
    record = {
        "Id": "006000000000001AAA",
        "AccountId": None,
        "StageName": "Closed Won",
        "Amount": Decimal(1),
        "CurrencyIsoCode": "USD",
        "LastModifiedDate": "2026-01-01T00:00:00.000+0000",
    }
    if list(won) != list(closed_won_body("00D", record)):
        problems.append(f"closed-won keys {list(won)} differ from the sandbox org's callout")
    if list(changed) != list(changed_body("00D", record, "Closed Won", ["Amount"])):
        problems.append(f"changed keys {list(changed)} differ from the sandbox org's callout")
    return problems


# --- the NetSuite checks --------------------------------------------------------------------

# Which SDF object type holds each kind of custom field, the flag saying what it applies
# to, and the sandbox account's SuiteQL table that holds it.
SDF_KINDS = {
    "custentity_": ("entitycustomfield", ("appliestocustomer",), "customer"),
    "custbody_": ("transactionbodycustomfield", ("bodysale",), "transaction"),
    "custcol_": ("transactioncolumncustomfield", ("colsale",), "transactionline"),
    "custitem_": (
        "itemcustomfield",
        ("appliestononinventory", "appliestoservice", "appliestoothercharge"),
        "item",
    ),
}
SUITEQL_KINDS = {"TEXT": Kind.TEXT, "INTEGER": Kind.INTEGER}
_CUSTOM_NAME = re.compile(r"\bcust(?:entity|body|col|item)_\w+")


def netsuite_fields_in_code() -> set[str]:
    """Every custom field the NetSuite connector names, wherever it names it (the list
    ``CUSTOM_FIELDS`` itself left out, or it would vouch for itself)."""
    found: set[str] = set()
    for path in sorted((REPO / "connectors" / "netsuite").glob("*.py")):
        source = re.sub(
            r"CUSTOM_FIELDS: dict\[str, str\] = \{.*?\n\}", "", path.read_text(), flags=re.S
        )
        found |= set(_CUSTOM_NAME.findall(source))
    return found


def netsuite_problems(root: Path) -> list[str]:
    problems: list[str] = []
    src = root / "src"
    try:
        manifest, deploy = parse_xml(src / "manifest.xml"), parse_xml(src / "deploy.xml")
    except (ET.ParseError, FileNotFoundError) as exc:
        return [f"manifest.xml / deploy.xml: {exc}"]
    if manifest.tag != "manifest" or manifest.get("projecttype") != "ACCOUNTCUSTOMIZATION":
        problems.append("manifest.xml: not an account customization project")
    if "~/Objects/*" not in [p.text for p in deploy.iter("path")]:
        problems.append("deploy.xml: does not deploy ~/Objects/*")

    declared = netsuite_mapping.CUSTOM_FIELDS
    used = netsuite_fields_in_code()
    for name in sorted(used - declared.keys()):
        problems.append(f"{name}: the connector uses it, CUSTOM_FIELDS does not list it")
    for name in sorted(declared.keys() - used):
        problems.append(f"{name}: listed in CUSTOM_FIELDS, no code reads or writes it")

    shipped: dict[str, str] = {}
    for path in sorted((src / "Objects").glob("*.xml")):
        try:
            element = parse_xml(path)
        except ET.ParseError as exc:
            problems.append(f"{path.name}: not well-formed ({exc})")
            continue
        scriptid = element.get("scriptid") or ""
        if scriptid != path.stem:
            problems.append(f"{path.name}: scriptid {scriptid!r} is not the file's name")
        kind = next((k for prefix, k in SDF_KINDS.items() if scriptid.startswith(prefix)), None)
        if kind is None:
            problems.append(f"{path.name}: not a custom field Syncline knows how to ship")
            continue
        tag, applies, _ = kind
        if element.tag != tag:
            problems.append(
                f"{scriptid}: a <{element.tag}>, a {scriptid.split('_')[0]} field is <{tag}>"
            )
        if not any(text(element, flag, ns="") == "T" for flag in applies):
            problems.append(f"{scriptid}: applies to nothing Syncline reads ({', '.join(applies)})")
        if text(element, "storevalue", ns="") != "T":
            problems.append(f"{scriptid}: not stored, so SuiteQL cannot read it")
        if not text(element, "label", ns=""):
            problems.append(f"{scriptid}: no label")
        shipped[scriptid] = text(element, "fieldtype", ns="") or ""

    for name in sorted(declared.keys() - shipped.keys()):
        problems.append(f"{name}: the connector uses it, the SDF project lacks it")
    for name in sorted(shipped.keys() - declared.keys()):
        problems.append(f"{name}: the SDF project ships it, no code uses it")
    for name in sorted(declared.keys() & shipped.keys()):
        if shipped[name] != declared[name]:
            problems.append(
                f"{name}: {shipped[name]} in the project, the connector reads {declared[name]}"
            )
        table = next(k[2] for prefix, k in SDF_KINDS.items() if name.startswith(prefix))
        sandbox_kind = TABLES[table].columns.get(name)
        if sandbox_kind is not SUITEQL_KINDS.get(declared[name]):
            problems.append(f"{name}: the sandbox account's {table} holds it as {sandbox_kind}")
    return problems


@pytest.fixture
def ns_copy(tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "netsuite"
    shutil.copytree(NETSUITE, copy)
    yield copy


def test_the_netsuite_project_matches_the_code() -> None:
    assert netsuite_problems(NETSUITE) == []


def test_a_netsuite_field_dropped_from_a_copy_is_caught(ns_copy: Path) -> None:
    (ns_copy / "src/Objects/custcol_term_months.xml").unlink()
    assert "custcol_term_months: the connector uses it, the SDF project lacks it" in (
        netsuite_problems(ns_copy)
    )


def test_a_netsuite_field_of_another_type_or_unused_is_caught(ns_copy: Path) -> None:
    path = ns_copy / "src/Objects/custitem_term_months.xml"
    path.write_text(
        path.read_text().replace("<fieldtype>INTEGER</fieldtype>", "<fieldtype>TEXT</fieldtype>")
    )
    extra = ns_copy / "src/Objects/custbody_colour.xml"
    extra.write_text(
        '<transactionbodycustomfield scriptid="custbody_colour"><label>Colour</label>'
        "<fieldtype>TEXT</fieldtype><bodysale>T</bodysale><storevalue>T</storevalue>"
        "</transactionbodycustomfield>"
    )
    problems = netsuite_problems(ns_copy)
    assert "custitem_term_months: TEXT in the project, the connector reads INTEGER" in problems
    assert "custbody_colour: the SDF project ships it, no code uses it" in problems


# --- tests ------------------------------------------------------------------------------------


@pytest.fixture
def sf_copy(tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "salesforce"
    shutil.copytree(SALESFORCE, copy)
    yield copy


def test_the_salesforce_package_matches_the_code() -> None:
    assert salesforce_problems(SALESFORCE) == []


def test_a_field_the_connector_uses_and_the_package_lacks_is_caught(sf_copy: Path) -> None:
    (sf_copy / SOURCE / "objects/Opportunity/fields/Syncline_Order_Id__c.field-meta.xml").unlink()
    assert "Opportunity.Syncline_Order_Id__c: the connector uses it, the package lacks it" in (
        salesforce_problems(sf_copy)
    )


def test_a_field_of_another_type_is_caught(sf_copy: Path) -> None:
    path = sf_copy / SOURCE / "objects/Opportunity/fields/Syncline_Synced_At__c.field-meta.xml"
    path.write_text(path.read_text().replace("<type>DateTime</type>", "<type>Date</type>"))
    problems = salesforce_problems(sf_copy)
    assert any(
        p.startswith("Opportunity.Syncline_Synced_At__c: the package has ('Date'") for p in problems
    )


def test_a_field_no_code_uses_is_caught(sf_copy: Path) -> None:
    source = sf_copy / SOURCE / "objects/Account/fields/Tax_Id__c.field-meta.xml"
    extra = source.with_name("Colour__c.field-meta.xml")
    extra.write_text(source.read_text().replace("Tax_Id__c", "Colour__c"))
    assert "Account.Colour__c: the package ships it, no code uses it" in salesforce_problems(
        sf_copy
    )


def test_apex_naming_an_undefined_field_is_caught(sf_copy: Path) -> None:
    path = sf_copy / SOURCE / "classes/SynclineWebhook.cls"
    path.write_text(
        path.read_text().replace("e.amount = record.Amount;", "e.amount = record.Net__c;")
    )
    assert "SynclineWebhook.cls: refers to Net__c, which the package does not define" in (
        salesforce_problems(sf_copy)
    )


def test_apex_names_that_differ_only_in_case_are_caught(sf_copy: Path) -> None:
    path = sf_copy / SOURCE / "classes/SynclineWebhook.cls"
    path.write_text(path.read_text().replace("differing", "changed"))
    assert "SynclineWebhook.cls: CHANGED and changed are one name to Apex" in (
        salesforce_problems(sf_copy)
    )


def test_apex_signing_another_message_is_caught(sf_copy: Path) -> None:
    path = sf_copy / SOURCE / "classes/SynclineWebhookSigner.cls"
    path.write_text(path.read_text().replace("return timestamp + '.' + body;", "return body;"))
    assert "the Apex signs something else than '<timestamp>.' + body" in salesforce_problems(
        sf_copy
    )


def test_a_sample_signature_syncline_would_refuse_is_caught(sf_copy: Path) -> None:
    path = sf_copy / SOURCE / "classes/SynclineWebhookTest.cls"
    source = path.read_text()
    path.write_text(source.replace("'1767225600'", "'1767225601'", 1))
    assert "the Apex test's sample signature is not what workers/signatures.py computes" in (
        salesforce_problems(sf_copy)
    )


def test_mismatched_api_versions_and_broken_xml_are_caught(sf_copy: Path) -> None:
    meta = sf_copy / SOURCE / "classes/SynclineWebhookJob.cls-meta.xml"
    meta.write_text(meta.read_text().replace("59.0", "60.0"))
    assert "SynclineWebhookJob.cls-meta.xml: apiVersion 60.0, the project's is 59.0" in (
        salesforce_problems(sf_copy)
    )
    broken = sf_copy / SOURCE / "objects/Product2/fields/Syncline_Item_Id__c.field-meta.xml"
    broken.write_text(broken.read_text().replace("</CustomField>", ""))
    assert any("not well-formed" in p for p in salesforce_problems(sf_copy))


def apex_concat(expression: str, names: dict[str, str]) -> str:
    """An Apex expression of string literals and names joined by ``+``, evaluated."""
    parts = re.findall(r"'(?:[^'\\]|\\.)*'|\w+|\+", expression)
    values = [
        re.sub(r"\\(.)", r"\1", part[1:-1]) if part.startswith("'") else names[part]
        for part in parts
        if part != "+"
    ]
    return "".join(values)


class Formula:
    """The few named-credential formula functions the signature header uses, evaluated
    as Salesforce documents them: BLOB (UTF-8), BASE64DECODE, HMAC (SHA-256 only), HEX
    (lower case), ``&`` joining text, and ``$Credential.<credential>.<parameter>``."""

    def __init__(self, source: str, credentials: dict[str, str]) -> None:
        assert source.startswith("{!") and source.endswith("}"), source
        self._tokens = re.findall(r"'(?:[^'\\]|\\.)*'|\$?[\w.-]+|[(),&]", source[2:-1])
        self._credentials = credentials

    def value(self) -> Any:
        result = self._joined()
        assert not self._tokens, f"left over: {self._tokens}"
        return result

    def _joined(self) -> Any:
        value = self._term()
        while self._tokens and self._tokens[0] == "&":
            self._tokens.pop(0)
            value = value + self._term()
        return value

    def _term(self) -> Any:
        token = self._tokens.pop(0)
        if token.startswith("'"):
            return re.sub(r"\\(.)", r"\1", token[1:-1])
        if token.startswith("$Credential."):
            return self._credentials[token.removeprefix("$Credential.")]
        assert self._tokens.pop(0) == "(", token
        args = [self._joined()]
        while self._tokens[0] == ",":
            self._tokens.pop(0)
            args.append(self._joined())
        assert self._tokens.pop(0) == ")"
        if token == "HMAC":
            algorithm, message, key = args
            assert algorithm == "SHA-256", algorithm
            return hmac.new(key, message, hashlib.sha256).digest()
        functions: dict[str, Callable[[Any], Any]] = {
            "BLOB": str.encode,
            "BASE64DECODE": base64.b64decode,
            "HEX": bytes.hex,
        }
        return functions[token](*args)


def test_the_formula_header_evaluates_to_the_signature_syncline_checks() -> None:
    """Where the External Credential holds the secret, the platform evaluates the header
    formula the Apex builds; evaluated as documented, it is workers/signatures.py's value."""
    sources = apex_sources(SALESFORCE)
    signer, test = sources["SynclineWebhookSigner.cls"], sources["SynclineWebhookTest.cls"]
    secret, timestamp = (
        apex_constant(test, "SAMPLE_SECRET"),
        apex_constant(test, "SAMPLE_TIMESTAMP"),
    )
    body = apex_constant(test, "SAMPLE_BODY")
    method = re.search(
        r"String formula\(String timestamp, String body\) \{(.*?)\n    \}", signer, re.S
    )
    assert method is not None
    returned = re.search(r"return (.*?);\s*$", method.group(1), re.S)
    assert returned is not None
    names = {
        "signed": base64.b64encode(f"{timestamp}.{body}".encode()).decode(),
        "EXTERNAL_CREDENTIAL": apex_constant(signer, "EXTERNAL_CREDENTIAL"),
        "SECRET_PARAMETER": apex_constant(signer, "SECRET_PARAMETER"),
    }
    assert "String signed = EncodingUtil.base64Encode(Blob.valueOf(message(timestamp, body)));" in (
        method.group(1)
    )
    formula = apex_concat(returned.group(1), names)
    credential = f"{names['EXTERNAL_CREDENTIAL']}.{names['SECRET_PARAMETER']}"
    assert Formula(formula, {credential: secret}).value() == sign(
        secret, int(timestamp), body.encode()
    )
    assert len(formula) < 3900  # Salesforce's limit for a formula


def test_the_ingress_handles_change_events_of_exactly_the_selected_objects() -> None:
    def event(entity: str) -> dict[str, Any]:
        header = {
            "entityName": entity,
            "recordIds": ["001000000000001AAA"],
            "changeType": "UPDATE",
            "changedFields": ["Name"],
        }
        return {"ChangeEventHeader": header}

    for entity in CDC_ENTITIES:
        parse_salesforce_webhook(event(entity))
    with pytest.raises(UnsupportedWebhook):
        parse_salesforce_webhook(event("Contact"))
