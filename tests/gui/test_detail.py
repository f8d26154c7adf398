"""The detail view in the built app: JSON tree (expand, copy path), hex offsets of a binary
frame, MessagePack and Socket.IO frames decoded, the frame anatomy, HTML payloads as text,
the statistics panel updating live from a real echo server; a Socket.IO binary event with its
attachment stitched in, STOMP over SockJS decoded, and a decoder choice that survives a restart."""

import base64
import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.remote.file_detector import UselessFileDetector
from selenium.webdriver.support.ui import Select

from conftest import SHOTS, app_session, by_testid, settle, wait
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


def import_file(app, path: Path, marker: str = '"type": "book"', connections: int = 1) -> None:
    app.file_detector = UselessFileDetector()
    wait(app).until(lambda d: d.find_element(*by_testid("import-input"))).send_keys(str(path))
    result = wait(app).until(lambda d: d.find_element(*by_testid("import-result")))
    wait(app).until(lambda d: f"Imported {connections} connection" in result.text)
    wait(app).until(lambda d: len(rows_containing(d, marker)) == 1)


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


# Socket.IO (socket.io-protocol v5): a BINARY_EVENT, its attachment on the same connection and
# direction after an Engine.IO ping the other way; STOMP over SockJS on a second connection.
SIO_EVENT = '451-["upload",{"name":"a.bin","data":{"_placeholder":true,"num":0}}]'
SIO_ATTACHMENT = bytes([0xDE, 0xAD, 0xBE, 0xEF]) + b"<script>"
STOMP_BODY = '{"content":"Hello, Sockscope!"}'
STOMP_MESSAGE = (f"MESSAGE\ndestination:/topic/greetings\ncontent-type:application/json\nsubscription:sub-0\n"
                 f"message-id:m-1\ncontent-length:{len(STOMP_BODY.encode())}\n\n{STOMP_BODY}\u0000")
SOCKJS_FRAME = "a" + json.dumps([STOMP_MESSAGE])
DECODERS_SESSION = "decoders across frames"


def decoders_file(folder: Path) -> Path:
    lines = [
        {"format": "sockscope-session", "version": 1,
         "session": {"id": 1, "name": DECODERS_SESSION, "kind": "proxy"}},
        {"type": "connection", "id": 1, "url": "ws://127.0.0.1:9/socket.io/?EIO=4&transport=websocket",
         "request_headers": [], "response_status": 101, "response_headers": [], "opened_at_us": T0},
        {"type": "connection", "id": 2, "url": "ws://127.0.0.1:9/ws/042/x1y2z3/websocket",
         "request_headers": [], "response_status": 101, "response_headers": [], "opened_at_us": T0},
    ]

    def frame(seq, conn, dir_, opcode, payload: bytes):
        f = {"type": "frame", "connection": conn, "seq": seq, "ts_us": T0 + seq * 1000, "dir": dir_,
             "opcode": opcode, "fin": True, "rsv1": False, "len": len(payload)}
        if opcode == "text":
            f["text"] = payload.decode()
        else:
            f["base64"] = base64.b64encode(payload).decode()
        return f

    lines += [
        frame(1, 1, "client", "text", SIO_EVENT.encode()),
        frame(2, 2, "server", "text", b"o"),
        frame(3, 1, "server", "text", b"2"),
        frame(4, 1, "client", "binary", SIO_ATTACHMENT),
        frame(5, 2, "server", "text", SOCKJS_FRAME.encode()),
    ]
    path = folder / "decoders-across-frames.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def open_session(app, name: str) -> None:
    def attempt(d):
        for item in d.find_elements(*by_testid("session-item")):
            if name in (item.get_attribute("textContent") or ""):
                item.click()
                return True
        return False
    wait(app).until(attempt)


