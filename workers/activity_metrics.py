"""Every workflow stage timed: a worker interceptor around each activity attempt.

The stages of a deal (read the opportunity, place the order, write back, record) are
activities, so their latency per stage is the activity's, by type and outcome, and the
engine's retries of a stage are the attempts after its first.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from telemetry.metrics import ACTIVITY_DURATION, ACTIVITY_RETRIES, timed


class ActivityMetrics(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Measured(next)


class _Measured(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        attributes: dict[str, str] = {"syncline.activity": info.activity_type}
        if info.attempt > 1:
            ACTIVITY_RETRIES.add(1, attributes)
        with timed() as elapsed:
            try:
                result = await super().execute_activity(input)
            except BaseException as error:
                ACTIVITY_DURATION.record(
                    elapsed[0], {**attributes, "error.type": type(error).__name__}
                )
                raise
        ACTIVITY_DURATION.record(elapsed[0], attributes)
        return result
