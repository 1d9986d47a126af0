"""How jobs run on this domain: the sandbox backend, limits, disclosure rules, ε per query."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gate.disclosure import DisclosureRules
from gate.output_limits import OutputLimits
from policies.complexity import QueryBudget
from sandbox.bubblewrap import BubblewrapRunner
from sandbox.limits import Limits
from sandbox.queue import LocalQueue, host_slots
from sandbox.runner import Runner, get_runner, resolve_backend
from sandbox.warm_pool import WarmPool


@dataclass(frozen=True)
class JobSettings:
    """How jobs run. `backend` is docker, bubblewrap or auto (docker when an engine
    answers and the image is built, else bubblewrap); `limits` are the domain's
    defaults, which a license's own limits override. `sandbox_runner`, when set, is
    the runner every job uses instead of one built from `backend` (a test's fake, or
    an embedding application's own backend)."""

    epsilon_per_query: float = 1.0
    backend: str = "auto"
    limits: Limits = Limits()
    rules: DisclosureRules = DisclosureRules()
    image: str | None = None
    pool_size: int = 0
    pool_dir: Path | None = None
    pool_home: Path | None = None  # the domain home whose warm pool docker uses
    query_budget: QueryBudget = QueryBudget()  # the policy analysis's size and time
    output_limits: OutputLimits = OutputLimits()  # what the gate agrees to read
    sandbox_runner: Runner | None = field(default=None, compare=False)
    broker_max_requests: int = 100  # query() and fit() calls one notebook may make
    # The bounded local queue: sandboxes run at once by jobs that run where they were
    # submitted (0: as many as the host can take), and the folder of its slots.
    slots: int = 0
    slots_dir: Path | None = None

    def queue(self) -> LocalQueue:
        return LocalQueue(self.slots_dir, self.slots)

    def warm_pool(self, size: int = 0) -> WarmPool | None:
        """Start this process's warm bubblewrap sandboxes: `size`, or one per slot of the
        local queue (as many as may run at once); or None where they do not apply: docker keeps its
        own pool, `pool_size` 0 turns warm sandboxes off. Long-lived processes (the
        service, a worker) call it; a one-job CLI process would only start and kill them."""
        if self.sandbox_runner is not None or self.pool_size <= 0:
            return None
        if resolve_backend(self.backend) != "bubblewrap":
            return None
        runner = get_runner("bubblewrap")
        assert isinstance(runner, BubblewrapRunner)
        base = self.pool_dir or (self.pool_home / "sandbox-pool" if self.pool_home else None)
        folder = base / "bubblewrap" if base is not None else None
        size = size or self.slots or host_slots(self.limits)
        return WarmPool(runner, self.limits, size, folder).start()

    def runner(self) -> Runner:
        if self.sandbox_runner is not None:
            return self.sandbox_runner
        backend = resolve_backend(self.backend)
        if backend != "docker":
            return get_runner(backend)
        options = {"image": self.image, "pool_size": self.pool_size, "pool_dir": self.pool_dir}
        return get_runner(backend, pool_limits=self.limits, home=self.pool_home, **options)
