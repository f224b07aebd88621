"""Command line on Dask: ``imputer impute 'data/*.parquet' -o out/ --scheduler ADDRESS`` (or ``--workers N``).

With ``--scheduler tcp://host:8786`` (an existing ``distributed`` cluster) or
``--workers N`` (a ``LocalCluster`` of ``N`` worker processes on this machine), ``imputer
impute`` reads the input lazily with Dask (Parquet files, a directory of them or a glob;
CSV files or a glob), fits the multivariate normal by :func:`imputer.dask.impute`
(the in-memory estimates, the E-step run partition by partition on the cluster), prints
the summary, and writes the completed table as partitioned Parquet to the directory
``OUT`` (one file per partition), never holding the table in one process's memory.
``--stream`` re-reads the input at every EM evaluation instead of keeping it in the
workers' memory (tables larger than the cluster's memory) when the fit cannot run on the
table's per-pattern moments (many distinct patterns; :mod:`imputer.dask._patterns`).
``--json-summary FILE`` writes the estimates with their standard errors, as in memory.
With ``-m M`` (``--method posterior|bootstrap``, ``--seed``, ``--burn-in``, ``--thin``),
:func:`imputer.dask.mi.multiple_impute` draws ``M`` imputations, written as ``M``
directories of Parquet files: ``OUT/imp_1`` .. ``OUT/imp_M``, or ``OUT`` with ``{imp}``
replaced by ``1..M``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imputer._cli_args import column_list, one_line
from imputer._cli_base import CliError
from imputer.errors import ImputerWarning
from imputer.options import MVN_OPTIONS

__all__ = [
    "add_cluster_options", "add_dask_options", "check_dask_io", "dask_client", "dask_session", "impute_dask", "read_dask", "wants_dask",
    "write_dask",
]

#: input options of the in-memory reader that the Dask reader does not take
_IN_MEMORY_ONLY = (("na_values", "--na-values"), ("passthrough", "--passthrough"), ("sep", "--sep"), ("index_col", "--index-col"))


def add_cluster_options(parser: argparse.ArgumentParser, what: str) -> argparse._ArgumentGroup:
    """``--scheduler``, ``--workers``, ``--memory-limit`` on ``parser`` (``what``: what runs on the cluster)."""
    group = parser.add_argument_group(
        "bigger than memory (Dask)",
        f"with --scheduler or --workers, IN may be a glob or a directory of Parquet (or CSV) files, {what} "
        "(needs pip install 'imputer[dask]')",
    )
    group.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    group.add_argument("--workers", type=int, metavar="N", help="start a local cluster of N worker processes")
    group.add_argument(
        "--memory-limit", metavar="SIZE", default="auto",
        help="with --workers: memory limit per worker, e.g. 2GB (default: auto, the machine's memory shared out)",
    )
    return group


def add_dask_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler``, ``--workers``, ``--memory-limit``, ``--stream`` of ``imputer impute`` (``--progress`` is the command's own)."""
    group = add_cluster_options(
        parser, "the fit runs partition by partition on a Dask cluster and OUT is a directory of Parquet files"
    )
    group.add_argument(
        "--stream", action="store_true",
        help="when the fit cannot run on the per-pattern moments (many distinct missingness patterns), read the "
        "input again at every EM evaluation instead of keeping it in the workers' memory (for tables larger than "
        "the cluster's memory; default: keep it when it fits)",
    )


def wants_dask(args: argparse.Namespace) -> bool:
    """Whether ``imputer impute`` runs on Dask (``--scheduler`` or ``--workers`` given)."""
    return args.scheduler is not None or args.workers is not None


def check_dask_io(args: argparse.Namespace, command: str = "imputer impute") -> None:
    """The cluster flags, IN, OUT and the in-memory-only reader options of a command run on Dask (usage errors)."""
    if args.scheduler is not None and args.workers is not None:
        raise CliError("--scheduler and --workers exclude each other: connect to a cluster or start one", status=2)
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers: expected a positive integer, got {args.workers}", status=2)
    if args.output == "-" or args.input == "-":
        raise CliError("--scheduler/--workers: IN and OUT must be files or directories, not standard input/output", status=2)
    if args.output is not None and Path(args.output).suffix.lower() in (".csv", ".tsv", ".txt"):
        raise CliError(f"--scheduler/--workers: OUT is a directory of Parquet files, got {args.output!r}", status=2)
    for dest, flag in _IN_MEMORY_ONLY:
        if getattr(args, dest, None):
            raise CliError(f"{flag} is not available with --scheduler/--workers ({command})", status=2)


def _check_usage(args: argparse.Namespace) -> None:
    check_dask_io(args)
    if args.model != "normal":
        raise CliError("--scheduler/--workers: the Dask engine fits --model normal", status=2)
    if args.m is None:
        given = [f"--{n.replace('_', '-')}" for n in ("method", "seed", "burn_in", "thin") if getattr(args, n, None) is not None]
        if given or "{imp}" in args.output:
            raise CliError(f"{', '.join(given) or '{imp}'} applies to multiple imputation: give -m M", status=2)
    if getattr(args, "max_time", None) is not None:
        raise CliError("--max-time is not available with --scheduler/--workers", status=2)


