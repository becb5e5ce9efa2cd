"""Running independent tasks (ensemble members, scenarios, calibration trials) with dask.

Library functions take an optional ``client`` (a ``distributed.Client``) and otherwise use dask's local
threaded scheduler; they never create clusters. Cluster lifetime belongs to the caller: the CLI's
``--scheduler``/``--workers`` options go through :func:`cluster` here, a user script makes its own
``Client`` (e.g. on dask-jobqueue or Kubernetes, see docs/operations.md).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator, Sequence

from hydro.errors import ConfigError, InputNotReadyError

__all__ = ["map_tasks", "cluster", "client_map"]

logger = logging.getLogger(__name__)

_LOCAL = ("threads", "synchronous", "processes")


def map_tasks(fn: Callable[..., Any], items: Sequence[Any], *, client: Any = None, scheduler: str = "threads",
              shared: dict[str, Any] | None = None) -> list[Any]:
    """``[fn(item, **shared) for item in items]`` in parallel, results in the order of ``items``.

    Parameters
    ----------
    fn : callable
        A top-level (picklable) function.
    items : sequence
        One task per item.
    client : distributed.Client, optional
        Run on this cluster; ``shared`` values are scattered once (broadcast) instead of being sent
        with every task.
    scheduler : {"threads", "synchronous", "processes"}
        Local dask scheduler when no client is given.
    shared : dict, optional
        Keyword arguments common to every task (e.g. the terrain).
    """
    import dask

    shared = dict(shared or {})
    if client is not None:
        futures_shared = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
        futures = [client.submit(fn, item, pure=False, **futures_shared) for item in items]
        return client.gather(futures)
    if scheduler not in _LOCAL:
        raise ConfigError(f"scheduler {scheduler!r}: without a client use one of {_LOCAL}")
    tasks = [dask.delayed(fn, pure=False)(item, **shared) for item in items]
    return list(dask.compute(*tasks, scheduler=scheduler))


def client_map(client: Any = None, scheduler: str = "threads") -> Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]:
    """A map-like ``evaluate(fn, items)`` for calibration trials: on ``client`` or a local dask scheduler."""
    def evaluate(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return map_tasks(fn, list(items), client=client, scheduler=scheduler)

    return evaluate


@contextlib.contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None) -> Iterator[tuple[Any, str]]:
    """Caller-side context: ``(client or None, local scheduler name)`` for ``--scheduler``/``--workers``.

    ``scheduler`` is ``threads`` (default), ``synchronous``, ``processes``, ``local-cluster`` or a
    ``tcp://host:port`` address of a running dask scheduler; ``workers = N`` alone starts a LocalCluster
    with N single-threaded worker processes. The cluster and client are closed on exit.

    Raises
    ------
    ConfigError
        ``workers`` < 1, or an unknown ``scheduler``.
    """
    if workers is not None and workers < 1:  # a LocalCluster of no workers would wait for ever
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    scheduler = scheduler or ("local-cluster" if workers else "threads")
    if scheduler in _LOCAL:
        yield None, scheduler
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is in the 'distributed' extra
        raise ConfigError("dask.distributed is not installed: pip install 'hydro-kaltim[distributed]'") from exc
    if scheduler == "local-cluster":
        n = workers or 2
        lc = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(lc)
        logger.info("LocalCluster with %d workers", n)
        try:
            yield client, "distributed"
        finally:
            client.close()
            lc.close()
        return
    if scheduler.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        from hydro.config import scheduler_address_ok

        if not scheduler_address_ok(scheduler):  # checked before dask sees it (its Client could hang on it)
            raise ConfigError(f"scheduler {scheduler!r}: an address needs a host and a numeric port, e.g. "
                              "tcp://host:8786")
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:  # down or restarting: a temporary failure (75, retry later), not bad data (65)
            raise InputNotReadyError(f"cannot reach the dask scheduler at {scheduler}: {exc}: retry later") from exc
        except (ValueError, TypeError, AssertionError) as exc:  # "tcp://", "tcp://host:abc", tls:// without a
            # security context: a malformed address is a bad option/config value (78), never a traceback (1)
            raise ConfigError(f"scheduler {scheduler!r}: not a usable dask scheduler address "
                              f"({exc or type(exc).__name__}); use e.g. tcp://host:8786") from None
        try:
            yield client, "distributed"
        finally:
            client.close()
        return
    raise ConfigError(f"scheduler {scheduler!r}: use threads, synchronous, processes, local-cluster or tcp://host:port")
