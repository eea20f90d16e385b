"""Run many lifecycle sequences against one stack and report what they found.

    python -m tests.lifecycle.explore --sequences 1000 [--seed N] [--steps 16]
        [--erp netsuite|tryton] [--json lifecycle-explore.json] [--histories FILE]
        [--shrink REPLAYS] [--replay PREVIOUS.json] [--workdir DIR] [--verbose]
        [--shards N] [--merge SHARD.json ...]

Run it from the repository root (the stack's processes import the code there). Nothing
fails here: every sequence runs to its end, every violation is recorded with the
history that led to it, and the summary says how many sequences, operations and checks
ran and which violations were found, each attributed to a known bug (issue 17) or new.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import get_state_machine_test

from tests.lifecycle import shards
from tests.lifecycle.driver import Driver
from tests.lifecycle.machine import BudgetSpent, LifecycleMachine, Outcome, Runtime, render
from tests.lifecycle.replay import as_code, operations, shrink
from tests.lifecycle.stack import LoopStack

RESTART_SEED_STEP = 1_000_003
"""A restarted generation's seed: ``seed + RESTART_SEED_STEP * restarts``, far from the
seeds of the other shards (``seed + k``)."""
MAX_RESTARTS = 5


def summarise(outcomes: list[Outcome], seconds: float, seed: int) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    known: Counter[str] = Counter()
    new: Counter[str] = Counter()
    failing = 0
    examples: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.violations:
            failing += 1
        for violation in outcome.violations:
            kinds[violation.kind] += 1
            bug = outcome.known.get(str(violation))
            if bug:
                known[bug] += 1
            else:
                new[violation.kind] += 1
            label = bug or f"new: {violation.kind}"
            # The shortest sequence that showed each, as an example to shrink by hand.
            if label not in examples or len(outcome.steps) < len(examples[label]["steps"]):
                examples[label] = outcome.to_json()
    return {
        "seed": seed,
        "sequences": len(outcomes),
        "operations": sum(len(o.steps) for o in outcomes),
        "checks": sum(o.checks for o in outcomes),
        "sequences_with_violations": failing,
        "violations": sum(kinds.values()),
        "violations_by_kind": dict(kinds.most_common()),
        "known_bugs": dict(known.most_common()),
        "new_violations_by_kind": dict(new.most_common()),
        "seconds": round(seconds, 1),
        "examples": examples,
    }


def _target(name: str) -> str:
    """An example's name in the summary (``issue 17 a: …``, ``new: kind``) as a label."""
    if name.startswith("issue 17 "):
        return name.removeprefix("issue 17 ").split(":")[0]
    return "new:" + name.removeprefix("new: ")


