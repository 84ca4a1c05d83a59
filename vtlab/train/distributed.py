"""torch.distributed set-up for runs started by ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR
and MASTER_PORT).

The start is bounded: before a process waits for its peers it says so on stderr (address, world size, how long
it will wait), and when they do not all arrive within ``timeout_s`` it gives up with one line saying who is
missing and what to do (a ``WORLD_SIZE`` left in the environment is the usual cause). The rendezvous is vtlab's
own (a c10d ``TCPStore`` and one key per rank), so that its timeout bounds the start only: the process group
made on that store keeps torch's usual timeout for the run's collectives.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed.constants import default_pg_timeout

from .._checks import Expect

DEFAULT_START_TIMEOUT_S = 300.0
_ENV_WHAT = {"WORLD_SIZE": Expect(int, low=1), "RANK": Expect(int, low=0), "LOCAL_RANK": Expect(int, low=0),
             "MASTER_PORT": Expect(int, low=1, high=65535)}
_FIX = ("for a single-process run unset WORLD_SIZE (and RANK); for a distributed one start every rank "
        "(e.g. torchrun --nproc_per_node {world_size} -m vtlab train ...) or give them longer with --dist-timeout")


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class Launch:
    """What the launcher's environment says: this process's place and, for more than one process, where rank 0
    listens."""

    rank: int
    world_size: int
    local_rank: int
    address: str | None = None
    port: int | None = None

    @property
    def where(self) -> str:
        """Rank 0's address as ``host:port``."""
        return f"{self.address}:{self.port}"


def _env_int(environ: Mapping[str, str], name: str, default: int | None) -> int | None:
    """The integer environment variable ``name`` (unset or empty: ``default``), checked against its range."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not _ENV_WHAT[name].accepts(value):
        raise ValueError(f"expected the environment variable {name} to be {_ENV_WHAT[name].describe()}, got "
                         f"{environ[name]!r}")
    return value


def read_launch(environ: Mapping[str, str] | None = None) -> Launch:
    """Read and check RANK, WORLD_SIZE, LOCAL_RANK (and for WORLD_SIZE > 1 MASTER_ADDR and MASTER_PORT) from
    ``environ`` (default: ``os.environ``). Unset, WORLD_SIZE is 1 and the others 0; every bad value is a one-line
    ValueError naming the variable and what it holds."""
    environ = os.environ if environ is None else environ
    world_size = _env_int(environ, "WORLD_SIZE", 1)
    rank = _env_int(environ, "RANK", None if world_size > 1 else 0)
    local_rank = _env_int(environ, "LOCAL_RANK", 0)
    if rank is None:
        raise ValueError(f"WORLD_SIZE={world_size} asks for {world_size} processes but RANK (this process's "
                         f"number, 0 to {world_size - 1}) is not set; {_FIX.format(world_size=world_size)}")
    if rank >= world_size:
        raise ValueError(f"expected the environment variable RANK to be below WORLD_SIZE={world_size} (0 to "
                         f"{world_size - 1}), got {environ['RANK']!r}")
    if world_size == 1:
        return Launch(rank, world_size, local_rank)
    address = environ.get("MASTER_ADDR", "").strip()
    port = _env_int(environ, "MASTER_PORT", None)
    if not address or port is None:
        missing = " and ".join(name for name, value in (("MASTER_ADDR", address), ("MASTER_PORT", port))
                               if not value)
        raise ValueError(f"WORLD_SIZE={world_size} asks for {world_size} processes but {missing} (where rank 0 "
                         f"listens) is not set; {_FIX.format(world_size=world_size)}")
    return Launch(rank, world_size, local_rank, address, port)


def init_distributed(device_type: str, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> Distributed:
    """Join the process group when launched by torchrun (NCCL on CUDA, gloo on the CPU); else one process.

    ``timeout_s`` (a number > 0, seconds) bounds the start: waiting for all WORLD_SIZE processes to arrive.
    Past it the start fails with a ``TimeoutError`` naming who did not arrive. The run's collectives keep
    torch's default timeout."""
    Expect(float, above=0).check("timeout_s (the distributed start's timeout, seconds)", timeout_s)
    launch = read_launch()
    if launch.world_size == 1:
        return Distributed(local_rank=launch.local_rank)
    if not dist.is_initialized():
        store = _rendezvous(launch, timeout_s)
        store.set_timeout(default_pg_timeout)
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", store=store,
                                rank=launch.rank, world_size=launch.world_size)
    return Distributed(dist.get_rank(), dist.get_world_size(), launch.local_rank)


