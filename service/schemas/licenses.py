"""Licenses (授权) and their privacy-budget ledgers as the API shows them."""

from __future__ import annotations

from typing import Any

from service.schemas import Number, Out

__all__ = ["BudgetOut", "ChargeOut", "LicenseOut"]


class LicenseOut(Out):
    """A license, or an application for one (status `pending`)."""

    id: int
    operator_id: int
    operator: str | None
    datasets: list[str]
    max_level: str
    purpose: str
    scenario: str
    valid_from: str | None
    valid_until: str
    row_filters: dict[str, str]
    epsilon_total: Number
    epsilon_spent: Number
    epsilon_remaining: Number
    delta_total: Number
    delta_spent: Number
    delta_remaining: Number
    status: str
    requested: dict[str, Any] | None
    applied_by: str | None
    granted_by: str | None
    decision_note: str


class ChargeOut(Out):
    """One charge; `job` is text because notebook queries are charged per broker call."""

    job: str
    epsilon: Number
    delta: Number
    at: str


class BudgetOut(Out):
    """Every ε (and δ) charged to one license, oldest first."""

    license: int
    epsilon_total: Number
    epsilon_spent: Number
    delta_total: Number
    delta_spent: Number
    charges: list[ChargeOut]
