"""The timeline paged from SQLite in the built app: filters that combine on a known session
(imported with the CLI), and the follow toggle keeping the view still while a real server
pushes frames."""

import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import ROOT, SHOTS, by_testid, settle, stop, wait

CLI = ROOT / "target" / "debug" / "sockscope"
T0 = 1_764_000_000_000_000
N = 300


def known_frames():
    """Frame i: client when i % 3 == 0; binary when i % 10 == 9; else JSON text with
    type "trade" when i % 4 == 0 (else "quote"), sym ETH when i is odd (else BTC), px 100 + i."""
    out = []
    for i in range(N):
        d = "client" if i % 3 == 0 else "server"
        if i % 10 == 9:
            out.append({"i": i, "dir": d, "opcode": "binary", "bytes": bytes([i % 256]) * 8})
        else:
            body = {"type": "trade" if i % 4 == 0 else "quote", "sym": "ETH" if i % 2 else "BTC",
                    "px": 100 + i, "i": i}
            out.append({"i": i, "dir": d, "opcode": "text", "text": json.dumps(body, separators=(",", ":")),
                        "body": body})
    return out


FRAMES = known_frames()


def jsonl() -> str:
    lines = [json.dumps({"format": "sockscope-session", "version": 1,
                         "session": {"id": 1, "name": "timeline-known", "kind": "client"}}),
             json.dumps({"type": "connection", "id": 1, "url": "ws://127.0.0.1:9/feed",
                         "request_headers": [], "response_status": 101, "response_headers": [],
                         "opened_at_us": T0})]
    for f in FRAMES:
        line = {"type": "frame", "connection": 1, "seq": f["i"] + 1, "ts_us": T0 + f["i"] * 1000,
                "dir": f["dir"], "opcode": f["opcode"], "fin": True, "rsv1": False}
        if f["opcode"] == "text":
            line["len"] = len(f["text"].encode())
            line["text"] = f["text"]
        else:
            line["len"] = len(f["bytes"])
            line["base64"] = base64.b64encode(f["bytes"]).decode()
        lines.append(json.dumps(line))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def known_session(db_path):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "known.jsonl"
        path.write_text(jsonl())
        out = subprocess.run([str(CLI), "--db", str(db_path), "import", str(path)],
                             capture_output=True, text=True, timeout=60, check=True)
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("session "), out.stdout
    return int(line.split()[1])


COUNT_JS = """
const el = document.querySelector('[data-testid="match-count"]');
return el ? [Number(el.getAttribute('data-count')), el.getAttribute('data-complete'), el.textContent] : [null, null, ''];
"""

ROWS_JS = """
return Array.from(document.querySelectorAll('[data-testid="frame-row"]'))
  .map(r => [Number(r.getAttribute('data-seq')), r.textContent]);
"""


def count_is(driver, n):
    def ok(d):
        c, complete, _ = d.execute_script(COUNT_JS)
        return c == n and complete == "true"
    try:
        wait(driver).until(ok)
    except Exception:
        state = driver.execute_script(
            "const q = (t) => document.querySelector(`[data-testid=\"${t}\"]`);"
            "return [q('filter-input').value, q('filter-regex').getAttribute('aria-pressed'),"
            " q('filter-dir').value, q('filter-error') && q('filter-error').textContent];")
        raise AssertionError(f"match count {driver.execute_script(COUNT_JS)} != {n}; filter bar {state}")


def expected(pred):
    return [f["i"] + 1 for f in FRAMES if pred(f)]


def shown_seqs(driver):
    return sorted(seq for seq, _ in driver.execute_script(ROWS_JS))


def shows_part_of(driver, want):
    """The rendered rows are a run of the expected list (all of it when it is short)."""
    seqs = shown_seqs(driver)
    if not seqs:
        return not want
    if len(want) <= 20:
        return seqs == want
    try:
        k = want.index(seqs[0])
    except ValueError:
        return False
    return want[k:k + len(seqs)] == seqs


def apply_text(driver, text):
    box = driver.find_element(*by_testid("filter-input"))
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)
    box.send_keys(Keys.ENTER)


