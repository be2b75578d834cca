"""The README's command lines run as written.

The ``segreview convert`` line is taken from README.md (continuation lines
joined, the comment cut off) and run on a plain multi-page TIFF, one page per
channel, written with tifffile (no segreview metadata). The expected label map
is painted by hand with numpy: the parts win over ``whole``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import tifffile

from napari_segreview.cli import main
from napari_segreview.io.arrayfiles import read_array

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_command(name: str) -> list[str]:
    """The README's ``segreview <name>`` line as argv (without the program)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f".venv/bin/segreview {name} "):
            text = line
            while text.rstrip().endswith("\\"):
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i]
            argv = shlex.split(text, comments=True)
            return argv[1:]
    raise AssertionError(f"README.md has no 'segreview {name}' line")


def test_the_readme_convert_line_runs_on_a_plain_tiff(tmp_path, monkeypatch, capsys):
    whole = np.zeros((12, 12), np.uint8)
    whole[2:10, 2:10] = 1
    parts = [np.zeros_like(whole) for _ in range(3)]
    parts[0][2:6, 2:6] = 1
    parts[1][2:6, 6:10] = 1
    parts[2][6:10, 2:10] = 1
    parts[2][5, 5] = 1                                  # part_3 overlaps part_1 here
    stack = np.stack([whole, *parts])
    tifffile.imwrite(tmp_path / "masks.tif", stack, photometric="minisblack")   # 4 pages
    monkeypatch.chdir(tmp_path)
    argv = readme_command("convert")
    assert argv[:2] == ["convert", "masks.tif"]
    assert main(argv) == 0, capsys.readouterr().err
    labels, meta = read_array(tmp_path / "labels.tif")
    # by hand: whole is 1, part_k is k + 1; the first listed of the priority wins
    want = np.where(whole == 1, 1, 0)
    for k in (3, 2, 1):                                 # part_1 painted last: it wins
        want[parts[k - 1] == 1] = k + 1
    assert want[5, 5] == 2                              # part_1 over part_3
    np.testing.assert_array_equal(labels, want)
    assert meta.channel_names == ("background", "whole", "part_1", "part_2", "part_3")


def test_names_in_a_rule_for_a_stack_without_names_say_what_to_give(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "masks.tif", np.ones((2, 3, 3), np.uint8),
                     photometric="minisblack")
    rc = main(["convert", str(tmp_path / "masks.tif"), "-o", str(tmp_path / "l.tif"),
               "--to", "labels", "--priority", "whole,part_1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "carries no channel names" in err and "--names" in err and "'whole'" in err
    assert not (tmp_path / "l.tif").exists()
