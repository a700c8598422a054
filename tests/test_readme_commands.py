"""Every command in README's code blocks is one a user can type today.

README is where a new user starts, so a renamed key, a removed make target or a script that
moved must fail here, not on their first run. Each line of a ```bash block is checked without
running anything heavy:

- ``make T``: ``T`` is a target of the Makefile;
- ``python train.py|eval.py|analyze.py OVERRIDES``: the script exists and the overrides
  compose against the packaged ``conf/`` (a sweep ``a,b`` composes with each value; a
  ``hydra/<group>=<option>`` names a config file of that group);
- ``python report.py``, ``threshold_grid.py``, ``python -m unpact_exp.judge``: the script
  exists and its argument parser accepts the arguments (the command itself is not run);
- ``unpact --help``: the console script's usage.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import compose_cfg

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "unpact_exp" / "conf"
CONFIG_OF = {"train.py": "train", "eval.py": "evaluate", "analyze.py": "analyze"}


def readme_commands() -> list[str]:
    """The command lines of README's ```bash blocks (comments dropped, continuations joined)."""
    text = (ROOT / "README.md").read_text()
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


COMMANDS = readme_commands()


def test_readme_is_short_and_has_commands() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    assert len(COMMANDS) >= 10


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))


class Parsed(Exception):
    """Raised instead of running a command once its arguments parsed."""


def parse_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every argparse parser stop right after a successful parse."""
    for name in ("parse_args", "parse_intermixed_args"):
        original = getattr(argparse.ArgumentParser, name)

        def parse(self, args=None, namespace=None, _original=original):  # type: ignore[no-untyped-def]
            raise Parsed(_original(self, args, namespace))

        monkeypatch.setattr(argparse.ArgumentParser, name, parse)


def first_values(overrides: list[str]) -> list[list[str]]:
    """The override lists a sweep expands to (each comma-separated value once, others fixed)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    variants = [[]]  # type: list[list[str]]
    for raw, override in zip(overrides, parsed):
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
            key = override.get_key_element()
            variants = [v + [f"{key}={value}"] for v in variants for value in values]
        else:
            variants = [v + [raw] for v in variants]
    return variants


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command: str, monkeypatch, tmp_path: Path) -> None:
    words = shlex.split(command)
    if words[0] == "make":
        assert set(words[1:]) <= make_targets(), f"{command}: no such make target"
        return
    if words[0] == "unpact":
        from unpact_exp.cli import main

        assert main(words[1:]) == 0
        return
    assert words[0] == "python", command
    if words[1] == "-m":
        assert words[2] == "unpact_exp.judge", f"{command}: add a check for this module"
        from unpact_exp.judge.__main__ import main as judge_main

        parse_only(monkeypatch)
        with pytest.raises(Parsed):
            judge_main(words[3:])
        return
    script, args = words[1], words[2:]
    assert (ROOT / script).is_file(), f"{command}: {script} does not exist"
    if script in CONFIG_OF:
        overrides = [a for a in args if a != "-m"]
        for group_choice in [o for o in overrides if o.startswith("hydra/")]:
            group, option = group_choice.split("=", 1)
            assert (CONF / group / f"{option}.yaml").is_file(), f"{command}: no {group_choice}"
        overrides = [o for o in overrides if not o.startswith("hydra/")]
        for variant in first_values(overrides):
            compose_cfg(variant, tmp_path / "run", tmp_path / "artifacts", CONFIG_OF[script])
        return
    if script == "report.py":
        from unpact_exp.report.cli import main as report_main

        parse_only(monkeypatch)
        with pytest.raises(Parsed):
            report_main(args)
        return
    if script == "threshold_grid.py":
        from unpact_exp.stages.threshold_grid import main as grid_main

        parse_only(monkeypatch)
        with pytest.raises(Parsed):
            grid_main(args)
        return
    pytest.fail(f"{command}: README names a script this test does not know; add its check")
