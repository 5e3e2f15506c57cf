//! Where atb keeps its files and which exchange URL it talks to.
//!
//! Precedence: environment variable, then `ATB_HOME/settings.json`, then the default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default Binance spot REST base URL.
pub const DEFAULT_BINANCE_URL: &str = "https://api.binance.com";

/// The optional `settings.json` under `ATB_HOME`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    binance_url: Option<String>,
}

/// Resolved settings for one process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Root of everything atb writes: the candle store, the registry, caches.
    pub home: PathBuf,
    /// Base URL of the Binance REST API (no trailing slash).
    pub binance_url: String,
}

/// Refuses an existing `home` owned by another user (on Unix; elsewhere nothing to check).
fn check_owner(home: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(home) {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            if meta.uid() != me {
                return Err(Error::ForeignHome {
                    path: home.to_path_buf(),
                    owner: meta.uid(),
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = home;
    Ok(())
}

/// Creates `dir` (and any missing parents) readable by its owner only: `ATB_HOME` holds the
/// registry, the candle store and the app's socket.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Error::io(dir, e))
}

impl Settings {
    /// Reads `ATB_HOME` (default: the platform data dir + `atb`) and `ATB_BINANCE_URL`.
    pub fn from_env() -> Result<Self> {
        let home = match std::env::var_os("ATB_HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h),
            _ => dirs::data_dir().ok_or(Error::NoHome)?.join("atb"),
        };
        let env_url = std::env::var("ATB_BINANCE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        Self::resolve(home, env_url)
    }

    /// Settings for an explicit home, still honouring its `settings.json`. A home that exists
    /// and belongs to another user is refused before anything in it is read: its
    /// `settings.json` could point the exchange URL anywhere.
    pub fn resolve(home: PathBuf, env_url: Option<String>) -> Result<Self> {
        check_owner(&home)?;
        let file = read_settings_file(&home.join("settings.json"))?;
        let url = env_url
            .or(file.binance_url)
            .unwrap_or_else(|| DEFAULT_BINANCE_URL.to_string());
        let url = url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Settings {
                path: home.join("settings.json"),
                reason: format!("Binance URL {url:?} must start with http:// or https://"),
            });
        }
        Ok(Self {
            home,
            binance_url: url,
        })
    }

    /// A warning when candles would travel unencrypted to another machine: an `http://` URL whose
    /// host is not this machine (a local mock on 127.0.0.1 is fine).
    pub fn insecure_url_warning(&self) -> Option<String> {
        let rest = self.binance_url.strip_prefix("http://")?;
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        (!loopback).then(|| {
            format!(
                "warning: the Binance URL {} is plain http to another machine: candles can be read or altered on the way; use https://",
                self.binance_url
            )
        })
    }

    /// Path of the SQLite database holding candles (and, later, the registry index).
    pub fn database_path(&self) -> PathBuf {
        self.home.join("atb.sqlite")
    }
}

fn read_settings_file(path: &Path) -> Result<SettingsFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Settings {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SettingsFile::default()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_is_flagged_unless_it_stays_on_this_machine() {
        let home = tempfile::tempdir().unwrap();
        let warn = |url: &str| {
            super::Settings::resolve(home.path().to_path_buf(), Some(url.into()))
                .unwrap()
                .insecure_url_warning()
        };
        assert!(warn("https://api.binance.com").is_none());
        assert!(warn("http://127.0.0.1:8765").is_none());
        assert!(warn("http://localhost:8765/").is_none());
        assert!(warn("http://[::1]:8765").is_none());
        let w = warn("http://api.binance.com").unwrap();
        assert!(w.contains("https://"), "{w}");
        assert!(warn("http://10.0.0.5:8765").is_some());
    }

    use super::*;

    #[test]
    fn env_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(dir.path().to_path_buf(), None).unwrap();
        assert_eq!(s.binance_url, DEFAULT_BINANCE_URL);
        std::fs::write(
            dir.path().join("settings.json"),
            r#"{"binance_url":"http://127.0.0.1:1/"}"#,
        )
        .unwrap();
        let s = Settings::resolve(dir.path().to_path_buf(), None).unwrap();
        assert_eq!(s.binance_url, "http://127.0.0.1:1");
        let s =
            Settings::resolve(dir.path().to_path_buf(), Some("http://localhost:2".into())).unwrap();
        assert_eq!(s.binance_url, "http://localhost:2");
    }

    #[test]
    fn bad_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("settings.json"), r#"{"binance_ur":"x"}"#).unwrap();
        let err = Settings::resolve(dir.path().to_path_buf(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("settings.json"), "{err}");
        let clean = tempfile::tempdir().unwrap();
        let err = Settings::resolve(clean.path().to_path_buf(), Some("ftp://x".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_home_of_another_user_is_refused_before_its_settings_are_read_and_a_new_one_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A planted settings file in a folder someone else owns.
        let foreign = dir.path().join("shared");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(
            foreign.join("settings.json"),
            r#"{"binance_url":"http://evil.example:8765"}"#,
        )
        .unwrap();
        // SAFETY: plain syscalls on a path this test owns.
        let me = unsafe { libc::geteuid() };
        let other = if me == 0 { 65534 } else { 0 };
        let foreign = if me == 0 {
            let c = std::ffi::CString::new(foreign.to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::chown(c.as_ptr(), other, other) }, 0);
            foreign
        } else {
            // Not root: a folder root owns stands in for another user's.
            std::path::PathBuf::from("/")
        };
        let err = Settings::resolve(foreign.clone(), None).unwrap_err();
        assert!(
            matches!(err, Error::ForeignHome { owner, .. } if owner == other),
            "{err}"
        );
        assert!(err.to_string().contains("another user"), "{err}");

        let home = dir.path().join("new").join("atb");
        create_private_dir(&home).unwrap();
        let mode = std::fs::metadata(&home).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        Settings::resolve(home, None).unwrap();
    }
}
