"""Executors: run independent tasks (benchmark cells, shadow models) serially, on a local
process pool, or on a Ray cluster, behind one small interface.

``executor.map(fn, items, resources, desc)`` returns ``[fn(item) for item in items]`` in
item order. By default the first failing task (in completion order) raises its own
exception, with a note naming the task; ``return_exceptions=True`` instead puts each
failing task's exception in its slot and runs every task. ``fn`` and the items must be
picklable for the process and Ray executors: module-level functions, plain data.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence

from .errors import MiaBenchError

EXECUTORS = ("serial", "process", "ray")


@dataclass(frozen=True)
class Resources:
    """What one task asks for; Ray schedules on it, workers size their torch threads by ``cpus``."""

    cpus: float = 1
    gpus: float = 0


def _set_threads(cpus: float) -> None:
    """Size a worker's thread pools to its CPU share (N workers x all cores would thrash)."""
    n = str(max(1, int(cpus)))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n  # read by torch when it is first imported
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n))


class Executor:
    """Base class: a subclass yields task outcomes from ``_run``; ``map`` orders them."""

    name = "base"
    in_process = False  # True: tasks run in this process, so ``fn`` may be any callable (a bound method)

    def map(self, fn: Callable[[Any], Any], items: Sequence, resources: Resources = Resources(),
            desc: str | None = None, return_exceptions: bool = False) -> list:
        items = list(items)
        results: list = [None] * len(items)
        if not items:
            return results
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc=desc, unit="task", dynamic_ncols=True, disable=desc is None)
        outcomes = self._run(fn, items, resources)
        try:
            for i, ok, value in outcomes:
                if not ok and not return_exceptions:
                    value.add_note(f"(in task {i + 1} of {len(items)} on the {self.name} executor)")
                    raise value
                results[i] = value
                bar.update()
        finally:
            outcomes.close()  # cancels tasks not started yet
            bar.close()
        return results

    def _run(self, fn, items, resources) -> Generator[tuple[int, bool, Any], None, None]:
        """Yield ``(index, ok, result or exception)`` as tasks complete."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor started (pools, a local Ray instance)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialExecutor(Executor):
    """In this process, one task after another (the default: nothing changes)."""

    name = "serial"
    in_process = True

    def _run(self, fn, items, resources):
        for i, item in enumerate(items):
            try:
                value = fn(item)
            except Exception as exc:
                yield i, False, exc
            else:
                yield i, True, value


class ProcessExecutor(Executor):
    """A local pool of ``max_workers`` spawned processes (spawn: safe with torch and CUDA).
    Each ``map`` starts its own pool, whose workers use ``resources.cpus`` torch threads;
    GPUs are not partitioned: every worker sees every device."""

    name = "process"

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)

    def _run(self, fn, items, resources):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(min(self.max_workers, len(items)), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_set_threads, initargs=(resources.cpus,))
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        interrupted = False
        try:
            for fut in as_completed(futures):
                exc = fut.exception()
                yield futures[fut], exc is None, exc if exc is not None else fut.result()
        except (KeyboardInterrupt, SystemExit):  # Ctrl-C / SIGTERM: stop the workers now, not after their tasks
            interrupted = True
            raise
        finally:
            if interrupted:
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
            pool.shutdown(wait=not interrupted, cancel_futures=True)


def _ray_task(fn, item, cpus):
    _set_threads(cpus)
    return fn(item)


class RayExecutor(Executor):
    """Tasks on a Ray cluster (``address``, e.g. ``ray://head:10001`` or ``auto``), each
    asking for ``resources``. Without an address, a private local instance is started
    (no dashboard, no usage reporting: works offline) with ``num_cpus`` CPUs."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise MiaBenchError("The Ray executor needs Ray: pip install 'ray[default]' "
                                "(or use --executor process for a local process pool).") from None
        self._ray, self._started = ray, False
        if not ray.is_initialized():  # else reuse the caller's connection (tests, notebooks)
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            local = address is None
            if address is not None:  # i.e. not local
                check_reachable(address)  # ray.init would retry an unreachable address for many minutes
            ray.init(address="local" if local else address, num_cpus=num_cpus if local else None,
                     ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
            self._started = True

    def _run(self, fn, items, resources):
        ray = self._ray
        remote = ray.remote(_ray_task).options(num_cpus=resources.cpus, num_gpus=resources.gpus)
        refs = [remote.remote(fn, item, resources.cpus) for item in items]
        index, pending = {ref: i for i, ref in enumerate(refs)}, list(refs)
        try:
            while pending:
                (ref,), pending = ray.wait(pending, num_returns=1)
                try:
                    outcome = (True, ray.get(ref))
                except Exception as exc:  # a RayTaskError is also an instance of the task's exception type
                    outcome = (False, exc)
                yield (index[ref], *outcome)
        except (KeyboardInterrupt, SystemExit):  # Ctrl-C / SIGTERM: kill running tasks too
            for ref in pending:
                ray.cancel(ref, force=True)
            pending = []
            raise
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, naming the address, when nothing listens at a Ray ``host:port`` or
    ``ray://host:port`` (``auto`` and other forms are left to Ray, which fails fast on them)."""
    import socket

    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or "/" in hostport:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise MiaBenchError(
        f"No Ray cluster answers at --address {address} ({reason} after at most {timeout:.0f} s). Start one with "
        f"`ray start --head --port={port}` on the head machine (and `ray start --address=HEAD:{port}` on each "
        "other machine), pass its address (or `auto` on a cluster machine), or drop --address to start a local "
        "Ray instance.")


def make_executor(name: str = "serial", address: str | None = None, workers: int | None = None) -> Executor:
    """An executor by name: ``serial``, ``process`` (``workers`` processes) or ``ray``
    (``address`` of a cluster, or a local instance with ``workers`` CPUs)."""
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address, num_cpus=workers)
    raise MiaBenchError(f"Unknown executor {name!r}; valid: {', '.join(EXECUTORS)}.")
