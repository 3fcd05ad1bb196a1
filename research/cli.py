"""The ``research`` command line.

Each module in ``research.commands`` registers its own commands through ``register(app)``,
so the command groups stay next to the layer they drive.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console

import research.commands
from research.errors import InputError
from research.store.loader import EvidenceError

app = typer.Typer(
    name="research",
    help="Sightline: validate the evidence store, run meta-analyses, check claims, build reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


# Help lists command groups in the order a user meets them; other modules follow by name.
HELP_ORDER = ["build", "store", "meta", "bayes", "claims"]


def _register_commands() -> None:
    names = [m.name for m in pkgutil.iter_modules(research.commands.__path__) if not m.name.startswith("_")]
    for name in sorted(names, key=lambda n: (HELP_ORDER.index(n) if n in HELP_ORDER else len(HELP_ORDER), n)):
        importlib.import_module(f"research.commands.{name}").register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn known input errors into exit code 2.

    Usage errors (unknown option, missing argument) are reported by the command-line parser
    itself, also with exit code 2.
    """
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except EvidenceError as exc:
        err.print(f"[bold red]Invalid evidence[/]: {len(exc.problems)} problem(s)", highlight=False)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        return 2
    except InputError as exc:
        err.print(f"[bold red]Error[/]: {exc}", highlight=False)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
