"""The timeline filter in the built app on a known session (imported with the CLI): a text
match found only in a later fragment keeps its message when grouped by message (marked), a
JSON condition sees fragmented and permessage-deflate messages whole, the detail view
highlights the filter's matches (counted and stepped with F3 by the shell's own pattern), and
the hex view selects with Shift+arrows and copies the selection as hex with Ctrl+C."""

import base64
import json
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, SHOTS, by_testid, settle, wait
from test_timeline import COUNT_JS, ROWS_JS, apply_text

CLI = ROOT / "target" / "debug" / "sockscope"
T0 = 1_764_000_000_000_000
LINES = "\n".join(
    f"line {i} zebra here" if i in (3, 150, 290) else f"line {i}" for i in range(1, 301))
BINARY = bytes(range(64))


def deflate_messages(*messages: bytes) -> list[bytes]:
    """permessage-deflate payloads with context takeover (RFC 7692: sync flush, tail cut)."""
    z = zlib.compressobj(wbits=-15)
    out = []
    for m in messages:
        data = z.compress(m) + z.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def jsonl() -> str:
    def frame(seq, dir_, opcode, payload: bytes, fin=True, rsv1=False, inflated: bytes | None = None):
        f = {"type": "frame", "connection": 1, "seq": seq, "ts_us": T0 + seq * 1000, "dir": dir_,
             "opcode": opcode, "fin": fin, "rsv1": rsv1, "len": len(payload)}
        try:
            f["text"] = payload.decode()
        except UnicodeDecodeError:
            f["base64"] = base64.b64encode(payload).decode()
        if opcode in ("binary", "ping") or rsv1 or inflated is not None:
            f.pop("text", None)
            f["base64"] = base64.b64encode(payload).decode()
        if inflated is not None:
            f["inflated_text"] = inflated.decode()
        return f

    small = b'{"type":"trade","px":7}'
    big = b'{"type":"trade","px":99,"deep":"a compressed zebra"}'
    z1, z2 = deflate_messages(small, big)
    third = len(z2) // 3
    lines = [
        {"format": "sockscope-session", "version": 1,
         "session": {"id": 1, "name": "filters in the detail view", "kind": "proxy"}},
        {"type": "connection", "id": 1, "url": "ws://127.0.0.1:9/feed",
         "request_headers": [], "response_status": 101, "response_headers": [], "opened_at_us": T0},
        frame(1, "server", "text", b'{"type":"hello"}'),
        frame(2, "server", "text", b'{"type":"trade","note":"first half ', fin=False),
        frame(3, "client", "ping", b"hb"),
        frame(4, "server", "continuation", b'with the zebra inside"}'),
        frame(5, "server", "text", LINES.encode()),
        frame(6, "server", "binary", BINARY),
        frame(7, "server", "text", z1, rsv1=True, inflated=small),
        frame(8, "server", "text", z2[:third], fin=False, rsv1=True),
        frame(9, "server", "continuation", z2[third:2 * third], fin=False),
        frame(10, "server", "continuation", z2[2 * third:], inflated=big),
    ]
    return "".join(json.dumps(x) + "\n" for x in lines)


@pytest.fixture(scope="module")
def filters_session(db_path):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "filters.jsonl"
        path.write_text(jsonl())
        out = subprocess.run([str(CLI), "--db", str(db_path), "import", str(path)],
                             capture_output=True, text=True, timeout=60, check=True)
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("session "), out.stdout
    return int(line.split()[1])


def text_of(app, testid: str):
    return app.execute_script(
        f"const e = document.querySelector('[data-testid=\"{testid}\"]'); return e ? e.textContent : null;")


def attr_of(app, testid: str, name: str):
    return app.execute_script(
        f"const e = document.querySelector('[data-testid=\"{testid}\"]'); return e ? e.getAttribute('{name}') : null;")


def shown(app):
    """(seq, has the hidden-match marker) of the rendered rows, complete counts only."""
    c, complete, _ = app.execute_script(COUNT_JS)
    if complete != "true":
        return None
    rows = app.execute_script(ROWS_JS)
    marked = set(app.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=\"frame-row\"]'))"
        ".filter(r => r.querySelector('[data-testid=\"hidden-hit\"]')).map(r => Number(r.dataset.seq));"))
    return c, [(seq, seq in marked) for seq, _ in sorted(rows)]


def select(app, seq: int) -> None:
    def attempt(d):
        rows = d.find_elements("css selector", f'[data-testid="frame-row"][data-seq="{seq}"]')
        if not rows:
            return False
        try:
            rows[0].click()
        except Exception:
            return False
        return f"#{seq}" in (text_of(d, "detail-header") or "")
    wait(app).until(attempt)


def shot(app, name: str) -> None:
    settle(app)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert app.save_screenshot(str(SHOTS / name))


