"""Jobs: the job model and its state machine, the one submission path, the runner that
drives a job through policy → sandbox → gate, engines, workers and the ε ledger."""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from jobs.engines import EngineReason, choose_engine, engine_for, set_engine_default
    from jobs.ledger import (
        BudgetCharge,
        LedgerBalance,
        charge,
        ledger_balance,
        ledger_consistent,
        unbalanced_ledgers,
    )
    from jobs.lifecycle import transition
    from jobs.queries import get_job, job_dir, list_jobs
    from jobs.records import Job, JobStatus
    from jobs.runner import run
    from jobs.settings import JobSettings
    from jobs.submit import decide, submit

__getattr__ = lazy_exports(__name__, __file__, shared=("submit",))

__all__ = [
    "BudgetCharge",
    "EngineReason",
    "Job",
    "JobSettings",
    "JobStatus",
    "LedgerBalance",
    "charge",
    "choose_engine",
    "decide",
    "engine_for",
    "get_job",
    "job_dir",
    "ledger_balance",
    "ledger_consistent",
    "list_jobs",
    "run",
    "set_engine_default",
    "submit",
    "transition",
    "unbalanced_ledgers",
]
