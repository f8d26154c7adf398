"""The detail view in the built app: JSON tree (expand, copy path), hex offsets of a binary
frame, MessagePack and Socket.IO frames decoded, the frame anatomy, HTML payloads as text,
and the statistics panel updating live from a real echo server."""

import base64
import json
import re
import subprocess
import tempfile
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.remote.file_detector import UselessFileDetector

from conftest import SHOTS, by_testid, settle, wait
from test_app import click_row, rows_containing
from test_proxy import CLI, open_panel

T0 = 1_764_000_000_000_000
BOOK = {"type": "book", "data": [{"price": 1}, {"price": 2}, {"price": 3}, {"price": 4.5, "sym": "ACME"}]}
BINARY = bytes(i & 0xFF for i in range(300))
# MessagePack {"compact": true, "schema": 0} (the msgpack.org example)
MSGPACK = bytes.fromhex("82a7636f6d70616374c3a6736368656d6100")
SOCKETIO = '42["chat",{"text":"hi"}]'
HOSTILE = '<img src=x onerror="document.title=\'pwned\'"></script><script>document.title="pwned"</script>'


def session_file(folder: Path) -> Path:
    """A JSONL recording (DESIGN.md §5) with one frame of each kind the detail view shows."""
    lines = [
        {"format": "sockscope-session", "version": 1,
         "session": {"id": 1, "name": "detail views", "kind": "client"}},
        {"type": "connection", "id": 1, "url": "ws://127.0.0.1:9/socket.io/?EIO=4&transport=websocket",
         "request_headers": [], "response_status": 101, "response_headers": [], "opened_at_us": T0},
    ]

    def frame(seq, dir_, opcode, payload: bytes):
        f = {"type": "frame", "connection": 1, "seq": seq, "ts_us": T0 + seq * 1000, "dir": dir_,
             "opcode": opcode, "fin": True, "rsv1": False, "len": len(payload)}
        if opcode == "text":
            f["text"] = payload.decode()
        else:
            f["base64"] = base64.b64encode(payload).decode()
        return f

    lines += [
        frame(1, "server", "text", json.dumps(BOOK).encode()),
        frame(2, "server", "binary", BINARY),
        frame(3, "server", "binary", MSGPACK),
        frame(4, "server", "text", SOCKETIO.encode()),
        frame(5, "server", "text", HOSTILE.encode()),
    ]
    path = folder / "detail-views.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def import_file(app, path: Path) -> None:
    app.file_detector = UselessFileDetector()
    wait(app).until(lambda d: d.find_element(*by_testid("import-input"))).send_keys(str(path))
    result = wait(app).until(lambda d: d.find_element(*by_testid("import-result")))
    wait(app).until(lambda d: "Imported 1 connection" in result.text)
    wait(app).until(lambda d: len(rows_containing(d, '"type": "book"')) == 1)


def text_of(app, testid: str) -> str:
    return app.execute_script(
        f"const e = document.querySelector('[data-testid=\"{testid}\"]'); return e ? e.textContent : null;")


def shot(app, name: str) -> None:
    settle(app)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert app.save_screenshot(str(SHOTS / name))


def select(app, seq: int) -> None:
    click_row(app, seq)
    wait(app).until(lambda d: text_of(d, "detail-header") and f"#{seq}" in text_of(d, "detail-header"))


