//! One app per `ATB_HOME`: the first launch listens on a Unix socket in `ATB_HOME`; a second launch
//! finds it answering, asks it to bring its window forward and exits, so two apps never train
//! against one registry. A socket left by a crashed app answers nothing and is replaced. Plain std:
//! no plugin, no D-Bus.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The socket's file name inside `ATB_HOME`.
pub const SOCKET_NAME: &str = "desktop.sock";

/// What a launch found.
pub enum Claim {
    /// This is the only app on this `ATB_HOME`; it must keep the listener and answer on it.
    First(UnixListener),
    /// Another app already runs on this `ATB_HOME` and was asked to come forward.
    AlreadyRunning,
}

/// Claims `home` for this process.
pub fn claim(home: &Path) -> Result<Claim, String> {
    let path = home.join(SOCKET_NAME);
    if let Ok(mut other) = UnixStream::connect(&path) {
        // A live app: ask it to show itself. A write failure means it is just exiting.
        if other.write_all(b"focus\n").is_ok() {
            return Ok(Claim::AlreadyRunning);
        }
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(socket_error(&path, &e)),
    }
    UnixListener::bind(&path)
        .map(Claim::First)
        .map_err(|e| socket_error(&path, &e))
}

fn socket_error(path: &Path, e: &std::io::Error) -> String {
    format!(
        "cannot create the single-instance socket {} ({e}); ATB_HOME must be a writable local folder with a path under about 100 characters",
        path.display()
    )
}

/// Answers later launches for as long as the app runs, calling `focus` for each.
pub fn serve(listener: UnixListener, focus: impl Fn() + Send + 'static) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 16];
            if stream
                .read(&mut request)
                .is_ok_and(|n| request[..n].starts_with(b"focus"))
            {
                focus();
            }
        }
    });
}

/// Removes the socket when the app exits normally (a crash leaves it; the next launch replaces it).
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn the_second_launch_focuses_the_first_and_a_dead_socket_is_replaced() {
        let home = tempfile::tempdir().unwrap();
        let Ok(Claim::First(listener)) = claim(home.path()) else {
            panic!("the first launch must claim the home");
        };
        let (tx, rx) = mpsc::channel();
        serve(listener, move || tx.send(()).unwrap());
        assert!(matches!(claim(home.path()), Ok(Claim::AlreadyRunning)));
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the first app was asked to come forward");

        // A crashed app leaves its socket file behind with nobody listening.
        let other = tempfile::tempdir().unwrap();
        drop(UnixListener::bind(other.path().join(SOCKET_NAME)).unwrap());
        assert!(other.path().join(SOCKET_NAME).exists());
        assert!(matches!(claim(other.path()), Ok(Claim::First(_))));
    }
}
