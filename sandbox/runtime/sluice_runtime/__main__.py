"""Entry point: `python -m sluice_runtime /job/spec.json [--out DIR] [--await FIFO]`.

Failures the runtime understands end as one line on stderr,
"sluice-runtime: <what>: <why>", and an exit code from the package docstring.
With --await (a warm sandbox) the heavy imports happen first, then the runtime
blocks on the FIFO until the host has put the job in /job and says go.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import EXIT_BAD_SPEC, EXIT_OK, EXIT_UNSUPPORTED, JobFailed, jobspec

USAGE = "usage: python -m sluice_runtime SPEC [--out DIR] [--await FIFO]"


def main(argv: list[str] | None = None) -> int:
    try:
        spec_path, out, wait_on = _arguments(sys.argv[1:] if argv is None else argv)
    except ValueError as wrong:
        print(f"sluice-runtime: {wrong} ({USAGE})", file=sys.stderr, flush=True)
        return EXIT_BAD_SPEC
    _not_dumpable()
    if wait_on is not None:
        _await_go(wait_on, out)
    try:
        spec = jobspec.load(spec_path)
        if spec.kind == "sql":
            from . import sql  # duckdb loads only for the jobs that need it

            sql.run(spec, out)
        elif spec.kind == "fit":
            from . import training  # diffprivlib loads only for the jobs that train a model

            training.run(spec, out)
        elif spec.kind == "probe":
            from . import probe

            probe.run(spec.code)
        elif spec.kind == "notebook":
            from . import notebook

            notebook.run(spec, out)
        else:
            raise JobFailed(EXIT_UNSUPPORTED, f"{spec.kind} jobs are not supported here")
    except JobFailed as failed:
        print(f"sluice-runtime: {failed.message}", file=sys.stderr, flush=True)
        return failed.exit_code
    return EXIT_OK


def _not_dumpable() -> None:
    """No process of the same uid may ptrace the runtime (a notebook's kernel is one):
    the kernel lets only CAP_SYS_PTRACE attach to a non-dumpable process."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def _arguments(argv: list[str]) -> tuple[Path, Path, Path | None]:
    """The spec's path, the output folder and the FIFO to await (None: start at once).
    Read by hand: importing `argparse` costs more CPU than a small query."""
    options = {"--out": "/out", "--await": None}
    positional: list[str] = []
    rest = iter(argv)
    for word in rest:
        if word in options:
            value = next(rest, None)
            if value is None:
                raise ValueError(f"{word} needs a value")
            options[word] = value
        elif word.startswith("-"):
            raise ValueError(f"unknown option {word}")
        else:
            positional.append(word)
    if len(positional) != 1:
        raise ValueError(f"expected one SPEC, got {len(positional)}")
    wait_on = options["--await"]
    return Path(positional[0]), Path(str(options["--out"])), Path(wait_on) if wait_on else None


def _await_go(fifo: Path, out: Path) -> None:
    """Load what SQL jobs need (DuckDB's engine; most results never need pyarrow or its
    relation layer), say so in /out (the host removes the mark), then block until the
    host writes to the FIFO."""
    from . import sql  # the SQL job's own module, loaded before the job

    # the job's database, empty: nothing of the job exists yet (a notebook's never uses it)
    sql.open_ahead()
    (out / ".sluice-ready").touch()
    with open(fifo, "rb") as go:
        go.read()


def exit_now(code: int) -> None:
    """End without the interpreter's teardown: with DuckDB and Arrow loaded it takes
    longer than a small job itself, and everything the job wrote is closed by now."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
