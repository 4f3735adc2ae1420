"""The wheel carries everything `modelmux validate` needs, the grammar and the demo config included."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch virtualenv with the freshly built wheel; dependencies come from the project venv."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("modelmux-*.whl"))
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def run_in(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(env_dir / "bin" / "python"), *args],
        capture_output=True,
        text=True,
        cwd=env_dir,
        env=env,
        check=False,
    )


def test_wheel_imports_from_its_own_install(installed_wheel: Path) -> None:
    result = run_in(installed_wheel, "-c", "import modelmux; print(modelmux.__file__)")
    assert result.returncode == 0, result.stderr
    assert str(installed_wheel) in result.stdout


def test_validate_from_the_wheel_uses_the_packaged_grammar(installed_wheel: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "providers:\n  - name: m\n    type: mock\n    models: [a]\nrouting:\n  rules:\n"
        '    - if: model == "a" and stream == false\n      provider: m\n'
    )
    code = "from modelmux.cli.app import main; main()"
    result = run_in(installed_wheel, "-c", code, "validate", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid, fingerprint" in result.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "providers:\n  - name: m\n    type: mock\nrouting:\n  rules:\n    - if: model >\n      provider: m\n"
    )
    result = run_in(installed_wheel, "-c", code, "validate", str(broken))
    assert result.returncode == 1
    assert "broken.yaml:6:" in result.stdout


def test_wheel_ships_the_demo_config_and_schema(installed_wheel: Path) -> None:
    code = (
        "from modelmux.cli.serve import bundled_demo; from importlib import resources; "
        "p = bundled_demo(); print(p); "
        "print((resources.files('modelmux') / '_schemas' / 'modelmux.schema.json').is_file())"
    )
    result = run_in(installed_wheel, "-c", code)
    assert result.returncode == 0, result.stderr
    demo, schema_ok = result.stdout.split()
    assert str(installed_wheel) in demo
    assert schema_ok == "True"
