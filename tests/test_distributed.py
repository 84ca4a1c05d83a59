"""The distributed start: the launcher's environment is checked (one line per bad variable), a process that waits
for its peers says so and gives up after its timeout with a message naming who is missing, and real processes
on the loopback address still meet and sum a number over gloo."""

import os
import socket
import subprocess
import sys

import pytest

import vtlab.train.distributed as distributed

LAUNCH_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
                    "TORCHELASTIC_RESTART_COUNT")
# One process of a run: start, sum rank + 1 over the processes, print it and the store's timeout after the start;
# an error printed as the CLI prints it, and how long the start took on stdout.
WORKER = """
import sys, time, torch, torch.distributed as dist
from vtlab.train.distributed import all_reduce_sum, init_distributed
began = time.monotonic()
try:
    ctx = init_distributed("cpu", timeout_s=float(sys.argv[1]))
except (ValueError, OSError) as error:
    print(time.monotonic() - began)
    sys.exit(print(f"vtlab: error: {error}", file=sys.stderr) or 2)
total = all_reduce_sum([ctx.rank + 1.0], torch.device("cpu"), ctx)
print(ctx.rank, total[0], dist.distributed_c10d._get_default_store().timeout.total_seconds())
dist.destroy_process_group()
"""


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports free now (held together while they are chosen)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start(rank: int, world_size: int, port: int, timeout_s: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    env |= {"WORLD_SIZE": str(world_size), "RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", WORKER, str(timeout_s)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def clean_environment(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_world_size_that_is_no_number_is_one_line(clean_environment):
    clean_environment.setenv("WORLD_SIZE", "abc")
    with pytest.raises(ValueError, match="^expected the environment variable WORLD_SIZE to be a positive integer, "
                                         "got 'abc'$"):
        distributed.init_distributed("cpu")


@pytest.mark.parametrize("environment, message", [
    ({"WORLD_SIZE": "0"}, "WORLD_SIZE to be a positive integer, got '0'"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, r"RANK to be below WORLD_SIZE=2 \(0 to 1\), got '2'"),
    ({"WORLD_SIZE": "2", "RANK": "-1"}, "RANK to be an integer >= 0, got '-1'"),
    ({"WORLD_SIZE": "2", "RANK": "one"}, "RANK to be an integer >= 0, got 'one'"),
    ({"LOCAL_RANK": "1.5"}, "LOCAL_RANK to be an integer >= 0, got '1.5'"),
    ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 asks for 2 processes but RANK .* is not set; for a single-process run "
                          "unset WORLD_SIZE"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "29500"}, "but MASTER_ADDR .* is not set"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1"}, "but MASTER_PORT .* is not set"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "70000"},
     "MASTER_PORT to be an integer >= 1 and <= 65535, got '70000'"),
])
def test_each_launch_variable_is_checked(environment, message):
    with pytest.raises(ValueError, match=message) as error:
        distributed.read_launch(environment)
    assert "\n" not in str(error.value)


def test_the_environment_of_one_process_or_of_a_rank_is_read():
    assert distributed.read_launch({}) == distributed.Launch(0, 1, 0)
    assert distributed.read_launch({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
                                    "MASTER_PORT": "29500"}) == distributed.Launch(3, 4, 1, "127.0.0.1", 29500)


@pytest.mark.parametrize("timeout_s", [0, -1.0, "300", float("inf")])
def test_the_start_timeout_must_be_a_positive_number(clean_environment, timeout_s):
    with pytest.raises(ValueError, match="expected timeout_s .* to be a number > 0, got "):
        distributed.init_distributed("cpu", timeout_s=timeout_s)


def test_a_lone_rank_says_it_waits_and_gives_up_after_its_timeout():
    """A WORLD_SIZE=2 left in the environment: rank 0 alone, and rank 1 alone (no rank 0 to reach)."""
    ports = free_ports(2)
    processes = {rank: start(rank, 2, ports[rank], 2) for rank in (0, 1)}
    outputs = {rank: p.communicate(timeout=60) for rank, p in processes.items()}
    for rank, (stdout, stderr) in outputs.items():
        lines = stderr.splitlines()
        assert processes[rank].returncode == 2 and len(lines) == 2, stderr
        assert 2 <= float(stdout) < 8  # the start's own time: the 2 s it waited, and no hang
        assert lines[0] == (f"vtlab: rank {rank}: waiting for 1 other process at 127.0.0.1:{ports[rank]} (world "
                            f"size 2), for up "
                            f"to 2 s; set with --dist-timeout")
        assert lines[1].startswith(f"vtlab: error: rank {rank}: gave up after 2 s")
        assert "for a single-process run unset WORLD_SIZE" in lines[1] and "--dist-timeout" in lines[1]
    assert "1 of 2 processes arrived, rank 1 did not" in outputs[0][1]
    assert "rank 0 of 2 never listened" in outputs[1][1]


def test_two_processes_meet_over_gloo_and_keep_the_usual_collective_timeout():
    import torch.distributed.constants

    port, = free_ports(1)
    processes = [start(rank, 2, port, 60) for rank in (0, 1)]
    outputs = [p.communicate(timeout=90) for p in processes]
    usual = torch.distributed.constants.default_pg_timeout.total_seconds()
    for rank, (p, (stdout, stderr)) in enumerate(zip(processes, outputs, strict=True)):
        assert p.returncode == 0, stderr
        assert stdout.split() == [str(rank), "3.0", str(usual)], stdout
