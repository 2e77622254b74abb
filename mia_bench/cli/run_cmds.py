"""Commands that run benchmarks or render their results: run, leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..executor import EXECUTORS
from .group import cli
from .options import selection_options, selection_plan

# Exit codes of `mia-bench run` (README, "Command line"): 0 every cell has a result; 2 a bad
# suite, spec, option or folder (nothing ran); 3 the run finished but some cells failed.
EXIT_CELLS_FAILED = 3


def _print_board(out_dir: Path, records: list, as_json: bool, plots: bool, n_boot: int = 1000) -> list:
    from ..leaderboard import agg_rows, aggregate_json, render_terminal, write_leaderboard

    tracks = write_leaderboard(out_dir, records, plots=plots, n_boot=n_boot)  # one row over all seeds
    if as_json:
        click.echo(json.dumps(aggregate_json(tracks), indent=2, default=str))
    else:
        render_terminal(tracks)
        seeds = sorted({s for t in tracks for r in agg_rows(t) for s in r.seeds})
        click.echo(f"Rows aggregate seeds {', '.join(map(str, seeds))}: mean AUC, two-level bootstrap CI, "
                   "TPR on the pooled scores.")
        for t in tracks:
            for r in agg_rows(t):
                for flag in r.flags:  # a dev-seeds flag can sit on a row whose every seed failed: no AUC
                    auc = ("no AUC (every seed failed)" if r.auc is None or r.auc_ci is None else
                           f"AUC {r.auc:.3f} [{r.auc_ci[0]:.3f}, {r.auc_ci[1]:.3f}]")
                    click.secho(f"  {flag.upper()}: {r.attack} on {r.target} ({t.title}): {auc}", fg="yellow")
        click.echo(f"Leaderboard written to {out_dir}/leaderboard.md (.csv, .json)" + (", plots/" if plots else ""))
    return tracks


@cli.command("run")
@selection_options
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Results folder (default runs/SUITE).")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="Cache folder (default $MIA_BENCH_CACHE or ~/.cache/mia-bench).")
@click.option("--n-boot", type=click.IntRange(min=1), default=None,
              help="Bootstrap resamples for CIs (at least 1; default: the suite's n_boot, else 1000).")
@click.option("--rerun", is_flag=True, help="Recompute cells whose results already exist, and attack outputs the cache holds.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--no-plots", is_flag=True, help="Skip ROC and histogram plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the leaderboard as JSON.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="serial", show_default=True,
              envvar="MIA_BENCH_EXECUTOR", show_envvar=True,
              help="Where cells run: here one by one, on a local process pool, or on Ray (one task per target).")
@click.option("--address", default=None, envvar="MIA_BENCH_RAY_ADDRESS", show_envvar=True,
              help="Ray cluster address (e.g. auto, ray://head:10001; results and cache folders must be shared "
                   "with it); default: start a local Ray instance.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes of the process pool, or CPUs of a local Ray instance (default: all cores).")
@click.option("--gpus-per-task", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs each task asks Ray for (e.g. 1, or 0.5 to share one); Ray hides GPUs from tasks "
                   "that ask for none.")
def run_cmd(out, cache, n_boot, rerun, no_progress, no_plots, as_json, executor, address, workers, gpus_per_task,
            **selection) -> None:
    """Run a suite (default: quick) and print its leaderboard. Interrupted runs resume.

    Cells whose results exist are never recomputed, and cached targets and shadow models
    are reused by any run that trains on the same device and number of threads. Process and
    Ray runs give identical results (one torch thread per task). A serial run trains on all
    cores, and so trains other models: rounding differences grow over training, and its
    metrics can differ by far more than rounding. It keeps its own cache entries.

    Exit codes: 0 every cell has a result; 2 an invalid suite, spec, option or --out
    (nothing ran); 3 some cells failed (listed last); 130 interrupted (Ctrl-C, SIGTERM).
    """
    from ..cache import Cache
    from ..executor import Resources, make_executor
    from ..results import load_records
    from ..runner import RunConfig, Runner

    from ..plan import check_data

    plan, suite = selection_plan(**selection)
    check_data(plan)  # a dataset that cannot be split fails before anything trains
    out = out or Path("runs") / suite["name"]
    check_writable_folder(out, "--out")  # before any cell computes, not after the first
    _sigterm_interrupts()
    with make_executor(executor, address, workers) as pool:
        config = RunConfig(out_dir=out, cache=Cache(cache),
                           n_boot=n_boot if n_boot is not None else suite.get("n_boot", 1000),
                           progress=not no_progress, rerun=rerun, executor=pool,
                           resources=Resources(cpus=1, gpus=gpus_per_task))
        summary = Runner(plan, config).run()
    records = load_records(out, plan=plan)  # this plan's cells only
    if not as_json:
        click.echo(f"{len(summary.finished)} cells run, {len(summary.resumed)} resumed from {out}, "
                   f"{len(summary.errors)} failed, in {summary.seconds:.1f} s")
    _print_board(out, records, as_json, plots=not no_plots, n_boot=config.n_boot)
    if len(plan.defenses) > 1 and not no_plots:  # a defense sweep: the privacy-utility report comes with it
        from ..privacy_utility import write_report

        write_report(out, records)
        if not as_json:
            click.echo(f"Privacy-utility report written to {out}/privacy_utility.md and {out}/plots/privacy_utility.png")
    if summary.errors:  # last, on stderr (also with --json), and a non-zero exit
        _report_failures(plan, summary.errors)
        raise SystemExit(EXIT_CELLS_FAILED)


def _sigterm_interrupts() -> None:
    """SIGTERM stops a run the way Ctrl-C does: executors cancel their tasks and stop workers."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def check_writable_folder(folder: Path, option: str) -> None:
    """Fail now, naming the folder, if results cannot be written there."""
    import tempfile

    from ..errors import MiaBenchError

    if folder.exists() and not folder.is_dir():
        raise MiaBenchError(f"{option} {folder} is a file, not a folder. Pass a folder (it is created if absent).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise MiaBenchError(f"{option} {folder} is not writable ({exc.strerror or exc}). Pass a folder you can "
                            "write to, or fix its permissions.") from None


