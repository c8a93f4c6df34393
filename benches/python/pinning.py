"""Where a pinned row of `cargo bench --bench versus` runs its clients and
its server: the bench passes the two CPUs in FORKLORE_BENCH_CPUS
("CLIENT,SERVER"), and puts forklore's own clients and server on the same
ones. Without the variable (an unpinned row, a machine with one CPU, a
script run by hand) nothing is pinned.

    manager = manager_on_server_cpu(mp.get_context("fork"))

starts a Manager whose server process runs on the server CPU and leaves
this process (the client) on the client CPU.
"""
import os

_CPUS = [int(c) for c in os.environ.get("FORKLORE_BENCH_CPUS", "").split(",") if c]


def _pin(i):
    if len(_CPUS) == 2:
        os.sched_setaffinity(0, {_CPUS[i]})


def manager_on_server_cpu(ctx):
    """ctx.Manager(), its server forked while this process runs on the
    server CPU (the child inherits it); then back to the client CPU."""
    _pin(1)
    manager = ctx.Manager()
    _pin(0)
    return manager
