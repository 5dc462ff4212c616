"""Runs over several processes: real processes on 127.0.0.1, one CPU device each, gloo.

Each test starts its processes itself (tests/distributed_worker.py, or an
experiment's command line), bounds them with a timeout and kills them at the end.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from rnn_jax.errors import ConfigError, UserError
from rnn_jax.training import distributed, loading, rundir

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "distributed_worker.py"
# One device per process: gloo with several forced CPU devices in one process crashes XLA.
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(commands: list[list[str]]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            c, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for c in commands
    ]


def finish(procs: list[subprocess.Popen], timeout: float = 180) -> list[tuple[int, str]]:
    """Wait for every process (killing all of them after ``timeout`` s); ``(rc, output)``."""
    deadline = time.monotonic() + timeout
    try:
        outputs = [p.communicate(timeout=max(deadline - time.monotonic(), 1))[0] for p in procs]
        return [(p.returncode, out) for p, out in zip(procs, outputs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def workers(run_dir, out_dir, processes: int, *extra: str) -> list[tuple[int, str]]:
    """The worker on ``processes`` processes; asserts that all of them succeeded."""
    port = str(free_port())
    procs = start(
        [
            [
                sys.executable,
                str(WORKER),
                str(run_dir),
                str(out_dir),
                str(processes),
                str(i),
                port,
                *extra,
            ]
            for i in range(processes)
        ]  # fmt: skip
    )
    results = finish(procs)
    for rc, out in results:
        assert rc == 0, out[-3000:]
    return results


def params(out_dir, process: int = 0) -> list[np.ndarray]:
    with np.load(Path(out_dir) / f"params_{process}.npz") as f:
        return [f[f"p{i}"] for i in range(len(f.files))]


def assert_close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    # Two devices sum the gradient in two halves (an all-reduce), one in one: float32
    # rounding apart, as for members against their solo runs.
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The uninterrupted one-process run every multi-process run is compared with."""
    root = tmp_path_factory.mktemp("one")
    workers(root / "run", root / "out", 1)
    return root


def losses(run_dir) -> list[float]:
    return [r["value"] for r in rundir.read_metrics(run_dir) if r["name"] == "loss"]


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path, one_process):
    # Process 1 comes late to the fresh run directory, yet does not take it for an old one.
    workers(tmp_path / "run", tmp_path / "out", 2, "--late", "3")
    for x, y in zip(params(tmp_path / "out", 0), params(tmp_path / "out", 1)):
        np.testing.assert_array_equal(x, y)  # every process holds the same parameters
    assert_close(params(tmp_path / "out"), params(one_process / "out"))
    # Saved by two processes, loaded by this one on one device: the same parameters.
    loaded = loading.load_run(tmp_path / "run", "timeseries", which="latest")
    for x, y in zip(jax.tree.leaves(loaded.params), params(tmp_path / "out")):
        np.testing.assert_array_equal(np.asarray(x), y)
    mine, alone = losses(tmp_path / "run"), losses(one_process / "run")
    assert len(mine) == len(alone) > 1  # process 0 alone wrote the metrics
    np.testing.assert_allclose(mine, alone, rtol=1e-5)
    assert (
        json.loads((tmp_path / "run" / "config.json").read_text())["config"]
        == json.loads((one_process / "run" / "config.json").read_text())["config"]
    )


@pytest.mark.slow
def test_a_run_resumes_on_another_number_of_processes(tmp_path, one_process):
    # Started on 2 processes, stopped; resumed on 1, stopped again; finished on 2.
    run, out = tmp_path / "run", tmp_path / "out"
    workers(run, out, 2, "--stop-at-eval", "2")
    workers(run, out, 1, "--resume", "--stop-at-eval", "2")
    assert not out.exists()  # stopped before the end, twice
    workers(run, out, 2, "--resume")
    steps = [r["step"] for r in rundir.read_metrics(run) if r["split"] == "val"]
    assert steps == sorted(set(steps)) and steps[-1] == 24  # one run's record, no repeats
    assert_close(params(out), params(one_process / "out"))


