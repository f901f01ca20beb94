"""The program's own packages are imported from the program directory, as Pulumi's language host does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmdeploy.cli.program import ProgramModuleError, import_from_program


def test_imports_the_programs_own_package_from_its_directory(tmp_path: Path) -> None:
    package = tmp_path / "program_only_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("PROJECT = 'from-the-program'\n")
    path_before = list(sys.path)

    module = import_from_program(tmp_path, "program_only_package.settings")

    assert module.PROJECT == "from-the-program"
    assert Path(module.__file__ or "").parent == package
    assert sys.path == path_before, "the program directory stays on sys.path only while importing"


def test_a_directory_without_the_package_is_named_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProgramModuleError) as raised:
        import_from_program(tmp_path, "no_such_program_package.settings")
    assert str(raised.value) == (
        f"{tmp_path}: found no module 'no_such_program_package.settings'; accepted: an llmdeploy program "
        "directory (Pulumi.yaml, __main__.py, stacks/, components/)"
    )


def test_a_module_the_program_itself_misses_is_the_programs_error(tmp_path: Path) -> None:
    package = tmp_path / "program_with_a_missing_import"
    package.mkdir()
    (package / "__init__.py").write_text("import a_dependency_nobody_installed\n")
    with pytest.raises(ModuleNotFoundError, match="a_dependency_nobody_installed"):
        import_from_program(tmp_path, "program_with_a_missing_import")
