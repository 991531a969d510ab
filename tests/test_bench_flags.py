"""The benchmarks' absl command lines (bench/cli.py): flagfiles, one-line errors, --help.

Parse only: nothing here trains, searches or times a network.
"""

import pytest

from bench import (
    cli,
    deploy_check,
    gpu_check,
    latency_fidelity,
    latency_target,
    latency_tda2x,
    probe_ranking,
    space_children,
    supernet_cost,
)
from ednas_tf.cost.network import space_latency_bounds
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.search.objectives import target_from_fraction
from tests.cli import run_cli

# Per benchmark: a flag its flagfile sets (name, text, value parsed), and what else it requires.
CASES = {
    "deploy_check": (deploy_check, ("num_test", "123", 123), ["--train_dir=runs/x"]),
    "gpu_check": (gpu_check, ("precision", "float32", "float32"), []),
    "latency_fidelity": (latency_fidelity, ("preset", "tiny", "tiny"), []),
    "latency_target": (latency_target, ("fractions", "0.1,0.9", "0.1,0.9"), []),
    "latency_tda2x": (latency_tda2x, ("eve_cores", "4", 4), []),
    "probe_ranking": (probe_ranking, ("seeds", "3,4", "3,4"), ["--arch=a.json"]),
    "space_children": (space_children, ("starts", "2", 2), []),
    "supernet_cost": (supernet_cost, ("repeats", "5", 5), []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_flagfile_sets_flags(name, tmp_path):
    module, (flag, text, value), required = CASES[name]
    flagfile = tmp_path / f"{name}.cfg"
    flagfile.write_text(f"# {name}\n--{flag}={text}\n")
    args = cli.parse_args(module.FV, [name, f"--flagfile={flagfile}", *required])
    assert getattr(args, flag) == value
    # a later parse starts from the defaults again, not from the flagfile's values
    default = module.FV[flag].default
    assert getattr(cli.parse_args(module.FV, [name, *required]), flag) == default


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_flag_is_one_error_line(name, capsys):
    module, _, required = CASES[name]
    for argv in ([name, "--bogus", *required], [name, "stray", *required]):
        with pytest.raises(SystemExit) as exit_info:
            cli.parse_args(module.FV, argv)
        assert exit_info.value.code == 2
        assert "bogus" in _one_error_line(capsys) or "stray" in argv


@pytest.mark.parametrize("name", ["deploy_check", "probe_ranking"])
def test_a_required_flag_missing_is_one_error_line(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(CASES[name][0].FV, [name])
    assert exit_info.value.code == 2
    assert "must have a value" in _one_error_line(capsys)


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        supernet_cost.main(["supernet_cost", "--help"])  # exits before any work
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("What a supernet training step costs")
    assert "--jit_compile" in out and "--results_name" in out


def test_bad_values_are_one_error_line(tmp_path, capsys):
    """Values absl accepts but a benchmark refuses still end in one `error:` line, exit 2."""
    checks = [
        (lambda: latency_tda2x._app_kwargs("{not json"), "--app_kwargs"),
        (lambda: latency_tda2x._app_kwargs("[1]"), "JSON object"),
        (lambda: latency_tda2x.main(["latency_tda2x", "--eve_cores=0"]), "eve_cores"),
        (lambda: latency_fidelity.parse_args(["f", "--preset=huge"]), "preset"),
        (lambda: probe_ranking.parse_args(["p", "--arch=missing.json"]), "no arch file"),
    ]
    arch = tmp_path / "arch.json"
    arch.write_text("{}")
    for seeds, why in (("1,x", "integers"), ("1,1", "repeats"), (",", "no seed")):
        checks.append(
            (lambda s=seeds: probe_ranking.parse_args(["p", f"--arch={arch}", f"--seeds={s}"]), why)
        )
    for call, words in checks:
        with pytest.raises(SystemExit) as exit_info:
            call()
        assert exit_info.value.code == 2
        assert words in _one_error_line(capsys)


def test_the_module_command_line():
    """As a user runs it: a bad flag is one line on stderr and exit 2, before any work."""
    done = run_cli(["bench/latency_tda2x.py", "--bogus"], timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "bogus" in done.stderr.strip().splitlines()[-1]


def test_latency_target_fractions_go_through_resolve_target_ms(capsys):
    """--fractions become ms the way the search's --target_latency_fraction does; one out of
    [0, 1] is one `error:` line before any search (the analytic TDA2x model: nothing timed)."""
    space = preset_space("tiny", input_shape=(32, 32, 3), num_classes=10, profile="tda2x")
    model = get_profile("tda2x").latency()
    targets, bounds = latency_target._targets(space, model, (0.2, 0.5))
    assert bounds == space_latency_bounds(space, model)
    assert targets == [(f, pytest.approx(target_from_fraction(bounds, f))) for f in (0.2, 0.5)]
    with pytest.raises(SystemExit) as exit_info:
        latency_target._targets(space, model, (0.5, 1.5))
    assert exit_info.value.code == 2
    assert "--fractions" in _one_error_line(capsys)
    with pytest.raises(SystemExit):  # a device with no lookup table cannot be checked against one
        latency_fidelity.main(["latency_fidelity", "--device=tda2x", "--preset=tiny"])
    assert "not costed by a lookup table" in _one_error_line(capsys)
