"""The package installs and napari finds it: editable install and built wheel."""

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def test_import_is_light():
    code = (
        "import sys, napari_segreview, napari_segreview.cli;"
        "heavy = [m for m in ('torch', 'napari', 'qtpy', 'PyQt6', 'PySide6', 'magicgui')"
        " if m in sys.modules]; print(heavy)"
    )
    out = run(sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_manifest_in_package_is_the_root_manifest():
    packaged = REPO / "src" / "napari_segreview" / "napari.yaml"
    assert packaged.resolve() == (REPO / "napari.yaml").resolve()


def test_npe2_validates_the_installed_plugin():
    npe2 = Path(sys.executable).parent / "npe2"
    out = run(str(npe2), "validate", "napari-segreview")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout.lower()


def test_napari_discovers_editable_install():
    code = (
        "import npe2, json; pm = npe2.PluginManager(); pm.discover();"
        "m = pm.get_manifest('napari-segreview');"
        "print(json.dumps([s.key for s in m.contributions.sample_data]))"
    )
    out = run(sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["ct_phantom"]


@pytest.mark.slow
def test_wheel_installs_and_napari_discovers_it(tmp_path):
    dist = tmp_path / "dist"
    out = run(sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (wheel,) = dist.glob("napari_segreview-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        packaged = zf.read("napari_segreview/napari.yaml").decode()
        entry_points = next(n for n in zf.namelist() if n.endswith("entry_points.txt"))
        assert "napari_segreview:napari.yaml" in zf.read(entry_points).decode()
    assert packaged == (REPO / "napari.yaml").read_text(), "the wheel must carry the manifest"

    # A clean venv with only the wheel; its dependencies come from this
    # environment's site-packages, added as a plain path (so the editable
    # install's own path hook is not processed there).
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    py = venv / "bin" / "python"
    out = run(str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel))
    assert out.returncode == 0, out.stderr
    site = run(str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = (
        "import npe2, napari_segreview, json; pm = npe2.PluginManager(); pm.discover();"
        "m = pm.get_manifest('napari-segreview');"
        "print(json.dumps({'file': napari_segreview.__file__,"
        " 'samples': [s.key for s in m.contributions.sample_data],"
        " 'widgets': [w.display_name for w in m.contributions.widgets]}))"
    )
    out = run(str(py), "-c", code, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["file"].startswith(str(venv)), "the wheel, not the source tree, was imported"
    assert found["samples"] == ["ct_phantom"]
    assert "Convert mask layers" in found["widgets"]
