"""What ``syncline dev`` sets up on the sandbox ERP: a throwaway key pair in the workdir,
its certificate mapped, a TBA token; the same again on a restart; the worker's
settings from dev.env log in both ways."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from sandbox.netsuite.certificates import make_key_pair
from sandbox.netsuite.provision import CERTIFICATE_FILE, KEY_FILE, provision_dev_credentials
from workers.settings import Settings
from workers.wiring import build_netsuite

from .helpers import ACCOUNT_ID


async def test_dev_credentials_are_made_once_and_log_in_both_ways(
    live_url: str, tmp_path: Path
) -> None:
    env = await provision_dev_credentials(live_url, tmp_path, "syncline-dev-erp", {})
    key = tmp_path / KEY_FILE
    assert env["SYNCLINE_ERP_PRIVATE_KEY_FILE"] == str(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate((tmp_path / CERTIFICATE_FILE).read_bytes())
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime <= timedelta(days=730)

    # A restart: the same key, the same mapping, the same TBA token.
    assert await provision_dev_credentials(live_url, tmp_path, "syncline-dev-erp", env) == env

    base = {
        "SYNCLINE_ENVIRONMENT": "dev",
        "SYNCLINE_ERP_BASE_URL": live_url,
        "SYNCLINE_ERP_CLIENT_ID": "syncline-dev-erp",
        "SYNCLINE_ERP_ACCOUNT_ID": ACCOUNT_ID,
        **env,
    }
    for auth in ("oauth2_jwt", "tba"):
        erp = build_netsuite(Settings.from_env_values({**base, "SYNCLINE_ERP_AUTH": auth}))
        try:
            assert (await erp.get_record("inventoryItem", "1"))["id"] == "1", auth
        finally:
            await erp.aclose()


async def test_a_key_pair_near_its_end_is_replaced(live_url: str, tmp_path: Path) -> None:
    old = make_key_pair(days=20)
    (tmp_path / KEY_FILE).write_bytes(old.private_key_pem)
    (tmp_path / CERTIFICATE_FILE).write_bytes(old.certificate_pem)
    await provision_dev_credentials(live_url, tmp_path, "syncline-dev-erp", {})
    assert (tmp_path / KEY_FILE).read_bytes() != old.private_key_pem
    renewed = x509.load_pem_x509_certificate((tmp_path / CERTIFICATE_FILE).read_bytes())
    assert renewed.not_valid_after_utc > datetime.now(UTC) + timedelta(days=300)
