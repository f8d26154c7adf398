"""The timeline bench (`make bench-ui`): opens a session of a million frames in the real app
under Xvfb through WebDriver and prints a table of what a user waits for, then floods a live
connection and measures what the app records and shows and how responsive it stays.

    python tests/gui/bench_ui.py --db PATH --session ID --frames N [--flood N] [--rate N]
    python tests/gui/bench_ui.py --db PATH --ingest-only [--rate 20000] [--seconds 10] [--stats]

The database is made by `scripts/bench-ui.sh` (the store's `timeline_db` example). Times are
measured inside the page (performance.now(), from the action to the first animation frame
that shows its result), so WebDriver round trips do not count, except for the input figures
(a real key press / click through WebDriver until its effect is in the page), which are also
measured idle for comparison. Live ingest: a local server (tests/gui/push_server.py, Python
`websockets`) pushes `--rate` frames/s to the app's own client connection; the table gives
frames/s recorded (the session's row in the database) and shown (the status bar), the page's
animation frames, how late a 0 ms timer runs (the page's main thread being busy), IPC calls
and Channel messages per second (counted in the page), and the CPU used by each process
(and the app's busiest threads). `--perf DIR` also records `perf` profiles of the app and
its WebKit web process. Not a test: it prints figures.
"""

import argparse
import json
import os
import shutil
import sqlite3
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


def timeline(driver, args, results, app_pid):
    """Steps 1-4: open, Home/End, drag, jump, regex filter on the million-frame session."""
    n = args.frames
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
    rss_app, rss_web = rss_kib(app_pid) if app_pid else (0, 0)
    results.append(("RSS after the 1M-frame session: app", rss_app / 1024, "MiB"))
    results.append(("RSS after the 1M-frame session: WebKit processes", rss_web / 1024, "MiB"))


# Installed in the page before the flood: animation frames, how late a 0 ms timer runs (the
# main thread busy with other work), IPC calls by command (the shell's `ipc:` protocol, counted
# by wrapping fetch) and Channel messages (by wrapping the registered IPC callbacks).
PROBE_JS = """
const P = window.__ingestProbe = { gaps: [], late: [], on: true, ipc: {}, kinds: {}, msgs: 0, rows: 0 };
let last = performance.now();
const loop = (t) => { P.gaps.push(t - last); last = t; if (P.on) requestAnimationFrame(loop); };
requestAnimationFrame(loop);
const probe = () => {
  const t = performance.now();
  setTimeout(() => { P.late.push(performance.now() - t); if (P.on) setTimeout(probe, 50); }, 0);
};
probe();
if (!window.__ingestFetch) {
  const orig = window.fetch;
  window.__ingestFetch = orig;
  window.fetch = function (input) {
    const Q = window.__ingestProbe;
    try {
      const url = typeof input === 'string' ? input : input.url;
      if (Q && Q.on && url.startsWith('ipc:')) {
        const cmd = decodeURIComponent(url.slice(url.lastIndexOf('/') + 1));
        Q.ipc[cmd] = (Q.ipc[cmd] || 0) + 1;
      }
    } catch (e) {}
    return orig.apply(this, arguments);
  };
}
const cbs = window.__TAURI_INTERNALS__ && window.__TAURI_INTERNALS__.callbacks;
if (cbs) for (const [id, f] of cbs) {
  if (f.__probed) continue;
  const g = (data) => {
    const Q = window.__ingestProbe;
    const m = data && data.message;
    if (Q && Q.on && m && typeof m.kind === 'string') {
      Q.msgs++;
      Q.kinds[m.kind] = (Q.kinds[m.kind] || 0) + 1;
      Q.rows += (m.frames || m.rows || []).length;
    }
    return f(data);
  };
  g.__probed = true;
  cbs.set(id, g);
}
return true;
"""

PROBE_STOP_JS = """
const P = window.__ingestProbe; P.on = false;
return { gaps: P.gaps, late: P.late, ipc: P.ipc, kinds: P.kinds, msgs: P.msgs, rows: P.rows };
"""

FRAMES_SHOWN_JS = ("const el = document.querySelector('[data-testid=\"frame-count\"]');"
                   " return el ? el.textContent : '';")


def shown_frames(driver):
    words = driver.execute_script(FRAMES_SHOWN_JS).split()
    text = words[0].replace(",", "") if words else ""
    return int(text) if text.isdigit() else -1


