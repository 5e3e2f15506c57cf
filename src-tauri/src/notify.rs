//! Desktop notifications on Linux: one `Notify` call to the freedesktop notification service on
//! the session D-Bus (what libnotify and every desktop's notification centre speak), made with
//! the GIO that GTK already links, so no new library comes with it.

use std::collections::HashMap;

use gio::glib::{self, ToVariant};

/// The notification service's well-known name, object and interface.
pub const SERVICE: &str = "org.freedesktop.Notifications";
pub const OBJECT: &str = "/org/freedesktop/Notifications";
/// Sent as the application name, and the desktop entry the notification belongs to.
pub const APP_NAME: &str = "atb";
/// How long a call may wait for the notification service.
const CALL_TIMEOUT_MS: i32 = 5_000;

/// Why a notification could not be shown, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyError(pub String);

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shows `title` / `body` through the session bus's notification service; its notification id.
pub fn send(title: &str, body: &str) -> Result<u32, NotifyError> {
    let bus = gio::bus_get_sync(gio::BusType::Session, None::<&gio::Cancellable>).map_err(|e| {
        NotifyError(format!(
            "no session D-Bus to send desktop notifications on ({e}); they need a desktop session"
        ))
    })?;
    send_on(&bus, title, body)
}

/// Shows `title` / `body` through the notification service on `bus`.
pub fn send_on(bus: &gio::DBusConnection, title: &str, body: &str) -> Result<u32, NotifyError> {
    // Notify(app_name s, replaces_id u, app_icon s, summary s, body s, actions as,
    //        hints a{sv}, expire_timeout i) -> (id u)
    let mut hints: HashMap<String, glib::Variant> = HashMap::new();
    hints.insert("desktop-entry".into(), APP_NAME.to_variant());
    let parameters = (
        APP_NAME,
        0u32,
        "",
        title,
        body,
        Vec::<String>::new(),
        hints,
        -1i32,
    )
        .to_variant();
    let reply = bus
        .call_sync(
            Some(SERVICE),
            OBJECT,
            SERVICE,
            "Notify",
            Some(&parameters),
            Some(glib::VariantTy::new("(u)").expect("a valid type string")),
            gio::DBusCallFlags::NONE,
            CALL_TIMEOUT_MS,
            None::<&gio::Cancellable>,
        )
        .map_err(|e| {
            NotifyError(format!(
                "the desktop's notification service did not take the notification ({e}); \
                 a desktop environment or a notification daemon (for example dunst) provides it"
            ))
        })?;
    let (id,) = reply
        .get::<(u32,)>()
        .ok_or_else(|| NotifyError("the notification service replied without an id".into()))?;
    Ok(id)
}
