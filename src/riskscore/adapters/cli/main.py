"""The ``riskscore`` command line: a driving adapter.

Each sub-command lives in its own module ``riskscore.adapters.cli.cmd_<name>`` exposing
``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``. Modules import heavy libraries inside
``run`` so that ``riskscore --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: tuple[tuple[str, str], ...] = (
    ("generate", "cmd_generate"),
    ("train", "cmd_train"),
    ("models", "cmd_models"),
    ("model-server", "cmd_model_server"),
    ("serve", "cmd_serve"),
    ("up", "cmd_up"),
    ("score", "cmd_score"),
    ("rescore", "cmd_rescore"),
    ("migrate", "cmd_migrate"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskscore", description="Real-time underwriting risk scoring."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS:
        try:
            module = importlib.import_module(f"riskscore.adapters.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"riskscore.adapters.cli.{module_name}":
                raise
            continue
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args._run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