def test_socketio_attachment_stomp_over_sockjs_and_a_saved_decoder_choice(app, driver_url):
    with tempfile.TemporaryDirectory() as d:
        import_file(app, decoders_file(Path(d)), marker="451-", connections=2)
    base = min(s for s, _ in rows_containing(app, "451-"))
    event, attachment, stomp = base, base + 3, base + 4

    # The event: its placeholder replaced by the attachment read from the frames after it.
    select(app, event)
    wait(app).until(lambda d: text_of(d, "detail-decoded-summary")
                    == 'Socket.IO BINARY_EVENT "upload" + 1 binary attachment (1 of 1 stitched)')
    item = wait(app).until(lambda d: d.find_element(*by_testid("decoded-attachment")))
    assert item.get_attribute("data-seq") == str(attachment)
    app.find_element(*by_testid("json-expand-all")).click()
    hex_row = wait(app).until(lambda d: d.find_element(
        "css selector", '[data-testid="json-row"][data-path="$.socketio.args[0].data.hex"]'))
    assert '"de ad be ef 3c 73 63 72 69 70 74 3e"' in hex_row.text, hex_row.text
    shot(app, "detail-socketio-attachments.png")
    # Openable in Hex.
    item.find_element(*by_testid("decoded-attachment-hex")).click()
    hex_view = wait(app).until(lambda d: d.find_element(*by_testid("detail-hex")))
    assert hex_view.get_attribute("data-len") == str(len(SIO_ATTACHMENT))
    # The attachment frame names its event.
    select(app, attachment)
    wait(app).until(lambda d: (text_of(d, "detail-decoded-summary") or "").startswith(
        f"Socket.IO attachment 1 of 1 of event #{event}"))

    # STOMP over SockJS.
    select(app, stomp)
    wait(app).until(lambda d: text_of(d, "detail-decoded-summary")
                    == f"SockJS a[1]: STOMP MESSAGE /topic/greetings ({len(STOMP_BODY.encode())} B body)")
    app.find_element(*by_testid("json-expand-all")).click()
    body = wait(app).until(lambda d: d.find_element(
        "css selector", '[data-testid="json-row"][data-path="$.messages[0].stomp.body.content"]'))
    assert '"Hello, Sockscope!"' in body.text
    shot(app, "detail-stomp-sockjs.png")
    assert app.find_elements("css selector", "img[src=x], script:not([src])") == []

    # Turn decoding off for the SockJS connection: saved in the database...
    Select(app.find_element(*by_testid("decoder-select"))).select_by_value("none")
    app.find_element(*by_testid("view-auto")).click()
    wait(app).until(lambda d: d.find_element(*by_testid("detail-tabs")).get_attribute("data-tab") == "text")
    # ...while the Socket.IO connection keeps deciding by itself.
    select(app, event)
    wait(app).until(lambda d: d.find_element(*by_testid("detail-tabs")).get_attribute("data-tab") == "decoded")
    assert Select(app.find_element(*by_testid("decoder-select"))).first_selected_option.get_attribute("value") == "auto"
    app.quit()
    app.quit = lambda: None  # the fixture's teardown: this process has ended already

    # A restart: the choice is read back from the database.
    with app_session(driver_url) as again:
        open_session(again, DECODERS_SESSION)
        wait(again).until(lambda d: len(rows_containing(d, "451-")) == 1)
        select(again, stomp)
        wait(again).until(lambda d: d.find_element(*by_testid("decoder-select")).get_attribute("value") == "none")
        wait(again).until(lambda d: d.find_element(*by_testid("detail-tabs")).get_attribute("data-tab") == "text")
        assert not again.find_elements(*by_testid("detail-decoded-summary"))
        select(again, event)
        wait(again).until(lambda d: text_of(d, "detail-decoded-summary")
                          == 'Socket.IO BINARY_EVENT "upload" + 1 binary attachment (1 of 1 stitched)')
        shot(again, "detail-decoder-choice-after-restart.png")


PEERS = Path(__file__).resolve().parents[1] / "peers"


def start_proxy_to(app, upstream: str) -> str:
    """A reverse listener of the app in front of `upstream`; returns its http:// address."""
    listen = open_panel(app)
    listen.clear()
    listen.send_keys("127.0.0.1:0")
    box = app.find_element(*by_testid("proxy-upstream-input"))
    box.clear()
    box.send_keys(upstream)
    app.find_element(*by_testid("proxy-start-button")).click()
    item = wait(app).until(lambda d: d.find_element(*by_testid("proxy-item")))
    found = re.search(r"127\.0\.0\.1:(\d+)", item.text)
    assert found, item.text
    return f"http://127.0.0.1:{found.group(1)}"


