"""The labeling notebook in a real browser: JupyterLab + Chromium (Playwright), one click.

JupyterLab runs headless on 127.0.0.1 (a free port, a random token, its
config, data, runtime and workspace folders in the test's tmp dir); Debian's
Chromium (``/usr/bin/chromium``, never ``playwright install``) opens a copy of
``notebooks/02_label_frames.ipynb`` whose parameters point at a tiny project
with two unlabeled 160x120 frames, runs all cells, and clicks on the frame.

Where the click lands in image pixels: the labeler's figure has no margins (its
axes fill the canvas) and ``imshow`` puts image pixel centres at integers, so
the canvas spans x from -0.5 to width - 0.5. A click at CSS offset ``(cx, cy)``
from the canvas's top left corner is therefore at image pixel
``(cx * width / css_width - 0.5, cy * height / css_height - 0.5)``; the label
file on disk must hold that point within one pixel (it matches to 1/1000 px:
the click is made at whole page pixels, as Chromium delivers mouse events, and
the offset is measured from the canvas's possibly fractional position).

Run it alone with ``.venv/bin/python -m pytest -m browser -s`` (``-s`` prints
the screenshot's path).
"""

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from kit.project import create_project
from kit.project.frame_picking import frame_image_name
from kit.project.labels import read_labels_file
from kit.project.video import save_image

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WIDTH, HEIGHT = 160, 120
CLICK = (40.0, 30.0)  # CSS pixels from the canvas's top left corner


def _skip_without_tools() -> None:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    for module, package in (
        ("playwright", "playwright"),
        ("jupyterlab", "jupyterlab"),
        ("ipympl", "ipympl"),
    ):
        if importlib.util.find_spec(module) is None:
            missing.append(f"the Python package {package} (pip install -e '.[dev]')")
    if missing:
        pytest.skip("browser test needs " + ", ".join(missing))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1: yields (base URL, token, root folder)."""
    _skip_without_tools()
    root, port, token = tmp_path / "lab", _free_port(), secrets.token_hex(16)
    root.mkdir()
    env = {
        **os.environ,
        **{
            f"JUPYTER{name}": str(tmp_path / f"jupyter{name.lower()}")
            for name in ("_CONFIG_DIR", "_DATA_DIR", "_RUNTIME_DIR", "LAB_WORKSPACES_DIR")
        },
    }
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    labconfig = tmp_path / "jupyter_config_dir" / "labconfig"
    labconfig.mkdir(parents=True)  # no "get Jupyter news?" toast over the page
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    with open(tmp_path / "jupyter.log", "w") as log:  # the server keeps its own copy of the fd
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels die with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _status(url, token), 60, "JupyterLab to start", tmp_path / "jupyter.log")
        yield url, token, root
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _status(url: str, token: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_for(check, seconds: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result is not None and result is not False:
            return result
        time.sleep(0.25)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"Timed out after {seconds} s waiting for {what}.\n{tail}")


def _tiny_project(folder: Path):
    """Two unlabeled frames of a grey gradient with a bright square, 160x120."""
    project = create_project(folder, "browser", "tester", ["snout", "tailbase"])
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = np.linspace(40, 120, WIDTH, dtype=np.uint8)[None, :, None]
    image[50:70, 70:100] = 230
    project.labeled_data_dir("v").mkdir(parents=True)
    for i in range(2):
        save_image(project.labeled_data_dir("v") / frame_image_name(i, 10), image)
    return project


def _notebook(root: Path, project_dir: Path) -> str:
    notebook = json.loads((REPO / "notebooks" / "02_label_frames.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = (
        f"project_dir = {str(project_dir)!r}\nvideo = ''\nscorer = ''\n"
        "suggestions_file = ''\nscale = 1.0\n"
    )
    (root / "label.ipynb").write_text(json.dumps(notebook))
    return "label.ipynb"


def _label_at(path: Path):
    if not path.is_file():
        return None
    points = read_labels_file(path).to_numpy().reshape(-1, 2, 2)
    return points[0, 0] if np.isfinite(points[0, 0]).all() else None


def test_click_in_browser_saves_label_in_image_pixels(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    url, token, root = lab
    project = _tiny_project(tmp_path / "project")
    name = _notebook(root, project.root)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"{url}/lab/tree/{name}?token={token}")
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
            page.locator(".jp-Notebook .jp-Cell").first.click()  # focus: enables the Run menu
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel:text-is('Run All Cells')").click()
            page.get_by_text("labeled frames drawn into").wait_for(timeout=120_000)
            figures = page.locator(".jupyter-matplotlib-canvas-div")
            _wait_for(lambda: figures.count() == 2, 60, "the labeler and the grid figure")
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
            canvas = figures.first
            canvas.scroll_into_view_if_needed()
            # The canvas is sized once the kernel has drawn the figure; events work from then on.
            box = _wait_for(
                lambda: (b := canvas.bounding_box()) and b["width"] > 0 and b,
                60,
                "the labeler's canvas to be drawn",
            )
            # Chromium delivers mouse events at whole CSS pixels of the page, and the canvas may
            # sit at a fractional offset: click at whole page pixels and measure from the canvas.
            page_xy = (round(box["x"] + CLICK[0]), round(box["y"] + CLICK[1]))
            page.mouse.click(*page_xy)
            point = _wait_for(lambda: _label_at(project.labels_file("v")), 30, "the saved label")
            page.mouse.move(box["x"] + 5, box["y"] + box["height"] + 200)  # the toolbar fades
            page.wait_for_timeout(500)
            shot = tmp_path / "labeler.png"
            page.screenshot(path=str(shot))
            print(f"\nscreenshot: {shot}")
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print(f"\nscreenshot of the failure: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()
    offset = (page_xy[0] - box["x"], page_xy[1] - box["y"])
    expected = (offset[0] * WIDTH / box["width"] - 0.5, offset[1] * HEIGHT / box["height"] - 0.5)
    assert (box["width"], box["height"]) == (WIDTH, HEIGHT)  # full resolution
    print(
        f"clicked at CSS {offset} of a {box['width']}x{box['height']} canvas; saved {point}, "
        f"expected {expected}"
    )
    assert np.abs(point - expected).max() <= 1.0, (point, expected)
