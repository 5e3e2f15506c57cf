//! The real app under Xvfb. First a smoke test: start `atb-desktop` on a temporary `ATB_HOME`,
//! wait until the wasm UI has loaded and called the shell, take a screenshot and check that the
//! egui canvas drew something (not a blank window). Then one click-through with the real mouse:
//! train a small model, find it on Models, open it and export it, answering GTK's save dialog by
//! keyboard. egui draws on a canvas with no DOM to query, so where to click comes from a twin: the
//! same UI over the same shell code in an egui_kittest harness of the window's size, which lays
//! out identically (egui's own fonts, one pixel per point under Xvfb) and goes through the same
//! steps. Needs Xvfb, ImageMagick and xdotool, which `scripts/setup.sh` installs.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use atb_desktop::prefs::DesktopPrefs;
use atb_engine::Settings;
use atb_protocol::desktop::{SeriesRequest, TrainRequest, UiPrefs};
use atb_protocol::spec::TrainSpec;
use atb_protocol::vocab::{Architecture, Variant};
use atb_ui::{AtbApp, Screen};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use common::{Killed, colours, need, open_app_sized, wait_until, xvfb};

/// The app started on `display` with `home`, and the lines of its stderr as they come.
struct RealApp {
    _process: Killed,
    lines: mpsc::Receiver<String>,
    log: String,
    display: String,
}

impl RealApp {
    fn start(display: &str, home: &Path, runtime: &Path) -> Self {
        let mut process = Command::new(env!("CARGO_BIN_EXE_atb-desktop"))
            .env("DISPLAY", display)
            .env("ATB_HOME", home)
            .env("XDG_RUNTIME_DIR", runtime)
            .env_remove("WAYLAND_DISPLAY")
            // No session bus: notifications are said on stderr, never block.
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            // No GPU in CI: WebKit composites in software.
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start atb-desktop");
        let stderr = process.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
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
        Self {
            _process: Killed(process),
            lines,
            log: String::new(),
            display: display.into(),
        }
    }

    /// Waits until a line of stderr contains `needle`; false after `timeout`.
    fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> bool {
        let started = Instant::now();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => {
                    self.log.push_str(&line);
                    if line.contains(needle) {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
            if started.elapsed() > timeout {
                return false;
            }
        }
    }

    /// Everything it said so far.
    fn said(&mut self) -> &str {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push_str(&line);
        }
        &self.log
    }

    fn screenshot(&self, path: &Path) {
        let status = Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(path)
            .status()
            .expect("run import");
        assert!(status.success(), "the screenshot failed");
    }

    /// Runs xdotool on the app's display; its stdout.
    fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .expect("run xdotool");
        assert!(
            out.status.success(),
            "xdotool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn the_app_loads_its_ui_and_reaches_the_engine() {
    need("import");
    let (_xvfb, display) = xvfb();
    let home = tempfile::tempdir().expect("temp ATB_HOME");
    let runtime = tempfile::tempdir().expect("temp runtime dir");
    let mut app = RealApp::start(&display, home.path(), runtime.path());
    let started = Instant::now();
    let answered = app.wait_for_line("the UI called app_info", Duration::from_secs(120));
    assert!(
        answered,
        "the UI never called the shell within {:?}; the app said:\n{}",
        started.elapsed(),
        app.said()
    );
    // Let egui lay out and paint its first frames.
    std::thread::sleep(Duration::from_secs(3));
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("atb-desktop-smoke.png");
    app.screenshot(&shot);
    let n = colours(&shot);
    // A blank or failed page is one or two flat colours; egui's text, widgets and plots give
    // hundreds (anti-aliased glyphs alone do).
    assert!(
        n > 50,
        "the window looks blank ({n} colours in {}); the app said:\n{}",
        shot.display(),
        app.said()
    );
}

/// Where the window's top-left corner is on the screen, and its size.
fn window_geometry(app: &RealApp, window: &str) -> (i32, i32, f32, f32) {
    let text = app.xdotool(&["getwindowgeometry", "--shell", window]);
    let value = |key: &str| -> i32 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text:?}"))
    };
    (
        value("X"),
        value("Y"),
        value("WIDTH") as f32,
        value("HEIGHT") as f32,
    )
}

