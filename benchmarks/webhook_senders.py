"""Concurrent signed webhook senders, as a CRM's callouts are: the load both
``webhook_acks.py`` and ``close_won.py`` put on the API's ingress.

Each sender has its own HTTP client (so its own connection), made before the clock
starts: one client's pool shared by a hundred senders costs the sending process more
CPU per request the more connections it holds, and making a client builds a TLS context
(tens of milliseconds of CPU, plain HTTP or not); a hundred made at once inside the timed
window were a burst of the load generator's own work in every latency it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

from workers.signatures import signed_headers

Send = Callable[[str], Awaitable[None]]
"""Send one closed-won callout for an opportunity id, waiting for the answer."""
OpenSender = Callable[[], contextlib.AbstractAsyncContextManager[Send]]
"""One sender's way to send: entered once per sender, for all its deliveries."""


def webhook_sender(api_url: str, secret: str, codes: dict[int, int]) -> OpenSender:
    """Senders of signed Salesforce closed-won callouts to ``api_url``, each counting
    its answers' status codes in ``codes``."""

    @contextlib.asynccontextmanager
    async def open_sender() -> AsyncIterator[Send]:
        async with httpx.AsyncClient(base_url=api_url, timeout=60) as http:

            async def send(opportunity_id: str) -> None:
                body = json.dumps(
                    {"event": "opportunity.closed_won", "opportunityId": opportunity_id}
                ).encode()
                headers = {**signed_headers(secret, body), "Content-Type": "application/json"}
                answer = await http.post("/webhooks/salesforce", content=body, headers=headers)
                codes[answer.status_code] = codes.get(answer.status_code, 0) + 1

            yield send

    return open_sender


@dataclass(frozen=True)
class Sent:
    latencies: list[float]
    seconds: float
    cpu_seconds: float
    """The senders' process's CPU time while they sent (it is one Python process, and
    its loop is part of every latency measured)."""

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


async def send_concurrently(
    senders: int, each: int, open_sender: OpenSender, pace: float = 0.0
) -> Sent:
    """``senders`` at once, each sending ``each`` in turn, for opportunities unknown to
    the CRM (each deal's run reads it, finds nothing, and ends quickly).

    ``pace`` 0: each sends its next as soon as it has the answer (closed loop: the
    server's capacity, every latency is queueing behind the others). ``pace`` R: each
    sends about R a second (exponential gaps, seeded), waiting for each answer as a
    CRM's callout does, and sending at once when it fell behind: the latency a sender
    sees at that offered load."""
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []

    async def sender(index: int, send: Send) -> None:
        gaps = random.Random(index)
        next_at = time.perf_counter() + (gaps.expovariate(pace) if pace else 0.0)
        for n in range(each):
            if pace:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += gaps.expovariate(pace)
            begun = time.perf_counter()
            await send(f"006{run}{index:03d}{n:04d}")
            latencies.append(time.perf_counter() - begun)

    async with contextlib.AsyncExitStack() as opened:
        sends = [await opened.enter_async_context(open_sender()) for _ in range(senders)]
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender(i, send) for i, send in enumerate(sends)))
        return Sent(latencies, time.perf_counter() - started, time.process_time() - cpu)