def test_filter_matches_fragments_and_the_detail_view(filters_session, app):
    wait(app).until(lambda d: d.find_element(
        "css selector", f'[data-testid="session-item"][data-session-id="{filters_session}"]')).click()
    wait(app).until(lambda d: shown(d) and shown(d)[0] == 10)

    # Frame by frame: the continuation that holds "zebra", the long text, the compressed
    # message's last frame (which carries the inflated message).
    apply_text(app, "zebra")
    wait(app).until(lambda d: shown(d) == (3, [(4, False), (5, False), (10, False)]))
    # Grouped by message: the messages whose match is only in a later fragment show,
    # marked (their previews do not hold the match).
    app.find_element(*by_testid("filter-more")).click()
    app.find_element(*by_testid("filter-messages")).click()
    wait(app).until(lambda d: shown(d) == (3, [(2, True), (5, False), (8, True)]))
    shot(app, "filters-grouped-hidden-hit.png")
    # Expanded, the fragment with the match is marked in its preview.
    app.find_element("css selector", '[data-testid="frame-row"][data-seq="2"] [data-testid="message-expand"]').click()
    wait(app).until(lambda d: d.execute_script(
        "const r = document.querySelector('[data-testid=\"frame-row\"][data-seq=\"4\"] [data-testid=\"match\"]');"
        "return r ? r.textContent : null;") == "zebra")

    # The detail view: every match of the filter, counted by the shell, F3 steps.
    select(app, 5)
    wait(app).until(lambda d: attr_of(d, "detail-filter-matches", "data-count") == "3")
    assert text_of(app, "detail-filter-count") == "match 1 of 3"
    wait(app).until(lambda d: text_of(d, "text-match-current") == "zebra")
    app.find_element(*by_testid("detail-text-view")).click()
    ActionChains(app).send_keys(Keys.F3).perform()
    wait(app).until(lambda d: text_of(d, "detail-filter-count") == "match 2 of 3")
    # Line 150 was scrolled into view.
    wait(app).until(lambda d: d.execute_script(
        "const m = document.querySelector('[data-testid=\"text-match-current\"]');"
        "return m ? m.parentElement.textContent : null;") == "line 150 zebra here\n")
    ActionChains(app).key_down(Keys.SHIFT).send_keys(Keys.F3).key_up(Keys.SHIFT).perform()
    ActionChains(app).key_down(Keys.SHIFT).send_keys(Keys.F3).key_up(Keys.SHIFT).perform()
    wait(app).until(lambda d: text_of(d, "detail-filter-count") == "match 3 of 3")
    shot(app, "filters-detail-text.png")

    # The grouped message 2: the joined message, its match in the pretty JSON text.
    select(app, 2)
    wait(app).until(lambda d: attr_of(d, "detail-tabs", "data-tab") == "json")
    wait(app).until(lambda d: d.find_elements(*by_testid("detail-filter-astext")))
    app.find_element(*by_testid("detail-filter-astext")).click()
    wait(app).until(lambda d: attr_of(d, "detail-filter-matches", "data-count") == "1")
    assert app.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=\"json-text\"] mark')).map(m => m.textContent);"
    ) == ["zebra"]

    # A case-sensitive regex follows the database's semantics: no match for ZEBRA.
    app.find_element(*by_testid("filter-case")).click()
    app.find_element(*by_testid("filter-regex")).click()
    apply_text(app, "ZEB?RA")
    wait(app).until(lambda d: shown(d) == (0, []))

    # JSON conditions see whole messages: the fragmented one (on its first frame) and both
    # compressed ones (inflated), never a continuation frame.
    app.find_element(*by_testid("filter-messages")).click()
    apply_text(app, "")
    js = app.find_element(*by_testid("filter-json"))
    js.send_keys('type == "trade"', Keys.ENTER)
    wait(app).until(lambda d: shown(d) == (3, [(2, False), (7, False), (8, False)]))
    js.send_keys(Keys.CONTROL, "a")
    js.send_keys(Keys.BACKSPACE)
    js.send_keys("px > 50", Keys.ENTER)
    wait(app).until(lambda d: shown(d) == (1, [(8, False)]))
    js.send_keys(Keys.CONTROL, "a")
    js.send_keys(Keys.BACKSPACE, Keys.ENTER)
    wait(app).until(lambda d: shown(d) and shown(d)[0] == 10)


def test_hex_shift_arrow_selection_copies_as_hex(filters_session, app):
    wait(app).until(lambda d: d.find_element(
        "css selector", f'[data-testid="session-item"][data-session-id="{filters_session}"]')).click()
    wait(app).until(lambda d: shown(d) and shown(d)[0] == 10)
    select(app, 6)
    wait(app).until(lambda d: attr_of(d, "detail-tabs", "data-tab") == "hex")
    # What the app writes to the clipboard (WebKitWebDriver cannot read the X clipboard).
    app.execute_script(
        "window.__copied = null; const cb = navigator.clipboard || {};"
        "cb.writeText = (t) => { window.__copied = t; return Promise.resolve(); };"
        "if (!navigator.clipboard) Object.defineProperty(navigator, 'clipboard', { value: cb, configurable: true });")
    app.find_element("css selector", '[data-testid="hex-row"] [data-i="16"]').click()
    wait(app).until(lambda d: attr_of(d, "hex-selection", "data-start") == "16")
    actions = ActionChains(app).key_down(Keys.SHIFT)
    for _ in range(3):
        actions.send_keys(Keys.ARROW_RIGHT)
    actions.send_keys(Keys.ARROW_DOWN).key_up(Keys.SHIFT).perform()
    wait(app).until(lambda d: "0x10–0x23 · 20 B selected" in (text_of(d, "hex-selection") or ""))
    assert len(app.find_elements("css selector", '[data-testid="detail-hex"] .b.sel')) == 40
    ActionChains(app).key_down(Keys.CONTROL).send_keys("c").key_up(Keys.CONTROL).perform()
    wait(app).until(lambda d: d.execute_script("return window.__copied;") == " ".join(f"{i:02x}" for i in range(16, 36)))
    wait(app).until(lambda d: text_of(d, "detail-copied") == "Copied 20 bytes as hex")
    shot(app, "filters-hex-keyboard.png")
    # Shift+Home back to the row's start, then Ctrl+A: everything.
    ActionChains(app).key_down(Keys.SHIFT).send_keys(Keys.HOME).key_up(Keys.SHIFT).perform()
    wait(app).until(lambda d: "0x10–0x20 · 17 B selected" in (text_of(d, "hex-selection") or ""))
    ActionChains(app).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
    wait(app).until(lambda d: "0x0–0x3f · 64 B selected" in (text_of(d, "hex-selection") or ""))
