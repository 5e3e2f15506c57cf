//! What the desktop remembers between launches, in `ATB_HOME/desktop.json`: the window's size,
//! and the page's last screen and form values. A file that cannot be read back is reported on
//! stderr and treated as empty (it is replaced at the next save): a preference is never a reason
//! not to start.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use atb_engine::{Error, write_atomic};
use atb_protocol::desktop::UiPrefs;
use serde::{Deserialize, Serialize};

/// The file's name inside `ATB_HOME`.
pub const PREFS_FILE: &str = "desktop.json";

/// The window's size, in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowSize {
    pub width: f64,
    pub height: f64,
}

impl WindowSize {
    /// Whether the size is one a window can be given (a damaged or hand-edited file must not
    /// open a window of 0 or 10^9 pixels).
    pub fn is_usable(&self) -> bool {
        (400.0..=16_384.0).contains(&self.width) && (300.0..=16_384.0).contains(&self.height)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DesktopPrefs {
    #[serde(default)]
    pub window: Option<WindowSize>,
    #[serde(default)]
    pub ui: Option<UiPrefs>,
}

fn path(home: &Path) -> PathBuf {
    home.join(PREFS_FILE)
}

/// Both writers (the page's saves and the window's resize) read-modify-write the one file.
static WRITING: Mutex<()> = Mutex::new(());

/// The saved preferences; empty when there are none or the file is damaged (said on stderr).
pub fn read(home: &Path) -> DesktopPrefs {
    let p = path(home);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            eprintln!(
                "atb-desktop: {} is not readable preferences ({e}); starting from defaults",
                p.display()
            );
            DesktopPrefs::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DesktopPrefs::default(),
        Err(e) => {
            eprintln!(
                "atb-desktop: cannot read {}: {e}; starting from defaults",
                p.display()
            );
            DesktopPrefs::default()
        }
    }
}

fn update(home: &Path, change: impl FnOnce(&mut DesktopPrefs)) -> Result<(), Error> {
    let _guard = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::create_dir_all(home).map_err(|source| Error::Io {
        path: home.to_path_buf(),
        source,
    })?;
    let mut prefs = read(home);
    change(&mut prefs);
    let json = serde_json::to_vec_pretty(&prefs)
        .map_err(|e| Error::InvalidData(format!("preferences are not serialisable: {e}")))?;
    write_atomic(&path(home), &json)
}

/// Saves the page's screen and forms, keeping the window size.
pub fn save_ui(home: &Path, ui: UiPrefs) -> Result<(), Error> {
    update(home, |p| p.ui = Some(ui))
}

/// Saves the window size, keeping the page's preferences.
pub fn save_window(home: &Path, size: WindowSize) -> Result<(), Error> {
    update(home, |p| p.window = Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_halves_are_saved_apart_and_a_damaged_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        // An ATB_HOME not created yet is created by the first save.
        let home = dir.path().join("atb");
        let home = &home;
        assert_eq!(read(home), DesktopPrefs::default());
        let ui = UiPrefs {
            screen: "models".into(),
            ..UiPrefs::default()
        };
        save_ui(home, ui.clone()).unwrap();
        let size = WindowSize {
            width: 1500.0,
            height: 900.0,
        };
        save_window(home, size).unwrap();
        let back = read(home);
        assert_eq!((back.ui, back.window), (Some(ui), Some(size)));
        std::fs::write(home.join(PREFS_FILE), b"{\"window\": [1,").unwrap();
        assert_eq!(read(home), DesktopPrefs::default());
        assert!(
            !WindowSize {
                width: 0.0,
                height: 900.0
            }
            .is_usable()
        );
    }
}
