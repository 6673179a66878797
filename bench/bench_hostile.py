"""Peak memory of one uploaded query, as ratios measured in one run.

For a normal 224-px photo, a 63-MP photo (JPEG) and the 1 x 60,000 strip:
1. ``vizkit search --image`` (a fresh process each): its peak RSS ÷ the peak RSS of the same
   search by ``--query-id`` (no image), and the difference in MB;
2. the app server (``streamlit run``, a real headless Chromium uploading on the search page):
   its peak RSS (VmHWM) after each upload ÷ its peak before any upload, and the increase.
Goal: each query adds < 200 MB. Everything is written under a temporary folder.
Usage: python bench/bench_hostile.py [--no-browser]
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "vizkit.cli"]


def make_files(folder: Path) -> dict[str, Path]:
    files = {"photo 224 px": folder / "photo.jpg", "photo 63 MP": folder / "big.jpg",
             "strip 1x60000": folder / "strip.png"}
    grad = Image.linear_gradient("L")
    grad.resize((300, 224)).convert("RGB").save(files["photo 224 px"], quality=90)
    grad.resize((9000, 7000)).convert("RGB").save(files["photo 63 MP"], quality=85)
    Image.new("L", (60_000, 1), 255).save(files["strip 1x60000"])
    return files


PEAK_OF_CLI = """
import sys
from vizkit.cli import main
code = main(sys.argv[1:])
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("VMHWM", hwm, file=sys.stderr)
sys.exit(code)
"""


def cli_peak_mb(args: list[str], env: dict) -> tuple[float, int]:
    """Run ``vizkit ARGS`` in a fresh interpreter; return its own peak RSS (VmHWM, MB: the
    ``ru_maxrss`` of a child would count the parent it was forked from) and exit code."""
    done = subprocess.run([sys.executable, "-c", PEAK_OF_CLI, *args], env=env,
                          capture_output=True, text=True)
    hwm = next(ln.split()[1] for ln in done.stderr.splitlines() if ln.startswith("VMHWM"))
    return int(hwm) / 1024, done.returncode


def cli_figures(store: Path, files: dict[str, Path], env: dict) -> None:
    base = ["--store", str(store), "search", "--dataset", "digits[:300]", "--model",
            "resnet18", "--weights", "random", "--layer", "layer4", "--k", "50"]
    none, _ = cli_peak_mb(base + ["--query-id", "3"], env)
    print(f"CLI, no image: peak RSS {none:.0f} MB")
    for name, path in files.items():
        peak, code = cli_peak_mb(base + ["--image", str(path)], env)
        print(f"CLI, {name}: peak {peak:.0f} MB = {peak / none:.2f} x no image "
              f"(+{peak - none:.0f} MB), exit {code}")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def app_figures(store: Path, files: dict[str, Path], env: dict, tmp: Path) -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
         "true", "--server.address", "127.0.0.1", "--server.port", str(port)],
        cwd=ROOT, env=dict(env, VIZKIT_STORE=str(store)), stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking"])
            page = browser.new_page()
            idle = '[data-testid="stApp"][data-test-script-state="notRunning"]'
            page.goto(url + "/search")
            page.wait_for_selector(idle, timeout=120_000)
            page.get_by_text("Upload an image").click()
            page.wait_for_timeout(500)
            page.wait_for_selector(idle, timeout=120_000)
            before = vm_hwm_mb(server.pid)
            print(f"app, search page, no upload: peak RSS {before:.0f} MB")
            last = before
            for name, path in files.items():
                page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                    str(path))
                page.wait_for_timeout(500)
                page.wait_for_selector(idle, timeout=120_000)
                peak = vm_hwm_mb(server.pid)
                print(f"app, upload {name}: peak {peak:.0f} MB = {peak / before:.2f} x before "
                      f"(+{peak - last:.0f} MB for this upload)")
                last = peak
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, VIZKIT_DATA=str(tmp / "data"))
        store = tmp / "data" / "vizkit.duckdb"
        subprocess.run(CLI + ["--store", str(store), "precompute", "--dataset", "digits[:300]",
                              "--model", "resnet18", "--weights", "random", "--layers",
                              "layer4", "--metrics", "", "--quiet"], env=env, check=True)
        files = make_files(tmp)
        cli_figures(store, files, env)
        if "--no-browser" not in sys.argv:
            app_figures(store, files, env, tmp)


if __name__ == "__main__":
    main()