def test_filters_combine_on_a_known_session(known_session, app):
    item = wait(app).until(lambda d: d.find_element(
        "css selector", f'[data-testid="session-item"][data-session-id="{known_session}"]'))
    item.click()
    count_is(app, N)

    trade = lambda f: f["opcode"] == "text" and f["body"]["type"] == "trade"  # noqa: E731
    apply_text(app, '"type":"trade"')
    want = expected(trade)
    count_is(app, len(want))
    wait(app).until(lambda d: shows_part_of(d, want))
    assert app.find_elements("css selector", '[data-testid="frame-row"] mark')

    Select(app.find_element(*by_testid("filter-dir"))).select_by_value("client")
    want = expected(lambda f: trade(f) and f["dir"] == "client")
    count_is(app, len(want))
    wait(app).until(lambda d: shows_part_of(d, want))

    # The text box as a regex instead: ETH frames (odd i) sent by the client.
    app.find_element(*by_testid("filter-regex")).click()
    apply_text(app, r'"sym":"E[T]H"')
    want = expected(lambda f: f["opcode"] == "text" and f["dir"] == "client" and f["body"]["sym"] == "ETH")
    count_is(app, len(want))
    wait(app).until(lambda d: shows_part_of(d, want))
    # BTC trades sent by the client, with a JSON condition on the price.
    apply_text(app, r'"sym":"B.C"')
    app.find_element(*by_testid("filter-more")).click()
    js = app.find_element(*by_testid("filter-json"))
    js.send_keys("px >= 200 and type == \"trade\"")
    js.send_keys(Keys.ENTER)
    want = expected(lambda f: trade(f) and f["dir"] == "client" and f["body"]["sym"] == "BTC"
                    and f["body"]["px"] >= 200)
    assert want, "the known session has such frames"
    count_is(app, len(want))
    wait(app).until(lambda d: shows_part_of(d, want))

    # Opcode and size: binary frames of 8 bytes from the server.
    app.find_element(*by_testid("filter-clear")).click()
    count_is(app, N)
    app.find_element(*by_testid("filter-more")).click() if not app.find_elements(*by_testid("filter-json")) else None
    app.find_element(*by_testid("filter-opcode-binary")).click()
    Select(app.find_element(*by_testid("filter-dir"))).select_by_value("server")
    mx = app.find_element(*by_testid("filter-max-size"))
    mx.send_keys("8")
    mx.send_keys(Keys.ENTER)
    want = expected(lambda f: f["opcode"] == "binary" and f["dir"] == "server")
    count_is(app, len(want))
    wait(app).until(lambda d: shows_part_of(d, want))
    settle(app)
    SHOTS.mkdir(parents=True, exist_ok=True)
    app.save_screenshot(str(SHOTS / "timeline-filters.png"))


@pytest.fixture()
def push_url():
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "gui" / "push_server.py"), "--rate", "40"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening ws://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        stop(proc)


SCROLL_JS = """
const el = document.querySelector('[data-testid="timeline"]');
return [el.scrollTop, Number(el.getAttribute('data-first')), Number(el.getAttribute('data-count'))];
"""

FRAMES_JS = """
const el = document.querySelector('[data-testid="frame-count"]');
return el ? el.textContent : '';
"""


def frame_count(driver):
    words = driver.execute_script(FRAMES_JS).split()
    text = words[0].replace(",", "") if words else ""
    return int(text) if text.isdigit() else 0


def test_follow_toggle_keeps_the_view_still_while_frames_arrive(app, push_url):
    box = wait(app).until(lambda d: d.find_element(*by_testid("url-input")))
    box.clear()
    box.send_keys(push_url)
    app.find_element(*by_testid("connect-button")).click()
    wait(app).until(lambda d: frame_count(d) > 60)
    follow = app.find_element(*by_testid("follow-toggle"))
    assert follow.get_attribute("aria-pressed") == "true"
    # Following: the newest frame is in view.
    wait(app).until(lambda d: d.execute_script(SCROLL_JS)[1] > 0)

    follow.click()
    assert follow.get_attribute("aria-pressed") == "false"
    app.execute_script("const el = document.querySelector('[data-testid=\"timeline\"]');"
                       "el.scrollTop = 22 * 5; el.dispatchEvent(new Event('scroll'));")
    wait(app).until(lambda d: d.execute_script(SCROLL_JS)[1] == 5)
    before = app.execute_script(SCROLL_JS)
    first_rows = shown_seqs(app)[:10]
    n0 = frame_count(app)
    time.sleep(1.5)  # about 60 frames arrive meanwhile
    wait(app).until(lambda d: frame_count(d) >= n0 + 30)
    after = app.execute_script(SCROLL_JS)
    assert after[0] == before[0] and after[1] == 5, (before, after)
    assert after[2] > before[2]
    assert shown_seqs(app)[:10] == first_rows
    pill = wait(app).until(lambda d: d.find_element(*by_testid("new-frames-pill")))
    assert "new frame" in pill.text
    settle(app)
    app.save_screenshot(str(SHOTS / "timeline-follow-off.png"))

    # The pill jumps down and follows again.
    pill.click()
    wait(app).until(lambda d: follow.get_attribute("aria-pressed") == "true")
    def at_newest(d):
        last = frame_count(d)
        seqs = shown_seqs(d)
        return bool(seqs) and seqs[-1] >= last - 3
    wait(app).until(at_newest)
    app.find_element(*by_testid("connect-button"))  # the toolbar is still there


