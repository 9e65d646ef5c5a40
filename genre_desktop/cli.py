"""`genre-desktop [FOLDER]`: opens the app (on FOLDER); subcommands drive the core headless.

Each subcommand lives in `genre_desktop/commands/<name>.py` and exposes
`add_parser(subparsers) -> argparse.ArgumentParser` (setting `func=run` on it) and
`run(args) -> int`. Command modules keep heavy imports inside `run` so `--help` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from genre_desktop import __version__

COMMANDS: tuple[str, ...] = (
    "features", "classify", "check", "models", "download", "cache", "review", "tag",
    "untag", "reference", "report",
)
# 128 + SIGHUP, SIGINT, SIGTERM: a command stopped by a signal (commands/stop_signals.py)
_STOPPED = frozenset({129, 130, 143})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genre-desktop",
        description="Tag a music collection by genre. Without a subcommand the app opens.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--self-test", action="store_true",
        help="run the built-in self-test (used to check a frozen build) and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"genre_desktop.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"genre_desktop.commands.{name}":
                raise
            continue  # a command still being built
        module.add_parser(sub)
    return parser


def _folder_to_open(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """`genre-desktop FOLDER`: the folder the app should open, else None (a subcommand)."""
    if len(argv) != 1 or argv[0].startswith("-"):
        return None
    commands: set[str] = set()
    for action in parser._actions:  # argparse keeps subcommands here; no public accessor
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    if argv[0] in commands:
        return None
    if not os.path.isdir(argv[0]):
        parser.error(f"{argv[0]!r} is neither a command ({', '.join(sorted(commands))}) "
                     "nor a folder to open in the app")
    return argv[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    folder = _folder_to_open(parser, argv)
    if folder is not None:
        from genre_desktop.app.main import run_app

        return run_app(folder=folder)
    args = parser.parse_args(argv)
    if args.self_test:
        from genre_desktop.selftest import run_self_test

        return run_self_test()
    if args.command is None:
        from genre_desktop.app.main import run_app

        return run_app()
    from genre_desktop.core.redact import RedactingStream

    # Every message printed is masked of the credentials in use (an endpoint may echo them).
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)  # type: ignore[assignment]
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe must not fail at exit instead
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 1
    finally:
        sys.stdout, sys.stderr = out, err
    return status


def entry() -> None:
    """The process's entry point (the console script, `python -m genre_desktop`, the frozen
    app): `main`, then exit with its status.

    A command stopped by a signal has stored and written everything by then, and someone is
    waiting for the prompt: the exit handlers run (multiprocessing's, logging's) but the
    interpreter's teardown of ~2000 modules (a second or more on a loaded machine) and the
    wait for classification threads still blocked on a hung endpoint are skipped.
    """
    status = main()
    if status in _STOPPED:
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed pipe: nothing left to say
                stream.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    entry()
