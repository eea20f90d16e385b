"""The change feed's activity: publish one page of ERP changes (``ChangePublisher``)."""

from __future__ import annotations

from temporalio import activity

from activities.change_publisher import ChangePublisher
from models.messages import PublishChangesInput, PublishChangesResult


class FeedActivities:
    def __init__(self, publisher: ChangePublisher) -> None:
        self._publisher = publisher

    @activity.defn
    async def publish_changes(self, request: PublishChangesInput) -> PublishChangesResult:
        """Record and signal each change, in order.

        At least once: a retried page records nothing twice (event ids are the facts)
        and re-sends signals the workflows already hold, which they ignore.
        """
        correlation_id = activity.info().workflow_id or "erp-change-feed"
        return await self._publisher.publish(
            request.changes,
            request.erp_system,
            correlation_id,
            on_progress=activity.heartbeat,
        )