/// Which widget of the twin to click.
enum Widget<'a> {
    Button(&'a str),
    /// A label, link or tab with exactly this text.
    Label(&'a str),
    /// The one whose text starts with this (a version's link may carry its aliases).
    Starting(&'a str),
}

/// Clicks, in the real window, where the twin shows `widget`, then clicks it in the twin too, so
/// both go on to the same state.
fn click_both(
    app: &RealApp,
    origin: (i32, i32),
    twin: &mut Harness<'static, AtbApp>,
    widget: Widget<'_>,
) {
    let node = match widget {
        Widget::Button(label) => twin.get_by_role_and_label(Role::Button, label),
        Widget::Label(label) => twin.get_by_label(label),
        Widget::Starting(start) => {
            let start = start.to_string();
            twin.get_by(move |n| n.label().is_some_and(|l| l.starts_with(&start)))
        }
    };
    let at = node.rect().center();
    node.click();
    click_at(app, origin, at);
}

/// A real click at `at` (egui points, one per pixel) in the window whose corner is `origin`.
fn click_at(app: &RealApp, origin: (i32, i32), at: egui::Pos2) {
    let (x, y) = (
        origin.0 + at.x.round() as i32,
        origin.1 + at.y.round() as i32,
    );
    app.xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
    // A frame with the pointer over the widget before the press, as a hand would give it.
    std::thread::sleep(Duration::from_millis(300));
    app.xdotool(&["click", "1"]);
}

/// Fails the click-through with `why`, a screenshot of the display and what the app said.
fn give_up(app: &mut RealApp, why: &str) -> ! {
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("atb-desktop-clicks.png");
    app.screenshot(&shot);
    panic!(
        "{why} (screen: {}); the app said:\n{}",
        shot.display(),
        app.said()
    );
}

/// Waits until `path` exists (and `ok` holds for it); the screenshot and log on failure.
fn wait_for_file(
    app: &mut RealApp,
    what: &str,
    timeout: Duration,
    find: impl Fn() -> Option<PathBuf>,
) -> PathBuf {
    let started = Instant::now();
    loop {
        if let Some(found) = find() {
            return found;
        }
        if started.elapsed() > timeout {
            give_up(app, &format!("{what} did not happen within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The version folders under `home`'s registry (`models/SYMBOL/TIMEFRAME/ARCH/VERSION`).
fn version_folders(home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut level = vec![home.join("models")];
    for _ in 0..4 {
        level = level
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|entries| entries.flatten().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
    }
    out.extend(
        level
            .into_iter()
            .filter(|p| p.join("metadata.json").is_file()),
    );
    out
}

#[test]
fn a_model_is_trained_listed_and_exported_by_clicks_in_the_real_app() {
    need("import");
    need("xdotool");
    let (_xvfb, display) = xvfb();
    let dir = tempfile::tempdir().expect("temp dir");
    let (real_home, twin_home) = (dir.path().join("real"), dir.path().join("twin"));
    // The Training form as a previous launch left it: a small tree model on the sample.
    let prefs = DesktopPrefs {
        window: None,
        ui: Some(UiPrefs {
            screen: "train".into(),
            train: Some(TrainRequest {
                series: SeriesRequest {
                    days: Some(60),
                    ..SeriesRequest::default()
                },
                spec: TrainSpec {
                    architecture: Architecture::Gbdt,
                    variant: Variant::Lightweight,
                    sequence_length: 24,
                    ..TrainSpec::default()
                },
            }),
            ..UiPrefs::default()
        }),
    };
    for home in [&real_home, &twin_home] {
        std::fs::create_dir_all(home).unwrap();
        std::fs::write(
            home.join("desktop.json"),
            serde_json::to_string(&prefs).unwrap(),
        )
        .unwrap();
    }
    let runtime = tempfile::tempdir().expect("temp runtime dir");
    let mut app = RealApp::start(&display, &real_home, runtime.path());
    assert!(
        app.wait_for_line("the UI called app_info", Duration::from_secs(120)),
        "the UI never called the shell; the app said:\n{}",
        app.said()
    );
    let window = app.xdotool(&["search", "--sync", "--onlyvisible", "--name", "atb"]);
    let window = window.lines().next().expect("the app's window").to_string();
    let (x, y, width, height) = window_geometry(&app, &window);

    let twin_saved = dir.path().join("twin.onnx");
    let mut twin = open_app_sized(
        Settings::resolve(twin_home, None).unwrap(),
        twin_saved,
        egui::vec2(width, height),
    );
    wait_until(&mut twin, "the saved form", |a| {
        a.state.train.form.architecture == Architecture::Gbdt
    });
    // The real page restores the same form; give it its first frames.
    std::thread::sleep(Duration::from_secs(3));

    // Train, and wait for the version to be registered.
    click_both(&app, (x, y), &mut twin, Widget::Button("Train"));
    wait_until(&mut twin, "the twin's run", |a| {
        a.state.train.run.as_ref().is_some_and(|r| !r.active)
    });
    let twin_version = twin
        .state()
        .state
        .train
        .run
        .clone()
        .unwrap()
        .registered
        .expect("twin registered")
        .version_id;
    let folder = wait_for_file(
        &mut app,
        "the run's registration",
        Duration::from_secs(300),
        || version_folders(&real_home).pop(),
    );
    let version = folder.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        version.len(),
        twin_version.len(),
        "{version} / {twin_version}"
    );
    // The page hears the end and refreshes the model list.
    std::thread::sleep(Duration::from_secs(3));

    // Models: the new version is listed; open it from there.
    click_both(&app, (x, y), &mut twin, Widget::Label("Models"));
    wait_until(&mut twin, "the twin's model list", |a| {
        a.state.screen == Screen::Models && !a.state.store.rows.is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    click_both(&app, (x, y), &mut twin, Widget::Starting(&twin_version));
    wait_until(&mut twin, "the twin's model detail", |a| {
        a.state.shown_detail().is_some()
    });
    std::thread::sleep(Duration::from_secs(3));

    // Export ONNX: GTK's save dialog opens in the real app; type where to save and press Enter.
    let saved = dir.path().join("exported.onnx");
    // (Only in the real app: the twin has nothing more to show.)
    let export = twin
        .get_by_role_and_label(Role::Button, "Export ONNX")
        .rect()
        .center();
    click_at(&app, (x, y), export);
    let dialog = Command::new("timeout")
        .args([
            "60",
            "xdotool",
            "search",
            "--sync",
            "--name",
            "Save the exported ONNX model",
        ])
        .env("DISPLAY", &app.display)
        .output()
        .expect("run xdotool");
    let dialog = String::from_utf8_lossy(&dialog.stdout)
        .lines()
        .next()
        .map(str::to_string);
    let Some(dialog) = dialog else {
        give_up(&mut app, "no save dialog opened after Export ONNX");
    };
    std::thread::sleep(Duration::from_secs(1));
    app.xdotool(&["windowfocus", "--sync", &dialog]);
    app.xdotool(&["key", "--clearmodifiers", "ctrl+a"]);
    app.xdotool(&["type", "--delay", "20", &saved.display().to_string()]);
    app.xdotool(&["key", "Return"]);
    let copy = wait_for_file(
        &mut app,
        "the export's copy",
        Duration::from_secs(180),
        || saved.is_file().then(|| saved.clone()),
    );
    // The copy is whole once the registry's own file is there too (written first).
    wait_for_file(
        &mut app,
        "the registered model.onnx",
        Duration::from_secs(30),
        || {
            folder
                .join("model.onnx")
                .is_file()
                .then(|| folder.join("model.onnx"))
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let (copied, registered) = (
        std::fs::read(&copy).unwrap(),
        std::fs::read(folder.join("model.onnx")).unwrap(),
    );
    assert!(
        copied.len() > 1000 && copied == registered,
        "the copy differs from the registered file"
    );
}
