"""A bounded queue in front of one model, drained by one worker thread that gathers waiting requests into batches.

The event loop never runs a model: ``submit`` puts a job on the queue (or raises ``Busy`` at once when the queue is
full, which the service answers with 503 + Retry-After) and awaits its future. The worker takes the first waiting
job, adds more while they fit into ``max_items``, makes one model call for all of them and hands each job its slice.
If that call fails, every job of the batch is retried alone so that one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class Busy(Exception):
    """The queue is full: the client should retry later."""


@dataclass
class _Job:
    items: Sequence[Any]
    options: dict
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    results: list = field(default_factory=list)


def _resolve(job: _Job, result=None, error: BaseException | None = None) -> None:
    def done():
        if job.future.done():  # the client went away
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    job.loop.call_soon_threadsafe(done)


class Batcher:
    """``run(items, options) -> results`` (one result per item) called from one thread, in batches."""

    def __init__(self, run: Callable[[list, dict], list], max_items: int, queue_size: int, name: str = "model"):
        self.run, self.max_items, self.name = run, max_items, name
        self.queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._carry: _Job | None = None
        self._stopping = False
        self.calls = 0  # model calls made (batches), for /health and the tests
        self._thread = threading.Thread(target=self._loop, name=f"heedful-{name}", daemon=True)
        self._thread.start()

    async def submit(self, items: Sequence[Any], options: dict | None = None) -> list:
        loop = asyncio.get_running_loop()
        job = _Job(list(items), dict(options or {}), loop.create_future(), loop)
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            raise Busy(self.name) from None
        return await job.future

    def close(self) -> None:
        self.queue.put(None)
        self._thread.join(timeout=5)

    def _next(self, block: bool) -> _Job | None:
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        return self.queue.get() if block else self.queue.get_nowait()

    def _gather(self, first: _Job) -> list[_Job]:
        jobs, n = [first], len(first.items)
        while n < self.max_items:
            try:
                job = self._next(block=False)
            except queue.Empty:
                break
            if job is None:  # close(): stop after this batch
                self._stopping = True
                break
            if job.options != first.options or n + len(job.items) > self.max_items:
                self._carry = job  # starts the next batch
                break
            jobs.append(job)
            n += len(job.items)
        return jobs

    def _loop(self) -> None:
        while True:
            first = self._next(block=True)
            if first is None:
                return
            jobs = self._gather(first)
            self._call(jobs)
            if self._stopping:
                return

    def _call(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            self.calls += 1
            results = self.run(items, jobs[0].options)
        except Exception as err:  # handed to the request(s) that caused it
            if len(jobs) == 1:
                _resolve(jobs[0], error=err)
            else:
                for job in jobs:
                    self._call([job])
            return
        start = 0
        for job in jobs:
            _resolve(job, results[start : start + len(job.items)])
            start += len(job.items)