def recorded_frames(db, session):
    """Frames the app committed for `session` (read-only; the app keeps writing)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT frame_count FROM sessions WHERE id = ?", (session,)).fetchone()
        finally:
            con.close()
        return int(row[0]) if row else 0
    except sqlite3.Error:
        return -1


def newest_session(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute("SELECT MAX(id) FROM sessions").fetchone()
    finally:
        con.close()
    return int(row[0]) if row and row[0] is not None else None


def cpu_ticks(pid):
    """utime + stime of a process (clock ticks), and of each of its threads by name."""
    def ticks(stat):
        f = stat.rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    try:
        total = ticks(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return 0, {}
    threads = {}
    for t in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (t / "comm").read_text().strip()
            threads[f"{name}:{t.name}"] = ticks((t / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return total, threads


def children(pid):
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append((int(p.name), (p / "comm").read_text().strip()))
        except (OSError, ValueError, IndexError):
            continue
    return out


def input_latency(driver, kind):
    """A real input event through WebDriver until its effect is in the page (ms, wall clock)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    if kind == "key":
        # Ctrl+L focuses the URL box; the timeline gets the focus back afterwards.
        driver.execute_script(f"{TL}.focus();")
        t0 = time.monotonic()
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("l").key_up(Keys.CONTROL).perform()
        check = "return document.activeElement && document.activeElement.dataset.testid === 'url-input';"
    else:
        found = driver.find_elements("css selector", '[data-testid="follow-toggle"]')
        if not found:
            return -1
        btn = found[0]
        before = btn.get_attribute("aria-pressed")
        t0 = time.monotonic()
        btn.click()
        check = f"return document.querySelector('[data-testid=\"follow-toggle\"]').getAttribute('aria-pressed') !== '{before}';"
    while not driver.execute_script(check):
        if time.monotonic() - t0 > 30:
            return -1
        time.sleep(0.005)
    return (time.monotonic() - t0) * 1000


