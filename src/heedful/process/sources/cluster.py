"""Where simulations run: a ``dask.distributed`` cluster, given by its scheduler's address or started here.

- ``tcp://HOST:8786`` (any address Dask knows): connect to that scheduler; an unreachable one is one line;
- ``local``: start a ``LocalCluster`` of ``workers`` single-threaded processes on this machine for the call.

``distributed`` comes with the ``tep`` extra and is imported only here, only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

from heedful.errors import InputError, MissingExtra

DASK_TIMEOUT_S = 10
LOCAL = "local"


def require_distributed() -> None:
    if importlib.util.find_spec("distributed") is None:
        raise MissingExtra("tep", "distributed")


@contextlib.contextmanager
def dask_client(scheduler: str, workers: int = 1, timeout_s: float = DASK_TIMEOUT_S) -> Iterator:
    """A client of the scheduler at ``scheduler`` (or of a ``LocalCluster`` of ``workers`` processes for
    ``'local'``), closed on the way out."""
    require_distributed()
    from distributed import Client, LocalCluster

    if scheduler == LOCAL:
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):
            yield client
        return
    client = connect(scheduler, timeout_s)
    try:
        yield client
    finally:
        client.close()


def connect(scheduler: str, timeout_s: float = DASK_TIMEOUT_S):
    """A ``dask.distributed`` client of the scheduler at ``scheduler``; one-line error when unreachable."""
    require_distributed()
    from distributed import Client

    try:
        _reachable(scheduler, timeout_s)
        return Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {first}") from None


def _reachable(scheduler: str, timeout_s: float) -> None:
    """Open and close a plain socket to a TCP scheduler first: a ``Client`` that fails to connect leaves a
    half-built object whose clean-up prints a second traceback seconds later."""
    import socket

    from distributed.comm import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    scheme, location = parse_address(scheduler)
    get_backend(scheme)  # ValueError naming the known schemes
    if scheme in ("tcp", "tls"):
        host, port = parse_host_port(location)
        socket.create_connection((host, port), timeout=timeout_s).close()
