"""The lifecycle model test on a fixed, seeded budget: hypothesis drives the real stack
(workflows, connectors, sandboxes) through random lifecycles of a few deals each, and
every sequence ends with the systems checked against the reference model.

The budget is derandomized (the same sequences every run) and sized to about four
minutes on a 2-core machine. Violations a known, still open bug explains
(``known_bugs.py``) are reported, not failed on; anything else fails with the history
of operations and answers. ``SYNCLINE_LIFECYCLE_SHRINK=1`` lets hypothesis shrink a
failure (slow: every candidate runs on the real stack); ``python -m
tests.lifecycle.explore`` runs many more sequences.
"""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.lifecycle.machine import BudgetSpent, LifecycleMachine, Runtime

pytestmark = pytest.mark.e2e

# Sequences per ERP: about four minutes together on a 2-core machine (a Tryton sequence
# takes about twice a sandbox one, and its stack half a minute to start).
SEQUENCES = {
    "netsuite": int(os.environ.get("SYNCLINE_LIFECYCLE_SEQUENCES", "7")),
    "tryton": int(os.environ.get("SYNCLINE_LIFECYCLE_TRYTON_SEQUENCES", "2")),
}
STEPS = 14


@pytest.mark.parametrize("erp", ["netsuite", "tryton"])
def test_lifecycles_agree_with_the_model(
    erp: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    lifecycle_runtime: Runtime = request.getfixturevalue(
        "lifecycle_runtime" if erp == "netsuite" else "lifecycle_runtime_tryton"
    )
    budget = SEQUENCES[erp]
    first = len(lifecycle_runtime.outcomes)
    shrinking = os.environ.get("SYNCLINE_LIFECYCLE_SHRINK") == "1"
    lifecycle_runtime.fail_on = "unknown"
    # Hypothesis counts only the examples it keeps; every one it discards has run a
    # sequence too, so the budget counts sequences (but never cuts a shrink short).
    lifecycle_runtime.budget = None if shrinking else first + budget
    LifecycleMachine.runtime = lifecycle_runtime
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if shrinking else [])]
    try:
        run_state_machine_as_test(
            LifecycleMachine,
            settings=settings(
                max_examples=budget if shrinking else 10 * budget,
                stateful_step_count=STEPS,
                derandomize=True,
                deadline=None,
                database=None,
                phases=phases,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except BudgetSpent:
        pass
    finally:
        lifecycle_runtime.budget = None
        outcomes = lifecycle_runtime.outcomes[first:]
        known = sorted({bug for o in outcomes for bug in o.known.values()})
        with capsys.disabled():  # the figures belong in the CI log, pass or fail
            sys.stderr.write(
                f"\nlifecycle model ({erp}): {len(outcomes)} sequences, "
                f"{sum(len(o.steps) for o in outcomes)} operations, "
                f"{sum(o.checks for o in outcomes)} checks, "
                f"{sum(len(o.violations) for o in outcomes)} violations"
                + "".join(f"\n  known: {bug}" for bug in known)
                + "\n"
            )
