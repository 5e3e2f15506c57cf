//! What the desktop's integration tests share: the real UI over the real shell in an
//! egui_kittest harness, and the Xvfb display, tools and screenshots of the real app's tests.
//! Each test binary uses part of it, hence the allowance below.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atb_desktop::shell::{self, FileDialogs, Notice, Notifier, Shell, Stream};
use atb_engine::Settings;
use atb_protocol::rpc::{ErrorReply, Reply};
use atb_ui::AtbApp;
use atb_ui::backend::{Backend, Failure, Received, Request};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

pub type Inbox = Arc<Mutex<Vec<Received>>>;

/// The UI's backend over the shell: each request runs on its own thread, as the Tauri command
/// runs on the blocking pool; answers and streamed replies land in the inbox.
pub struct ShellBackend {
    pub shell: Shell,
    pub inbox: Inbox,
}

pub struct InboxStream(Inbox, egui::Context);

impl Stream for InboxStream {
    fn send(&self, reply: Reply) -> bool {
        self.0.lock().unwrap().push(Ok(reply));
        self.1.request_repaint();
        true
    }
}

impl Backend for ShellBackend {
    fn send(&mut self, request: Request, ctx: &egui::Context) {
        let (shell, inbox, ctx) = (self.shell.clone(), Arc::clone(&self.inbox), ctx.clone());
        std::thread::spawn(move || {
            let kind = request.kind();
            let stream = Arc::new(InboxStream(Arc::clone(&inbox), ctx.clone()));
            let answer = shell::handle(&shell, request, stream).map_err(|error| Failure {
                request: kind,
                error,
            });
            inbox.lock().unwrap().push(answer);
            ctx.request_repaint();
        });
    }

    fn poll(&mut self) -> Vec<Received> {
        std::mem::take(&mut *self.inbox.lock().unwrap())
    }
}

/// Dialogs answered by the test: saves go to `.0`, the file to import is `.0` with `.csv`, the
/// results folder `.0` with `.results`.
pub struct SaveTo(pub PathBuf);

impl FileDialogs for SaveTo {
    fn save_path(&self, _: &str, _: &str) -> Result<Option<PathBuf>, ErrorReply> {
        Ok(Some(self.0.clone()))
    }

    fn open_csv(&self, _: &str) -> Result<Option<PathBuf>, ErrorReply> {
        Ok(Some(self.0.with_extension("csv")))
    }

    fn open_folder(&self, _: &str) -> Result<Option<PathBuf>, ErrorReply> {
        Ok(Some(self.0.with_extension("results")))
    }
}

/// The window under test is always "focused": the shell's notices are checked in `rpc.rs`.
pub struct Focused;

impl Notifier for Focused {
    fn notify(&self, _: Notice) {}
}

pub fn set_text(h: &mut Harness<'static, AtbApp>, label: &str, text: &str) {
    h.get_by_role_and_label(Role::TextInput, label).focus();
    settle(h);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    settle(h);
}

/// Runs frames until the UI settles. Replies from the shell's threads request repaints of their
/// own, so a frame budget can run out while one arrives: then a few more steps, never a failure
/// (the test's own assertions decide).
pub fn settle(h: &mut Harness<'static, AtbApp>) {
    if h.try_run().is_err() {
        h.run_steps(8);
    }
}

/// The real UI over a shell on `settings`, its save dialog answering `save_to`, in a window
/// 1400 wide and `height` tall, once the shell has answered the first request.
pub fn open_app(settings: Settings, save_to: PathBuf, height: f32) -> Harness<'static, AtbApp> {
    open_app_sized(settings, save_to, egui::vec2(1400.0, height))
}

/// [`open_app`] in a window of `size`.
pub fn open_app_sized(
    settings: Settings,
    save_to: PathBuf,
    size: egui::Vec2,
) -> Harness<'static, AtbApp> {
    let shell = Shell::new(settings, Arc::new(SaveTo(save_to)), Arc::new(Focused));
    let app = AtbApp::new(Box::new(ShellBackend {
        shell,
        inbox: Inbox::default(),
    }));
    let mut h = Harness::builder()
        .with_size(size)
        .build_ui_state(|ui, app: &mut AtbApp| app.ui(ui), app);
    wait_until(&mut h, "the app info", |a| a.state.info.is_some());
    h
}

/// Steps frames until `done` holds (the shell works on other threads meanwhile).
pub fn wait_until(h: &mut Harness<'static, AtbApp>, what: &str, done: impl Fn(&AtbApp) -> bool) {
    let started = Instant::now();
    while !done(h.state()) {
        let errors = &h.state().state.errors;
        assert!(errors.is_empty(), "while waiting for {what}: {errors:?}");
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "timed out waiting for {what}; errors shown: {:?}",
            h.state().state.errors
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.step();
}

/// Kills the child when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is not installed: run scripts/setup.sh");
}

/// Starts Xvfb on a free display and returns it with the display number.
pub fn xvfb() -> (Killed, String) {
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
pub fn colours(png: &Path) -> u64 {
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