def timeseries(run_dir, processes: int, port: int, *flags: str) -> list[list[str]]:
    return [
        [sys.executable, "-m", "experiments.timeseries", "--workdir", str(run_dir),
         "--model.hidden", "8", "--train.windows", "400", *flags,
         *(["--dist.coordinator", f"127.0.0.1:{port}", "--dist.num-processes",
            str(processes), "--dist.process-id", str(i), "--dist.timeout", "20"]
           if processes > 1 else [])]
        for i in range(processes)
    ]  # fmt: skip


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_processes_is_a_clear_error(tmp_path):
    procs = start(timeseries(tmp_path / "run", 2, free_port(), "--train.batch-size", "25"))
    for rc, out in finish(procs, timeout=120):
        assert rc == 2, out[-2000:]
        assert "a batch of 25 examples does not split evenly over 2 devices (2 processes x 1)" in (
            out
        )


@pytest.mark.slow
def test_a_killed_process_stops_the_other_and_the_run_resumes(tmp_path):
    flags = ["--train.steps", "200", "--train.batch-size", "8"]
    run = tmp_path / "run"
    procs = start(timeseries(run, 2, free_port(), *flags))
    try:
        deadline = time.monotonic() + 120
        while not (run / "ckpt").is_dir() or not any(
            p.name.isdigit() for p in (run / "ckpt").iterdir()
        ):  # the first checkpoint (step 40) is written
            if time.monotonic() > deadline or procs[0].poll() is not None:
                said = "\n".join(f"rc {rc}: {out[-2000:]}" for rc, out in finish(procs, 5))
                pytest.fail(f"no checkpoint; the processes said:\n{said}")
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        (rc, out), _ = finish(procs, timeout=60)
    finally:
        finish(procs, timeout=1)
    assert time.monotonic() - killed < 30  # a clear stop, not a hang
    assert rc == 3, out[-2000:]
    assert "another process of this run stopped" in out and "--resume" in out

    # Resumed on one process, it ends where an uninterrupted one-process run does.
    for command in timeseries(run, 1, 0, *flags, "--resume") + timeseries(
        tmp_path / "alone", 1, 0, *flags
    ):
        (rc, out), = finish(start([command]), timeout=120)  # fmt: skip
        assert rc == 0, out[-2000:]
    resumed = loading.load_run(run, "timeseries", which="latest")
    alone = loading.load_run(tmp_path / "alone", "timeseries", which="latest")
    assert resumed.step == alone.step == 200
    assert_close(jax.tree.leaves(resumed.params), jax.tree.leaves(alone.params))


def test_bad_settings_are_clear_errors():
    with pytest.raises(ConfigError, match=r"missing \['--dist.process-id'\]"):
        distributed.initialize(distributed.DistOptions(coordinator="h:1", num_processes=2))
    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        distributed.initialize(
            distributed.DistOptions(coordinator="h", num_processes=2, process_id=0)
        )
    with pytest.raises(ConfigError, match="process-id 2 is not in 0 .. 1"):
        distributed.initialize(
            distributed.DistOptions(coordinator="h:1", num_processes=2, process_id=2)
        )
    assert list(distributed.share(5, distributed.DistOptions(num_processes=2, process_id=1))) == [
        1,
        3,
    ]
    assert list(distributed.share(3, distributed.DistOptions())) == [0, 1, 2]
    with pytest.raises(ConfigError, match="give both"):
        distributed.share(3, distributed.DistOptions(process_id=0))
    with pytest.raises(UserError, match="no coordinator at 127.0.0.1"):
        distributed.wait_for("127.0.0.1", free_port(), timeout=0.5)


@pytest.mark.slow
def test_auto_outside_a_cluster_is_one_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_"))}
    out = subprocess.run(
        [*timeseries(tmp_path / "run", 1, 0)[0], "--dist.auto"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith("error: --dist.auto found no cluster to join")


@pytest.mark.slow
def test_a_process_that_never_joins_is_one_clear_error_within_the_timeout(tmp_path):
    started = time.monotonic()
    command = timeseries(tmp_path / "run", 2, free_port())[0]  # process 0 alone
    command[command.index("--dist.timeout") + 1] = "3"
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith("error: 0 of the other 1 processes joined within 3 s")
    assert "Traceback" not in out.stderr and time.monotonic() - started < 60
