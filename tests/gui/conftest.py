"""Fixtures for the GUI suite: an echo server, a private database, tauri-driver, app sessions."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "target" / "debug" / "sockscope-app"
ECHO = ROOT / "target" / "debug" / "sockscope-echo-server"
SHOTS = ROOT / "target" / "gui"
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"


# What WebKitWebDriver answers when it lost the page: its web process crashed, or stopped
# answering (a script result it could not read comes first). On the 2-core machine this
# happened about once in 16 runs of the suite, in different tests; both times the kernel log
# has a segfault of WebKit's compositor thread at the same place in Mesa's software GL
# (swrast_dri.so): a crash below the app. Turning accelerated compositing off
# (WEBKIT_DISABLE_COMPOSITING_MODE=1) avoids that code, but a screenshot then hung. So such a
# failure runs once more (pytest-rerunfailures, these messages only: `pytest_configure`), and
# what the WebKit processes were doing, with the kernel's crash lines, goes to LOST_LOG, which
# `run.sh` prints at the end.
WEBDRIVER_LOST = (
    "session deleted because of page crash or hang",
    "Could not parse script result",
)
LOST_LOG = SHOTS / "webdriver-lost.log"


def lost_session(message: str) -> bool:
    return any(m in message for m in WEBDRIVER_LOST)


def pytest_configure(config):
    # Unless the command line says otherwise: one more run, for these failures only.
    if config.option.reruns is None:
        config.option.reruns = 1
    if not config.option.only_rerun:
        config.option.only_rerun = [re.escape(m) for m in WEBDRIVER_LOST]


def output_of(*cmd: str) -> tuple[str, str]:
    """A diagnostic command's (stdout, stderr); a missing command is an answer, not an error."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
        return done.stdout, done.stderr.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return "", f"{cmd[0]}: {e}"


def webkit_processes() -> str:
    """The app's and WebKit's processes (state, CPU time, memory) and the kernel's last
    words about crashes, for a failure where WebKitWebDriver lost the page."""
    ps, ps_err = output_of("ps", "-ww", "-eo", "pid,ppid,stat,etime,time,pcpu,rss,wchan:24,args")
    lines = ps.splitlines()
    keep = [line for i, line in enumerate(lines)
            if i == 0 or any(k in line for k in ("WebKit", "sockscope-app", "tauri-driver"))]
    dmesg, dmesg_err = output_of("dmesg", "--ctime")
    crashes = [line for line in dmesg.splitlines()
               if any(k in line for k in ("segfault", "WebKit", "sockscope", "Out of memory", "traps:"))]
    return "\n".join((keep or [ps_err]) + ["", "dmesg (crashes):"] + (crashes[-20:] or [dmesg_err or "none"]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    message = str(call.excinfo.value) if call.excinfo is not None else ""
    if report.failed and lost_session(message):
        # Taken before the fixtures are torn down: the app and its web process still run.
        state = webkit_processes()
        report.sections.append(("WebKit processes when the page was lost", state))
        LOST_LOG.parent.mkdir(parents=True, exist_ok=True)
        with LOST_LOG.open("a") as log:
            log.write(f"== {time.strftime('%a %b %d %H:%M:%S %Y')} {item.nodeid} ({call.when}): "
                      f"{message.splitlines()[0]}\n"
                      f"{state}\n\n")


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
        try:
            driver.quit()
        except WebDriverException as e:
            # The session is already gone (see `WEBDRIVER_LOST`): the test's own failure
            # says so; quitting it again must not bury that under a second error.
            if not lost_session(str(e)):
                raise


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
