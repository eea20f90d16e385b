"""``syncline doctor``: checks a configuration before the first deal.

Each check (``checks.CHECKS``) is small, runs on its own within a time limit, and
answers pass or fail with a one-sentence fix; ``required=False`` ones are warnings. The
CLI prints the report (``report``); nothing here prints.
"""

from workers.doctor.model import CheckResult, exit_code
from workers.doctor.report import render_json, render_text
from workers.doctor.runner import diagnose, run_doctor, settings_from_environment

__all__ = [
    "CheckResult",
    "diagnose",
    "exit_code",
    "render_json",
    "render_text",
    "run_doctor",
    "settings_from_environment",
]
