"""One Settings object, read from the environment (SLUICE_*), for every entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from audit_log.signing import suite_parts
from core.home import Home
from gate.disclosure import DisclosureRules
from gate.output_limits import OutputLimits
from jobs.settings import JobSettings
from operators.lockout import Lockout
from policies.complexity import QueryBudget
from sandbox.limits import Limits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    home: Path = Path(".sluice-demo")
    database_url: str | None = None
    # docker | bubblewrap | auto (docker when an engine answers and the image is built)
    sandbox_backend: str = "auto"
    # The domain's sandbox limits as JSON (e.g. '{"memory_mb": 1024}'); licenses may override.
    sandbox_limits: dict[str, int] = {}
    # The docker backend's runtime image (default: the content-hash tag of `sandbox build-image`).
    sandbox_image: str | None = None
    # Docker containers kept started ahead of demand, and where their slots live: by
    # default in the domain home (<home>/sandbox-pool); if set, in <dir>/<home's scope>.
    # Under bubblewrap the service and workers keep one warm sandbox per slot of the
    # local queue (sandbox_slots); 0 here turns warm sandboxes off for both backends.
    sandbox_pool_size: int = 2
    sandbox_pool_dir: Path | None = None
    # Sandboxes run at once by jobs without workers (0: one per core, within RAM); a
    # burst of submissions waits for a slot instead of competing for the cores.
    sandbox_slots: int = 0
    epsilon_per_query: float = 1.0
    # Where `--engine spark` jobs run: local[N], spark://host:7077, or sc://host (Spark Connect).
    spark_master: str = "local[2]"
    # How long a worker's claim on a job lasts without a heartbeat (see jobs.worker).
    worker_lease_seconds: int = 60
    max_request_bytes: int = 2_000_000
    # Wrong passwords or one-time codes for one name within the window that lock it
    # (operators.lockout), and for how long.
    login_max_failures: int = 5
    login_failure_minutes: int = 15
    login_lockout_minutes: int = 15
    # The policy analysis's budget (policies.complexity) and what the gate agrees to read
    # of one output (gate.output_limits); docs/hardening.md lists them all.
    policy_max_query_chars: int = 100_000
    policy_max_nesting: int = 64
    policy_max_nodes: int = 50_000
    policy_seconds: float = 2.0
    output_max_rows: int = 2_000_000
    output_max_cells: int = 20_000_000
    output_max_bytes: int = 256_000_000
    # The domain's crypto suite: default (Ed25519, SHA-256, AES-256-GCM) or gm (国密: SM2
    # signatures on heads and packages, SM3 Merkle tree, SM4-GCM releases with SM2 key wrap).
    crypto_suite: str = "default"
    # The audit log's hash suite (sha256 or sm3; default: the crypto suite's), fixed at init.
    audit_hash: str | None = None
    # A signed tree head every this many audit entries (and on `sluice audit checkpoint`).
    audit_checkpoint_every: int = 1000
    # Sign a tree head at least this often while entries arrive (and at every release).
    audit_head_seconds: int = 60
    # The domain's disclosure rules as JSON (e.g. '{"threshold": 20}'); ACRO's defaults unset.
    disclosure: dict[str, Any] = {}
    # Rules that may be weaker than the defaults, named one by one (JSON list): the opt-in.
    disclosure_allow_weaker: list[str] = []

    @property
    def domain_home(self) -> Home:
        return Home(self.home.resolve(), self.crypto_suite)

    @property
    def hash_suite(self) -> str:
        return self.audit_hash or suite_parts(self.crypto_suite)[1]

    @property
    def signature_algorithm(self) -> str:
        return suite_parts(self.crypto_suite)[0]

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.domain_home.database}"

    def disclosure_rules(self) -> DisclosureRules:
        return DisclosureRules.from_dict(self.disclosure, allow_weaker=self.disclosure_allow_weaker)

    def job_settings(self) -> JobSettings:
        return JobSettings(
            epsilon_per_query=self.epsilon_per_query,
            backend=self.sandbox_backend,
            rules=self.disclosure_rules(),
            limits=Limits(**self.sandbox_limits),
            image=self.sandbox_image,
            pool_size=self.sandbox_pool_size,
            pool_dir=self.sandbox_pool_dir,
            pool_home=self.domain_home.root,
            slots=self.sandbox_slots,
            slots_dir=self.domain_home.root / "sandbox-slots",
            query_budget=self.query_budget(),
            output_limits=OutputLimits(
                self.output_max_rows, self.output_max_cells, self.output_max_bytes
            ),
        )

    def login_lockout(self) -> Lockout:
        return Lockout(
            self.login_max_failures, self.login_failure_minutes, self.login_lockout_minutes
        )

    def query_budget(self) -> QueryBudget:
        return QueryBudget(
            self.policy_max_query_chars,
            self.policy_max_nesting,
            self.policy_max_nodes,
            self.policy_seconds,
        )
