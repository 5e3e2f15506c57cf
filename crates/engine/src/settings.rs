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

    /// Settings for an explicit home, still honouring its `settings.json`.
    pub fn resolve(home: PathBuf, env_url: Option<String>) -> Result<Self> {
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
}
