"""The wheel, installed in a fresh virtualenv outside the repository, plans and checks a copied program.

What `pip install llmdeploy` gives a user: llmdeploy and its policy pack, and no top-level `stacks` or
`components` (the program's own packages, found from the program directory).

The fresh virtualenv gets the wheel and, by default, the dependencies already installed in the
running environment: each top-level entry of this environment's site-packages except llmdeploy's
own (its editable install) is linked into a folder the new environment puts on its path, and
`pip check` then confirms the pinned dependencies are all there. With LLMDEPLOY_WHEEL_DEPS=index
(CI, which has a package index) the wheel is installed with pip from the index instead, as a user
installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import plan_of
from tests.support import REPO

pytestmark = pytest.mark.e2e

# What a Pulumi program directory holds (the rest of the repository is not the program).
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml")
PROGRAM_PACKAGES = ("stacks", "components")
# The running environment's entries that are llmdeploy itself (its editable install), never linked.
OWN_ENTRIES = ("llmdeploy", "__editable__", "_llmdeploy", "__pycache__")


def _checkout_files() -> list[str]:
    """What the checkout holds, as git sees it: tracked files and new ones git does not ignore.

    Never a copy of the whole folder: it also holds what `make test` builds (`.venv`, `.venv-vllm`,
    `.venv-bench`, node_modules: gigabytes), which is no part of a release.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def _run(args: list[str | Path], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    # Without the checkout on PYTHONPATH (as the tests run): the installed copy must stand alone.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _link_dependencies(venv_python: Path, work: Path) -> None:
    """This environment's installed dependencies, without llmdeploy, on the new environment's path."""
    deps = work / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.startswith(OWN_ENTRIES) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    site = _ok(_run([venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work))
    # A .pth line puts the folder on sys.path; .pth files inside that folder are not processed, so no
    # editable finder of this environment comes along.
    (Path(site.strip()) / "installed_dependencies.pth").write_text(f"{deps}\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel built from this checkout; returns its bin directory."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so no build/ folder in the checkout can slip stale files into the wheel.
    source = work / "source"
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    _ok(
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", work / "dist", source], work
        )
    )
    (wheel,) = (work / "dist").glob("llmdeploy-*.whl")
    venv = work / "venv"
    python = venv / "bin" / "python"
    if os.environ.get("LLMDEPLOY_WHEEL_DEPS") == "index":
        _ok(_run([sys.executable, "-m", "venv", venv], work))
        _ok(_run([python, "-m", "pip", "install", "--quiet", wheel], work, timeout=900))
    else:
        _ok(_run([sys.executable, "-m", "venv", "--without-pip", venv], work))
        _ok(
            _run(
                [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel],
                work,
            )
        )
        _link_dependencies(python, work)
        _ok(_run([python, "-m", "pip", "check"], work))
    return venv / "bin"


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's Pulumi program, copied to a folder outside the repository."""
    directory = tmp_path_factory.mktemp("program")
    for name in PROGRAM_FILES:
        shutil.copy2(REPO / name, directory / name)
    for package in PROGRAM_PACKAGES:
        shutil.copytree(REPO / package, directory / package, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def test_wheel_holds_llmdeploy_and_its_pack_and_no_program_packages(installed: Path, tmp_path: Path) -> None:
    where = _ok(
        _run(
            [
                installed / "python",
                "-c",
                "import importlib.util, json, llmdeploy, llmdeploy.cli.check as check;"
                "print(json.dumps({'llmdeploy': llmdeploy.__file__, 'pack': str(check.DEFAULT_PACK_DIR),"
                "'stacks': importlib.util.find_spec('stacks') is not None,"
                "'components': importlib.util.find_spec('components') is not None}))",
            ],
            tmp_path,
        )
    )
    found = json.loads(where)
    venv = installed.parent
    assert Path(found["llmdeploy"]).is_relative_to(venv), found
    assert Path(found["pack"]).is_relative_to(venv), found
    assert (Path(found["pack"]) / "PulumiPolicy.yaml").is_file()
    assert sorted(p.name for p in (Path(found["pack"]) / "config").glob("*.json")) == [
        "dev.json",
        "prod.json",
        "staging.json",
    ]
    assert (found["stacks"], found["components"]) == (False, False), found


def test_installed_plan_matches_the_checkout(installed: Path, program: Path, tmp_path: Path) -> None:
    out = _ok(
        _run([installed / "llmdeploy", "plan", "prod", "--program", program, "--format", "json"], tmp_path)
    )
    assert json.loads(out) == plan_of("prod")


def test_installed_check_runs_the_shipped_pack(installed: Path, program: Path, tmp_path: Path) -> None:
    result = _run([installed / "llmdeploy", "check", "prod", "--program", program], tmp_path)
    out = _ok(result)
    assert "Policy pack llm-serving" in out, out
    assert "0 mandatory" in out or "No policy violations." in out, out


def test_installed_command_without_program_packages_says_so(installed: Path, tmp_path: Path) -> None:
    """An ops command on a directory that is not an llmdeploy program: one line, no traceback."""
    (tmp_path / "Pulumi.yaml").write_text("name: llmdeploy\nruntime: python\n")
    (tmp_path / "Pulumi.staging.yaml").write_text("config:\n  llmdeploy:kind: staging\n")
    result = _run([installed / "llmdeploy", "preflight", "staging", "--program", tmp_path], tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert f"{tmp_path}: found no module 'stacks.settings'" in result.stderr, result.stderr
