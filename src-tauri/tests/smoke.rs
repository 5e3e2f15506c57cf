//! End-to-end smoke test of the real app under Xvfb: start `atb-desktop` on a temporary
//! `ATB_HOME`, wait until the wasm UI has loaded and called the shell, take a screenshot and check
//! that the egui canvas drew something (not a blank window). Needs Xvfb and ImageMagick, which
//! `scripts/setup.sh` installs.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is not installed: run scripts/setup.sh");
}

/// Starts Xvfb on a free display and returns it with the display number.
fn xvfb() -> (Killed, String) {
    need("Xvfb");
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x860x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("Xvfb stdout"))
        .read_line(&mut line)
        .expect("read the display number");
    let display = format!(":{}", line.trim());
    assert!(display.len() > 1, "Xvfb did not report a display");
    (Killed(child), display)
}

/// Unique colours in a PNG, counted by ImageMagick.
fn colours(png: &Path) -> u64 {
    let out = Command::new("identify")
        .args(["-format", "%k"])
        .arg(png)
        .output()
        .expect("run identify");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("identify said {:?}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_app_loads_its_ui_and_reaches_the_engine() {
    need("import");
    let (_xvfb, display) = xvfb();
    let home = tempfile::tempdir().expect("temp ATB_HOME");
    let runtime = tempfile::tempdir().expect("temp runtime dir");
    let mut app = Command::new(env!("CARGO_BIN_EXE_atb-desktop"))
        .env("DISPLAY", &display)
        .env("ATB_HOME", home.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env_remove("WAYLAND_DISPLAY")
        // No GPU in CI: WebKit composites in software.
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start atb-desktop");
    let stderr = app.stderr.take().expect("stderr");
    let app = Killed(app);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send(line.clone());
            line.clear();
        }
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    let started = Instant::now();
    let mut log = String::new();
    let answered = loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                log.push_str(&line);
                if line.contains("the UI called app_info") {
                    break true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
        }
        if started.elapsed() > Duration::from_secs(120) {
            break false;
        }
    };
    assert!(
        answered,
        "the UI never called the shell within {:?}; the app said:\n{log}",
        started.elapsed()
    );
    // Let egui lay out and paint its first frames.
    std::thread::sleep(Duration::from_secs(3));
    let shot_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let shot = shot_dir.join("atb-desktop-smoke.png");
    let status = Command::new("import")
        .args(["-display", &display, "-window", "root"])
        .arg(&shot)
        .status()
        .expect("run import");
    assert!(status.success(), "the screenshot failed");
    let n = colours(&shot);
    // A blank or failed page is one or two flat colours; egui's text, widgets and plots give
    // hundreds (anti-aliased glyphs alone do).
    assert!(
        n > 50,
        "the window looks blank ({n} colours in {}); the app said:\n{log}",
        shot.display()
    );
    drop(app);
}