@pytest.mark.parametrize("version", ["v4", "v2"])
def test_real_socketio_binary_event_and_ack_are_stitched(app, version):
    """socket.io 4 (Engine.IO v4) and socket.io 2 (Engine.IO v3) peers through the app's proxy:
    the client's BINARY_EVENT and the server's BINARY_ACK show their attachments."""
    server = subprocess.Popen(["node", str(PEERS / "socketio_peers.mjs"), "server", version],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        assert line.startswith("listening "), line
        proxy = start_proxy_to(app, f"ws://127.0.0.1:{line.split()[1]}")
        client = subprocess.run(["node", str(PEERS / "socketio_peers.mjs"), "client", version, proxy],
                                capture_output=True, text=True, timeout=30)
        assert client.returncode == 0, client.stderr
        assert client.stdout.strip() == "ack 010203"

        # The client's event carries its ack id: 451-0["upload",{…"data":{"_placeholder":true,"num":0}}].
        wait(app).until(lambda d: len(rows_containing(d, '451-0["upload"')) == 1)
        wait(app).until(lambda d: len(rows_containing(d, "461-0[")) == 1)
        event = rows_containing(app, '451-0["upload"')[0][0]
        select(app, event)
        wait(app).until(lambda d: text_of(d, "detail-decoded-summary")
                        == 'Socket.IO BINARY_EVENT "upload" (ack 0) + 1 binary attachment (1 of 1 stitched)')
        listing = app.find_element(*by_testid("decoded-attachments"))
        assert listing.get_attribute("data-version") == ("3" if version == "v2" else "4")
        app.find_element(*by_testid("json-expand-all")).click()
        data = wait(app).until(lambda d: d.find_element(
            "css selector", '[data-testid="json-row"][data-path="$.socketio.args[0].data.hex"]'))
        assert '"de ad be ef 3c 62 3e"' in data.text, data.text
        shot(app, f"detail-socketio-{version}-event.png")
        # The attachment frame knows its event.
        attachment = int(app.find_element(*by_testid("decoded-attachment")).get_attribute("data-seq"))
        select(app, attachment)
        wait(app).until(lambda d: (text_of(d, "detail-decoded-summary") or "").startswith(
            f"Socket.IO attachment 1 of 1 of event #{event}"))
        # The server's binary ack, once its attachment is stitched in (the hex row below is
        # the attachment's).
        select(app, rows_containing(app, "461-0[")[0][0])
        wait(app).until(lambda d: text_of(d, "detail-decoded-summary")
                        == "Socket.IO BINARY_ACK (ack 0) + 1 binary attachment (1 of 1 stitched)")
        app.find_element(*by_testid("json-expand-all")).click()
        reply = wait(app).until(lambda d: d.find_element(
            "css selector", '[data-testid="json-row"][data-path="$.socketio.args[0].hex"]'))
        assert '"01 02 03"' in reply.text, reply.text
        open_panel(app)
        app.find_element(*by_testid("proxy-stop-button")).click()
        wait(app).until(lambda d: not d.find_elements(*by_testid("proxy-item")))
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def test_real_stomp_over_sockjs_is_decoded(app):
    """sockjs-client + @stomp/stompjs against a sockjs-node server, through the app's proxy."""
    server = subprocess.Popen(["node", str(PEERS / "stomp_sockjs_peers.mjs"), "server"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        assert line.startswith("listening "), line
        proxy = start_proxy_to(app, f"ws://127.0.0.1:{line.split()[1]}")
        client = subprocess.run(["node", str(PEERS / "stomp_sockjs_peers.mjs"), "client", proxy],
                                capture_output=True, text=True, timeout=30)
        assert client.returncode == 0, client.stderr
        body = '{"greeting":"Hello, Sockscope!"}'
        assert client.stdout.strip() == f"message {body}"

        wait(app).until(lambda d: len(rows_containing(d, 'a["MESSAGE')) == 1)
        select(app, rows_containing(app, 'a["MESSAGE')[0][0])
        wait(app).until(lambda d: text_of(d, "detail-decoded-summary")
                        == f"SockJS a[1]: STOMP MESSAGE /topic/greetings ({len(body)} B body)")
        app.find_element(*by_testid("json-expand-all")).click()
        greeting = wait(app).until(lambda d: d.find_element(
            "css selector", '[data-testid="json-row"][data-path="$.messages[0].stomp.body.greeting"]'))
        assert '"Hello, Sockscope!"' in greeting.text
        shot(app, "detail-stomp-sockjs-real.png")
        # What the client sent: STOMP frames in SockJS's JSON array.
        select(app, rows_containing(app, '["SEND')[0][0])
        wait(app).until(lambda d: (text_of(d, "detail-decoded-summary") or "").startswith(
            "SockJS send[1]: STOMP SEND /app/hello"))
        select(app, rows_containing(app, '["CONNECT')[0][0])
        wait(app).until(lambda d: text_of(d, "detail-decoded-summary") == "SockJS send[1]: STOMP CONNECT")
        open_panel(app)
        app.find_element(*by_testid("proxy-stop-button")).click()
        wait(app).until(lambda d: not d.find_elements(*by_testid("proxy-item")))
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
