"""The timeline bench (`make bench-ui`): opens a session of a million frames in the real app
under Xvfb through WebDriver and prints a table of what a user waits for.

    python tests/gui/bench_ui.py --db PATH --session ID --frames N [--flood N]

The database is made by `scripts/bench-ui.sh` (the store's `timeline_db` example). Times are
measured inside the page (performance.now(), from the action to the first animation frame
that shows its result), so WebDriver round trips do not count. Not a test: it prints figures.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import APP, ROOT, WEBKIT_DRIVER, free_port, stop, wait_for_port  # noqa: E402

# Runs `action` (JS statements), then waits, one animation frame at a time, until `until` (a JS
# expression) holds; returns the milliseconds it took (or -1 after `limit` ms). The code is put
# into the script WebDriver runs (the page's CSP forbids eval, rightly).
MEASURE_JS = """
const done = arguments[arguments.length - 1];
const t0 = performance.now();
ACTION;
const step = () => {
  let ok = false;
  try { ok = !!(UNTIL); } catch (e) { ok = false; }
  const t = performance.now() - t0;
  if (ok) done(t);
  else if (t > LIMIT) done(-1);
  else requestAnimationFrame(step);
};
requestAnimationFrame(step);
"""

RAF_START_JS = """
window.__bench = { gaps: [], last: performance.now(), on: true };
const loop = (t) => {
  const b = window.__bench;
  b.gaps.push(t - b.last); b.last = t;
  if (b.on) requestAnimationFrame(loop);
};
requestAnimationFrame(loop);
"""

RAF_STOP_JS = """
const b = window.__bench; b.on = false;
return b.gaps;
"""

TL = "document.querySelector('[data-testid=\"timeline\"]')"


def measure(driver, action, until, limit_ms=60_000):
    driver.set_script_timeout(limit_ms / 1000 + 10)
    script = (MEASURE_JS.replace("ACTION", "{" + (action or "") + "}")
              .replace("UNTIL", until).replace("LIMIT", str(limit_ms)))
    return driver.execute_async_script(script)


def key(name):
    return (f"{TL}.focus(); {TL}.dispatchEvent(new KeyboardEvent('keydown', "
            f"{{key: '{name}', bubbles: true, cancelable: true}}));")


def rss_kib(app_pid):
    """RSS of the app process and of its WebKit children (the web view lives there)."""
    def rss(pid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0
    children = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == app_pid:
            children.append(int(p.name))
    return rss(app_pid), sum(rss(c) for c in children)


def find_app_pid(driver_pid):
    """The app process started (through WebKitWebDriver) under our tauri-driver."""
    target = str(APP)
    parents = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            parents[int(p.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            exe = os.readlink(p / "exe")
        except (OSError, ValueError, IndexError):
            continue
        if exe == target:
            pid = int(p.name)
            q = pid
            for _ in range(10):
                q = parents.get(q) or int(Path(f"/proc/{q}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if q == driver_pid:
                    return pid
                if q <= 1:
                    break
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--session", type=int, required=True)
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--flood", type=int, default=200_000, help="frames pushed for the live ingest test")
    ap.add_argument("--rate", type=float, default=0, help="frames/s the server pushes (0: as fast as it can)")
    args = ap.parse_args()
    n = args.frames

    tauri_driver = shutil.which("tauri-driver") or str(Path.home() / ".cargo/bin/tauri-driver")
    port, native_port = free_port(), free_port()
    env = dict(os.environ, SOCKSCOPE_DB=args.db, SOCKSCOPE_CA_DIR=str(Path(args.db).parent / "ca"))
    drv = subprocess.Popen([tauri_driver, "--port", str(port), "--native-port", str(native_port),
                            "--native-driver", WEBKIT_DRIVER], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    push = None
    results = []

    class Results(list):
        def append(self, row):
            super().append(row)
            print(f"  {row[0]}: {row[1]:,.1f} {row[2]}", flush=True)
    results = Results()
    try:
        wait_for_port(port, drv)
        wait_for_port(native_port, drv)
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": str(APP)})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=opts)
        try:
            item = f"document.querySelector('[data-testid=\"session-item\"][data-session-id=\"{args.session}\"]')"
            assert measure(driver, "", f"!!{item}", 30_000) >= 0, "the bench session is not listed"

            # 1. Open the session: its newest rows (the view follows the tail) are shown.
            t = measure(driver, f"({item}.querySelector('.session') || {item}).click();",
                        f"document.querySelector('[data-testid=\"frame-row\"][data-seq=\"{n}\"]')")
            results.append(("open a 1M-frame session: first rows shown", t, "ms"))

            # 2. Home, then End, with the keyboard.
            t = measure(driver, key("Home"), "document.querySelector('[data-testid=\"frame-row\"][data-seq=\"1\"]')")
            results.append(("Home: first row shown", t, "ms"))
            t = measure(driver, key("End"),
                        f"document.querySelector('[data-testid=\"frame-row\"][data-seq=\"{n}\"]')")
            results.append(("End: last row shown", t, "ms"))

            # 3. Drag the scrollbar through the whole list: 40 positions, one per frame; then
            #    the time until the last position shows real rows (no placeholders).
            drag = (f"const el = {TL}; let k = 0; const max = el.scrollHeight - el.clientHeight;"
                    "const go = () => { el.scrollTop = max * (k / 40); k++;"
                    " if (k <= 40) requestAnimationFrame(go); else window.__dragEnd = performance.now(); };"
                    "el.scrollTop = 0; requestAnimationFrame(go); window.__dragStart = performance.now();")
            t = measure(driver, drag,
                        f"{TL}.scrollTop >= {TL}.scrollHeight - {TL}.clientHeight - 1 && "
                        "!document.querySelector('[data-testid=\"frame-row-placeholder\"]') && "
                        f"!!document.querySelector('[data-testid=\"frame-row\"][data-seq=\"{n}\"]')")
            steps = driver.execute_script("return window.__dragEnd - window.__dragStart;")
            results.append(("drag top to bottom: 40 scroll steps, one per frame", steps, "ms"))
            results.append(("drag: last step to its rows shown", t - steps, "ms"))
            t = measure(driver, f"const el = {TL}; el.scrollTop = (el.scrollHeight - el.clientHeight) / 2;",
                        "!document.querySelector('[data-testid=\"frame-row-placeholder\"]') && "
                        "document.querySelectorAll('[data-testid=\"frame-row\"]').length > 10")
            results.append(("jump to the middle: rows shown", t, "ms"))

            # 4. A regex filter over every payload: first match shown, then the full count.
            driver.execute_script("document.querySelector('[data-testid=\"filter-regex\"]').click();")
            apply = ("const box = document.querySelector('[data-testid=\"filter-input\"]');"
                     "box.value = 'needle-\\\\d*500\\\\b'; box.dispatchEvent(new Event('input', {bubbles: true}));"
                     "box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));")
            t = measure(driver, apply, "!!document.querySelector('[data-testid=\"frame-row\"] mark')", 120_000)
            results.append(("regex filter: first match shown", t, "ms"))
            t = measure(driver, "", "document.querySelector('[data-testid=\"match-count\"]').getAttribute('data-complete') === 'true'", 300_000)
            count = driver.execute_script("return document.querySelector('[data-testid=\"match-count\"]').getAttribute('data-count');")
            results.append((f"regex filter: all {int(count):,} matches counted (after the first)", t, "ms"))
            expected = sum(1 for i in range(500, n, 1000) if i % 100 != 99 and i % 4 != 3)
            assert int(count) == expected, (count, expected)

            driver.execute_script("document.querySelector('[data-testid=\"filter-clear\"]').click();")
            measure(driver, "", f"document.querySelector('[data-testid=\"match-count\"]').getAttribute('data-count') === '{n}'")
            app_pid = find_app_pid(drv.pid)
            rss_app, rss_web = rss_kib(app_pid) if app_pid else (0, 0)
            results.append(("RSS after the 1M-frame session: app", rss_app / 1024, "MiB"))
            results.append(("RSS after the 1M-frame session: WebKit processes", rss_web / 1024, "MiB"))

            # 5. Live ingest: a local server floods the app's own client connection while the
            #    page's animation frames are recorded.
            push = subprocess.Popen([sys.executable, str(ROOT / "tests" / "gui" / "push_server.py"),
                                     "--rate", str(args.rate), "--count", str(args.flood), "--size", "80"],
                                    stdout=subprocess.PIPE, text=True)
            url = push.stdout.readline().split()[1]
            driver.execute_script(RAF_START_JS)
            box = driver.find_element("css selector", '[data-testid="url-input"]')
            box.clear()
            box.send_keys(url)
            driver.find_element("css selector", '[data-testid="connect-button"]').click()
            count_js = ("const el = document.querySelector('[data-testid=\"frame-count\"]');"
                        " return el ? el.textContent : '';")
            def shown_frames():
                words = driver.execute_script(count_js).split()
                text = words[0].replace(",", "") if words else ""
                return int(text) if text.isdigit() else -1
            # The new connection's session replaces the big one in the timeline.
            deadline = time.monotonic() + 30
            while shown_frames() >= n and time.monotonic() < deadline:
                time.sleep(0.05)
            samples = []
            start = time.monotonic()
            while time.monotonic() - start < 60:
                k = max(0, shown_frames())
                samples.append((time.monotonic(), k))
                if k >= args.flood:
                    break
                time.sleep(0.25)
            gaps = driver.execute_script(RAF_STOP_JS)
            live = [(t, k) for t, k in samples if k > 0]
            if len(live) >= 2:
                (t1, k1), (t2, k2) = live[0], live[-1]
                rate = (k2 - k1) / (t2 - t1) if t2 > t1 else 0
            else:
                rate = 0
            pace = f"server pushing {args.rate:,.0f}/s" if args.rate else "server flooding"
            results.append((f"live ingest ({pace}): frames/s shown ({live[-1][1] if live else 0:,} frames)", rate, "frames/s"))
            if gaps:
                secs = sum(gaps) / 1000
                results.append(("  while ingesting: animation frames per second", len(gaps) / secs, "fps"))
                results.append(("  while ingesting: longest frame", max(gaps), "ms"))
                results.append(("  while ingesting: median frame", statistics.median(gaps), "ms"))
            rss_app, rss_web = rss_kib(app_pid) if app_pid else (0, 0)
            results.append(("RSS after live ingest: app", rss_app / 1024, "MiB"))
            results.append(("RSS after live ingest: WebKit processes", rss_web / 1024, "MiB"))
        except Exception:
            shots = ROOT / "target" / "gui"
            shots.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(shots / "bench-ui-failure.png"))
            print(f"bench-ui: failed; screenshot in {shots / 'bench-ui-failure.png'}", flush=True)
            raise
        finally:
            driver.quit()
    finally:
        if push:
            stop(push)
        stop(drv)

    width = max(len(r[0]) for r in results)
    print()
    print(f"| {'timeline, {:,} frames'.format(n).ljust(width)} | {'value':>10} | unit     |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|----------|")
    for name, value, unit in results:
        shown = "timeout" if value == -1 else (f"{value:,.0f}" if value >= 100 else f"{value:,.1f}")
        print(f"| {name.ljust(width)} | {shown:>10} | {unit:<8} |")


if __name__ == "__main__":
    main()
