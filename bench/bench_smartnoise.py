"""Sluice's noise against SmartNoise SQL's at equal ε: error per noised cell, with its
confidence interval, the error each side's pmf predicts, and the stated 95 % intervals.

The same 20,000 synthetic enterprises, the same grouped COUNT/SUM/AVG queries, ε = 1
per query. Keys are public code lists on both sides (SmartNoise's `censor_dims` off;
Sluice's public key set), so only the value noise is compared. "Equal ε" means equal
total cost per query: SmartNoise charges an AVG twice (its SUM and its COUNT each get
the ε asked for), so its ε is scaled to make the query cost ε.

Each side computes its exact aggregates once and draws its noise on them many times:
Sluice with the gate's `apply_noise` on the exact core from DuckDB (cheap: 20,000 runs
per query), SmartNoise with its own `execute(sql, pre_aggregated=…)` (its parser,
rewriter, mechanisms and post-processing; about 0.05 s of CPU a run, so as many runs
as `--smartnoise-seconds` of wall time and `--smartnoise-cpu-seconds` of CPU allow,
the queries taking turns, in its own process while Sluice's side is computed).

Per noised cell:
- ratio: Sluice's mean absolute error ÷ SmartNoise's, with a 95 % interval (delta
  method on the log of the ratio: each side's mean |error| is a mean of independent
  draws);
- analytic: the same ratio from the two pmfs, not sampled. Sluice: E|error| exactly
  from its integer noise's pmf (the rounding of the exact value to g included); a
  mean's to first order in 1/n, E|g·Zs + e − μ′·Zc|/n over both pmfs. SmartNoise:
  Laplace at the scale its mechanisms report (OpenDP's `make_laplace`, scale found by
  SmartNoise for the clamped sum's sensitivity), E|L| = b for a float output,
  E|⌊L⌋| for an integer one (SmartNoise truncates a noisy COUNT or integer SUM with
  int()), a mean's E|Ls − μ·Lc|/n = (b1² + b1·b2 + b2²)/(b1 + b2)/n, b2 = |μ|·bc;
- ci95 hit: the share of Sluice's draws within the 95 % half-width it states before
  running (a mean's: ci95 over the group's rows); "covers" if it is at least 95 %
  less three binomial standard errors.
The criterion: every cell's analytic ratio ≤ 1.0, and no cell's measured ratio
significantly above 1.0 (one-sided test at 5 %, Bonferroni over all cells).

SmartNoise SQL pins its own dependencies, so it runs in a separate interpreter:

    python3 -m venv /tmp/snvenv && /tmp/snvenv/bin/pip install smartnoise-sql pandas
    .venv/bin/python bench/bench_smartnoise.py --smartnoise-python /tmp/snvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1]))

from catalog.schema import parse_schema  # noqa: E402
from core.cells import CellKind  # noqa: E402
from core.levels import Level  # noqa: E402
from policies import discrete  # noqa: E402
from policies.engine import LicenseScope, check_query  # noqa: E402
from policies.noise import IntegerNoise  # noqa: E402
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
INTEGER_OUTPUT = {"count by district", "count by industry", "sum staff by industry"}
SMARTNOISE_SIDE = r"""
import json, sys, time
import pandas as pd
import snsql
from snsql import Privacy
data, queries = sys.argv[1], json.loads(sys.argv[2])
runs, epsilon = int(sys.argv[3]), float(sys.argv[4])
seconds, cpu_seconds = float(sys.argv[5]), float(sys.argv[6])
frame = pd.read_csv(data)
meta = {"": {"bench": {"firms": {
    "max_ids": 1, "row_privacy": False, "censor_dims": False, "clamp_counts": False,
    "enterprise_id": {"type": "string", "private_id": True},
    "district": {"type": "string"}, "industry": {"type": "string"},
    "water_fee": {"type": "float", "lower": 0, "upper": 100000},
    "employees": {"type": "int", "lower": 0, "upper": 1000},
}}}}
plans = {}
for name, sql in queries.items():
    sql = sql.replace("FROM firms", "FROM bench.firms")
    # SmartNoise charges each mechanism its ε (an AVG is a SUM and a COUNT: 2ε); scale
    # so that the whole query costs ε, as a Sluice query does
    probe = snsql.from_df(frame, privacy=Privacy(epsilon=epsilon, delta=1e-6), metadata=meta)
    scaled = epsilon * epsilon / float(probe.get_privacy_cost(sql)[0])
    reader = snsql.from_df(frame, privacy=Privacy(epsilon=scaled, delta=1e-6), metadata=meta)
    # the exact aggregates, once (what execute() computes before its noise); the scales
    # its mechanisms use, read from them for the analytic error
    subquery, _ = reader._rewrite(sql)
    exact = reader._get_reader(subquery)._execute_ast(subquery)
    scales = {k: m.scale for k, m in reader._get_mechanism_map(subquery).items()}
    plans[name] = (reader, sql, exact, scales)
