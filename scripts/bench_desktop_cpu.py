#!/usr/bin/env python3
"""CPU cost of the desktop app under Xvfb (software rendering, as on a VM or in CI).

Starts `atb-desktop` on a private Xvfb display and a temporary ATB_HOME, measures idle CPU, then
starts a training run on the bundled sample (through ATB_DESKTOP_START_RUN, which the UI attaches
to as a reloaded page would) and measures while its charts stream. Prints, as % of one core:

  ui     the webview's processes (WebKit) plus the app's main (GTK/IPC) thread: the cost of showing
         the app, which the budget covers (under 25% while training streams, about 0% idle);
  total  every thread of every process of the app, training included.

With --queue it also measures while two such runs go through the run queue (through
ATB_DESKTOP_START_QUEUE): the page polls the queue once a second and follows the queued run.

With --bench it also measures while the Benchmark screen runs a benchmark: the app opens on that
screen with its form saved in ATB_HOME/desktop.json (as a previous launch leaves it), and the
script presses Ctrl+Enter in the window with xdotool (Debian: xdotool), as a user would.

Usage: scripts/bench_desktop_cpu.py [--binary PATH] [--seconds N] [--epochs N] [--queue] [--bench]
The binary defaults to $CARGO_TARGET_DIR (or target)/debug/atb-desktop.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


def descendants(pid):
    """pid and every process below it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def ticks(path):
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return 0


def sample(app_pid):
    """(ui ticks, total ticks) so far."""
    procs = descendants(app_pid)
    total = sum(ticks(f"/proc/{p}/stat") for p in procs)
    webviews = sum(ticks(f"/proc/{p}/stat") for p in procs if p != app_pid)
    main_thread = ticks(f"/proc/{app_pid}/task/{app_pid}/stat")
    return webviews + main_thread, total


def measure(app_pid, seconds):
    ui0, total0 = sample(app_pid)
    t0 = time.monotonic()
    time.sleep(seconds)
    ui1, total1 = sample(app_pid)
    dt = time.monotonic() - t0
    return 100.0 * (ui1 - ui0) / TICK / dt, 100.0 * (total1 - total0) / TICK / dt


def start_xvfb():
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    display = ":" + xvfb.stdout.readline().strip()
    return xvfb, display


def start_app(binary, display, home, run_request=None, queue=None):
    env = dict(os.environ)
    env.update(
        DISPLAY=display,
        ATB_HOME=home,
        XDG_RUNTIME_DIR=tempfile.mkdtemp(),
        WEBKIT_DISABLE_DMABUF_RENDERER="1",
        LIBGL_ALWAYS_SOFTWARE="1",
    )
    env.pop("WAYLAND_DISPLAY", None)
    if run_request is not None:
        env["ATB_DESKTOP_START_RUN"] = json.dumps(run_request)
    if queue is not None:
        env["ATB_DESKTOP_START_QUEUE"] = json.dumps(queue)
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    app = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        with open(log.name) as f:
            text = f.read()
        if "the UI called app_info" in text:
            return app, log.name
        if app.poll() is not None:
            break
    app.kill()
    sys.exit(f"atb-desktop did not load its UI; it said:\n{open(log.name).read()}")


def measure_started(args, display, home, started_line, **start):
    """Starts the app with work to do (`start_app`'s run_request or queue), measures it, and
    says whether its log shows `started_line` (the work really began)."""
    app, log = start_app(args.binary, display, home, **start)
    time.sleep(3)
    ui, total = measure(app.pid, args.seconds)
    with open(log) as f:
        started = started_line in f.read()
    app.kill()
    app.wait()
    return ui, total, started


def measure_bench(args, display, home, request):
    """Opens the app on the Benchmark screen (one long tcn run) and presses Ctrl+Enter there."""
    spec = {"architectures": ["tcn"], "variants": ["lightweight"], "seeds": 1,
            "epochs": args.epochs, "series": request["series"], "sequence_length": 60}
    with open(os.path.join(home, "desktop.json"), "w") as f:
        json.dump({"ui": {"screen": "bench", "bench": spec}}, f)
    app, log = start_app(args.binary, display, home)
    time.sleep(5)  # the saved screen and form are restored
    env = dict(os.environ, DISPLAY=display)
    window = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "atb"],
                            env=env, capture_output=True, text=True, timeout=30).stdout.split()
    if not window:
        app.kill()
        sys.exit("xdotool found no atb window")
    # No window manager under Xvfb: give the window the keyboard, click into the page so the
    # canvas has focus (the empty bottom-right corner), then press the shortcut.
    subprocess.run(["xdotool", "windowfocus", "--sync", window[0]], env=env, check=True)
    subprocess.run(["xdotool", "mousemove", "--window", window[0], "1270", "790", "click", "1"],
                   env=env, check=True)
    subprocess.run(["xdotool", "key", "--clearmodifiers", "ctrl+Return"], env=env, check=True)
    time.sleep(3)
    ui, total = measure(app.pid, args.seconds)
    with open(log) as f:
        started = "benchmark started" in f.read()
    app.kill()
    app.wait()
    return ui, total, started


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(target, "debug", "atb-desktop"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--queue", action="store_true", help="also measure a queued run streaming")
    parser.add_argument("--bench", action="store_true", help="also measure the Benchmark screen running")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} does not exist: build it with `cargo build --bin atb-desktop`")
    if args.bench and subprocess.run(["sh", "-c", "command -v xdotool"], capture_output=True).returncode:
        sys.exit("--bench presses Ctrl+Enter with xdotool, which is not installed: apt-get install xdotool")

    xvfb, display = start_xvfb()
    try:
        with tempfile.TemporaryDirectory() as home:
            app, _ = start_app(args.binary, display, home)
            time.sleep(10)  # first frames and start-up requests settle
            idle_ui, idle_total = measure(app.pid, args.seconds)
            app.kill()
            app.wait()

            request = {
                "series": {"source": "sample", "symbol": "BTCUSDT", "timeframe": "1h",
                           "days": None, "start_date": None, "end_date": None},
                # A `TrainSpec`: unnamed fields take the shared defaults.
                "spec": {"architecture": "tcn", "architecture_variant": "lightweight",
                         "epochs": args.epochs, "sequence_length": 60, "patience": args.epochs,
                         "device_choice": "cpu"},
            }
            train_ui, train_total, streamed = measure_started(
                args, display, home, "started run", run_request=request)
            queue_ui = queue_total = None
            if args.queue:
                queue_ui, queue_total, queued = measure_started(
                    args, display, home, "queued 2 run(s)", queue=[request, request])
            bench_ui = bench_total = None
            if args.bench:
                bench_ui, bench_total, benched = measure_bench(args, display, home, request)
    finally:
        xvfb.kill()

    print(f"atb-desktop CPU under Xvfb over {args.seconds:.0f} s windows (% of one core):")
    print(f"  idle:               ui {idle_ui:5.1f}%   total {idle_total:5.1f}%")
    print(f"  training streaming: ui {train_ui:5.1f}%   total {train_total:5.1f}%   (run started: {streamed})")
    if queue_ui is not None:
        print(f"  queued run streaming: ui {queue_ui:5.1f}%   total {queue_total:5.1f}%   (queued: {queued})")
    if bench_ui is not None:
        print(f"  benchmark running:  ui {bench_ui:5.1f}%   total {bench_total:5.1f}%   (benchmark started: {benched})")
    print("budget: ui under 25% while training streams, about 0% idle")
    ok = (train_ui < 25.0 and idle_ui < 2.0 and (queue_ui is None or queue_ui < 25.0)
          and (bench_ui is None or bench_ui < 25.0))
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
