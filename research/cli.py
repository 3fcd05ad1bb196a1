"""The ``research`` command line.

Each module in ``research.commands`` registers its own commands through ``register(app)``,
so the command groups stay next to the layer they drive.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape

import research.commands
from research.errors import InputError

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


DEBUG_VARIABLE = "RESEARCH_DEBUG"  # set to 1 to see the traceback of an internal error
REPORT_HINT = ("This is a fault in the program, not in your input. Please report it with the command you ran "
               f"and this message; run again with {DEBUG_VARIABLE}=1 to include the traceback.")


def _internal_error(exc: BaseException) -> int:
    err.print(f"[bold red]Internal error[/]: {type(exc).__name__}: {escape(str(exc))}", highlight=False)
    err.print(REPORT_HINT, highlight=False, markup=False)
    if os.environ.get(DEBUG_VARIABLE):
        err.print("".join(traceback.format_exception(exc)), highlight=False, markup=False)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn known input errors into exit code 2.

    Usage errors (unknown option, missing argument) are reported by the command-line parser
    itself, also with exit code 2. Anything unexpected is an internal error: one line saying
    so, a hint to report it, and exit code 1 (the traceback only with RESEARCH_DEBUG=1).
    """
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted below; the store's error class loads only with the store
        return _failure(exc)
    return 0


def _is_evidence_error(exc: BaseException) -> bool:
    # the store is imported only by commands that read it, and only they can raise its error
    loader = sys.modules.get("research.store.loader")
    return loader is not None and isinstance(exc, loader.EvidenceError)


def _failure(exc: Exception) -> int:
    """The exit code for an error, after saying what went wrong."""
    if _is_evidence_error(exc):
        err.print(f"[bold red]Invalid evidence[/]: {len(exc.problems)} problem(s)", highlight=False)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        return 2
    try:
        raise exc
    except InputError as exc:
        err.print(f"[bold red]Error[/]: {escape(str(exc))}", highlight=False)
        return 2
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`); nothing more to say
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except OSError as exc:
        if exc.filename is None:
            return _internal_error(exc)
        # a file or folder the user named cannot be read or written (missing, a folder, no permission)
        err.print(f"[bold red]Error[/]: {escape(str(exc.filename))}: {escape(exc.strerror or str(exc))}",
                  highlight=False)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        return _internal_error(exc)


if __name__ == "__main__":
    sys.exit(main())
