"""Run torch.distributed workers from a notebook (chapter 9).

``launch(fn, world_size)`` starts ``world_size`` processes (``torch.multiprocessing``, spawn),
joins them in a process group (gloo; nccl on GPUs) through a TCP store on 127.0.0.1 (the OS
picks a free port), relays their progress, and returns what each ``fn(ctx, *args)`` returned.
A worker that raises ends the run with its traceback (``WorkerFailed``), the root cause first; a
run longer than ``timeout`` seconds is stopped (``TimeoutError``). Either way no process is left
behind. ``fn`` must be importable (defined in a module, not in a notebook), since spawned
processes import it; this and the other arguments are checked before any process starts.
"""

import datetime
import faulthandler
import math
import os
import pickle
import queue as queue_module
import sys
import time
import traceback
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from . import _checks

__all__ = ["WorkerContext", "WorkerFailed", "launch"]


class WorkerFailed(RuntimeError):
    """A worker process raised; the message holds its rank and traceback."""


@dataclass
class WorkerContext:
    """What a worker function receives: its ``rank``, the ``world_size``, ``report``, and the
    ``device`` to compute on (the CPU under gloo; GPU ``rank`` under nccl, already made current)."""

    rank: int
    world_size: int
    _queue: object
    device: torch.device = torch.device("cpu")

    def report(self, desc, done, total):
        """Tell the parent this rank's progress: ``done`` of ``total`` units of task ``desc``."""
        self._queue.put(("progress", self.rank, desc, done, total))


def _plain(obj):
    """``obj`` with every tensor replaced by a NumPy array (safe to send after the process ends)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy()
    if isinstance(obj, dict):
        return {key: _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(value) for value in obj)
    return obj


def _worker_main(rank, world_size, host, port, timeout, backend, fn, args, queue):
    """Entry point of each spawned process: join the process group, run ``fn``, send its result."""
    try:
        faulthandler.enable()  # a crash in native code still prints where it happened
        torch.set_num_threads(1)
        wait = datetime.timedelta(seconds=timeout)
        device = torch.device("cpu")
        if backend == "nccl":  # one GPU per rank, made current before the first collective
            if torch.cuda.device_count() <= rank:
                raise RuntimeError(f"the nccl backend needs one CUDA GPU per rank; rank {rank} has none "
                                   f"({torch.cuda.device_count()} GPU(s) visible): use backend='gloo' or "
                                   f"fewer processes")
            device = torch.device("cuda", rank)
            torch.cuda.set_device(device)
        store = dist.TCPStore(host, port, world_size, is_master=False, timeout=wait)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=wait)
        try:
            result = fn(WorkerContext(rank, world_size, queue, device), *args)
        finally:
            dist.destroy_process_group()
        try:  # pickled here, so that a result that cannot be sent fails with its reason
            payload = pickle.dumps(_plain(result))
        except Exception as err:
            raise TypeError(f"fn returned a result that cannot be sent back to the parent process "
                            f"({err}); return plain data: numbers, strings, lists, dicts, NumPy "
                            f"arrays or tensors, not functions, lambdas, open files or locks") from err
        queue.put(("result", rank, payload))
    except BaseException:
        queue.put(("error", rank, traceback.format_exc()))
        raise


def _show_progress(mode, bars, message, start, shown):
    _, rank, desc, done, total = message
    if mode == "lines":
        state = {0: "started", total: "finished"}.get(done)
        if state is not None and (rank, desc, state) not in shown:
            shown.add((rank, desc, state))
            print(f"[rank {rank}, {time.perf_counter() - start:5.1f} s] {desc}: {state}", flush=True)
    elif mode == "bar":
        bar = bars[rank]
        bar.set_description(f"rank {rank}: {desc}", refresh=False)
        bar.total, bar.n = total, done
        bar.refresh()


_PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe")


def _failure_report(world_size, errors, queue, grace=2.0):
    """The tracebacks of every worker that failed within ``grace`` seconds of the first, the
    root cause first (a rank whose peer died reports only "connection closed")."""
    deadline = time.perf_counter() + grace
    while time.perf_counter() < deadline and len(errors) < world_size:
        try:
            message = queue.get(timeout=0.1)
        except queue_module.Empty:
            continue
        if message[0] == "error":
            errors[message[1]] = message[2]
    ranks = sorted(errors, key=lambda r: (any(text in errors[r] for text in _PEER_GONE), r))
    return "\n\n".join(f"worker {r} of {world_size} failed:\n{errors[r]}" for r in ranks)


def _stop(processes):
    """Terminate, then kill, every process still alive; wait for each."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()


_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # per worker process

_WRITEFILE_HINT = ("define it with def at the top level of a .py file and import it from there; in a "
                   "notebook, a cell that starts with %%writefile my_worker.py writes such a file, then "
                   "`from my_worker import fn`")


