"""Every unreadable or binary problem file is one line naming the file (issue 22, part 5)."""

import os
import shutil
from pathlib import Path

import pytest
from test_bad_input import PROBLEM, _one_error_line, evolve

BINARY = bytes(range(256)) * 64  # NUL bytes and every other byte: what an ELF or a PNG starts like
LATIN1 = "circles = 'façade'\n".encode("latin-1")  # text, but not UTF-8


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "circle_packing"
    shutil.copytree(PROBLEM, folder)
    return folder


@pytest.mark.parametrize(
    ("file", "content", "says"),
    [
        ("initial_program.py", BINARY, "the initial program is a binary file"),
        ("initial_program.py", LATIN1, "the initial program is not UTF-8 text"),
        ("evaluate.py", BINARY, "the evaluator is a binary file"),
        ("problem.toml", BINARY, "the problem file is a binary file"),
        ("prompts/diff.j2", BINARY, "the prompt template is a binary file"),
    ],
)
def test_a_binary_or_undecodable_problem_file_is_one_line(tmp_path, file, content, says):
    folder = _copy(tmp_path)
    (folder / file).parent.mkdir(exist_ok=True)
    (folder / file).write_bytes(content)
    for command in (
        ["check", str(folder), "--sandbox", "process"],
        ["run", str(folder), "-n", "1", "--runs-dir", "runs"],
    ):
        out = evolve(*command, cwd=tmp_path)
        line = _one_error_line(out)
        assert f"{folder / file}: {says}" in line, line
        assert len(out.stderr.strip().splitlines()) <= 2, out.stderr  # the line, at most one hint
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_initial_program_is_one_line(tmp_path):
    folder = _copy(tmp_path)
    (folder / "initial_program.py").chmod(0)
    line = _one_error_line(evolve("check", str(folder), "--sandbox", "process", cwd=tmp_path))
    assert f"{folder / 'initial_program.py'}: the initial program cannot be read: Permission denied" in line


def test_a_folder_in_place_of_the_evaluator_is_one_line(tmp_path):
    folder = _copy(tmp_path)
    (folder / "evaluate.py").unlink()
    (folder / "evaluate.py").mkdir()
    line = _one_error_line(evolve("check", str(folder), "--sandbox", "process", cwd=tmp_path))
    assert str(folder / "evaluate.py") in line