def _rendezvous(launch: Launch, timeout_s: float) -> dist.Store:
    """Meet the other processes at rank 0's store within ``timeout_s``: rank 0 serves it (unless torchrun's
    agent already does), every rank writes its key, and all wait for every key."""
    deadline = time.monotonic() + timeout_s
    others = launch.world_size - 1
    print(f"vtlab: rank {launch.rank}: waiting for {others} other process{'es' if others > 1 else ''} at "
          f"{launch.where} (world size {launch.world_size}), for up to {timeout_s:g} s; set with --dist-timeout",
          file=sys.stderr, flush=True)
    agent_serves = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # torchrun's agent hosts the store
    serve = launch.rank == 0 and not agent_serves
    if not serve:
        _wait_until_listening(launch, deadline, timeout_s)
    try:
        store = dist.TCPStore(launch.address, launch.port, launch.world_size, is_master=serve,
                              timeout=timedelta(seconds=max(deadline - time.monotonic(), 1.0)),
                              wait_for_workers=False)
    except dist.DistError as error:
        raise OSError(f"rank {launch.rank}: could not {'listen' if serve else 'connect'} at {launch.where} "
                      f"(MASTER_ADDR, MASTER_PORT): {str(error).splitlines()[0]}") from None
    prefix = f"vtlab/start/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/rank"
    keys = [f"{prefix}{rank}" for rank in range(launch.world_size)]
    try:
        store.set(keys[launch.rank], "arrived")
        while not store.check(keys):  # polled, not store.wait(): its timeout logs c10d warnings on the way
            if time.monotonic() >= deadline:
                raise _missing_peers(launch, store, keys, timeout_s)
            time.sleep(0.1)
    except dist.DistError as error:  # the store itself is gone: rank 0 ended (it gave up, or failed)
        raise ConnectionError(f"rank {launch.rank}: lost rank 0 at {launch.where} while waiting for the other "
                              f"processes ({str(error).splitlines()[0]})") from None
    return store


def _wait_until_listening(launch: Launch, deadline: float, timeout_s: float) -> None:
    """Poll rank 0's address until it accepts a connection (quietly: c10d's own retries log every attempt)."""
    while True:
        try:
            with socket.create_connection((launch.address, launch.port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"rank {launch.rank}: gave up after {timeout_s:g} s: rank 0 of "
                                   f"{launch.world_size} never listened at {launch.where} (MASTER_ADDR, "
                                   f"MASTER_PORT); {_FIX.format(world_size=launch.world_size)}") from None
            time.sleep(0.2)


def _missing_peers(launch: Launch, store: dist.Store, keys: list[str], timeout_s: float) -> TimeoutError:
    """The error for a rendezvous that did not complete in time, naming the ranks that never arrived."""
    missing = [rank for rank, key in enumerate(keys) if not store.check([key])]
    arrived = launch.world_size - len(missing)
    return TimeoutError(f"rank {launch.rank}: gave up after {timeout_s:g} s at {launch.where}: {arrived} of "
                        f"{launch.world_size} processes arrived, rank{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(map(str, missing))} did not (WORLD_SIZE={launch.world_size}); "
                        f"{_FIX.format(world_size=launch.world_size)}")


def all_reduce_sum(values: list[float], device: torch.device, ctx: Distributed) -> list[float]:
    """Sum each value over all processes (identity in a single process)."""
    if not ctx.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
