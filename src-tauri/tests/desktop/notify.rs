//! Desktop notifications end to end on a private D-Bus: a `dbus-daemon` of its own, a stand-in
//! for the desktop's notification service registered on it with GIO, and the shell's `Notify`
//! call received there with its title, body and application. Needs `dbus-daemon` (Debian's
//! `dbus`, which WebKitGTK already depends on).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use atb_desktop::notify;
use gio::glib::{self, ToVariant};

/// Stops the bus when the test ends, however it ends.
struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private session bus and its address.
fn private_bus() -> (Bus, String) {
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon is not installed: run scripts/setup.sh");
    let mut address = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut address)
        .expect("read the bus address");
    let address = address.trim().to_string();
    assert!(!address.is_empty(), "dbus-daemon printed no address");
    (Bus(child), address)
}

fn connect(address: &str) -> gio::DBusConnection {
    gio::DBusConnection::for_address_sync(
        address,
        gio::DBusConnectionFlags::AUTHENTICATION_CLIENT
            | gio::DBusConnectionFlags::MESSAGE_BUS_CONNECTION,
        None,
        None::<&gio::Cancellable>,
    )
    .expect("connect to the private bus")
}

const INTERFACE_XML: &str = r#"<node>
  <interface name="org.freedesktop.Notifications">
    <method name="Notify">
      <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
      <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
      <arg type="a{sv}" direction="in"/><arg type="i" direction="in"/>
      <arg type="u" direction="out"/>
    </method>
  </interface>
</node>"#;

/// What the stand-in service received: application, summary, body, desktop-entry hint.
type Received = Arc<Mutex<Vec<(String, String, String, Option<String>)>>>;

/// Runs a notification service on `address` on its own thread until `stop` is set.
fn serve_notifications(address: String, stop: Arc<AtomicBool>) -> Received {
    let received: Received = Arc::default();
    let into = Arc::clone(&received);
    let (ready, wait_ready) = mpsc::channel();
    std::thread::spawn(move || {
        let context = glib::MainContext::new();
        context
            .with_thread_default(|| {
                let bus = connect(&address);
                let node = gio::DBusNodeInfo::for_xml(INTERFACE_XML).expect("introspection XML");
                let interface = node.lookup_interface(notify::SERVICE).expect("interface");
                let _registration = bus
                    .register_object(
                        notify::OBJECT,
                        &interface,
                        move |_, _, _, _, method, parameters, invocation| {
                            assert_eq!(method, "Notify");
                            let app: String = parameters.child_value(0).get().unwrap();
                            let summary: String = parameters.child_value(3).get().unwrap();
                            let body: String = parameters.child_value(4).get().unwrap();
                            let hints = parameters.child_value(6);
                            let entry = hints
                                .get::<std::collections::HashMap<String, glib::Variant>>()
                                .and_then(|h| {
                                    h.get("desktop-entry").and_then(|v| v.get::<String>())
                                });
                            into.lock().unwrap().push((app, summary, body, entry));
                            invocation.return_value(Some(&(42u32,).to_variant()));
                        },
                        |_, _, _, _, _| unreachable!("no properties"),
                        |_, _, _, _, _, _| unreachable!("no properties"),
                    )
                    .expect("register the service object");
                bus.call_sync(
                    Some("org.freedesktop.DBus"),
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "RequestName",
                    Some(&(notify::SERVICE, 0u32).to_variant()),
                    None,
                    gio::DBusCallFlags::NONE,
                    5_000,
                    None::<&gio::Cancellable>,
                )
                .expect("own the service name");
                ready.send(()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    while context.iteration(false) {}
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .expect("a thread-default main context");
    });
    wait_ready
        .recv_timeout(Duration::from_secs(10))
        .expect("the stand-in service started");
    received
}

#[test]
fn a_notice_reaches_the_notification_service_and_its_absence_is_named() {
    let (_bus, address) = private_bus();
    let client = connect(&address);

    // Nobody serves notifications yet: the error says what provides them.
    let err = notify::send_on(&client, "Training finished", "x").unwrap_err();
    assert!(
        err.0
            .contains("notification service did not take the notification")
            && err.0.contains("notification daemon"),
        "{err}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let received = serve_notifications(address, Arc::clone(&stop));
    let id = notify::send_on(
        &client,
        "Training finished",
        "gbdt default on BTCUSDT 1h: registered as v1.",
    )
    .expect("the notification is taken");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(id, 42);
    assert_eq!(
        *received.lock().unwrap(),
        [(
            "atb".to_string(),
            "Training finished".to_string(),
            "gbdt default on BTCUSDT 1h: registered as v1.".to_string(),
            Some("atb".to_string())
        )]
    );
}
