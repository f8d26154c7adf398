"""The connection workbench in the built app: two connections to two echo servers side by side,
JSON on one and binary hex on the other, each timeline showing only its own frames; the
handshake view checks the real server's Sec-WebSocket-Accept; a demo server from the welcome
screen."""

import subprocess
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.file_detector import UselessFileDetector

from conftest import ECHO, SHOTS, by_testid, settle, stop, wait

JSON_MSG = '{"workbench": "json", "n": 1}'
HEX_MSG = "00 01 02 fe ff"

ROWS_JS = """
return Array.from(document.querySelectorAll('[data-testid="frame-row"]'))
  .map(r => r.textContent);
"""

LINKS_JS = """
return Array.from(document.querySelectorAll('[data-testid="link-item"]'))
  .map(l => [Number(l.getAttribute('data-link-id')), l.getAttribute('data-state'),
             Number(l.getAttribute('data-session-id')), l.textContent]);
"""


def failure_shot(driver):
    """The window at a failure, kept apart from the screenshots `make screenshot` publishes."""
    out = SHOTS.parent / "gui-failures"
    out.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(out / "workbench.png"))


def text(driver, testid):
    """textContent of the first element with the test id ('' when there is none)."""
    return driver.execute_script(
        "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`); return e ? e.textContent : '';", testid)


def rows(driver):
    return driver.execute_script(ROWS_JS)


def links(driver):
    return driver.execute_script(LINKS_JS)


def second_echo():
    proc = subprocess.Popen([str(ECHO), "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening ws://127.0.0.1:"), line
    return proc, line.split()[1]


def open_link(driver, url, count):
    box = wait(driver).until(lambda d: d.find_element(*by_testid("url-input")))
    box.clear()
    box.send_keys(url)
    box.send_keys(Keys.ENTER)
    try:
        wait(driver).until(lambda d: len(links(d)) == count and links(d)[-1][1] == "open")
    except Exception:
        failure_shot(driver)
        err = driver.execute_script(
            "const e = document.querySelector('[data-testid=\"links-error\"]'); return e ? e.textContent : null;")
        raise AssertionError(f"links: {links(driver)}; error: {err}")
    # The new connection is the one shown.
    wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="link-item"][aria-current="true"]')
                       .get_attribute("data-link-id") == str(links(d)[-1][0]))


def pick_mode(driver, mode):
    driver.find_element(By.CSS_SELECTOR, f'[data-testid="composer-mode"] [data-mode="{mode}"]').click()
    wait(driver).until(lambda d: d.find_element(*by_testid("composer-mode")).get_attribute("data-mode") == mode)


def show_link(driver, link_id):
    driver.find_element(By.CSS_SELECTOR, f'[data-testid="link-item"][data-link-id="{link_id}"]').click()
    wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="link-item"][aria-current="true"]')
                       .get_attribute("data-link-id") == str(link_id))


def test_two_connections_keep_their_own_timelines(app, echo_url):
    proc, other_url = second_echo()
    try:
        # Connection A: JSON in the CodeMirror editor, checked before sending.
        open_link(app, echo_url, 1)
        pick_mode(app, "json")
        editor = wait(app).until(lambda d: d.find_element(*by_testid("composer")))
        assert editor.get_attribute("contenteditable") == "true"
        editor.click()
        editor.send_keys('{"workbench": "json", "n": }')
        wait(app).until(lambda d: "Invalid JSON at line 1" in text(d, "send-error"))
        assert not app.find_element(*by_testid("send-button")).is_enabled()
        editor.send_keys(Keys.BACKSPACE, "1}")
        wait(app).until(lambda d: d.find_element(*by_testid("send-button")).is_enabled())
        editor.send_keys(Keys.CONTROL, Keys.ENTER)
        wait(app).until(lambda d: sum(JSON_MSG in r for r in rows(d)) == 2)

        # Connection B, to the other server: binary typed as hex.
        open_link(app, other_url, 2)
        pick_mode(app, "binary")
        box = app.find_element(*by_testid("composer"))
        box.send_keys("00 01 0")
        wait(app).until(lambda d: "Odd number of hex digits" in text(d, "send-error"))
        box.send_keys("2 fe ff")
        wait(app).until(lambda d: text(d, "composer-label") == "Binary message · 5 B")
        app.find_element(*by_testid("send-button")).click()
        wait(app).until(lambda d: sum(HEX_MSG in r for r in rows(d)) == 2)
        (a_id, _, a_session, _), (b_id, _, b_session, _) = links(app)
        assert a_session != b_session

        # Each timeline shows only its own frames, and each composer keeps its own mode and text.
        show_link(app, a_id)
        wait(app).until(lambda d: sum(JSON_MSG in r for r in rows(d)) == 2)
        assert not any(HEX_MSG in r for r in rows(app)), rows(app)
        assert app.find_element(*by_testid("composer-mode")).get_attribute("data-mode") == "json"
        assert text(app, "composer") == JSON_MSG

        show_link(app, b_id)
        wait(app).until(lambda d: sum(HEX_MSG in r for r in rows(d)) == 2)
        assert not any(JSON_MSG in r for r in rows(app)), rows(app)
        assert app.find_element(*by_testid("composer-mode")).get_attribute("data-mode") == "binary"
        assert app.find_element(*by_testid("composer")).get_attribute("value") == HEX_MSG

        # Both stay open, with their own message counts (sent, received: greeting-free echo).
        state = {l[0]: l for l in links(app)}
        assert state[a_id][1] == "open" and state[b_id][1] == "open"
        assert "↑1" in state[a_id][3] and "↓1" in state[a_id][3], state[a_id][3]

        # The handshake of the real server: Sec-WebSocket-Accept recomputed in the UI matches.
        app.find_element(*by_testid("handshake-toggle")).click()
        wait(app).until(lambda d: d.find_element(*by_testid("accept-verdict")).get_attribute("data-ok") == "true")
        assert "101" in text(app, "handshake-status")
        assert "Sec-WebSocket-Key:" in text(app, "handshake-request")
        settle(app)
        # Two connections, binary on the shown one, its handshake checked: the README's picture.
        app.save_screenshot(str(SHOTS / "workbench.png"))
    except Exception:
        failure_shot(app)
        raise
    finally:
        stop(proc)


