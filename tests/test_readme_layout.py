"""The README's "Repository layout" table names every top-level folder and llmdeploy's layers, and only
paths that exist."""

from __future__ import annotations

import re

from tests.support import REPO

# Folders a checkout grows that are no part of the repository (all in .gitignore).
# .venv-vllm and .venv-bench: the Makefile's virtualenvs for real vLLM and GuideLLM, beside .venv.
NOT_THE_REPOSITORY = {
    ".git",
    ".venv",
    ".venv-vllm",
    ".venv-bench",
    "build",
    "dist",
    "__pycache__",
    ".whl",
    ".cache",
}


def layout_paths() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Repository layout\n", 1)[1].split("\n## ", 1)[0]
    paths: list[str] = []
    for row in re.findall(r"^\| (`[^|]+`) \|", section, flags=re.MULTILINE):
        paths.extend(re.findall(r"`([^`]+)`", row))
    return paths


def test_every_layout_path_exists() -> None:
    paths = layout_paths()
    assert paths, "no Repository layout table in the README"
    for path in paths:
        assert list(REPO.glob(path.rstrip("/"))), (
            f"README layout names {path}, which is not in the repository"
        )


def test_every_top_level_folder_and_llmdeploy_layer_is_in_the_layout() -> None:
    listed = {path.rstrip("/") for path in layout_paths()}
    folders = {
        entry.name
        for entry in REPO.iterdir()
        if entry.is_dir()
        and entry.name not in NOT_THE_REPOSITORY
        and not entry.name.endswith(("_cache", ".egg-info"))
    }
    layers = {
        f"llmdeploy/{entry.name}"
        for entry in (REPO / "llmdeploy").iterdir()
        if (entry / "__init__.py").is_file()
    }
    missing = sorted((folders - {"llmdeploy"} | layers) - listed)
    assert not missing, f"README's Repository layout leaves out {missing}"