def read_dask(source: str, fmt: str | None) -> Any:
    """The input as a lazy Dask DataFrame (Parquet files, a directory or a glob; CSV files or a glob)."""
    import dask.dataframe as dd

    path = Path(source)
    kind = fmt or ("csv" if path.suffix.lower() in (".csv", ".tsv", ".txt", ".gz") else "parquet")
    try:
        if kind == "parquet":
            return dd.read_parquet(source)
        return dd.read_csv(source, sep="\t" if kind == "tsv" or path.suffix.lower() == ".tsv" else ",")
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {source!r}: {one_line(str(exc))}") from None


def dask_client(args: argparse.Namespace) -> tuple[Any, Any]:
    """A client of ``--scheduler``, or of a new ``LocalCluster`` of ``--workers`` (returned to be closed)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise CliError("--scheduler/--workers need the Dask extra: pip install 'imputer[dask]'") from None
    if args.scheduler is not None:
        try:
            return Client(args.scheduler), None  # waits distributed.comm.timeouts.connect (dask config)
        except (OSError, TimeoutError) as exc:
            raise CliError(f"cannot connect to the scheduler {args.scheduler!r}: {one_line(str(exc))}") from None
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, memory_limit=args.memory_limit,
        dashboard_address=None,
    )
    return Client(cluster.scheduler_address), cluster


@contextlib.contextmanager
def dask_session(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """``(ddf, client)``: the input read lazily and a client of ``--scheduler`` or of a new local cluster,
    closed on exit (a missing Dask extra is an error saying how to install it)."""
    try:
        import dask.dataframe  # noqa: F401
    except ImportError:
        raise CliError("--scheduler/--workers need the Dask extra: pip install 'imputer[dask]'") from None
    ddf = read_dask(args.input, args.format)
    client, cluster = dask_client(args)
    try:
        yield ddf, client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def write_dask(table: Any, target: str) -> None:
    """``table`` as a directory of Parquet files (one per partition)."""
    try:
        table.to_parquet(target, write_index=True)
    except OSError as exc:
        raise CliError(f"cannot write {target!r}: {exc.strerror or exc}") from None


def _imputation_path(output: str, j: int) -> str:
    """Imputation ``j``'s directory: ``{imp}`` in OUT replaced by ``j``, else ``OUT/imp_j``."""
    return output.replace("{imp}", str(j)) if "{imp}" in output else str(Path(output) / f"imp_{j}")


def _json_summary(result: Any, matrices: str = "both") -> dict[str, Any]:
    """``--json-summary``: the estimates with the standard errors (as in memory, up to ``MAX_PARAMETERS`` parameters).

    From the pattern table they cost no pass over the data; from the per-evaluation route,
    one pass on the cluster.
    """
    from imputer.mvn._information import MAX_PARAMETERS

    p = len(result.columns)
    return result.to_dict(standard_errors=p * (p + 3) // 2 <= MAX_PARAMETERS, matrices=matrices)


def impute_dask(args: argparse.Namespace) -> int:
    """``imputer impute`` with ``--scheduler``/``--workers``: fit on the cluster, write partitioned Parquet."""
    import imputer

    _check_usage(args)
    options = {name: getattr(args, name) for name in MVN_OPTIONS}
    options["columns"] = column_list(options["columns"], "--columns")
    if options.pop("prior") != "ridge":
        raise CliError("--prior amelia is not available with --scheduler/--workers", status=2)
    with dask_session(args) as (ddf, client):  # the fit and the writes while the cluster is up
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ImputerWarning)
            progress = sys.stderr.isatty() if args.progress is None else args.progress
            if args.m is None:
                result = imputer.impute(ddf, client=client, persist=False if args.stream else None, progress=progress, **options)
            else:
                from imputer.dask.mi import multiple_impute

                options.pop("accelerate")
                result = multiple_impute(
                    ddf, args.m, method=args.method, seed=args.seed, burn_in=args.burn_in, thin=args.thin,
                    client=client, progress=progress, **options,
                )
        for w in caught:
            print(f"imputer: warning: {one_line(str(w.message))}", file=sys.stderr)
        print(result.summary())
        if args.m is None:
            write_dask(result.completed, args.output)  # on the client: the default scheduler
            # while the cluster is up: the standard errors' pass, when the fit had no pattern table
            summary = _json_summary(result, args.matrices) if args.json_summary is not None else None
        else:
            targets = [_imputation_path(args.output, j) for j in range(1, args.m + 1)]
            for imputation, target in zip(result.imputations, targets):
                write_dask(imputation, target)
            summary = result.to_dict()
    em = result if args.m is None else result.em
    n_filled = int(em.n_missing.sum())
    if args.m is None:
        print(f"\nwrote {args.output} ({em.n_rows} rows in {em.n_partitions} Parquet files, {n_filled} cells filled)")
    else:
        print(f"\nwrote {args.m} imputations, {targets[0]} .. {targets[-1]} ({em.n_rows} rows in {em.n_partitions} "
              f"Parquet files each, {n_filled} cells drawn)")
    if args.json_summary is not None:
        out = Path(args.json_summary)
        try:
            out.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    return 0