def test_detail_views_on_an_imported_session(app):
    with tempfile.TemporaryDirectory() as d:
        import_file(app, session_file(Path(d)))
    seq = {"book": 1, "binary": 2, "msgpack": 3, "socketio": 4, "hostile": 5}
    base = min(s for s, _ in rows_containing(app, '"type": "book"'))
    seq = {k: base + v - 1 for k, v in seq.items()}

    # JSON: the tree is chosen automatically; expand all, then copy a path.
    select(app, seq["book"])
    json_view = wait(app).until(lambda d: d.find_element(*by_testid("detail-json")))
    assert json_view.get_attribute("data-mode") == "tree"
    app.find_element(*by_testid("json-expand-all")).click()
    price = wait(app).until(lambda d: d.find_element(
        "css selector", '[data-testid="json-row"][data-path="$.data[3].price"]'))
    assert "4.5" in price.text
    ActionChains(app).move_to_element(price).perform()
    price.find_element(*by_testid("json-copy-path")).click()
    wait(app).until(lambda d: (text_of(d, "detail-copied") or "").startswith("Copied $.data[3].price"))
    assert text_of(app, "json-selected-path") == "$.data[3].price"
    shot(app, "detail-json.png")
    app.find_element(*by_testid("json-collapse-all")).click()
    wait(app).until(lambda d: len(d.find_elements(*by_testid("json-row"))) == 1)

    # Hex: offsets, bytes and the ASCII column of the 300-byte binary frame.
    select(app, seq["binary"])
    hex_view = wait(app).until(lambda d: d.find_element(*by_testid("detail-hex")))
    assert hex_view.get_attribute("data-len") == "300"
    offsets = app.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=\"hex-offset\"]')).map(e => e.textContent);")
    assert offsets == [f"{r * 16:08x}" for r in range(19)], offsets
    row = app.find_element("css selector", '[data-testid="hex-row"][data-offset="64"]')
    assert row.text.replace(" ", "").replace("\n", "") == "".join(f"{i:02x}" for i in range(64, 80))
    ascii_rows = app.find_elements(*by_testid("hex-ascii"))
    assert ascii_rows[4].text.replace("\n", "") == "@ABCDEFGHIJKLMNO"
    shot(app, "detail-hex.png")

    # The frame's anatomy: 300 bytes need the 16-bit length (0x7e, then 0x012c).
    app.find_element(*by_testid("view-frame")).click()
    wire = wait(app).until(lambda d: d.find_element(*by_testid("anatomy-wire")))
    assert wire.text.replace(" ", "").replace("\n", "").startswith("827e012c0001020304050607"), wire.text
    len7 = app.find_element("css selector", '[data-field="len7"]')
    assert len7.get_attribute("data-bits") == "1111110"
    shot(app, "detail-anatomy.png")
    app.find_element(*by_testid("view-auto")).click()

    # Decoders: MessagePack and Socket.IO frames are recognised and decoded.
    select(app, seq["msgpack"])
    wait(app).until(lambda d: text_of(d, "detail-decoded-summary") == "MessagePack map of 2")
    wait(app).until(lambda d: d.find_elements("css selector", '[data-testid="detail-decoded"] [data-path="$.compact"]'))
    shot(app, "detail-msgpack.png")
    select(app, seq["socketio"])
    wait(app).until(lambda d: text_of(d, "detail-decoded-summary") == 'Socket.IO EVENT "chat"')
    shot(app, "detail-socketio.png")

    # HTML and script in a payload stay text, in the text and hex views.
    select(app, seq["hostile"])
    wait(app).until(lambda d: text_of(d, "detail-text") == HOSTILE)
    app.find_element(*by_testid("view-hex")).click()
    wait(app).until(lambda d: d.find_elements(*by_testid("detail-hex")))
    assert app.find_elements("css selector", "img[src=x]") == []
    assert app.title != "pwned"
    app.find_element(*by_testid("view-auto")).click()


def test_statistics_update_live_and_the_relay_records_masking_keys(app, echo_url):
    # A reverse listener in front of the echo server, with a real client (the CLI) behind it.
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
    proxy_url = f"ws://127.0.0.1:{found.group(1)}/stats"

    # The statistics panel is open before any traffic: what follows arrives live.
    app.find_element(*by_testid("stats-toggle")).click()
    wait(app).until(lambda d: "↑ 0 ·" in (text_of(d, "stats-totals") or ""))
    with tempfile.TemporaryDirectory() as d:
        client = subprocess.Popen(
            [str(CLI), "--db", str(Path(d) / "client.db"), "connect", proxy_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert client.stdout.readline().startswith("session ")
            for i in range(3):
                client.stdin.write(f"stats {i}\n")
                client.stdin.flush()
                assert client.stdout.readline().strip() == f"stats {i}"
            wait(app).until(lambda d: len(rows_containing(d, "stats 2")) == 2)
            # Three frames each way, counted from the stream as they arrived.
            wait(app).until(lambda d: "↑ 3 ·" in (text_of(d, "stats-totals") or "")
                            and "↓ 3 ·" in (text_of(d, "stats-totals") or ""))
            assert app.find_elements("css selector", '[data-testid="stats-chart-messages"] canvas')
            shot(app, "stats.png")
            # Asking the database again gives the same totals.
            app.find_element(*by_testid("stats-refresh")).click()
            wait(app).until(lambda d: "↑ 3 ·" in (text_of(d, "stats-totals") or ""))

            # The client's frame was masked on the wire: the relay recorded the key, and the
            # anatomy shows the header bytes as sent (no unknown bytes).
            click_row(app, rows_containing(app, "stats 0")[0][0])
            app.find_element(*by_testid("view-frame")).click()
            facts = wait(app).until(lambda d: d.find_element(*by_testid("detail-facts")))
            wait(app).until(lambda d: re.search(r"key 0x[0-9a-f]{8}", facts.text))
            wire = app.find_element(*by_testid("anatomy-wire")).text.replace(" ", "").replace("\n", "")
            assert wire.startswith("8187") and "?" not in wire, wire
            shot(app, "detail-anatomy-masked.png")
            app.find_element(*by_testid("view-auto")).click()
        finally:
            client.stdin.close()
            try:
                client.wait(timeout=10)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait(timeout=5)
    open_panel(app)
    app.find_element(*by_testid("proxy-stop-button")).click()
    wait(app).until(lambda d: not d.find_elements(*by_testid("proxy-item")))