out = {name: {"scales": plan[3], "draws": []} for name, plan in plans.items()}
start, cpu = time.monotonic(), time.process_time()
for _ in range(runs):  # the queries take turns, so each gets as many runs
    if time.monotonic() - start > seconds or time.process_time() - cpu > cpu_seconds:
        break
    for name, (reader, sql, exact, _) in plans.items():
        rows = reader.execute(sql, pre_aggregated=exact)[1:]
        out[name]["draws"].append({str(k): float(v) for k, v in rows})
out["cpu seconds"] = time.process_time() - cpu
print(json.dumps(out, ensure_ascii=False))
"""


@dataclass
class Cell:
    """One noised cell: each side's absolute errors, and what each side's pmf predicts."""

    query: str
    key: str
    ours: np.ndarray
    theirs: np.ndarray
    ours_expected: float
    theirs_expected: float
    within_ci95: float


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


def _support(noise: IntegerNoise) -> np.ndarray:
    """The integers holding all but 1e-13 of the noise's mass."""
    span = noise.half_width(1 - 1e-13)
    return np.arange(-span, span + 1)


def _sum_error(spec: NoiseSpec, core: pd.Series) -> float:
    """E|released − exact| of a count or sum: E|g·Z + e|, e the rounding to g."""
    noise, g = spec.value_noise, spec.granularity
    if spec.kind is CellKind.COUNT:
        return noise.expected_abs()
    exact = int(core[f"__fx__{spec.column}"]) * discrete.exact(spec.fine)
    rounding = float(discrete.to_units_exact(exact, g) * discrete.exact(g) - exact)
    z = _support(noise)
    return float(np.sum(noise.pmf(z) * np.abs(g * z + rounding)))


def _mean_error(spec: NoiseSpec, core: pd.Series) -> float:
    """A mean's E|error| to first order in 1/n: E|g·Zs + e − μ′·Zc|/n."""
    fine, g = discrete.exact(spec.fine), discrete.exact(spec.granularity)
    rows = int(core[f"__cnt__{spec.column}"])
    centred = (int(core[f"__fx__{spec.column}"]) - rows * spec.fine_centre) * fine
    rounding = float(discrete.to_units_exact(centred, spec.granularity) * g - centred)
    mean = float(centred / rows)
    zs, zc = _support(spec.value_noise), _support(spec.count_noise)
    ps, pc = spec.value_noise.pmf(zs), spec.count_noise.pmf(zc)
    error = np.abs(float(g) * zs[None, :] + rounding - mean * zc[:, None])
    return float(pc @ error @ ps) / rows