def ingest(driver, args, results, app_pid, procs):
    """5. Live ingest: a local server pushes frames to the app's own client connection."""
    push = subprocess.Popen([sys.executable, str(ROOT / "tests" / "gui" / "push_server.py"),
                             "--rate", str(args.rate), "--count", str(args.flood), "--size", "80",
                             "--delay", str(args.idle)],
                            stdout=subprocess.PIPE, text=True)
    procs.append(push)
    url = push.stdout.readline().split()[1]
    before = newest_session(args.db)
    box = driver.find_element("css selector", '[data-testid="url-input"]')
    box.clear()
    box.send_keys(url)
    driver.find_element("css selector", '[data-testid="connect-button"]').click()
    deadline = time.monotonic() + 30
    session = None
    while time.monotonic() < deadline:
        session = newest_session(args.db)
        if session is not None and session != before:
            break
        time.sleep(0.05)
    assert session is not None and session != before, "the connection made no session"
    # The new session is shown (its timeline is empty until the server starts pushing).
    measure(driver, "", "document.querySelector('[data-testid=\"frame-count\"]').textContent.trim().startsWith('0 ')", 30_000)
    if args.stats:
        driver.find_element("css selector", '[data-testid="stats-toggle"]').click()
    # Idle input latency (the server waits `--idle` seconds before pushing).
    kinds = ["key", "click"] if args.view == "follow" else ["key"]
    idle = {k: [] for k in kinds}
    t_idle = time.monotonic()
    web = [pid for pid, name in children(app_pid)] if app_pid else []
    idle_cpu0 = {pid: cpu_ticks(pid)[0] for pid in [app_pid] + web if pid}
    driver.execute_script(PROBE_JS)
    while time.monotonic() - t_idle < args.idle - 1.5 and len(idle["key"]) < 6:
        for k in idle:
            idle[k].append(input_latency(driver, k))
    idle_probe = driver.execute_script(PROBE_STOP_JS)
    idle_secs = time.monotonic() - t_idle
    idle_cpu = {pid: (cpu_ticks(pid)[0] - v) / os.sysconf("SC_CLK_TCK") / idle_secs * 100 for pid, v in idle_cpu0.items()}
    follow = driver.find_elements("css selector", '[data-testid="follow-toggle"]')
    if follow and follow[0].get_attribute("aria-pressed") != ("true" if args.view == "follow" else "false"):
        follow[0].click()
    if args.view == "paused":
        driver.find_element("css selector", '[data-testid="pause-toggle"]').click()
    driver.execute_script(f"{TL}.focus();")
    assert recorded_frames(args.db, session) == 0, "the server pushed before the idle figures were taken"
    driver.execute_script(PROBE_JS)

    perf = []
    while recorded_frames(args.db, session) <= 0 and time.monotonic() - t_idle < args.idle + 30:
        time.sleep(0.01)
    if args.perf and app_pid:
        Path(args.perf).mkdir(parents=True, exist_ok=True)
        for pid, name in [(app_pid, "app")] + [(p, n) for p, n in children(app_pid) if n.startswith("WebKitWebProces")]:
            perf.append(subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o",
                                          str(Path(args.perf) / f"{name}.data")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    cpu0 = {pid: cpu_ticks(pid) for pid in [app_pid] + web + [push.pid] if pid}
    t0 = time.monotonic()
    rec0, shown0 = recorded_frames(args.db, session), max(0, shown_frames(driver))
    lat = {k: [] for k in kinds}
    samples = []
    next_input = t0 + 0.5
    while time.monotonic() - t0 < args.seconds:
        samples.append((time.monotonic(), recorded_frames(args.db, session), shown_frames(driver)))
        if time.monotonic() >= next_input:
            for k in lat:
                lat[k].append(input_latency(driver, k))
            driver.execute_script(f"{TL}.focus();")
            next_input = time.monotonic() + 0.7
        if samples[-1][1] >= args.flood:
            break
        time.sleep(0.1)
    t1 = time.monotonic()
    rec1, shown1 = recorded_frames(args.db, session), max(0, shown_frames(driver))
    cpu1 = {pid: cpu_ticks(pid) for pid in cpu0}
    probe = driver.execute_script(PROBE_STOP_JS)
    for p in perf:
        p.send_signal(2)
    for p in perf:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    # Whatever was recorded is shown in the end (nothing is lost on the way to the page).
    final = measure(driver, "", "parseInt(document.querySelector('[data-testid=\"frame-count\"]').textContent.replace(/,/g, ''), 10) >= " + str(recorded_frames(args.db, session)), 60_000)

    secs = t1 - t0
    pace = f"server pushing {args.rate:,.0f}/s" if args.rate else "server flooding"
    stats = " (statistics open)" if args.stats else ""
    stats += "" if args.view == "follow" else f" (view {args.view})"
    results.append((f"live ingest ({pace}{stats}): frames/s recorded", (rec1 - rec0) / secs, "frames/s"))
    results.append(("  frames/s shown (status bar)", (shown1 - shown0) / secs, "frames/s"))
    results.append(("  shown lag behind recorded, median", statistics.median([r - s for _, r, s in samples if s >= 0]), "frames"))
    results.append(("  after the flood: every recorded frame shown", final, "ms"))
    gaps = probe["gaps"]
    if gaps:
        results.append(("  animation frames per second", len(gaps) / (sum(gaps) / 1000), "fps"))
        results.append(("  longest frame", max(gaps), "ms"))
        results.append(("  median frame", statistics.median(gaps), "ms"))
    late = probe["late"]
    if late:
        results.append(("  0 ms timer runs late by, median", statistics.median(late), "ms"))
        results.append(("  0 ms timer runs late by, max", max(late), "ms"))
    igaps, ilate = idle_probe["gaps"], idle_probe["late"]
    if igaps and ilate:
        results.append(("  idle before the flood: animation frames per second",
                        len(igaps) / (sum(igaps) / 1000), "fps"))
        results.append(("  idle before the flood: longest frame", max(igaps), "ms"))
        results.append(("  idle before the flood: 0 ms timer late by, max", max(ilate), "ms"))
    for k, label in (("key", "key press (Ctrl+L) to focus moved"), ("click", "click (Follow) to button toggled")):
        if k not in lat:
            continue
        ok = [x for x in lat[k] if x >= 0]
        base = [x for x in idle[k] if x >= 0]
        if ok:
            results.append((f"  {label}, median (idle {statistics.median(base) if base else 0:,.0f} ms)", statistics.median(ok), "ms"))
            results.append((f"  {label}, max of {len(ok)}", max(ok), "ms"))
    results.append(("  Channel messages per second", probe["msgs"] / secs, "msg/s"))
    if probe["msgs"]:
        results.append(("  frame rows per Channel message", probe["rows"] / probe["msgs"], "rows"))
    for cmd, k in sorted(probe["ipc"].items(), key=lambda kv: -kv[1]):
        results.append((f"  IPC calls/s: {cmd}", k / secs, "calls/s"))
    hz = os.sysconf("SC_CLK_TCK")
    names = {app_pid: "app"} | {p: n for p, n in children(app_pid)} | {push.pid: "push server"}
    for pid, (tot0, th0) in cpu0.items():
        tot1, th1 = cpu1.get(pid, (tot0, {}))
        if tot1 == tot0 and pid != app_pid:
            continue  # e.g. the WebKit network process: nothing to say
        idle_note = f" (idle {idle_cpu[pid]:.1f} %)" if pid in idle_cpu else ""
        results.append((f"  CPU: {names.get(pid, pid)}{idle_note}", (tot1 - tot0) / hz / secs * 100, "% core"))
        if rec1 > rec0 and pid != push.pid:
            results.append((f"  CPU per frame recorded: {names.get(pid, pid)}", (tot1 - tot0) / hz / (rec1 - rec0) * 1e6, "µs"))
        if pid == app_pid:
            busy = sorted(((th1.get(t, v) - v, t) for t, v in th0.items()), reverse=True)
            main_t = next((t for t in th0 if t.endswith(f":{pid}")), None)
            for d, t in busy[:4] + [(d, t) for d, t in busy[4:] if t == main_t]:
                if d > 0 or t == main_t:
                    what = "main (GTK, IPC, eval)" if t == main_t else t.split(':')[0]
                    results.append((f"    thread {what}", d / hz / secs * 100, "% core"))
    rss_app, rss_web = rss_kib(app_pid) if app_pid else (0, 0)
    results.append(("RSS after live ingest: app", rss_app / 1024, "MiB"))
    results.append(("RSS after live ingest: WebKit processes", rss_web / 1024, "MiB"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--session", type=int, default=0, help="the million-frame session (not with --ingest-only)")
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--ingest-only", action="store_true", help="skip steps 1-4 (any database, even empty)")
    ap.add_argument("--flood", type=int, default=0, help="frames pushed for the live ingest test (default: rate x seconds, or 200,000)")
    ap.add_argument("--rate", type=float, default=20_000, help="frames/s the server pushes (0: as fast as it can)")
    ap.add_argument("--seconds", type=float, default=10, help="how long the ingest figures are taken")
    ap.add_argument("--idle", type=float, default=5, help="seconds the server waits before pushing (idle input figures)")
    ap.add_argument("--stats", action="store_true", help="open the statistics panel before the flood")
    ap.add_argument("--view", choices=["follow", "still", "paused"], default="follow",
                    help="during the flood the timeline follows (default), stays still (Follow off) or is paused")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--perf", help="record perf profiles of the app and its web process into this folder")
    args = ap.parse_args()
    if not args.flood:
        args.flood = int(args.rate * args.seconds) if args.rate else 200_000
    if not args.ingest_only and not (args.session and args.frames):
        ap.error("--session and --frames are needed (or --ingest-only)")

    tauri_driver = shutil.which("tauri-driver") or str(Path.home() / ".cargo/bin/tauri-driver")
    port, native_port = free_port(), free_port()
    env = dict(os.environ, SOCKSCOPE_DB=args.db, SOCKSCOPE_CA_DIR=str(Path(args.db).parent / "ca"),
               SOCKSCOPE_TEMPLATES_DIR=str(Path(args.db).parent / "templates"))
    drv = subprocess.Popen([tauri_driver, "--port", str(port), "--native-port", str(native_port),
                            "--native-driver", WEBKIT_DRIVER], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = []

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
            app_pid = find_app_pid(drv.pid)
            if not args.ingest_only:
                timeline(driver, args, results, app_pid)
            else:
                measure(driver, "", "!!document.querySelector('[data-testid=\"url-input\"]')", 30_000)
            ingest(driver, args, results, app_pid, procs)
        except Exception:
            shots = ROOT / "target" / "gui"
            shots.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(shots / "bench-ui-failure.png"))
            print(f"bench-ui: failed; screenshot in {shots / 'bench-ui-failure.png'}", flush=True)
            raise
        finally:
            driver.quit()
    finally:
        for p in procs:
            stop(p)
        stop(drv)

    width = max(len(r[0]) for r in results)
    title = "live ingest" if args.ingest_only else "timeline, {:,} frames".format(args.frames)
    print()
    print(f"| {title.ljust(width)} | {'value':>10} | unit     |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|----------|")
    for name, value, unit in results:
        shown = "timeout" if value == -1 else (f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}")
        print(f"| {name.ljust(width)} | {shown:>10} | {unit:<8} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