@pytest.fixture()
def flood_url():
    """A server that waits 1.5 s after the connection, then pushes 30,000 frames at 6,000/s:
    far more per batch than the shell sends rows for, so the timeline pages the rest."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "gui" / "push_server.py"),
                             "--rate", "6000", "--count", "30000", "--delay", "1.5"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening ws://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        stop(proc)


ROW_TEXT_JS = """
return Array.from(document.querySelectorAll('[data-testid="frame-row"]'))
  .map(r => [Number(r.getAttribute('data-seq')), r.querySelector('[data-testid="frame-preview"]').textContent]);
"""


def rows_are_the_frames(driver):
    """Every rendered row is the pushed message its seq says (the server's n is the seq: the
    session has nothing else), with no placeholder among them."""
    rows = driver.execute_script(ROW_TEXT_JS)
    if not rows or driver.find_elements(*by_testid("frame-row-placeholder")):
        return False
    seqs = sorted(s for s, _ in rows)
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        return False
    return all(f'"n":{s},' in text for s, text in rows)


def test_follow_off_stays_still_under_a_flood_and_every_row_is_right(app, flood_url):
    box = wait(app).until(lambda d: d.find_element(*by_testid("url-input")))
    box.clear()
    box.send_keys(flood_url)
    app.find_element(*by_testid("connect-button")).click()
    follow = wait(app).until(lambda d: d.find_element(*by_testid("follow-toggle")))
    # Follow off before the flood starts: the view must not move while 30,000 frames arrive.
    wait(app).until(lambda d: frame_count(d) == 0 and "Waiting for frames" in d.find_element(*by_testid("timeline")).text)
    follow.click()
    assert follow.get_attribute("aria-pressed") == "false"
    wait(app, 20).until(lambda d: frame_count(d) > 2000)
    app.execute_script("const el = document.querySelector('[data-testid=\"timeline\"]');"
                       "el.scrollTop = 22 * 40; el.dispatchEvent(new Event('scroll'));")
    wait(app).until(lambda d: d.execute_script(SCROLL_JS)[1] == 40)
    wait(app).until(rows_are_the_frames)
    before = app.execute_script(SCROLL_JS)
    first_rows = shown_seqs(app)[:10]
    assert first_rows[0] <= 41 <= first_rows[-1], first_rows
    n0 = frame_count(app)
    wait(app, 20).until(lambda d: frame_count(d) >= n0 + 5000)
    after = app.execute_script(SCROLL_JS)
    assert after[0] == before[0] and after[1] == 40, (before, after)
    assert after[2] >= before[2] + 5000
    assert shown_seqs(app)[:10] == first_rows
    pill = wait(app).until(lambda d: d.find_element(*by_testid("new-frames-pill")))
    assert "new frames" in pill.text
    # The newest rows (sent with the live batches) and rows in the middle of the flood (never
    # sent live: paged from the database) are each exactly the frame of their seq.
    wait(app, 30).until(lambda d: frame_count(d) == 30000)
    pill.click()
    wait(app).until(lambda d: follow.get_attribute("aria-pressed") == "true")
    wait(app).until(lambda d: rows_are_the_frames(d) and shown_seqs(d)[-1] == 30000)
    settle(app)
    app.save_screenshot(str(SHOTS / "timeline-flood-tail.png"))
    app.execute_script("const el = document.querySelector('[data-testid=\"timeline\"]');"
                       "el.scrollTop = 22 * 17000; el.dispatchEvent(new Event('scroll'));")
    wait(app).until(lambda d: follow.get_attribute("aria-pressed") == "false")
    wait(app).until(lambda d: rows_are_the_frames(d) and shown_seqs(d)[0] <= 17001 <= shown_seqs(d)[-1])
