"""Fixtures for the GUI suite: an echo server, a private database, tauri-driver, app sessions."""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "target" / "debug" / "sockscope-app"
ECHO = ROOT / "target" / "debug" / "sockscope-echo-server"
SHOTS = ROOT / "target" / "gui"
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def echo_url():
    proc = subprocess.Popen([str(ECHO), "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening ws://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def db_path():
    with tempfile.TemporaryDirectory(prefix="sockscope-gui-") as d:
        yield Path(d) / "gui.db"


@contextlib.contextmanager
def tauri_driver_for(db: Path, **extra_env: str):
    """A tauri-driver whose apps use the database `db`, with their local CA and templates
    beside it (never in $HOME) and `extra_env` added; yields its URL and stops it after."""
    tauri_driver = shutil.which("tauri-driver") or str(Path.home() / ".cargo/bin/tauri-driver")
    port, native_port = free_port(), free_port()
    env = dict(os.environ, SOCKSCOPE_DB=str(db),
               SOCKSCOPE_CA_DIR=str(db.parent / "ca"),
               SOCKSCOPE_TEMPLATES_DIR=str(db.parent / "templates"), **extra_env)
    proc = subprocess.Popen(
        [tauri_driver, "--port", str(port), "--native-port", str(native_port),
         "--native-driver", WEBKIT_DRIVER],
        env=env,
    )
    try:
        # tauri-driver listens at once; WebKitWebDriver behind it takes a moment.
        wait_for_port(port, proc)
        wait_for_port(native_port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@contextlib.contextmanager
def app_session(url: str):
    """One app process through the tauri-driver at `url`, quit after."""
    opts = ArgOptions()
    opts.set_capability("browserName", "wry")
    opts.set_capability("tauri:options", {"application": str(APP)})
    driver = webdriver.Remote(command_executor=url, options=opts)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def driver_url(db_path):
    with tauri_driver_for(db_path) as url:
        yield url


@pytest.fixture()
def app(driver_url):
    """A fresh app process (the same database every time), closed after the test."""
    with app_session(driver_url) as driver:
        yield driver


def by_testid(testid: str):
    return (By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def wait(driver, timeout: float = 15.0) -> WebDriverWait:
    return WebDriverWait(driver, timeout, poll_frequency=0.1)


def settle(driver) -> None:
    """WebKit paints asynchronously: wait two animation frames before a screenshot."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));"
    )
