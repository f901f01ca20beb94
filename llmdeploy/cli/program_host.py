"""Start a Pulumi Python program the way Pulumi's Python language host does.

This file runs as a script in the program's own process (`python -u
program_host.py --monitor ADDR --engine ADDR ... PROGRAM`), like the language
host's `pulumi-language-python-exec`: it connects the SDK to the monitor and
engine addresses it is given, loads config from PULUMI_CONFIG and
PULUMI_CONFIG_SECRET_KEYS, and runs the program inside the stack resource. It
imports nothing from llmdeploy: the process that plays the engine (llmdeploy)
only ever sees what arrives over gRPC, whatever the program does here.

Exit codes as the language host's: 0 when the program ran to its end, 32 when
it failed and the error was already reported to the engine's log.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import runpy
import sys
import traceback

# Reported to the engine before the traceback, so the engine can tell a crash from a refusal
# (`pulumi.RunError`, reported with its message only), as the language host does.
UNHANDLED = "Program failed with an unhandled exception:"
EXIT_REPORTED = 32


def _discard(*args: object, **kwargs: object) -> None:
    return None


def _run_path(path: str) -> None:
    runpy.run_path(path, run_name="__main__")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--pwd", required=True)
    parser.add_argument("--dry_run", default="false")
    parser.add_argument("--parallel", type=int, default=0)
    parser.add_argument("--monitor", required=True)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--organization", default="organization")
    parser.add_argument("--root_directory", default=None)
    parser.add_argument("PROGRAM")
    args = parser.parse_args()

    os.chdir(args.pwd)
    # The program's directory first on the path, as the language host runs `python -m` there.
    sys.path.insert(
        0, os.path.dirname(os.path.abspath(args.PROGRAM)) if os.path.isfile(args.PROGRAM) else args.PROGRAM
    )
    sys.argv = [args.PROGRAM]

    import pulumi
    from pulumi.runtime import config, settings
    from pulumi.runtime.stack import run_in_stack

    settings.configure(
        settings.Settings(
            project=args.project,
            stack=args.stack,
            monitor=args.monitor,
            engine=args.engine,
            parallel=args.parallel,
            dry_run=args.dry_run == "true",
            organization=args.organization,
            root_directory=args.root_directory,
        )
    )
    config.set_all_config(config.get_config_env(), config.get_config_secret_keys_env())
    # The engine shows warnings and errors, never debug lines (as `pulumi preview` without -v). The SDK
    # sends several debug lines per resource, each a blocking gRPC call: a quarter of a second of
    # waiting in a 60-resource program. They are dropped here, before the call.
    pulumi.log.debug = _discard

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    successful = False
    try:
        loop.run_until_complete(run_in_stack(lambda: _run_path(args.PROGRAM)))
        successful = True
    except pulumi.RunError as error:
        pulumi.log.error(str(error))
    except Exception:
        pulumi.log.error(f"{UNHANDLED}\n{traceback.format_exc()}")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0 if successful else EXIT_REPORTED


if __name__ == "__main__":
    sys.exit(main())
