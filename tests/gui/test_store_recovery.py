"""A damaged database file: the app moves it aside, starts with a fresh one and says where the
old file went (a banner, dismissable). The file is never deleted or written."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions

from conftest import APP, WEBKIT_DRIVER, by_testid, free_port, settle, stop, wait, wait_for_port, SHOTS

DAMAGED = b"this is not an SQLite database\n" * 64


@pytest.fixture(scope="module")
def damaged_db():
    with tempfile.TemporaryDirectory(prefix="sockscope-gui-damaged-") as d:
        path = Path(d) / "damaged.db"
        path.write_bytes(DAMAGED)
        yield path


@pytest.fixture(scope="module")
def damaged_app(damaged_db):
    tauri_driver = shutil.which("tauri-driver") or str(Path.home() / ".cargo/bin/tauri-driver")
    port, native_port = free_port(), free_port()
    env = dict(os.environ, SOCKSCOPE_DB=str(damaged_db),
               SOCKSCOPE_CA_DIR=str(damaged_db.parent / "ca"))
    proc = subprocess.Popen(
        [tauri_driver, "--port", str(port), "--native-port", str(native_port),
         "--native-driver", WEBKIT_DRIVER],
        env=env,
    )
    try:
        wait_for_port(port, proc)
        wait_for_port(native_port, proc)
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": str(APP)})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=opts)
        driver.implicitly_wait(0)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        stop(proc)


def test_a_damaged_database_is_moved_aside_and_the_user_told(damaged_app, damaged_db):
    banner = wait(damaged_app).until(lambda d: d.find_element(*by_testid("store-notice")))
    text = banner.text
    moved = [p for p in damaged_db.parent.iterdir() if p.name.startswith("damaged.db.corrupt-")]
    assert len(moved) == 1, list(damaged_db.parent.iterdir())
    assert moved[0].read_bytes() == DAMAGED, "the damaged file was changed"
    assert str(moved[0]) in text, text
    assert "not an SQLite database" in text, text
    # The fresh database works: the sessions list loads without an error.
    assert damaged_db.read_bytes()[:16] == b"SQLite format 3\x00"
    assert not damaged_app.find_elements(*by_testid("backend-error"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    settle(damaged_app)
    damaged_app.save_screenshot(str(SHOTS / "store-recovered.png"))
    damaged_app.find_element(*by_testid("store-notice-dismiss")).click()
    wait(damaged_app).until(lambda d: not d.find_elements(*by_testid("store-notice")))
