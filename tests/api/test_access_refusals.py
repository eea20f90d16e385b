"""Bad credentials: malformed, expired, wrong-audience, wrong-issuer, unsigned or foreign
tokens, and keys that are wrong or revoked, answer 401 with the reason, are audited with
that reason, and never put the credential in the answer or the trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from store import Store
from tests.api.access import AccessApp, access_app, settings_for
from tests.oidc import IdentityProvider, identity_provider, other_key, unsigned
from workers.access.operators import local_operator, revoke_operator

Credential = Callable[[AccessApp, IdentityProvider], Awaitable[str | None]]


async def _nothing(api: AccessApp, idp: IdentityProvider) -> None:
    return None


async def _revoked_key(api: AccessApp, idp: IdentityProvider) -> str:
    key = await api.key("rex", Role.ADMIN)
    await revoke_operator(api.store, "rex", local_operator())
    return key


async def _wrong_secret(api: AccessApp, idp: IdentityProvider) -> str:
    key = await api.key("wendy", Role.ADMIN)
    return key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")


async def _token(api: AccessApp, idp: IdentityProvider, **options: object) -> str:
    return idp.token("admin", **options)  # type: ignore[arg-type]


CASES: dict[str, tuple[Credential, str]] = {
    "none": (_nothing, "a personal key or identity provider token is required"),
    "garbage": (lambda a, i: _const("hunter2"), "neither a personal key nor a token"),
    "malformed-jwt": (lambda a, i: _const("eyJhbGciOi.not-base64!.x"), "token is malformed"),
    "expired": (
        lambda a, i: _token(a, i, expires_in=-3600),
        "the identity provider token has expired",
    ),
    "wrong-audience": (
        lambda a, i: _token(a, i, audience="another-app"),
        "the identity provider token is for another audience",
    ),
    "wrong-issuer": (
        lambda a, i: _token(a, i, issuer="https://evil.example.test"),
        "the identity provider token is from another issuer",
    ),
    "unsigned": (
        lambda a, i: _const(unsigned(i.token("admin"))),
        "the identity provider token is unsigned (alg none)",
    ),
    "foreign-key": (
        lambda a, i: _token(a, i, key=other_key()),
        "the identity provider token's signature is wrong",
    ),
    "unknown-key-id": (
        lambda a, i: _token(a, i, key=other_key(), key_id="not-published"),
        "the identity provider token is signed by an unknown key",
    ),
    "revoked-key": (_revoked_key, "the personal key has been revoked"),
    "wrong-secret": (_wrong_secret, "the personal key is not valid"),
}


async def _const(value: str) -> str:
    return value


@pytest.fixture(scope="module")
def idp() -> AsyncIterator[IdentityProvider]:
    with identity_provider() as provider:
        yield provider


@pytest.fixture
async def api(
    workflow_env: WorkflowEnvironment, tmp_path: Path, idp: IdentityProvider
) -> AsyncIterator[AccessApp]:
    async with access_app(
        workflow_env.client, settings_for(**idp.settings()), tmp_path / "s.db"
    ) as running:
        yield running


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bad_credential_is_refused_with_its_reason_and_audited(
    api: AccessApp, idp: IdentityProvider, case: str
) -> None:
    make, reason = CASES[case]
    credential = await make(api, idp)
    async with api.client(credential, address="192.0.2.7") as caller:
        answer = await caller.post("/api/reconciliations", json={})
    assert answer.status_code == 401, answer.text
    assert reason in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"

    [refusal] = [row for row in await api.audit() if row.outcome == "refused"]
    assert (refusal.action, refusal.status, refusal.address) == (
        "reconciliation.run",
        401,
        "192.0.2.7",
    )
    assert refusal.reason == answer.json()["detail"] and refusal.at.tzinfo is not None
    if case == "revoked-key":  # the key was real: the trail names whose it was
        assert refusal.actor == "rex" and refusal.credential_id == (credential or "").split("_")[1]
    else:
        assert refusal.actor is None
    if credential:
        assert credential not in answer.text
        assert credential not in repr([r.model_dump() for r in await api.audit()])
    # The refused call never reached the handler, whose own row would say what became of
    # the run it started.
    assert [row.action for row in await api.audit() if row.action == "reconciliation.run"] == [
        "reconciliation.run"
    ]


async def test_without_oidc_set_up_a_token_is_refused_as_such(
    workflow_env: WorkflowEnvironment, tmp_path: Path, idp: IdentityProvider
) -> None:
    async with access_app(workflow_env.client, settings_for(), tmp_path / "s.db") as api:
        answer = await api.client(idp.token("admin")).get("/api/me")
    assert answer.status_code == 401
    assert "identity provider tokens are not accepted here" in answer.json()["detail"]


async def test_the_providers_keys_are_fetched_once_not_per_request(
    api: AccessApp, idp: IdentityProvider
) -> None:
    before = len(idp.requests)
    caller = api.client(idp.token("viewer"))
    for _ in range(5):
        assert (await caller.get("/api/me")).status_code == 200
    assert len(idp.requests) - before <= 1


async def test_an_unreachable_identity_provider_is_the_servers_problem_not_the_callers(
    workflow_env: WorkflowEnvironment, tmp_path: Path, idp: IdentityProvider
) -> None:
    gone = {**idp.settings(), "oidc_jwks_url": "http://127.0.0.1:9/jwks.json"}  # discard port
    async with access_app(workflow_env.client, settings_for(**gone), tmp_path / "s.db") as api:
        answer = await api.client(idp.token("admin")).get("/api/me")
        assert answer.status_code == 503
        assert "keys could not be fetched" in answer.json()["detail"]
        [row] = await api.audit()
        # Audited, but not a refusal: it does not count towards anyone's lock-out.
        assert (row.outcome, row.status) == ("failed", 503)


async def test_a_refusal_is_audited_whatever_the_path_holds(
    workflow_env: WorkflowEnvironment, store: Store
) -> None:
    async with access_app(workflow_env.client, settings_for(), store) as api:
        answer = await api.client().get("/api/deliveries/a%00b" + "c" * 5000)
        assert answer.status_code == 401
        [row] = await api.audit()
        assert row.target is not None and "\x00" not in row.target and len(row.target) <= 512
