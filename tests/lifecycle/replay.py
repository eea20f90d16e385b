"""Replaying a recorded sequence step by step, and shrinking it.

A history (``Outcome.to_json()["steps"]``) names each operation and its arguments; the
same ``LifecycleMachine`` methods run them again without hypothesis, on fresh
opportunities. ``shrink`` removes steps one at a time while the sequence still shows the
same violation (the same known bug, or the same kind of new one), re-running each
candidate on the real stack: hypothesis' own shrinking, done by hand, with a budget.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tests.lifecycle.machine import LifecycleMachine, Outcome, Runtime, labels

STEP_OPS = frozenset(
    {
        "open_deal",
        "crm_stage",
        "crm_lines",
        "resend_callout",
        "create_missing_items",
        "finance",
        "retry",
        "second_run",
        "reconcile",
        "settle",
        "worker_outage",
        "credential_outage",
        # Finance's approval and settlement acts (``finance_rules``).
        "approval_routing",
        "decide",
        "invoice_part",
        "void",
        "credit",
        "pay_invoices",
        "refund",
    }
)


def operations(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sequence's own operations (not its end-of-sequence settle and check)."""
    return [
        s for s in steps if not s.get("final") and not s.get("automatic") and s["op"] in STEP_OPS
    ]


def replay(runtime: Runtime, steps: list[dict[str, Any]]) -> Outcome:
    LifecycleMachine.runtime = runtime
    machine = LifecycleMachine()
    keys: dict[str, str] = {}
    for step in operations(steps):
        args = dict(step["args"])
        op = step["op"]
        if op == "open_deal":
            keys[args["opp"]] = machine.open_opportunity(args["skus"], args["quantity"])
            continue
        if "opp" in args:
            if args["opp"] not in keys:
                continue  # its opportunity was shrunk away
            args["opp"] = keys[args["opp"]]
        if op.endswith("_outage") and machine.outages:
            continue
        if op == "crm_lines":
            args.setdefault("then_settle", False)
        getattr(machine, op)(**args)
    return machine.finish()


def shrink(
    runtime: Runtime,
    steps: list[dict[str, Any]],
    target: str,
    budget: int = 40,
    log: Callable[[str], object] = lambda line: sys.stderr.write(line + "\n"),
) -> list[dict[str, Any]]:
    """The shortest sequence found (within ``budget`` replays) that still shows
    ``target``: remove one step at a time, last first, keeping each removal that still
    fails the same way; then try each ``then_settle`` off."""
    current = operations(steps)
    tries = 0

    def fails(candidate: list[dict[str, Any]]) -> bool:
        nonlocal tries
        tries += 1
        outcome = replay(runtime, candidate)
        found = target in labels(outcome)
        log(f"  shrink try {tries}: {len(candidate)} steps -> {'fails' if found else 'passes'}")
        return found

    changed = True
    while changed and tries < budget:
        changed = False
        for index in reversed(range(len(current))):
            if tries >= budget:
                break
            if index >= len(current):
                continue
            candidate = current[:index] + current[index + 1 :]
            if fails(candidate):
                current, changed = candidate, True
    for index, step in enumerate(current):
        if tries >= budget:
            break
        if step["args"].get("then_settle"):
            softer = {**step, "args": {**step["args"], "then_settle": False}}
            candidate = [*current[:index], softer, *current[index + 1 :]]
            if fails(candidate):
                current = candidate
    return current


def as_code(steps: list[dict[str, Any]]) -> str:
    """The sequence as the lines of a regression test."""
    out = []
    for step in operations(steps):
        args = dict(step["args"])
        if step["op"] == "open_deal":
            key = args.pop("opp")
            out.append(
                f"{key} = seq.open_opportunity(skus={args['skus']!r}, quantity={args['quantity']})"
            )
            continue
        rendered = ", ".join(f"{k}={v}" if k == "opp" else f"{k}={v!r}" for k, v in args.items())
        out.append(f"seq.{step['op']}({rendered})")
    return "\n".join(out)
