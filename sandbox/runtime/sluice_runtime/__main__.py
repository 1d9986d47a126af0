"""Entry point: `python -m sluice_runtime /job/spec.json [--out DIR]`.

Failures the runtime understands end as one line on stderr,
"sluice-runtime: <what>: <why>", and an exit code from the package docstring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import EXIT_OK, EXIT_UNSUPPORTED, JobFailed, jobspec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice_runtime")
    parser.add_argument("spec", type=Path, help="the job spec, /job/spec.json in the sandbox")
    parser.add_argument("--out", type=Path, default=Path("/out"), help="where outputs go")
    args = parser.parse_args(argv)
    try:
        spec = jobspec.load(args.spec)
        if spec.kind == "sql":
            from . import sql  # duckdb and pyarrow load only for jobs that need them

            sql.run(spec, args.out)
        elif spec.kind == "probe":
            from . import probe

            probe.run(spec.code)
        else:
            raise JobFailed(EXIT_UNSUPPORTED, "notebook jobs are not supported in this runtime yet")
    except JobFailed as failed:
        print(f"sluice-runtime: {failed.message}", file=sys.stderr, flush=True)
        return failed.exit_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