def _check_sendable(fn):
    """Refuse, before any process starts, a ``fn`` that spawned workers could not import."""
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(ctx, *args) (e.g. d2l.data_parallel_worker), "
                        f"got {type(fn).__name__} {fn!r}")
    name = getattr(fn, "__qualname__", repr(fn))
    if name.endswith("<lambda>") or "<locals>" in name:
        raise TypeError(f"cannot send fn {name} to the worker processes: a lambda or a function "
                        f"defined inside another function cannot be pickled; {_WRITEFILE_HINT}")
    main = sys.modules.get("__main__")
    importable_main = (getattr(getattr(main, "__spec__", None), "name", None) is not None
                       or getattr(main, "__file__", None) is not None)
    if getattr(fn, "__module__", None) == "__main__" and not importable_main:
        raise TypeError(f"cannot send fn {name} to the worker processes: it is defined in this notebook "
                        f"or interactive session (module __main__), which spawned processes cannot "
                        f"import; {_WRITEFILE_HINT}")


def launch(fn, world_size=2, args=(), timeout=600, progress=None, backend="gloo"):
    """Run ``fn(ctx, *args)`` in ``world_size`` new processes joined in one process group.

    ``fn`` must be defined in an importable module (spawned processes import it: not in a notebook
    cell, not a lambda; this is checked before any process starts); ``ctx`` is a
    ``WorkerContext`` (``rank``, ``world_size``, ``report``, ``device``). Each process uses one
    thread; under nccl, rank r computes on GPU r (``torch.cuda.set_device`` is done for it).
    ``progress``: "bar" (a tqdm bar per rank, fed by ``ctx.report``), "lines" (a line when a
    task starts or finishes) or None; default: "bar" when a person watches (``is_interactive``).
    ``backend``: "gloo" (CPU, and CUDA tensors too) or "nccl" (one CUDA GPU per rank).
    Returns the list of the ranks' results, tensors turned into NumPy arrays.
    Raises ``WorkerFailed`` with the worker's traceback as soon as one raises or dies, and
    ``TimeoutError`` after ``timeout`` seconds; all processes are stopped in both cases.
    """
    from .progress import is_interactive

    world_size = _checks.count(world_size, "world_size", " (number of processes)")
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if progress is None:
        progress = "bar" if is_interactive() else None
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl' (GPUs), got {backend!r}")
    if progress not in ("bar", "lines", None):
        raise ValueError(f"progress must be 'bar', 'lines' or None, got {progress!r}")
    _check_sendable(fn)
    host = "127.0.0.1"
    store = dist.TCPStore(host, 0, world_size, is_master=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=timeout))  # port 0: the OS picks a free one
    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_worker_main, daemon=True, args=(
        rank, world_size, host, store.port, timeout, backend, fn, tuple(args), queue))
        for rank in range(world_size)]
    # a spawned child copies os.environ when it starts, before it imports torch: set the
    # thread counts for the children here, and give the parent its own values back after
    before = {name: os.environ.get(name) for name in _ONE_THREAD}
    os.environ.update(_ONE_THREAD)
    try:
        for process in processes:
            process.start()  # pickles fn and args
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        _stop([p for p in processes if p.pid is not None])
        queue.close()
        raise TypeError(f"cannot send fn or args to the worker processes: they must pickle ({err}). "
                        f"Pass plain data in args (numbers, strings, lists, dicts, tensors), not "
                        f"lambdas or local functions; for fn, {_WRITEFILE_HINT}") from err
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    bars = {}
    if progress == "bar":
        from tqdm.auto import tqdm
        bars = {rank: tqdm(total=1, position=rank, leave=True) for rank in range(world_size)}
    results, shown, start = {}, set(), time.perf_counter()
    try:
        while len(results) < world_size:
            if time.perf_counter() - start > timeout:
                waiting = sorted(set(range(world_size)) - set(results))
                raise TimeoutError(f"the {world_size} workers did not finish within {timeout} s (ranks "
                                   f"{waiting} still running); all were stopped. A worker that waits in a "
                                   f"collective for a rank that never joins it hangs: check that every "
                                   f"rank makes the same collective calls, or raise timeout")
            try:
                message = queue.get(timeout=0.2)
            except queue_module.Empty:
                dead = [rank for rank, p in enumerate(processes)
                        if not p.is_alive() and rank not in results]
                if dead:  # died without a word (killed, out of memory, segfault)
                    time.sleep(0.5)  # its last message may still be in transit
                    if queue.empty():
                        raise WorkerFailed(
                            f"worker {dead[0]} exited with code {processes[dead[0]].exitcode} without "
                            f"reporting an error; what it printed went to the standard error of the "
                            f"process that started Python (for a notebook: the Jupyter server's log). "
                            f"A worker that cannot import fn or unpickle args dies like this") from None
                continue
            kind, rank = message[0], message[1]
            if kind == "progress":
                _show_progress(progress, bars, message, start, shown)
            elif kind == "error":
                raise WorkerFailed(_failure_report(world_size, {rank: message[2]}, queue))
            else:
                results[rank] = pickle.loads(message[2])
    finally:
        for bar in bars.values():
            bar.close()
        _stop(processes)
        queue.close()
        del store
    return [results[rank] for rank in range(world_size)]
