"""A bounded load check: N concurrent clients post request bodies to a running service on loopback for a fixed
time (and at most ``max_requests``), then report throughput, p50/p99 latency and answers by HTTP status. With
``expected``, every 200 answer is also compared with what the direct library call returned for the same body.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from heedful.errors import InputError
from heedful.serve.config import is_loopback


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    by_status: Counter
    mismatches: list[str] = field(default_factory=list)
    transport_errors: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if status >= 500)

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.by_status.items()))
        return (
            f"{self.requests} requests in {self.seconds:.1f} s: {self.per_second:.1f} requests/s, "
            f"p50 {1000 * self.percentile(50):.1f} ms, p99 {1000 * self.percentile(99):.1f} ms; "
            f"by status {{{statuses}}}; transport errors {self.transport_errors}; "
            f"answers differing from the library {len(self.mismatches)}"
        )


def run_load(
    url: str,
    bodies: list[dict],
    *,
    clients: int = 4,
    seconds: float = 3.0,
    max_requests: int = 10_000,
    expected: list | None = None,
    compare: Callable[[dict, object], str | None] | None = None,
    token: str | None = None,
) -> LoadResult:
    """Post ``bodies`` round-robin to ``url`` from ``clients`` concurrent clients. ``compare(answer, expected[i])``
    returns None when they agree, else a description of the difference."""
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    if not is_loopback(host):
        raise InputError(f"the load check only targets loopback addresses, got {host!r}")
    if not 1 <= clients <= 256 or not 0 < seconds <= 600 or max_requests < 1:
        raise InputError("clients must be in 1..256, seconds in (0, 600], max_requests >= 1")
    return asyncio.run(_load(url, bodies, clients, seconds, max_requests, expected, compare, token))


async def _load(url, bodies, clients, seconds, max_requests, expected, compare, token) -> LoadResult:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    result = LoadResult(0, 0.0, [], Counter())
    counter = iter(range(max_requests))
    start = time.perf_counter()
    deadline = start + seconds

    async def client(http: httpx.AsyncClient):
        while time.perf_counter() < deadline:
            n = next(counter, None)
            if n is None:
                return
            i = n % len(bodies)
            t0 = time.perf_counter()
            try:
                response = await http.post(url, json=bodies[i], headers=headers)
            except httpx.HTTPError:
                result.transport_errors += 1
                continue
            result.latencies.append(time.perf_counter() - t0)
            result.by_status[response.status_code] += 1
            result.requests += 1
            if response.status_code == 200 and compare is not None and expected is not None:
                problem = compare(response.json(), expected[i])
                if problem is not None:
                    result.mismatches.append(f"body {i}: {problem}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    result.seconds = time.perf_counter() - start
    return result


# ---------------------------------------------------------------------------------------- bodies and the library


def process_bodies(pm, n: int = 16, per_request: int = 1) -> tuple[list[dict], list[dict]]:
    """Request bodies cut from the run's test split (in raw units) and the direct library answers for them:
    ``heedful.process.train.predict`` on the same scaled windows."""
    import numpy as np

    from heedful.process.train import predict

    test = pm.test_split()
    x = test.x
    if test.lengths is not None:
        x = x[test.lengths == x.shape[1]]  # full-length samples only: no padding in the request
    rows = np.linspace(0, len(x) - 1, n * per_request).astype(int)
    raw = pm.data.scaler.inverse_transform(x[rows].astype(np.float64))
    bodies, expected = [], []
    for b in range(n):
        chunk = raw[b * per_request : (b + 1) * per_request]
        classes, attention = predict(pm.model, np.stack([pm.scaled(w) for w in chunk]), kind=pm.data.kind)
        bodies.append({"windows": chunk.tolist()})
        expected.append({"classes": classes, "attention": attention})
    return bodies, expected


def compare_process(answer: dict, expected: dict, pm) -> str | None:
    """Same class (classification tasks) and the same attention weights as the library."""
    import numpy as np

    for j, got in enumerate(answer["predictions"]):
        want = expected["classes"][j]
        if pm.data.kind == "classification" and got["class"] != pm.data.class_names[int(want)]:
            return f"window {j}: class {got['class']!r}, library {pm.data.class_names[int(want)]!r}"
        if expected["attention"] is not None and not np.allclose(got["attention"], expected["attention"][j], atol=1e-5):
            return f"window {j}: attention differs from the library"
    return None


def knn_bodies(folder, samples, k: int = 1, relabel: bool = True) -> tuple[list[dict], list[list[dict]]]:
    """One dialogue per body, and ``predict_knn``'s answer for it (same k and relabelling, no clip exclusion)."""
    from heedful.rationale.data.loaders import sample_to_dict
    from heedful.rationale.retrieval.store import predict_knn

    bodies = [{"dialogues": [sample_to_dict(s)]} for s in samples]
    expected = [predict_knn(folder, [s], k, relabel, exclude_clip=False) for s in samples]
    return bodies, expected


def compare_rationale(answer: dict, expected: list[dict]) -> str | None:
    for got, want in zip(answer["predictions"], expected, strict=True):
        if got["text"] != want["text"] or got["rationale"] != want["rationale"]:
            return f"{want['sample_id']}: {got['text']!r}, library {want['text']!r}"
    return None