def sluice_cells(firms: pd.DataFrame, runs: int, epsilon: float, exact: dict) -> dict:
    """Per query and key: `runs` absolute errors, the pmf's E|error|, the ci95 hit rate."""
    schema = parse_schema(SCHEMA)
    scope = LicenseScope(("firms",), Level.L3)
    store = duckdb.connect()
    store.register("firms", firms)
    out: dict[str, dict[str, tuple[np.ndarray, float, float]]] = {}
    for name, sql in QUERIES.items():
        decision = check_query(sql, {"firms": schema}, scope, epsilon)
        assert decision.partition is None and decision.noise, name
        [spec] = decision.noise
        core = store.execute(decision.sql).df()
        keys = core[core.columns[0]].astype(str).tolist()
        repeated = core.loc[np.tile(core.index, runs)].reset_index(drop=True)
        released = apply_noise(repeated, [spec])["v"].to_numpy(float).reshape(runs, len(keys))
        out[name] = {}
        for i, key in enumerate(keys):
            row = core.iloc[i]
            errors = np.abs(released[:, i] - exact[name][key])
            divisor = float(row["__cnt__v"]) if spec.ci95_divisor == "rows" else 1.0
            expected = (
                _mean_error(spec, row) if spec.kind is CellKind.AVG else _sum_error(spec, row)
            )
            out[name][key] = (errors, expected, float(np.mean(errors <= spec.ci95 / divisor)))
        print(f"  Sluice {name}: {spec.mechanism}, ε {spec.epsilon:g}", file=sys.stderr)
    return out


def _floor_laplace_abs(b: float) -> float:
    """E|⌊L⌋| for L ~ Laplace(b): what int() leaves of noise on a positive integer."""
    k = np.arange(-math.ceil(40 * b) - 1, math.ceil(40 * b) + 2, dtype=np.float64)
    cdf = np.where(
        k < 0, 0.5 * np.exp(np.minimum(k, 0) / b), 1 - 0.5 * np.exp(-np.maximum(k, 0) / b)
    )
    return float(np.sum(np.abs(k[:-1]) * np.diff(cdf)))


def smartnoise_expected(name: str, scales: dict[str, float], exact: float, rows: int) -> float:
    """SmartNoise's E|error| for one cell from the Laplace scales its mechanisms report."""
    if name.startswith("avg"):
        [b1] = [b for k, b in scales.items() if k.startswith("sum_")]
        [bc] = [b for k, b in scales.items() if k.startswith("count_")]
        b2 = abs(exact) * bc
        return (b1 * b1 + b1 * b2 + b2 * b2) / (b1 + b2) / rows
    [b] = scales.values()
    return _floor_laplace_abs(b) if name in INTEGER_OUTPUT else b


def truth(firms: pd.DataFrame) -> dict[str, dict[str, float]]:
    store = duckdb.connect()
    store.register("firms", firms)
    return {
        name: {str(k): float(v) for k, v in store.execute(sql).fetchall()}
        for name, sql in QUERIES.items()
    }


