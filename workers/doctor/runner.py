"""Running the checks: all at once, each within its time, none stopping another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from pydantic import SecretStr, ValidationError

from connectors.errors import ConnectorError
from workers.doctor.checks import CHECKS
from workers.doctor.context import DoctorContext
from workers.doctor.model import Check, CheckResult, Outcome, Skipped, Status
from workers.settings import Settings

DEFAULT_TIMEOUT = 30.0
_REDACTED = "[secret]"


def settings_from_environment() -> Settings:
    """The settings ``syncline worker`` reads, placeholder secrets let through: the worker
    refuses to start on them, the doctor names them (``secrets``, ``*.credentials``).

    Raises ``ValidationError`` for anything else that would stop the worker.
    """
    try:
        return Settings()
    except ValidationError as error:
        try:
            # The placeholder refusal is the production environment's only.
            lenient = Settings(environment="test")
        except ValidationError:
            raise error from None
        return lenient.model_copy(update={"environment": "production"})


def settings_problem(error: ValidationError) -> CheckResult:
    """A configuration the worker would refuse, as the one failed check (no value shown)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in error.errors()
    )
    return CheckResult(
        check="settings",
        ok=False,
        required=True,
        status="fail",
        detail=problems,
        fix="correct the SYNCLINE_* variables named (README, Configuration)",
        seconds=0.0,
    )


def _secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold, longest first, so none is printed even in part of
    an error message."""
    values = [
        value.get_secret_value()
        for value in settings.__dict__.values()
        if isinstance(value, SecretStr) and len(value.get_secret_value()) >= 4
    ]
    return sorted(set(values), key=len, reverse=True)


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


def _result(
    check: Check, outcome: Outcome, started: float, status: Status | None = None
) -> CheckResult:
    if status is None:
        status = "pass" if outcome.ok else "fail" if check.required else "warn"
    return CheckResult(
        check=check.name,
        ok=outcome.ok,
        required=check.required,
        status=status,
        detail=outcome.detail,
        fix=None if outcome.ok else outcome.fix or check.fix,
        seconds=round(time.monotonic() - started, 3),
    )


async def _run(ctx: DoctorContext, check: Check, timeout: float) -> CheckResult:
    started = time.monotonic()
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            outcome = await check.run(ctx)
    except Skipped as reason:
        return _result(check, Outcome(False, f"not checked: {reason}"), started, "skip")
    except TimeoutError as error:
        expired = deadline.expired()
        outcome = Outcome(False, f"timed out after {timeout:g} s" if expired else repr(error))
    except ConnectorError as error:
        outcome = Outcome(False, str(error))
    except Exception as error:
        outcome = Outcome(False, f"{type(error).__name__}: {error}")
    return _result(check, outcome, started)


async def run_doctor(
    settings: Settings, *, timeout: float = DEFAULT_TIMEOUT, checks: Sequence[Check] = CHECKS
) -> list[CheckResult]:
    """Every check's result, in ``checks``' order. Each runs within ``timeout`` seconds,
    all at the same time, so a system that hangs costs the run ``timeout`` once."""
    ctx = DoctorContext(settings)
    try:
        results = await asyncio.gather(*(_run(ctx, check, timeout) for check in checks))
    finally:
        await ctx.aclose()
    secrets = _secrets(settings)
    return [
        result.model_copy(
            update={
                "detail": _redact(result.detail, secrets),
                "fix": None if result.fix is None else _redact(result.fix, secrets),
            }
        )
        for result in results
    ]


async def diagnose(*, timeout: float = DEFAULT_TIMEOUT) -> list[CheckResult]:
    """The doctor on the settings of the environment, as ``syncline doctor`` runs it."""
    try:
        settings = settings_from_environment()
    except ValidationError as error:
        return [settings_problem(error)]
    return await run_doctor(settings, timeout=timeout)
