"""One Settings object, read from the environment (SLUICE_*), for every entry point."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from core.home import Home
from policies.disclosure import DisclosureRules
from sandbox.jobs import JobSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    home: Path = Path(".sluice-demo")
    database_url: str | None = None
    sandbox_backend: str = "bubblewrap"
    epsilon_per_query: float = 1.0
    max_request_bytes: int = 2_000_000

    @property
    def domain_home(self) -> Home:
        return Home(self.home.resolve())

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.domain_home.database}"

    def job_settings(self) -> JobSettings:
        return JobSettings(
            epsilon_per_query=self.epsilon_per_query,
            backend=self.sandbox_backend,
            rules=DisclosureRules(),
        )