def shrink_examples(
    runtime: Runtime,
    examples: dict[str, dict[str, Any]],
    budget: int,
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Each example shrunk to the fewest steps that still show its violation."""
    shrunk = {}
    for name, example in examples.items():
        target = _target(name)
        log(f"shrinking {name} ({len(operations(example['steps']))} steps) for {target}")
        steps = shrink(runtime, example["steps"], target, budget, log)
        code = as_code(steps)
        log(f"shrunk {name} to {len(steps)} steps:\n{code}")
        shrunk[name] = {"target": target, "steps": steps, "code": code.splitlines()}
    return shrunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=100)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--steps", type=int, default=16, help="most operations per sequence")
    parser.add_argument("--json", type=Path, default=Path("lifecycle-explore.json"))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--erp", choices=["netsuite", "tryton"], default="netsuite")
    parser.add_argument("--verbose", action="store_true", help="print every operation")
    parser.add_argument(
        "--histories", type=Path, default=None, help="every sequence's history, as JSON lines"
    )
    parser.add_argument(
        "--shrink",
        type=int,
        default=0,
        metavar="REPLAYS",
        help="afterwards, shrink the shortest example of each violation (at most REPLAYS "
        "replays each) and print it as the steps of a regression test",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="LABEL",
        help="with --replay: shrink only these (a known bug's letter, or new:<kind>)",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        help="instead of exploring, shrink the examples of a previous run's JSON",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="split the sequences over N explorers at once, each with a stack of its own "
        "and seed SEED+k-1 (tests/lifecycle/shards.py), and merge their summaries",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        metavar="SHARD_JSON",
        help="instead of exploring, merge the summaries of shards run earlier",
    )
    args = parser.parse_args(argv)
    if args.shards > 1 and (args.shrink or args.replay):
        parser.error("--shards explores only: shrink the merged examples with --replay")

    if args.merge or args.shards > 1:
        if args.merge:
            summaries = [json.loads(path.read_text()) for path in args.merge]
        else:
            passed = ["--steps", str(args.steps), "--erp", args.erp]
            summaries = shards.run(
                passed + (["--verbose"] if args.verbose else []),
                sequences=args.sequences,
                seed=args.seed,
                shards=args.shards,
                workdir=args.workdir or Path(tempfile.mkdtemp(prefix="lifecycle-explore-")),
            )
        return _report(shards.merge(summaries), args.json)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lifecycle-explore-"))

    def log(line: str) -> None:
        sys.stderr.write(line + "\n")

    log(f"starting the stack in {workdir}")
    stack = LoopStack(
        workdir, erp=args.erp, tryton_cache_dir=Path.home() / ".cache" / "syncline" / "tryton"
    )
    driver = Driver(stack.stack)
    runtime = Runtime(
        stack=stack,
        driver=driver,
        fail_on="none",
        log=log if args.verbose else None,
        budget=args.sequences,
    )
    LifecycleMachine.runtime = runtime
    started = time.monotonic()
    done = 0

    def progress() -> None:
        nonlocal done
        for outcome in runtime.outcomes[done:]:
            done += 1
            if args.histories:
                with args.histories.open("a") as out:
                    out.write(json.dumps({"sequence": done, **outcome.to_json()}, default=str))
                    out.write("\n")
            kinds = sorted({v.kind for v in outcome.violations})
            known = sorted({b.split(":")[0] for b in outcome.known.values()})
            log(
                f"sequence {done}: {len(outcome.steps)} operations, {outcome.seconds:.0f}s, "
                f"violations {kinds or 'none'}{' (' + ', '.join(known) + ')' if known else ''}"
            )
            if args.verbose and outcome.violations:
                log(render(outcome, outcome.violations))

    class Reporting(LifecycleMachine):
        def teardown(self) -> None:
            try:
                super().teardown()
            finally:
                progress()

    if args.replay is not None:
        examples = json.loads(args.replay.read_text())["examples"]
        if args.only:
            examples = {k: v for k, v in examples.items() if _target(k) in args.only}
        try:
            shrunk = shrink_examples(runtime, examples, args.shrink or 40, log)
        finally:
            runtime.call(driver.aclose())
            stack.close()
        args.json.write_text(json.dumps(shrunk, indent=1, default=str))
        return 0

    test_settings = settings(
        max_examples=10 * args.sequences,
        stateful_step_count=args.steps,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    restarts: list[str] = []
    try:
        while True:
            test = get_state_machine_test(Reporting, settings=test_settings)
            hypothesis_seed(args.seed + RESTART_SEED_STEP * len(restarts))(test)
            try:
                test()
            except BudgetSpent:
                break
            except FlakyStrategyDefinition as error:
                # A rule enabled by what a system answered, not by the draws, saw a
                # different answer on a prefix hypothesis had seen: generation cannot
                # go on from that seed, but the sequences run so far stand. Go on
                # from a seed of its own, said in the summary.
                if len(restarts) >= MAX_RESTARTS:
                    raise
                restarts.append(f"after sequence {len(runtime.outcomes)}: {error}".splitlines()[0])
                log(f"generation restarted ({restarts[-1]})")
                continue
            break
        summary = summarise(runtime.outcomes, time.monotonic() - started, args.seed)
        summary["generation_restarts"] = restarts
        if args.shrink:
            summary["shrunk"] = shrink_examples(runtime, summary["examples"], args.shrink, log)
    finally:
        if "summary" not in locals():
            summary = summarise(runtime.outcomes, time.monotonic() - started, args.seed)
            summary["generation_restarts"] = restarts
        args.json.write_text(json.dumps(summary, indent=1, default=str))
        runtime.call(driver.aclose())
        stack.close()
    return _report(summary, args.json, written=True)


def _report(summary: dict[str, Any], path: Path, *, written: bool = False) -> int:
    if not written:
        path.write_text(json.dumps(summary, indent=1, default=str))
    brief = {k: v for k, v in summary.items() if k != "examples"}
    sys.stdout.write(json.dumps(brief, indent=1) + "\n")
    sys.stdout.write(f"examples of each violation: {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
