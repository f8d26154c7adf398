"""A damaged database file: the app moves it aside, starts with a fresh one and says where the
old file went (a banner, dismissable). The file is never deleted or written."""

import tempfile
from pathlib import Path

import pytest

from conftest import SHOTS, app_session, by_testid, settle, tauri_driver_for, wait

DAMAGED = b"this is not an SQLite database\n" * 64


@pytest.fixture(scope="module")
def damaged_db():
    with tempfile.TemporaryDirectory(prefix="sockscope-gui-damaged-") as d:
        path = Path(d) / "damaged.db"
        path.write_bytes(DAMAGED)
        yield path


@pytest.fixture(scope="module")
def damaged_app(damaged_db):
    with tauri_driver_for(damaged_db) as url, app_session(url) as driver:
        yield driver


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
