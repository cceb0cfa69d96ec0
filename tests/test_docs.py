"""Docs that are tested: every command and option of the CLI appears in the README."""

from __future__ import annotations

import pathlib

import click

from hubdex.cli import main

README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group, path=("hubdex",)):
    for name, cmd in sorted(group.commands.items()):
        yield path + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,))


def test_every_command_and_option_is_in_the_readme():
    missing = []
    for path, cmd in _commands(main):
        if not isinstance(cmd, click.Group) and " ".join(path) not in README:
            missing.append(" ".join(path))
        for param in cmd.params:
            for opt in getattr(param, "opts", []) + getattr(param, "secondary_opts", []):
                if opt.startswith("--") and opt not in README:
                    missing.append(f"{' '.join(path)} {opt}")
    assert not missing, "not in README.md: " + ", ".join(missing)
