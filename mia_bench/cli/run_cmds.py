"""Commands that run benchmarks or render their results: run, leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..executor import EXECUTORS
from . import cli
from .options import selection_options, selection_plan


def _print_board(out_dir: Path, records: list[dict], as_json: bool, plots: bool) -> None:
    from ..leaderboard import render_terminal, to_json, write_leaderboard

    tracks = write_leaderboard(out_dir, records, plots=plots)
    if as_json:
        click.echo(json.dumps(to_json(tracks), indent=2, default=str))
    else:
        render_terminal(tracks)
        click.echo(f"Leaderboard written to {out_dir}/leaderboard.md (.csv, .json)" + (", plots/" if plots else ""))


@cli.command("run")
@selection_options
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Results folder (default runs/SUITE).")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Cache folder (default $MIA_BENCH_CACHE or ~/.cache/mia-bench).")
@click.option("--n-boot", type=int, default=None, help="Bootstrap resamples for CIs.")
@click.option("--rerun", is_flag=True, help="Recompute cells whose results already exist.")
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

    Cells whose results exist are never recomputed and cached targets and shadow models
    are reused, on any executor. Process and Ray runs give identical results (one torch
    thread per task); a serial run that trains a target with more threads may differ at
    float32 rounding.
    """
    from ..cache import Cache
    from ..executor import Resources, make_executor
    from ..results import load_records
    from ..runner import RunConfig, Runner

    from ..plan import check_data

    plan, suite = selection_plan(**selection)
    check_data(plan)  # a dataset that cannot be split fails before anything trains
    out = out or Path("runs") / suite["name"]
    with make_executor(executor, address, workers) as pool:
        config = RunConfig(out_dir=out, cache=Cache(cache), n_boot=n_boot or suite.get("n_boot", 1000),
                           progress=not no_progress, rerun=rerun, executor=pool,
                           resources=Resources(cpus=1, gpus=gpus_per_task))
        summary = Runner(plan, config).run()
    keys = {c.key(plan.attack(c).version) for c in plan.cells}
    records = [r for r in load_records(out) if r.get("key") in keys]  # this plan's cells only
    if not as_json:
        click.echo(f"{len(summary.finished)} cells run, {len(summary.resumed)} resumed from {out}, "
                   f"{len(summary.errors)} failed, in {summary.seconds:.1f} s")
    _print_board(out, records, as_json, plots=not no_plots)
    if len(plan.defenses) > 1 and not no_plots:  # a defense sweep: the privacy-utility report comes with it
        from ..privacy_utility import write_report

        write_report(out, records)
        if not as_json:
            click.echo(f"Privacy-utility report written to {out}/privacy_utility.md and {out}/plots/privacy_utility.png")
    if summary.errors and not as_json:
        for key, err in summary.errors.items():
            click.secho(f"  failed cell {key}: {err}", fg="red", err=True)


@cli.command("leaderboard")
@click.option("--out", "-o", type=click.Path(path_type=Path, exists=True), default=Path("runs/quick"),
              help="Results folder of a run.")
@click.option("--no-plots", is_flag=True, help="Skip plots.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--readme", type=click.Path(path_type=Path, exists=True), default=None,
              help="Also replace the block between <!-- quick-leaderboard --> markers in this file.")
def leaderboard_cmd(out, no_plots, as_json, readme) -> None:
    """Re-render the leaderboard (tables and plots) from a run's saved results."""
    from ..leaderboard import build_tracks, splice_markdown, to_markdown
    from ..results import load_records

    records = load_records(out)
    if not records:
        raise click.ClickException(f"No results under {out}/cells. Run `mia-bench run --out {out}` first.")
    _print_board(out, records, as_json, plots=not no_plots)
    if readme:
        readme.write_text(splice_markdown(readme.read_text(), to_markdown(build_tracks(records)), str(out)))
        click.echo(f"Updated the leaderboard block in {readme}")


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
