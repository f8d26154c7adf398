"""The Proxy panel, driven like a user would: start a reverse listener, send real traffic through
it with the sockscope CLI, watch the proxied frames appear live, inject toward the client."""

import re
import subprocess
import tempfile
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, SHOTS, by_testid, settle, wait
from test_app import click_row, rows_containing

CLI = ROOT / "target" / "debug" / "sockscope"


def open_panel(driver):
    if not driver.find_elements(*by_testid("proxy-listen-input")):
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("p").key_up(Keys.CONTROL).perform()
    return wait(driver).until(lambda d: d.find_element(*by_testid("proxy-listen-input")))


def test_reverse_listener_records_live_traffic_and_injects(app, echo_url):
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
    proxy_url = f"ws://127.0.0.1:{found.group(1)}/live?via=gui"

    # A real client (the CLI, on its own database) talks through the listener.
    with tempfile.TemporaryDirectory() as d:
        client = subprocess.Popen(
            [str(CLI), "--db", str(Path(d) / "client.db"), "connect", proxy_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert client.stdout.readline().startswith("session ")
            client.stdin.write("through the proxy\n")
            client.stdin.flush()
            assert client.stdout.readline().strip() == "through the proxy"
            # Both directions of the proxied connection show up live.
            wait(app).until(lambda d: len(rows_containing(d, "through the proxy")) == 2)
            conns = wait(app).until(lambda d: d.find_elements(*by_testid("connection-item")))
            assert conns[0].get_attribute("data-connection-id").isdigit()

            # Inject toward the client from the composer.
            toward = app.find_element(*by_testid("inject-toward"))
            client_choice = [b for b in toward.find_elements("css selector", "button, label, input")
                             if "client" in (b.text or b.get_attribute("value") or "").lower()]
            assert client_choice, toward.get_attribute("outerHTML")
            client_choice[0].click()
            composer = app.find_element(*by_testid("composer"))
            composer.clear()
            composer.send_keys("injected by the gui")
            app.find_element(*by_testid("send-button")).click()
            assert client.stdout.readline().strip() == "injected by the gui"
            wait(app).until(lambda d: len(rows_containing(d, "injected by the gui")) == 1)
            click_row(app, rows_containing(app, "through the proxy")[0][0])
            settle(app)
            SHOTS.mkdir(parents=True, exist_ok=True)
            assert app.save_screenshot(str(SHOTS / "proxy.png"))
        finally:
            client.stdin.close()
            try:
                client.wait(timeout=10)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait(timeout=5)

    # Selecting a frame showed its detail in place of the panel: open the panel again to stop.
    open_panel(app)
    app.find_element(*by_testid("proxy-stop-button")).click()
    wait(app).until(lambda d: not d.find_elements(*by_testid("proxy-item")))
