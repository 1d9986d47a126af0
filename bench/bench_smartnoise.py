"""Sluice's noise against SmartNoise SQL's at equal ε: error per noised cell.

The same 20,000 synthetic enterprises, the same grouped COUNT/SUM/AVG queries, ε = 1
per query, repeated runs; for every noised cell, the mean absolute error of each
system over the runs, and their ratio (Sluice ÷ SmartNoise; ≤ 1.0 means Sluice is at
least as accurate). Keys are public code lists on both sides (SmartNoise's
`censor_dims` off; Sluice's public key set), so only the value noise is compared.
"Equal ε" means equal total cost per query: SmartNoise charges an AVG twice (its SUM
and its COUNT each get the ε asked for), so its ε is scaled to make the query cost ε.
Sluice's side is what the gate does to a core table (policies.privacy.apply_noise on
the exact core from DuckDB); each noisy column's stated 95 % half-width is checked
against its measured errors too (a mean's per group: ci95 over the group's rows).
"self max" runs Sluice twice and gives the largest per-cell ratio between the two: how
far from 1.0 a ratio wanders by sampling alone, at this number of runs. "vs Laplace"
is computed, not sampled: Sluice's expected |error| over Δ/ε, a continuous Laplace's
at the same ε and sensitivity (what SmartNoise adds to a float SUM).

SmartNoise SQL pins its own dependencies, so it runs in a separate interpreter:

    python3 -m venv /tmp/snvenv && /tmp/snvenv/bin/pip install smartnoise-sql pandas
    .venv/bin/python bench/bench_smartnoise.py --smartnoise-python /tmp/snvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1]))

from catalog.schema import parse_schema  # noqa: E402
from core.levels import Level  # noqa: E402
from policies import discrete  # noqa: E402
from policies.engine import LicenseScope, check_query  # noqa: E402
from policies.privacy import NoiseSpec, apply_noise  # noqa: E402

DISTRICTS = ["海曙区", "江北区", "北仑区", "镇海区", "鄞州区", "奉化区", "余姚市", "慈溪市"]
INDUSTRIES = ["制造业", "批发和零售业", "建筑业", "住宿和餐饮业", "房地产业", "教育"]
SCHEMA = {
    "dataset": "firms",
    "title": "bench",
    "privacy_unit": "enterprise_id",
    "columns": [
        {"name": "enterprise_id", "type": "string", "level": "L3", "role": "identifier"},
        {"name": "district", "type": "string", "level": "L1", "role": "dimension",
         "categories": DISTRICTS},
        {"name": "industry", "type": "string", "level": "L1", "role": "dimension",
         "categories": INDUSTRIES},
        {"name": "water_fee", "type": "double", "level": "L3", "role": "measure",
         "bounds": [0, 100000]},
        {"name": "employees", "type": "integer", "level": "L3", "role": "measure",
         "bounds": [0, 1000]},
    ],
}  # fmt: skip
QUERIES = {
    "count by district": "SELECT district, COUNT(water_fee) AS v FROM firms GROUP BY district",
    "sum fee by district": "SELECT district, SUM(water_fee) AS v FROM firms GROUP BY district",
    "avg fee by district": "SELECT district, AVG(water_fee) AS v FROM firms GROUP BY district",
    "count by industry": "SELECT industry, COUNT(employees) AS v FROM firms GROUP BY industry",
    "sum staff by industry": "SELECT industry, SUM(employees) AS v FROM firms GROUP BY industry",
    "avg staff by industry": "SELECT industry, AVG(employees) AS v FROM firms GROUP BY industry",
}
SMARTNOISE_SIDE = r"""
import json, sys
import pandas as pd
import snsql
from snsql import Privacy
data, queries = sys.argv[1], json.loads(sys.argv[2])
runs, epsilon = int(sys.argv[3]), float(sys.argv[4])
frame = pd.read_csv(data)
meta = {"": {"bench": {"firms": {
    "max_ids": 1, "row_privacy": False, "censor_dims": False, "clamp_counts": False,
    "enterprise_id": {"type": "string", "private_id": True},
    "district": {"type": "string"}, "industry": {"type": "string"},
    "water_fee": {"type": "float", "lower": 0, "upper": 100000},
    "employees": {"type": "int", "lower": 0, "upper": 1000},
}}}}
out = {}
for name, sql in queries.items():
    sql = sql.replace("FROM firms", "FROM bench.firms")
    # SmartNoise charges each mechanism its ε (an AVG is a SUM and a COUNT: 2ε); scale
    # so that the whole query costs ε, as a Sluice query does
    probe = snsql.from_df(frame, privacy=Privacy(epsilon=epsilon, delta=1e-6), metadata=meta)
    scaled = epsilon * epsilon / float(probe.get_privacy_cost(sql)[0])
    reader = snsql.from_df(frame, privacy=Privacy(epsilon=scaled, delta=1e-6), metadata=meta)
    draws = []
    for _ in range(runs):
        result = reader.execute_df(sql)
        draws.append({str(k): float(v) for k, v in zip(result.iloc[:, 0], result["v"])})
    out[name] = draws
