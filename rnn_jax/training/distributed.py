"""Several processes (on one host or many) as one run, through ``jax.distributed``.

Every process runs the same command with its own ``--dist.process-id``; JAX's
coordination service (on process 0's ``--dist.coordinator HOST:PORT``) joins
them, and on CPUs gloo carries the collectives. The training mesh then spans
every process's devices (:func:`rnn_jax.training.parallel.data_parallel_mesh`), each
process feeds its own rows of every batch (:func:`rnn_jax.training.parallel.feed`), all
take part in each checkpoint (orbax), and process 0 alone writes metrics,
figures and results (:func:`is_writer`).
"""

import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Annotated, NoReturn

import jax
from jax.experimental import multihost_utils

from rnn_jax.errors import ConfigError, UserError
from rnn_jax.training import checks


@dataclass(frozen=True)
class DistOptions:
    """How to join a multi-process run (``--dist.*``); none of it changes the result."""

    coordinator: Annotated[str | None, checks.address] = None
    """HOST:PORT of process 0, where the others join it (several processes or hosts)."""
    num_processes: Annotated[int | None, checks.count] = None
    """Processes in the run, all hosts together."""
    process_id: Annotated[int | None, checks.non_negative] = None
    """This process's index, 0 .. num-processes - 1 (0 hosts the coordinator)."""
    auto: bool = False
    """Let jax.distributed detect the cluster instead (SLURM, Open MPI, Kubernetes)."""
    timeout: Annotated[int, checks.positive] = 60
    """Seconds to wait for every process to join, and without a heartbeat from one before
    the others stop."""

    @property
    def wanted(self) -> bool:
        return self.auto or any(
            v is not None for v in (self.coordinator, self.num_processes, self.process_id)
        )


def initialize(options: DistOptions) -> None:
    """Join the run ``options`` describe (nothing for a single process); call it before JAX
    computes anything.

    Raises:
      ConfigError: incomplete or inconsistent settings, or JAX has started already.
      UserError: the processes did not all join within the timeout.
    """
    if not options.wanted or jax.distributed.is_initialized():
        return
    if not options.auto:
        missing = [
            f"--dist.{name.replace('_', '-')}"
            for name in ("coordinator", "num_processes", "process_id")
            if getattr(options, name) is None
        ]
        if missing:
            raise ConfigError(
                f"a multi-process run needs --dist.coordinator, --dist.num-processes and "
                f"--dist.process-id (missing {missing}), or --dist.auto on a cluster"
            )
        host, _, port = options.coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"--dist.coordinator {options.coordinator!r} is not HOST:PORT "
                "(e.g. 10.0.0.1:1234, process 0's address)"
            )
        if not 0 <= options.process_id < options.num_processes:
            raise ConfigError(
                f"--dist.process-id {options.process_id} is not in 0 .. "
                f"{options.num_processes - 1} (--dist.num-processes {options.num_processes})"
            )
        rendezvous(host, int(port), options.num_processes, options.process_id, options.timeout)
    # CPU collectives across processes go through gloo (GPUs use NCCL and ignore this).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=options.coordinator,
            num_processes=options.num_processes,
            process_id=options.process_id,
            initialization_timeout=options.timeout,
            heartbeat_timeout_seconds=options.timeout,
        )
    except RuntimeError as err:
        raise ConfigError(
            f"cannot join the multi-process run ({err}); start it before JAX computes "
            "anything, with the same --dist.coordinator and --dist.num-processes everywhere"
        ) from err
    except Exception as err:  # the coordination service reports as XlaRuntimeError
        if options.auto:
            raise UserError(
                f"--dist.auto found no cluster to join ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:160]}); outside SLURM, Open MPI or Kubernetes pass "
                "--dist.coordinator, --dist.num-processes and --dist.process-id"
            ) from err
        raise UserError(
            f"process {options.process_id} could not join the run at {options.coordinator} "
            f"within {options.timeout} s ({type(err).__name__}): are all "
            f"{options.num_processes} processes started, and is the port open?"
        ) from err


def spans_processes() -> bool:
    """Whether this run spans several processes (one mesh over all their devices)."""
    return jax.process_count() > 1


