"""One seeded exploration split over several explorers, each with a stack of its own.

A sequence spends most of its time waiting for the stack to settle (two feed polls and
a quiet spell after every operation), not computing, so one explorer leaves most of a
2-core machine idle. Shard ``k`` of ``n`` (1-based) explores with seed ``seed + k - 1``
and its share of the sequences; the summaries are then merged into one, as if one
explorer had run them all. ``--merge`` merges shard summaries written earlier, so a run
that was started by hand, shard by shard, reports the same way.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_SUMMED = ("sequences", "operations", "checks", "sequences_with_violations", "violations")
_COUNTED = ("violations_by_kind", "known_bugs", "new_violations_by_kind")


def shard_seeds(seed: int, shards: int) -> list[int]:
    return [seed + k for k in range(shards)]


def shard_sizes(sequences: int, shards: int) -> list[int]:
    """``sequences`` split as evenly as it goes: the first shards take one more."""
    base, extra = divmod(sequences, shards)
    return [base + (1 if k < extra else 0) for k in range(shards)]


def merge(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of all shards. Counts add up; the wall time is the longest shard's
    (they ran at once); each violation's example is the shortest any shard found."""
    if not summaries:
        raise ValueError("no shard summary to merge")
    merged: dict[str, Any] = {
        "seeds": [s["seed"] for s in summaries],
        **{key: sum(s[key] for s in summaries) for key in _SUMMED},
    }
    for key in _COUNTED:
        total: Counter[str] = Counter()
        for summary in summaries:
            total.update(summary[key])
        merged[key] = dict(total.most_common())
    merged["seconds"] = max(s["seconds"] for s in summaries)
    merged["generation_restarts"] = [
        f"seed {s['seed']} {restart}"
        for s in summaries
        for restart in s.get("generation_restarts", [])
    ]
    examples: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        for label, example in summary["examples"].items():
            if label not in examples or len(example["steps"]) < len(examples[label]["steps"]):
                examples[label] = example
    merged["examples"] = examples
    return merged


def run(
    argv: list[str], *, sequences: int, seed: int, shards: int, workdir: Path
) -> list[dict[str, Any]]:
    """Start ``shards`` explorers at once with ``argv`` (the explorer's own options,
    without the sequences, seed, workdir and output files, which each shard gets its
    own of, in ``workdir``) and return their summaries once all have ended. A shard
    that ended without a summary is reported with its log's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefixes = [workdir / f"shard-{k}" for k in range(1, shards + 1)]
    with contextlib.ExitStack() as logs:
        running = []
        for prefix, shard_seed, size in zip(
            prefixes, shard_seeds(seed, shards), shard_sizes(sequences, shards), strict=True
        ):
            log = logs.enter_context(Path(f"{prefix}.log").open("w"))
            command = [
                *(sys.executable, "-m", "tests.lifecycle.explore", *argv),
                *("--sequences", str(size), "--seed", str(shard_seed)),
                *("--workdir", str(prefix), "--json", f"{prefix}.json"),
                *("--histories", f"{prefix}.jsonl"),
            ]
            running.append(subprocess.Popen(command, stdout=log, stderr=log))
        try:
            for process in running:
                process.wait()
        except BaseException:
            # An interrupt reaches the shards as one (each then stops its own stack,
            # which a plain kill would leave running).
            for process in running:
                process.send_signal(signal.SIGINT)
            for process in running:
                process.wait()
            raise
    summaries = []
    missing = []
    for prefix, process in zip(prefixes, running, strict=True):
        summary_file = Path(f"{prefix}.json")
        if process.returncode == 0 and summary_file.exists():
            summaries.append(json.loads(summary_file.read_text()))
        else:
            missing.append(f"{prefix}.log (exit {process.returncode})")
    if missing:
        sys.stderr.write("shards without a summary: " + ", ".join(missing) + "\n")
    return summaries
