"""Intercept, driven like a user would: a reverse listener in front of the echo server, a
breakpoint on buy orders, a real client (the sockscope CLI) sends one, the held message shows
in the Intercept panel, its JSON is edited and forwarded, the server echoes the edit back, and
the timeline shows both versions (the original flagged, the edit flagged)."""

import re
import subprocess
import tempfile
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, SHOTS, by_testid, settle, wait
from test_app import rows, rows_containing

CLI = ROOT / "target" / "debug" / "sockscope"


def ctrl(driver, key):
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(key).key_up(Keys.CONTROL).perform()


def flags_of(driver, seq):
    el = driver.find_element(
        "css selector", f'[data-testid="frame-row"][data-seq="{seq}"] [data-testid="frame-flags"]'
    )
    return (el.get_attribute("data-flags") or "").split()


def test_breakpoint_hold_edit_json_forward_and_both_versions_in_the_timeline(app, echo_url):
    # A reverse listener in front of the echo server.
    wait(app).until(lambda d: d.find_element(*by_testid("intercept-toggle")))
    ctrl(app, "p")
    listen = wait(app).until(lambda d: d.find_element(*by_testid("proxy-listen-input")))
    listen.clear()
    listen.send_keys("127.0.0.1:0")
    upstream = app.find_element(*by_testid("proxy-upstream-input"))
    upstream.clear()
    upstream.send_keys(echo_url)
    app.find_element(*by_testid("proxy-start-button")).click()
    item = wait(app).until(lambda d: d.find_element(*by_testid("proxy-item")))
    found = re.search(r"127\.0\.0\.1:(\d+)", item.text)
    assert found, item.text
    proxy_url = f"ws://127.0.0.1:{found.group(1)}/orders"

    # A breakpoint: client-to-server messages containing "op":"buy".
    ctrl(app, "i")
    wait(app).until(lambda d: d.find_element(*by_testid("intercept-panel")))
    app.find_element(*by_testid("rule-add")).click()
    name = wait(app).until(lambda d: d.find_element(*by_testid("rule-name")))
    name.send_keys("buy orders")
    app.find_element(*by_testid("rule-contains")).send_keys('"op":"buy"')
    app.find_element(*by_testid("rule-save")).click()
    rule = wait(app).until(lambda d: d.find_element(*by_testid("rule-item")))
    assert "buy orders" in rule.get_attribute("textContent")

    with tempfile.TemporaryDirectory() as d:
        client = subprocess.Popen(
            [str(CLI), "--db", str(Path(d) / "client.db"), "connect", proxy_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert client.stdout.readline().startswith("session ")
            client.stdin.write('{"op":"buy","qty":1}\n')
            client.stdin.flush()

            # The held message appears with its payload in the JSON editor.
            held = wait(app).until(lambda d: d.find_element(*by_testid("held-item")))
            assert "to server" in held.get_attribute("textContent")
            assert app.find_element(*by_testid("held-count")).text == "1"
            assert app.find_element(*by_testid("intercept-held-badge")).text == "1"
            wait(app).until(lambda d: d.find_element(*by_testid("held-mode-json")))
            app.find_element(*by_testid("held-mode-json")).click()
            editor = app.find_element(*by_testid("held-editor"))
            assert '"qty": 1' in editor.get_attribute("value"), editor.get_attribute("value")
            # Nothing reached the server yet: no echo, and one row (the held message is not
            # recorded until it is decided).
            assert not rows_containing(app, '"qty"')

            editor.send_keys(Keys.CONTROL, "a")
            editor.send_keys(Keys.DELETE)
            editor.send_keys('{"op": "buy", "qty": 5}')
            settle(app)
            SHOTS.mkdir(parents=True, exist_ok=True)
            assert app.save_screenshot(str(SHOTS / "intercept.png"))
            app.find_element(*by_testid("held-forward-edited")).click()

            # The server received the edit: the echo server sends it back to the client.
            assert client.stdout.readline().strip() == '{"op":"buy","qty":5}'
            wait(app).until(lambda d: not d.find_elements(*by_testid("held-item")))

            # Both versions in the timeline: the original (held, replaced) and the edit, then
            # the echo of the edit.
            wait(app).until(lambda d: len(rows_containing(d, '"qty":5')) == 2)
            original = rows_containing(app, '"qty":1')
            assert len(original) == 1, rows(app)
            edited = rows_containing(app, '"qty":5')
            orig_flags = flags_of(app, original[0][0])
            assert "replaced" in orig_flags and "held" in orig_flags, orig_flags
            edit_flags = flags_of(app, edited[0][0])
            assert "edited" in edit_flags and "held" in edit_flags, edit_flags
            assert "edited" not in flags_of(app, edited[1][0])
            assert original[0][0] < edited[0][0] < edited[1][0]
            settle(app)
            assert app.save_screenshot(str(SHOTS / "intercept-timeline.png"))
        finally:
            client.stdin.close()
            try:
                client.wait(timeout=10)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait(timeout=5)

    # The rule is saved (SQLite) and counted its match; turn it off from the list.
    wait(app).until(lambda d: d.find_element(*by_testid("rule-count")).text == "1")
    app.find_element(*by_testid("rule-enabled")).click()
    wait(app).until(
        lambda d: not d.find_element(*by_testid("rule-enabled")).is_selected()
    )
    # Clean up: the listener stops.
    ctrl(app, "p")
    app.find_element(*by_testid("proxy-stop-button")).click()
    wait(app).until(lambda d: not d.find_elements(*by_testid("proxy-item")))