def _report_failures(plan, errors: dict[str, str]) -> None:
    cells = {c.key: c for c in plan.cells}
    click.secho(f"{len(errors)} of {len(plan.cells)} cells failed (exit code {EXIT_CELLS_FAILED}; their "
                "error records are in the results folder, and a re-run retries them):", fg="red", err=True)
    for key, err in errors.items():
        cell = cells.get(key)
        where = f"{cell.attack} x {cell.target_label} x {cell.dataset} [{cell.unit}] seed={cell.seed}" if cell else key
        click.secho(f"  {where} ({key}): {err}", fg="red", err=True)


@cli.command("leaderboard")
@click.option("--out", "-o", type=click.Path(path_type=Path, exists=True), default=Path("runs/quick"),
              help="Results folder of a run.")
@click.option("--no-plots", is_flag=True, help="Skip plots.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--readme", type=click.Path(path_type=Path, exists=True), default=None,
              help="Also refresh this file's <!-- include: PATH --> blocks (see `mia-bench readme`).")
@click.option("--n-boot", type=int, default=1000, show_default=True, help="Bootstrap resamples of the aggregated CIs.")
def leaderboard_cmd(out, no_plots, as_json, readme, n_boot) -> None:
    """Re-render the leaderboard (tables and plots) from a run's saved results."""
    from ..results import load_records

    records = load_records(out)
    if not records:
        raise click.ClickException(f"No results under {out}/cells. Run `mia-bench run --out {out}` first.")
    _print_board(out, records, as_json, plots=not no_plots, n_boot=n_boot)
    if readme:
        _refresh_readme(readme)


def _refresh_readme(path: Path) -> None:
    from ..docs_blocks import refresh

    path.write_text(refresh(path.read_text(), path.resolve().parent))
    click.echo(f"Refreshed the include blocks of {path}")


@cli.command("readme")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=Path("README.md"))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 naming the blocks that differ from their files.")
def readme_cmd(path, check) -> None:
    """Refresh every <!-- include: FILE --> ... <!-- end include --> block of a Markdown file
    (default README.md) from the committed file it names (paths relative to the document)."""
    from ..docs_blocks import stale

    if check:
        bad = stale(path.read_text(), path.resolve().parent)
        if bad:
            raise click.ClickException(f"{path}: include blocks out of date: {', '.join(bad)}; run `mia-bench readme {path}`")
        click.echo(f"{path}: every include block matches its file")
        return
    _refresh_readme(path)


@cli.command("report")
@click.argument("name")
@click.option("--out", "-o", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Results folder of a run (its records are the report's input).")
def report_cmd(name, out) -> None:
    """Write a registered report (`mia-bench ls reports`) from a run's saved records."""
    from ..plan import resolve
    from ..records import load_records

    report = resolve("report", name)
    records = load_records(out)
    if not records:
        raise click.ClickException(f"No results under {out}/cells. Run `mia-bench run --out {out}` first.")
    for path in report.write(records, out):
        click.echo(f"wrote {path}")


@cli.command("privacy-utility")
@click.option("--out", "-o", type=click.Path(path_type=Path, exists=True), default=Path("runs/defenses-quick"),
              help="Results folder of a run with defenses.")
def privacy_utility_cmd(out) -> None:
    """Each attack's AUC against the target's utility, per defense setting (table and plots)."""
    from ..privacy_utility import to_markdown, write_report
    from ..results import load_records

    rows = write_report(out, load_records(out))
    click.echo(to_markdown(rows))
    click.echo(f"Written to {out}/privacy_utility.md and {out}/plots/privacy_utility.png")
