"""The shell's security settings: the CSP in tauri.conf.json, the capability file against the
commands the UI really calls, and navigation away from the app being refused."""

import glob
import json
import re
import time

from conftest import ROOT, by_testid, wait

# Granted but not (yet) called by the UI, each with why. The test fails when one of them
# starts being used (then it leaves this list) or when another unused grant appears.
GRANTED_UNUSED = {
    "wb_expand": "workbench: variable-expansion preview, UI not wired yet",
}


def csp():
    conf = json.loads((ROOT / "tauri.conf.json").read_text())
    return conf["app"]["security"]["csp"], conf["app"]


def test_csp_forbids_eval_inline_scripts_and_data_urls():
    policy, app = csp()
    assert isinstance(policy, dict), policy
    script = policy["script-src"].split()
    assert script == ["'self'"], script
    for directive, value in policy.items():
        assert "unsafe-eval" not in value, directive
        if directive in ("script-src", "default-src", "script-src-elem", "script-src-attr"):
            assert "unsafe-inline" not in value, directive
            assert "data:" not in value and "blob:" not in value and "*" not in value, directive
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert app.get("withGlobalTauri", False) is False
    assert app["security"].get("freezePrototype") is True


def ui_commands():
    used = set()
    for f in glob.glob(str(ROOT / "ui/src/**/*.ts"), recursive=True) + glob.glob(
        str(ROOT / "ui/src/**/*.svelte"), recursive=True
    ):
        if ".test." in f:
            continue
        text = open(f, encoding="utf-8").read()
        used |= set(re.findall(r"""(?:call|invoke)\s*(?:<[^()]*?>)?\(\s*['"]([a-z_]+)['"]""", text))
    return used


def test_capabilities_grant_only_what_the_ui_calls():
    cap = json.loads((ROOT / "src-tauri/capabilities/main.json").read_text())
    assert cap["windows"] == ["main"]
    perms = cap["permissions"]
    assert all(isinstance(p, str) and p.startswith("allow-") for p in perms), (
        "only the app's own allow-* permissions (no core:* or plugin grants)", perms)
    granted = {p[len("allow-"):].replace("-", "_") for p in perms}
    declared = set(re.findall(r'^\s*"([a-z_]+)",', (ROOT / "src-tauri/build.rs").read_text(), re.M))
    main_rs = (ROOT / "src-tauri/src/main.rs").read_text()
    handlers = set(re.findall(r"commands::(?:\w+::)?(\w+),", main_rs))
    assert granted == declared, (granted ^ declared)
    assert handlers == declared, (handlers ^ declared)
    used = ui_commands()
    assert used <= granted, f"the UI calls commands that are not granted: {used - granted}"
    unused = granted - used
    assert unused == set(GRANTED_UNUSED), (
        f"granted but not called by the UI: {sorted(unused)} (expected {sorted(GRANTED_UNUSED)})")


def test_navigation_away_from_the_app_is_refused(app):
    wait(app).until(lambda d: d.find_element(*by_testid("url-input")))
    start = app.current_url
    assert start.startswith("tauri://localhost"), start
    for target in ["https://example.invalid/", "javascript:void(0)", "file:///etc/passwd",
                   "data:text/html,<h1>x</h1>"]:
        app.execute_script("window.location.href = arguments[0];", target)
        time.sleep(0.5)
        assert app.current_url == start, (target, app.current_url)
        body = app.execute_script("return document.body ? document.body.innerHTML.length : -1")
        app.save_screenshot(str(ROOT / "target" / "gui" / "navigation.png"))
        assert app.find_elements(*by_testid("url-input")), (target, body)
