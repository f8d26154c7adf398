"""A full database during a live capture: the app shows a banner that stays while capture is
paused (the frames waiting, the database path), the peers wait (back-pressure, nothing is
dropped), and once there is room again capture resumes by itself and a notice says how many
waiting frames were written. Every frame the peer sent is then in the database, in order.

No tmpfs can be mounted here (no root), so the full disk is the real user setting
`SOCKSCOPE_DB_MAX_MB` (SQLite's max_page_count: the same SQLITE_FULL as a full file system);
"free space" is raising the limit from the banner.
"""

import re
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys
from websockets.sync.client import connect

from conftest import SHOTS, app_session, by_testid, settle, tauri_driver_for, wait
from test_proxy import open_panel

LIMIT_MB = 3
MESSAGES = 800
SIZE = 16 * 1024


def message(i: int) -> str:
    head = f"msg-{i:05d}-"
    return head + "x" * (SIZE - len(head))


def stored_payload(db: Path, session_id: int, payload: bytes, poff, plen) -> bytes:
    """A frame row's payload: in the row, or (schema v11, larger payloads) at `poff` in the
    session's payload file beside the database."""
    if poff is None:
        return payload
    with open(f"{db}.payloads/{session_id}.bin", "rb") as f:
        f.seek(poff)
        return f.read(plen)


@pytest.fixture(scope="module")
def small_db():
    with tempfile.TemporaryDirectory(prefix="sockscope-gui-full-") as d:
        yield Path(d) / "full.db"


@pytest.fixture(scope="module")
def full_app(small_db):
    with tauri_driver_for(small_db, SOCKSCOPE_DB_MAX_MB=str(LIMIT_MB)) as url, \
            app_session(url) as driver:
        yield driver


class Peer(threading.Thread):
    """A real client (Python websockets) sending MESSAGES texts through the proxy, each one
    waiting for its echo; counts what went and came back."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.sent = 0
        self.echoed = 0
        self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            with connect(self.url, max_size=None, open_timeout=10, ping_interval=None,
                         close_timeout=5) as ws:
                for i in range(MESSAGES):
                    text = message(i)
                    ws.send(text)
                    self.sent += 1
                    got = ws.recv(timeout=120)
                    assert got == text, f"echo {i} differs"
                    self.echoed += 1
        except Exception as e:  # reported by the test
            self.error = repr(e)
        finally:
            self.done.set()


def test_capture_pauses_on_a_full_database_and_resumes_with_nothing_lost(full_app, small_db, echo_url):
    app = full_app
    listen = open_panel(app)
    listen.clear()
    listen.send_keys("127.0.0.1:0")
    upstream = app.find_element(*by_testid("proxy-upstream-input"))
    upstream.clear()
    upstream.send_keys(echo_url)
    app.find_element(*by_testid("proxy-start-button")).click()
    item = wait(app).until(lambda d: d.find_element(*by_testid("proxy-item")))
    found = re.search(r"127\.0\.0\.1:(\d+)", item.text)
    assert found, item.text

    peer = Peer(f"ws://127.0.0.1:{found.group(1)}/full")
    peer.start()
    try:
        # The limit is reached: a banner that names the cause, the frames waiting and the file.
        banner = wait(app, 90).until(lambda d: d.find_element(*by_testid("storage-banner")))
        assert banner.get_attribute("data-cause") == "size_limit"
        text = banner.find_element(*by_testid("storage-banner-text")).text
        assert text.startswith("Capture paused:"), text
        assert "frames waiting" in text or "frame waiting" in text, text
        assert "capture resumes automatically" in text, text
        assert app.find_element(*by_testid("storage-db-path")).text == str(small_db)
        # Nothing dismisses it while paused.
        assert not banner.find_elements("css selector", "[data-testid$='dismiss']")

        # The peer is held back (back-pressure), not failed: its echo count stops moving.
        def stalled():
            before = peer.echoed
            time.sleep(1.5)
            return peer.echoed == before and not peer.done.is_set()
        deadline = time.monotonic() + 60
        while not stalled():
            assert time.monotonic() < deadline, f"the peer never waited ({peer.echoed} echoed)"
        assert peer.error is None, peer.error
        assert peer.echoed < MESSAGES
        held_at = peer.echoed
        pending = int(wait(app).until(
            lambda d: d.find_element(*by_testid("storage-banner")).get_attribute("data-pending")))
        assert pending > 0
        # The count on screen follows the writer.
        assert re.search(r"\(([\d,]+) frames? waiting\)",
                         app.find_element(*by_testid("storage-banner-text")).text)
        SHOTS.mkdir(parents=True, exist_ok=True)
        settle(app)
        app.save_screenshot(str(SHOTS / "storage-paused.png"))

        # "Free space": raise the limit from the banner.
        app.find_element(*by_testid("storage-limit-edit")).click()
        field = wait(app).until(lambda d: d.find_element(*by_testid("storage-limit-input")))
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys("abc")
        app.find_element(*by_testid("storage-limit-apply")).click()
        assert "whole number" in wait(app).until(
            lambda d: d.find_element(*by_testid("storage-limit-error"))).text
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys("256")
        field.send_keys(Keys.ENTER)

        # Capture resumes by itself; the notice counts the waiting frames out.
        wait(app, 30).until(lambda d: not d.find_elements(*by_testid("storage-banner")))
        notice = wait(app, 30).until(lambda d: d.find_element(*by_testid("storage-resumed")))
        wait(app, 60).until(lambda d: d.find_element(*by_testid("storage-resumed"))
                            .get_attribute("data-done") == "true")
        notice = app.find_element(*by_testid("storage-resumed"))
        backlog = int(notice.get_attribute("data-backlog"))
        assert backlog >= pending, (backlog, pending)
        assert int(notice.get_attribute("data-written")) == backlog
        ntext = app.find_element(*by_testid("storage-resumed-text")).text
        assert f"all {backlog:,} frames that were waiting were written" in ntext, ntext
        assert peer.done.wait(120), f"the peer is still held ({peer.echoed} echoed)"
        assert peer.error is None, peer.error
        assert peer.echoed == MESSAGES and peer.echoed > held_at
        settle(app)
        app.save_screenshot(str(SHOTS / "storage-resumed.png"))
        app.find_element(*by_testid("storage-resumed-dismiss")).click()
        wait(app).until(lambda d: not d.find_elements(*by_testid("storage-resumed")))
    finally:
        peer.join(timeout=130)

    # Every message the peer sent, and every echo, is recorded once, in order, per direction.
    open_panel(app)
    app.find_element(*by_testid("proxy-stop-button")).click()
    db = sqlite3.connect(f"file:{small_db}?mode=ro", uri=True)
    try:
        for direction in (0, 1):
            rows = db.execute(
                "SELECT session_id, payload, poff, plen FROM frames "
                "WHERE opcode = 1 AND dir = ? ORDER BY session_id, seq", (direction,)).fetchall()
            assert len(rows) == MESSAGES, (direction, len(rows))
            for i, row in enumerate(rows):
                payload = stored_payload(small_db, *row)
                assert payload[:10] == f"msg-{i:05d}-".encode(), (direction, i, payload[:10])
                assert len(payload) == SIZE
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        db.close()
