"""The ``segmentation`` command line: run the pipeline, generate synthetic EBQ data, show a report."""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from datetime import date, timedelta
from pathlib import Path

EXIT_FAILURE = 1


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _apply_overrides(args: argparse.Namespace) -> None:
    """Command-line flags override the SEGMENTATION_* environment for this process."""
    overrides = {
        "SEGMENTATION_WAREHOUSE_PATH": getattr(args, "warehouse", None),
        "SEGMENTATION_SYNTHETIC_CUSTOMERS": getattr(args, "customers", None),
        "SEGMENTATION_SYNTHETIC_SEED": getattr(args, "seed", None),
        "SEGMENTATION_SOURCE": getattr(args, "source", None),
        "SEGMENTATION_EXPORT_PATH": getattr(args, "export_path", None),
        "SEGMENTATION_LLM_MODEL": getattr(args, "llm", None),
        "SEGMENTATION_REPORTS_DIR": getattr(args, "reports_dir", None),
    }
    for key, value in overrides.items():
        if value is not None:
            os.environ[key] = str(value)


def _instance():  # type: ignore[no-untyped-def]
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


def cmd_run(args: argparse.Namespace) -> int:
    _apply_overrides(args)
    from segmentation_assets.settings import get_settings

    settings = get_settings()
    start = args.start or args.as_of or settings.default_as_of_date
    end = args.end or start
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    # Checked before Dagster is imported and before raw_events' retry policy would retry a
    # folder that cannot appear: the error comes at once and names the path.
    if settings.source == "ebq_export":
        if settings.export_path is None:
            raise ValueError(
                "--source ebq_export needs --export-path (or SEGMENTATION_EXPORT_PATH)"
            )
        if not settings.export_path.is_dir():
            raise FileNotFoundError(f"EBQ export folder {settings.export_path} does not exist")
    from segmentation_assets.definitions import build_definitions
    from segmentation_assets.runner import run_as_of

    defs = build_definitions(settings)
    instance = _instance()
    day = start
    while day <= end:
        summary = run_as_of(
            defs,
            instance,
            day,
            warehouse_path=str(settings.warehouse_path),
            window_days=settings.window_days,
            progress=lambda line: print(line, flush=True),
        )
        print(summary.format(), flush=True)
        day += timedelta(days=1)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from segmentation_assets.ebq.generator import generate_ebq_export

    generate_ebq_export(
        Path(args.out),
        n_customers=args.customers,
        start_date=args.start,
        end_date=args.end,
        seed=args.seed,
        bad_rows=args.bad_rows,
    )
    print(f"wrote a synthetic EBQ export of {args.customers:,} customers to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    _apply_overrides(args)
    from segmentation_assets.runner import read_summary
    from segmentation_assets.settings import get_settings
    from segmentation_assets.warehouse import connect

    settings = get_settings()
    if not settings.warehouse_path.exists():
        raise FileNotFoundError(
            f"no warehouse at {settings.warehouse_path}: run `segmentation run` first"
        )
    as_of = args.as_of
    if as_of is None:
        con = connect(settings.warehouse_path)
        try:
            row = con.execute("SELECT max(as_of_date) FROM report_runs").fetchone()
        finally:
            con.close()
        if not row or row[0] is None:
            raise FileNotFoundError("no report has been written yet: run `segmentation run` first")
        as_of = row[0]
    summary = read_summary(str(settings.warehouse_path), as_of)
    print(summary.format())
    if args.open and summary.report_path:
        webbrowser.open(Path(summary.report_path).as_uri())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segmentation",
        description="Customer segmentation for Bloomreach EBQ data, as Dagster assets on DuckDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline for an as-of date or a range of dates")
    run.add_argument("--as-of", type=_parse_date, help="as-of date (default: the configured one)")
    run.add_argument("--start", type=_parse_date, help="first as-of date of a range")
    run.add_argument("--end", type=_parse_date, help="last as-of date of a range (inclusive)")
    run.add_argument("--warehouse", help="DuckDB file (default data/warehouse.duckdb)")
    run.add_argument("--source", choices=["synthetic", "ebq_export", "bigquery"])
    run.add_argument("--export-path", help="EBQ export folder for --source ebq_export")
    run.add_argument("--customers", type=int, help="synthetic customers (default 2000)")
    run.add_argument("--seed", type=int, help="synthetic data seed (default 42)")
    run.add_argument("--llm", help="'rules' (default) or e.g. 'openai:gpt-4o-mini'")
    run.add_argument("--reports-dir", help="where reports are written (default data/reports)")
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write a synthetic EBQ export folder (Parquet)")
    gen.add_argument("--out", required=True, help="folder to write")
    gen.add_argument("--customers", type=int, default=2000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--start", type=_parse_date, default=date(2025, 1, 1))
    gen.add_argument("--end", type=_parse_date, default=date(2025, 12, 31))
    gen.add_argument("--bad-rows", action="store_true", help="inject documented bad rows")
    gen.set_defaults(func=cmd_generate)

    rep = sub.add_parser("report", help="print the summary of the latest (or a given) report")
    rep.add_argument("--as-of", type=_parse_date)
    rep.add_argument("--warehouse")
    rep.add_argument("--open", action="store_true", help="open the HTML report in a browser")
    rep.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:  # one line for people; the run's logs hold the rest
        print(f"segmentation {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
