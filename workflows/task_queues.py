"""Task queues. ERP activities have their own, so a worker can cap how many run at once
(the ERP's concurrency limit) while waiting deals queue in Temporal, not in a timeout."""

from __future__ import annotations


def erp_task_queue(main_task_queue: str) -> str:
    return f"{main_task_queue}-erp"