def share(count: int, options: DistOptions) -> range:
    """This process's share of ``count`` independent runs (a sweep's members), by
    ``--dist.process-id`` of ``--dist.num-processes`` (with ``--dist.auto``, from SLURM's
    ``SLURM_PROCID`` / ``SLURM_NTASKS``): every ``num-processes``-th run from its id.

    Raises:
      ConfigError: a process id out of range, or --dist.auto outside SLURM.
    """
    processes, me = options.num_processes, options.process_id
    if options.auto:
        if "SLURM_PROCID" not in os.environ:
            raise ConfigError(
                "--dist.auto shares a sweep out by SLURM_PROCID and SLURM_NTASKS, which are "
                "not set; pass --dist.num-processes and --dist.process-id"
            )
        processes, me = int(os.environ["SLURM_NTASKS"]), int(os.environ["SLURM_PROCID"])
    if processes is None and me is None:
        return range(count)
    if processes is None or me is None or not 0 <= me < processes:
        raise ConfigError(
            f"--dist.process-id {me} of --dist.num-processes {processes}: give both, the id "
            "in 0 .. num-processes - 1"
        )
    return range(me, count, processes)


def rendezvous(host: str, port: int, processes: int, me: int, timeout: float) -> None:
    """Every process checks in with process 0 on the coordinator's port before JAX's own
    service starts there, so that a process that never comes is a clear error within
    ``timeout`` s (JAX would abort with a C++ stack trace).

    Raises:
      UserError: not every process checked in (process 0), or no coordinator answered.
    """
    if processes < 2:
        return
    if me:
        conn = wait_for(host, port, timeout)
        conn.settimeout(2 * timeout)  # process 0 waits up to timeout for the last one
        try:  # process 0 says go once all are here; closing first leaves it the port free
            if conn.recv(2, socket.MSG_WAITALL) != b"go":
                raise UserError(
                    f"the coordinator at {host}:{port} stopped before every process joined"
                )
        except TimeoutError:
            raise UserError(
                f"the coordinator at {host}:{port} did not see every process within {timeout} "
                "s; start all of them with the same --dist.coordinator and --dist.num-processes"
            ) from None
        finally:
            conn.close()
        return
    peers: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    with socket.create_server(("", port)) as server:
        while len(peers) < processes - 1:
            server.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                peers.append(server.accept()[0])
            except TimeoutError:
                for peer in peers:
                    peer.close()
                raise UserError(
                    f"{len(peers)} of the other {processes - 1} processes joined within {timeout} "
                    f"s at port {port}; start every process with the same --dist.coordinator and "
                    "--dist.num-processes (or raise --dist.timeout)"
                ) from None
    for peer in peers:
        peer.sendall(b"go")
        peer.settimeout(timeout)
        try:
            peer.recv(1)  # the peer closes first
        except OSError:
            pass
        peer.close()


def wait_for(host: str, port: int, timeout: float) -> socket.socket:
    """A connection to the coordinator, once it accepts one; a clear error after ``timeout``
    s (JAX itself would abort the process)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=1.0)
        except OSError as err:
            if time.monotonic() > deadline:
                raise UserError(
                    f"no coordinator at {host}:{port} after {timeout} s ({err}); start process "
                    "0 first, with the same --dist.coordinator, and check that the port is open"
                ) from None
            time.sleep(0.2)


def barrier(name: str) -> None:
    """Wait until every process of the run has come here (at once for a single process)."""
    if spans_processes():
        multihost_utils.sync_global_devices(name)


def is_writer() -> bool:
    """Whether this process writes the run's files (metrics, figures, results): process 0."""
    return jax.process_index() == 0


def is_peer_lost(err: BaseException) -> bool:
    """Whether ``err`` is a collective or barrier that failed because a process went away."""
    signs = ("Gloo", "gloo", "Connection reset", "heartbeat", "NCCL", "Barrier")
    return spans_processes() and any(sign in str(err) for sign in signs)


def stop_after_lost_peer(err: BaseException, folder: object | None = None) -> NoReturn:
    """Print why this process stops and leave at once: waiting on JAX's shutdown barrier
    for the lost process would only end in an abort. ``folder``: the run directory, where
    training had begun."""
    again = (
        f"the last checkpoint in {folder} is kept: start all processes again with --resume "
        "(on any number of processes)"
        if folder is not None
        else "start all processes again (with --resume if the run directory was made)"
    )
    print(  # on a line of its own, below process 0's progress bar
        f"\nerror: another process of this run stopped ({str(err).splitlines()[0][:200]}); "
        + again,
        file=sys.stderr,
        flush=True,
    )
    os._exit(3)
