"""Recordings put to work, driven like a user would: import a JSONL file through the import
dialog, replay it against a live echo server, and open the diff of original and replay."""

import json
import subprocess
import tempfile
from pathlib import Path

from selenium.webdriver.remote.file_detector import UselessFileDetector

from conftest import ROOT, SHOTS, by_testid, settle, wait
from test_app import rows_containing

CLI = ROOT / "target" / "debug" / "sockscope"
MESSAGES = ['{"op":"hello","n":1}', '{"op":"price","n":2}', '{"op":"bye","n":3}']


def recorded_file(echo_url: str, folder: Path) -> Path:
    """A real recording, made with the CLI against the echo server, exported as JSONL."""
    db = folder / "source.db"
    out = subprocess.run(
        [str(CLI), "--db", str(db), "connect", echo_url],
        input="\n".join(MESSAGES) + "\n", capture_output=True, text=True, timeout=30, check=True,
    )
    session = out.stdout.splitlines()[0].split()[1]
    path = folder / "recorded-session.jsonl"
    subprocess.run(
        [str(CLI), "--db", str(db), "export", session, "--format", "jsonl", "-o", str(path)],
        check=True, timeout=30,
    )
    frames = [json.loads(l) for l in path.read_text().splitlines()[1:]]
    assert sum(1 for f in frames if f.get("type") == "frame" and f.get("opcode") == "text") == 6
    return path


def open_session_action(driver, action):
    """The selected session's menu, then one of its actions."""
    item = wait(driver).until(
        lambda d: d.find_element("css selector", '[data-testid="session-item"].selected'))
    item.find_element(*by_testid("session-menu")).click()
    wait(driver).until(lambda d: d.find_element(
        "css selector", f'[data-testid="session-menu-item"][data-action="{action}"]')).click()


def choose_mode(driver, mode):
    driver.find_element("css selector", f'[data-testid="replay-mode"] [data-mode="{mode}"]').click()


def replay_state(driver):
    return driver.execute_script(
        "const el = document.querySelector('[data-testid=\"replay-state\"]');"
        "return el ? el.getAttribute('data-state') || el.textContent : '';"
    )


def test_import_replay_and_diff(app, echo_url):
    with tempfile.TemporaryDirectory() as d:
        path = recorded_file(echo_url, Path(d))
        # The import dialog: a file input that WebDriver fills with the path (the app runs on
        # this machine: the path is typed, not uploaded).
        app.file_detector = UselessFileDetector()
        wait(app).until(lambda d: d.find_element(*by_testid("import-input"))).send_keys(str(path))
        result = wait(app).until(lambda d: d.find_element(*by_testid("import-result")))
        wait(app).until(lambda d: "Imported 1 connection" in result.text)
    # The imported session is selected and its frames are in the timeline.
    wait(app).until(lambda d: len(rows_containing(d, '"op":"price"')) == 2)

    # Its details show each connection's handshake as recorded.
    open_session_action(app, "details")
    hs = wait(app).until(lambda d: d.find_element(*by_testid("connection-handshake")))
    hs.find_element("css selector", "summary").click()
    wait(app).until(lambda d: "sec-websocket-accept" in hs.text.lower() and "HTTP 101" in hs.text)

    # Replay it against the live echo server.
    open_session_action(app, "replay")
    panel = wait(app).until(lambda d: d.find_element(*by_testid("replay-panel")))
    url = panel.find_element(*by_testid("replay-url"))
    url.clear()
    url.send_keys(echo_url)
    choose_mode(app, "conversational")
    app.find_element(*by_testid("replay-start")).click()
    wait(app, 30).until(lambda d: "finished" in replay_state(d))
    # The replay session is live in the timeline with the echoed messages.
    wait(app).until(lambda d: len(rows_containing(d, '"op":"bye"')) == 2)

    # Compare with the original: an echo server answers exactly as recorded.
    app.find_element(*by_testid("replay-compare")).click()
    view = wait(app).until(lambda d: d.find_element(*by_testid("diff-view")))
    summary = wait(app).until(lambda d: d.find_element(*by_testid("diff-summary")))
    # An echo server answers as recorded: 3 sent + 3 echoed, all identical.
    wait(app).until(lambda d: summary.get_attribute("data-identical") == "6")
    for status in ("changed", "missing", "extra"):
        assert summary.get_attribute(f"data-{status}") == "0", summary.text
    settle(app)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert app.save_screenshot(str(SHOTS / "diff.png"))
    assert view.is_displayed()