def collect(args: argparse.Namespace) -> tuple[list[Cell], float]:
    """Both sides' cells, and SmartNoise's CPU seconds. SmartNoise runs in its own
    process while Sluice's side is computed."""
    firms = make_firms(args.rows, seed=7)
    exact = truth(firms)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "firms.csv"
        firms.to_csv(data, index=False)
        smartnoise = subprocess.Popen(
            [args.smartnoise_python, "-c", SMARTNOISE_SIDE, str(data),
             json.dumps(QUERIES, ensure_ascii=False), str(args.smartnoise_runs),
             str(args.epsilon), str(args.smartnoise_seconds), str(args.smartnoise_cpu_seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        ours = sluice_cells(firms, args.runs, args.epsilon, exact)
        stdout, stderr = smartnoise.communicate()
    if smartnoise.returncode != 0:
        raise SystemExit(f"SmartNoise side failed:\n{stderr[-3000:]}")
    theirs = json.loads(stdout.strip().splitlines()[-1])
    store = duckdb.connect()
    store.register("firms", firms)
    cells = []
    for name in QUERIES:
        counting = QUERIES[name].replace("AVG(", "COUNT(").replace("SUM(", "COUNT(")
        rows = {str(k): int(v) for k, v in store.execute(counting).fetchall()}
        draws = theirs[name]["draws"]
        for key, (errors, expected, hit) in ours[name].items():
            truth_ = exact[name][key]
            their_errors = np.abs(np.array([d[key] for d in draws]) - truth_)
            their_expected = smartnoise_expected(name, theirs[name]["scales"], truth_, rows[key])
            cells.append(Cell(name, key, errors, their_errors, expected, their_expected, hit))
    return cells, theirs["cpu seconds"]


def ratio_interval(cell: Cell, z: float) -> tuple[float, float, float]:
    """The ratio of mean |errors| and the interval exp(log r ± z·se), se by the delta
    method: var(log mean) ≈ var/(n·mean²) on each side, the sides independent."""
    a, b = cell.ours, cell.theirs
    ratio = a.mean() / b.mean()
    se = math.sqrt(
        a.var(ddof=1) / (a.size * a.mean() ** 2) + b.var(ddof=1) / (b.size * b.mean() ** 2)
    )
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


def report(cells: list[Cell], args: argparse.Namespace, load: tuple[str, str], cpu: float) -> None:
    z95 = NormalDist().inv_cdf(0.975)
    z_one_sided = NormalDist().inv_cdf(1 - 0.05 / len(cells))  # Bonferroni over the cells
    runs_theirs = min(c.theirs.size for c in cells)
    print(f"{args.rows:,} enterprises, ε = {args.epsilon:g} per query; Sluice {args.runs:,} "
          f"runs, SmartNoise {runs_theirs:,} runs per query ({cpu:,.0f} s of CPU)")  # fmt: skip
    print(f"load average before: {load[0]}; after: {load[1]}")
    print("| query | key | Sluice MAE | SmartNoise MAE | ratio | 95 % CI | analytic | ci95 hit |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    above, analytic_over, uncovered = [], [], []
    for cell in cells:
        ratio, low, high = ratio_interval(cell, z95)
        _, bonferroni_low, _ = ratio_interval(cell, z_one_sided)
        analytic = cell.ours_expected / cell.theirs_expected
        floor = 0.95 - 3 * math.sqrt(0.95 * 0.05 / cell.ours.size)
        above += [cell] if bonferroni_low > 1.0 else []
        analytic_over += [cell] if analytic > 1.0 else []
        uncovered += [cell] if cell.within_ci95 < floor else []
        print(
            f"| {cell.query} | {cell.key} | {cell.ours.mean():,.4g} | {cell.theirs.mean():,.4g} | "
            f"{ratio:.3f} | {low:.3f}–{high:.3f} | {analytic:.3f} | {cell.within_ci95:.3f} |"
        )
    print()
    for name in QUERIES:
        mine = [c for c in cells if c.query == name]
        pooled = sum(c.ours.mean() for c in mine) / sum(c.theirs.mean() for c in mine)
        analytic = [c.ours_expected / c.theirs_expected for c in mine]
        hits = [c.within_ci95 for c in mine]
        print(
            f"{name:24} cells {len(mine)}  pooled ratio {pooled:.3f}  analytic "
            f"{min(analytic):.3f}–{max(analytic):.3f}  ci95 hit {min(hits):.3f}–{max(hits):.3f}"
        )
    print(
        f"\ncriterion: analytic ratio ≤ 1.0 in every cell: {not analytic_over} "
        f"({len(analytic_over)} over); measured ratio significantly above 1.0 (one-sided 5 %, "
        f"Bonferroni over {len(cells)} cells, z = {z_one_sided:.2f}): {len(above)} cells; "
        f"stated ci95 covers 95 % (less 3 s.e.) in {len(cells) - len(uncovered)} of {len(cells)}"
    )


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smartnoise-python", required=True, help="interpreter with snsql")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20_000, help="Sluice runs per query")
    parser.add_argument("--smartnoise-runs", type=int, default=5_000, help="at most this many")
    parser.add_argument("--smartnoise-seconds", type=float, default=60.0, help="wall budget")
    parser.add_argument("--smartnoise-cpu-seconds", type=float, default=1500.0, help="CPU budget")
    parser.add_argument("--epsilon", type=float, default=1.0)
    args = parser.parse_args()
    before = _load()
    cells, cpu = collect(args)
    report(cells, args, (before, _load()), cpu)


if __name__ == "__main__":
    main()
