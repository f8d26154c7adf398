"""The built Sockscope app, driven like a user would: connect, send, see, restart, see again."""

import socket

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.keys import Keys

from conftest import SHOTS, by_testid, settle, wait

MESSAGE = "hello from webdriver ✓"
SECOND = '{"type":"second","n":2}'


ROWS_JS = """
return Array.from(document.querySelectorAll('[data-testid="frame-row"]'))
  .map(r => [Number(r.getAttribute('data-seq')), r.textContent]);
"""


def rows(driver):
    """(seq, text) of every rendered timeline row, read in one step (the list re-renders)."""
    return driver.execute_script(ROWS_JS)


def rows_containing(driver, text):
    return [(seq, t) for seq, t in rows(driver) if text in t]


def click_row(driver, seq):
    def attempt(d):
        try:
            d.find_element("css selector", f'[data-testid="frame-row"][data-seq="{seq}"]').click()
            return True
        except StaleElementReferenceException:
            return False
    wait(driver).until(attempt)


def connect(driver, url):
    box = wait(driver).until(lambda d: d.find_element(*by_testid("url-input")))
    box.clear()
    box.send_keys(url)
    driver.find_element(*by_testid("connect-button")).click()


STATE_JS = """
const el = document.querySelector('[data-testid="connection-state"]');
return el ? [el.getAttribute('data-state'), el.textContent] : [null, ''];
"""


def state(driver):
    return driver.execute_script(STATE_JS)[0]


def state_text(driver):
    return driver.execute_script(STATE_JS)[1]


def test_connect_send_and_see_the_echo(app, echo_url):
    connect(app, echo_url)
    wait(app).until(lambda d: state(d) == "open")
    send = app.find_element(*by_testid("send-button"))
    wait(app).until(lambda d: send.is_enabled())

    composer = app.find_element(*by_testid("composer"))
    composer.send_keys(MESSAGE)
    send.click()
    # The sent frame and the server's echo both appear, in seq order.
    wait(app).until(lambda d: len(rows_containing(d, MESSAGE)) == 2)
    seqs = [seq for seq, _ in rows_containing(app, MESSAGE)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 2, seqs

    # Ctrl+Enter sends from the composer too.
    composer.clear()
    composer.send_keys(SECOND)
    composer.send_keys(Keys.CONTROL, Keys.ENTER)
    wait(app).until(lambda d: len(rows_containing(d, '"second"')) == 2)

    # Selecting the echoed row shows its payload as text.
    click_row(app, seqs[1])
    wait(app).until(lambda d: MESSAGE in d.find_element(*by_testid("detail-text")).text)

    settle(app)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert app.save_screenshot(str(SHOTS / "main-window.png"))

    # Disconnect: the state shows the close code.
    app.find_element(*by_testid("connect-button")).click()
    wait(app).until(lambda d: state(d) == "closed" and "1000" in state_text(d))


def test_sessions_survive_a_restart(app, echo_url):
    # A new app process on the same database: the earlier session is listed.
    items = wait(app).until(lambda d: d.find_elements(*by_testid("session-item")))
    ids = [i.get_attribute("data-session-id") for i in items]
    assert all(i and i.isdigit() for i in ids), ids
    # Open the oldest session (the first test's) and see its frames.
    items[-1].click()
    wait(app).until(lambda d: len(rows_containing(d, MESSAGE)) == 2)
    assert len(rows_containing(app, '"second"')) == 2
    conns = app.find_elements(*by_testid("connection-item"))
    assert conns and conns[0].get_attribute("data-connection-id").isdigit()


def test_a_refused_connection_shows_failed_with_the_reason(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connect(app, f"ws://127.0.0.1:{port}/")
    wait(app).until(lambda d: state(d) == "failed")
    assert "refused" in state_text(app).lower()
    assert not app.find_element(*by_testid("send-button")).is_enabled()


def test_an_invalid_url_is_explained_inline(app):
    connect(app, "http://127.0.0.1:1/")
    err = wait(app).until(lambda d: d.find_element(*by_testid("url-error")))
    wait(app).until(lambda d: "ws://" in err.text)


def test_payloads_are_text_never_html(app, echo_url):
    hostile = '<img src=x onerror="document.title=\'pwned\'"><b>bold</b>'
    connect(app, echo_url)
    wait(app).until(lambda d: state(d) == "open")
    composer = app.find_element(*by_testid("composer"))
    composer.send_keys(hostile)
    app.find_element(*by_testid("send-button")).click()
    wait(app).until(lambda d: len(rows_containing(d, "<img src=x")) == 2)
    click_row(app, rows_containing(app, "<img src=x")[1][0])
    detail = wait(app).until(lambda d: d.find_element(*by_testid("detail-text")))
    wait(app).until(lambda d: "<b>bold</b>" in detail.text)
    assert app.find_elements("css selector", "img[src=x]") == []
    assert app.title != "pwned"