print(json.dumps(out, ensure_ascii=False))
"""


def make_firms(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "enterprise_id": [f"e{i:06d}" for i in range(n)],
            "district": rng.choice(DISTRICTS, n, p=[0.15, 0.1, 0.12, 0.08, 0.25, 0.05, 0.12, 0.13]),
            "industry": rng.choice(INDUSTRIES, n, p=[0.35, 0.3, 0.1, 0.1, 0.1, 0.05]),
            "water_fee": np.clip(rng.lognormal(8.5, 1.0, n), 0, 100000).round(2),
            "employees": np.clip(rng.lognormal(3.0, 1.0, n), 0, 1000).round().astype(int),
        }
    )


def sluice_draws(firms: pd.DataFrame, runs: int, epsilon: float) -> dict[str, list[dict]]:
    """Per query, `runs` released tables as {key: value}; beside each, under "<name> ci95",
    each key's stated half-width (an average's is ci95 over the group's rows)."""
    schema = parse_schema(SCHEMA)
    scope = LicenseScope(("firms",), Level.L3)
    store = duckdb.connect()
    store.register("firms", firms)
    out: dict[str, list[dict]] = {}
    for name, sql in QUERIES.items():
        decision = check_query(sql, {"firms": schema}, scope, epsilon)
        assert decision.partition is None and decision.noise, name
        core = store.execute(decision.sql).df()
        key = core.columns[0]
        keys = core[key].astype(str)
        out[name] = [
            dict(zip(keys, apply_noise(core, decision.noise)["v"].astype(float), strict=True))
            for _ in range(runs)
        ]
        spec = decision.noise[0]
        out[name + " expected"] = [{"ratio": expected_ratio(spec)}]
        rows = core["__cnt__v"] if spec.ci95_divisor == "rows" else pd.Series(1, index=core.index)
        out[name + " ci95"] = [dict(zip(keys, spec.ci95 / rows.astype(float), strict=True))]
    return out


def expected_ratio(spec: NoiseSpec) -> float:
    """Sluice's expected |error| over a continuous Laplace's (Δ/ε) at the same ε and
    sensitivity, which is what SmartNoise adds to a float sum: exact for counts and
    sums (discrete Laplace in units of g, E|Z| = 2a/(1 − a²)); NaN for means."""
    if spec.ci95_divisor:
        return float("nan")
    a = discrete.alpha(spec.value_epsilon, spec.value_units)
    return 2 * a / (1 - a * a) * spec.granularity / (spec.sensitivity / spec.value_epsilon)


def truth(firms: pd.DataFrame) -> dict[str, dict[str, float]]:
    store = duckdb.connect()
    store.register("firms", firms)
    return {
        name: {str(k): float(v) for k, v in store.execute(sql).fetchall()}
        for name, sql in QUERIES.items()
    }


def mean_abs_error(draws: list[dict], exact: dict[str, float]) -> dict[str, float]:
    return {k: float(np.mean([abs(d[k] - exact[k]) for d in draws])) for k in exact}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smartnoise-python", required=True, help="interpreter with snsql")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--epsilon", type=float, default=1.0)
    args = parser.parse_args()
    firms = make_firms(args.rows, seed=7)
    exact = truth(firms)
    ours = sluice_draws(firms, args.runs, args.epsilon)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "firms.csv"
        firms.to_csv(data, index=False)
        done = subprocess.run(
            [args.smartnoise_python, "-c", SMARTNOISE_SIDE, str(data),
             json.dumps(QUERIES, ensure_ascii=False), str(args.runs), str(args.epsilon)],
            capture_output=True, text=True,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"SmartNoise side failed:\n{done.stderr[-3000:]}")
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    again = sluice_draws(firms, args.runs, args.epsilon)  # the sampling floor: ours vs ours
    print(f"{args.rows:,} enterprises, ε = {args.epsilon:g} per query, {args.runs} runs each")
    print(
        f"{'query':24} {'cells':>5} {'pooled':>7} {'p50':>6} {'max':>6} "
        f"{'self max':>8} {'ci95 hit':>9} {'vs Laplace':>10}"
    )
    worst = floor = 0.0
    for name in QUERIES:
        ours_err = mean_abs_error(ours[name], exact[name])
        theirs_err = mean_abs_error(theirs[name], exact[name])
        again_err = mean_abs_error(again[name], exact[name])
        cells = [k for k in exact[name] if theirs_err[k] > 0]
        ratios = [ours_err[k] / theirs_err[k] for k in cells]
        pooled = sum(ours_err[k] for k in cells) / sum(theirs_err[k] for k in cells)
        self_ratios = [again_err[k] / ours_err[k] for k in cells if ours_err[k] > 0]
        width, truth_ = ours[name + " ci95"][0], exact[name]
        within = np.mean([abs(d[k] - truth_[k]) <= width[k] for d in ours[name] for k in cells])
        worst, floor = max(worst, max(ratios)), max(floor, max(self_ratios))
        print(
            f"{name:24} {len(ratios):5d} {pooled:7.2f} {np.median(ratios):6.2f} "
            f"{max(ratios):6.2f} {max(self_ratios):8.2f} {within:9.3f} "
            f"{ours[name + ' expected'][0]['ratio']:10.3f}"
        )
    print(
        f"worst cell ratio {worst:.2f} (target ≤ 1.0 per noised cell); a second run of "
        f"Sluice against the first reaches {floor:.2f} per cell: the sampling error of "
        f"{args.runs} runs"
    )


if __name__ == "__main__":
    main()
