"""The package a council installs runs the portal: no checkout, no npm.

The sdist and wheel are built as a release is (`make dist`: `python -m build`, which builds the
wheel from the sdist), the wheel is installed into a fresh virtualenv, and `caseload demo` is
started from it, outside the checkout, and answers with a styled sign-in page.

To stay offline and quick, the new virtualenv reaches the third-party dependencies through a
`.pth` line naming this environment's site-packages. That directory is only appended to the
path (its own .pth files, including the editable install of this checkout, are not run), so
every module of ours and every asset comes from the wheel, which the test checks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from portal_extensions.config import GOVUK_FRONTEND_VERSION

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = "portal_extensions/web/static/govuk-frontend/"
GOVUK_FILES = (
    "package.json",
    "README.md",
    "dist/govuk/govuk-frontend.min.css",
    "dist/govuk/govuk-frontend.min.js",
)


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter and tools
        [str(arg) for arg in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _isolated_env(venv: Path) -> dict[str, str]:
    """The environment of a council's service: no checkout on the path, no Caseload settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CASELOAD_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _build_step() -> ModuleType:
    """setup.py as a module (it only calls setup() when the build backend runs it)."""
    spec = importlib.util.spec_from_file_location("caseload_build_step", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_takes_the_pinned_govuk_frontend_from_node_modules() -> None:
    step = _build_step()
    assert step.NODE_PACKAGE == ROOT / "node_modules" / "govuk-frontend"
    assert step.pinned_version() == GOVUK_FRONTEND_VERSION
    step.check_govuk_frontend(step.NODE_PACKAGE)


def test_the_build_stops_without_npm_ci(tmp_path: Path) -> None:
    step = _build_step()
    with pytest.raises(step.GovukFrontendMissingError, match="run `npm ci` in the repository"):
        step.check_govuk_frontend(tmp_path / "node_modules" / "govuk-frontend")


def test_the_build_stops_on_a_release_other_than_the_pinned_one(tmp_path: Path) -> None:
    step = _build_step()
    stale = tmp_path / "govuk-frontend"
    for name in GOVUK_FILES:
        (stale / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(step.NODE_PACKAGE / name, stale / name)
    manifest = json.loads((stale / "package.json").read_text(encoding="utf-8"))
    (stale / "package.json").write_text(json.dumps({**manifest, "version": "5.0.0"}))
    with pytest.raises(step.GovukFrontendMissingError, match=r"5\.0\.0, but package.json pins"):
        step.check_govuk_frontend(stale)


@pytest.mark.slow
def test_the_wheel_alone_serves_a_styled_portal(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ".", cwd=ROOT)
    (sdist,) = dist.glob("member_caseload-*.tar.gz")
    (wheel,) = dist.glob("member_caseload-*.whl")

    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in GOVUK_FILES:  # a wheel built from the sdist needs no npm either
        assert f"node_modules/govuk-frontend/{name}" in names
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in GOVUK_FILES:
            assert PACKAGED + name in names
        carried = json.loads(archive.read(PACKAGED + "package.json"))
        readme = archive.read(PACKAGED + "README.md").decode("utf-8")
    assert carried["version"] == GOVUK_FRONTEND_VERSION
    assert carried["license"] == "MIT" and "## Licence" in readme  # the licence kept
    assert not any(name.startswith(("tests/", "node_modules/")) for name in names)

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    env = _isolated_env(venv)
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--no-cache-dir",
        wheel,
        cwd=tmp_path,
        env=env,
    )
    site = Path(
        _run(
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            cwd=tmp_path,
            env=env,
        ).strip()
    )
    (site / "third_party_from_the_test_environment.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )

    run_dir = tmp_path / "council"  # outside the checkout: nothing found by relative path
    run_dir.mkdir()
    where = _run(
        python,
        "-c",
        "import cli, connector, mappings, portal_extensions\n"
        "from portal_extensions.web.assets import govuk_frontend_source\n"
        "for module in (cli, connector, mappings, portal_extensions):\n"
        "    print(module.__file__)\n"
        "print(govuk_frontend_source())",
        cwd=run_dir,
        env=env,
    ).split()
    assert len(where) == 5
    for path in where:
        assert Path(path).resolve().is_relative_to(venv.resolve()), path

    port = _free_port()
    demo = subprocess.Popen(  # noqa: S603 - the installed console script
        [
            str(venv / "bin" / "caseload"),
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(run_dir / "demo"),
            "--cases",
            "20",
        ],
        cwd=run_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if demo.poll() is not None:
                pytest.fail(f"`caseload demo` exited {demo.returncode}:\n{demo.communicate()[0]}")
            try:
                status, page = _get(f"{base}/sign-in")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("`caseload demo` did not answer within 90 s")
                time.sleep(0.25)
        assert status == 200
        assert "/assets/govuk-frontend.min.css" in page and "govuk-template" in page
        status, css = _get(f"{base}/assets/govuk-frontend.min.css")
        assert status == 200
        assert f'--govuk-frontend-version:"{GOVUK_FRONTEND_VERSION}"' in css
        assert ".govuk-header" in css
        assert "GDS Transport" not in css and "@font-face" not in css  # rebranded
        status, js = _get(f"{base}/assets/govuk-frontend.min.js")
        assert status == 200 and "govuk-frontend" in js.lower()
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.communicate()
