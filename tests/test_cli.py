"""The command line: listing, validation, clear errors, fast start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mia_bench.cli import _register_commands, cli

_register_commands()


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_ls_attacks_json_lists_baselines():
    result = invoke("ls", "attacks", "--json")
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {"csa", "csa-aug", "blind"} <= set(rows)
    assert rows["blind"]["biometric"] is False and rows["csa"]["biometric"] is True


def test_ls_targets_and_datasets_and_suites():
    assert "clip-micro-vit" in invoke("ls", "targets").output
    out = invoke("ls", "datasets").output
    assert "pii-faces" in out and "hf" in out and "pii-faces-small" in out
    assert "quick" in invoke("ls", "suites").output


def test_plugins_lists_hooks():
    out = invoke("plugins").output
    assert "baselines (mia-bench" in out and "register_attacks" in out


def test_validate_resolves_without_loading_weights():
    result = invoke("validate", "--json")
    data = json.loads(result.output)
    assert data["valid"] and len(data["cells"]) >= 4  # no weights load: see the clean-process test below


def test_unknown_name_is_a_clear_error_with_exit_code_2():
    result = CliRunner().invoke(cli, ["validate", "-a", "csaa"])
    assert result.exit_code == 2
    assert "Unknown attack 'csaa'. Did you mean 'csa'" in result.output


def test_bad_option_value_is_a_clear_error():
    result = CliRunner().invoke(cli, ["validate", "-a", "csa-aug?n_views=abc"])
    assert result.exit_code == 2
    assert "n_views='abc'" in result.output


def test_help_and_ls_do_not_import_torch():
    code = ("import sys; from mia_bench.cli import main; sys.argv=['mia-bench','ls','attacks']; "
            "\ntry:\n    main()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_defense_sweep_writes_the_privacy_utility_report(tmp_path):
    dataset = ("pii-faces?n_identities=40&n_members=10&n_nonmembers=10&n_population=10&photos_per_identity=4"
               "&train_photos=2&evidence_photos=2&n_background=40")
    out = tmp_path / "out"
    result = invoke("run", "-a", "csa", "-t", "clip-micro-rn?epochs=2&batch_size=16", "-d", dataset,
                    "--defense", "none", "--defense", "early-stopping?epoch=1", "--cache", str(tmp_path / "cache"),
                    "--out", str(out), "--no-progress", "--n-boot", "50")
    assert result.exit_code == 0, result.output
    report = (out / "privacy_utility.md").read_text()
    assert "early-stopping(1)" in report and (out / "plots" / "privacy_utility.png").exists()


@pytest.mark.parametrize("args, message", [
    (["-a", "blind?features=bogus", "-t", "clip-micro-vit"], "features='bogus': Input should be 'text', 'media' or 'both'"),
    (["-a", "csa", "-t", "clip-micro-vit?augment=bogus"], "augment='bogus': Input should be"),
    (["-a", "csa", "-t", "clap-micro?algorithm=byol", "-d", "pii-voices"],
     "algorithm='byol': Input should be 'clip' or 'simclr'"),
])
def test_validate_rejects_fixed_choice_options_before_loading(args, message):
    _register_commands()
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exit_code != 0 and message in result.output, result.output


def test_report_command_runs_a_registered_report_on_saved_records(tmp_path):
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parent.parent / "leaderboards" / "defenses-quick"
    out = tmp_path / "run"
    shutil.copytree(src / "cells", out / "cells")
    _register_commands()
    result = CliRunner().invoke(cli, ["report", "privacy-utility", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = (out / "privacy_utility.md").read_text()
    assert "early-stopping(5)" in table and table.count("\n|") > 10
    bad = CliRunner().invoke(cli, ["report", "privacy-utilty", "--out", str(out)])
    assert bad.exit_code != 0 and "Did you mean 'privacy-utility'" in bad.output