def test_welcome_screen_starts_an_echo_demo_and_connects(app):
    wait(app).until(lambda d: d.find_element(*by_testid("welcome-toggle"))).click()
    wait(app).until(lambda d: d.find_element(*by_testid("welcome")).is_displayed())
    settle(app)
    app.save_screenshot(str(SHOTS / "welcome.png"))
    app.find_element(By.CSS_SELECTOR, '[data-testid="demo-try"][data-kind="echo"]').click()
    wait(app).until(lambda d: len(links(d)) == 1 and links(d)[0][1] == "open")
    assert "127.0.0.1:" in links(app)[0][3]
    # The composer holds a first message with variables; its preview shows the counter filled in.
    wait(app).until(lambda d: "#1" in text(d, "var-preview"))
    app.find_element(*by_testid("send-button")).click()
    wait(app).until(lambda d: sum("Hello #1 at " in r for r in rows(d)) == 2)


def test_templates_follow_the_folder_and_send_on_save(app, echo_url, db_path, tmp_path):
    templates = db_path.parent / "templates"
    try:
        open_link(app, echo_url, 1)
        app.find_element(*by_testid("templates-toggle")).click()
        wait(app).until(lambda d: d.find_element(*by_testid("templates")).is_displayed())
        # A template file written by another program shows up in the list.
        templates.mkdir(parents=True, exist_ok=True)
        (templates / "gui-live.txt").write_text("first body {{counter}}", encoding="utf-8")
        item = '[data-testid="template-item"][data-name="gui-live"]'
        wait(app).until(lambda d: "first body" in (d.execute_script(
            f"const e = document.querySelector('{item}'); return e ? e.textContent : '';")))
        # Edited outside the app: the list follows.
        (templates / "gui-live.txt").write_text("second body {{counter}}", encoding="utf-8")
        wait(app).until(lambda d: "second body" in (d.execute_script(
            f"const e = document.querySelector('{item}'); return e ? e.textContent : '';")))
        app.find_element(By.CSS_SELECTOR, f"{item} [data-testid=\"template-load\"]").click()
        wait(app).until(lambda d: d.find_element(*by_testid("composer")).get_attribute("value")
                        == "second body {{counter}}")
        wait(app).until(lambda d: text(d, "var-preview").strip().endswith("second body 1"))

        # Send on save: each save of the watched file sends its content once.
        watched = tmp_path / "message.json"
        watched.write_text('{"saved": 0}', encoding="utf-8")
        app.find_element(*by_testid("send-on-save-toggle")).click()
        path_box = wait(app).until(lambda d: d.find_element(*by_testid("send-on-save-path")))
        # Typed as text: Selenium would otherwise upload an existing local path as a file.
        app.file_detector = UselessFileDetector()
        path_box.send_keys(str(watched))
        app.find_element(*by_testid("send-on-save-start")).click()
        wait(app).until(lambda d: d.find_element(*by_testid("send-on-save-active")).is_displayed())
        watched.write_text('{"saved": 1}', encoding="utf-8")
        wait(app).until(lambda d: sum('{"saved": 1}' in r for r in rows(d)) == 2)
        wait(app).until(lambda d: text(d, "send-on-save-count") == "1 sent")
        app.find_element(*by_testid("send-on-save-stop")).click()
        wait(app).until(lambda d: not d.find_elements(*by_testid("send-on-save-active")))
        watched.write_text('{"saved": 2}', encoding="utf-8")
        time.sleep(1.0)
        assert not any('{"saved": 2}' in r for r in rows(app)), rows(app)
    except Exception:
        failure_shot(app)
        raise
    finally:
        (templates / "gui-live.txt").unlink(missing_ok=True)
