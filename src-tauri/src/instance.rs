//! One app per `ATB_HOME`: the first launch takes an advisory lock (`flock`) on
//! `ATB_HOME/desktop.lock` and holds it for as long as it runs, so two launches at once can never
//! both run (the kernel drops the lock when the process ends, crash or not). The Unix socket
//! beside it is only the way a later launch asks the running app to bring its window forward:
//! each connection is answered on its own thread with a read timeout, so a client that connects
//! and says nothing blocks nobody, and a socket someone else bound cannot make a launch exit,
//! because only the lock says whether an app runs. Plain std and libc: no plugin, no D-Bus.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file's name inside `ATB_HOME`.
pub const LOCK_NAME: &str = "desktop.lock";
/// The socket's file name inside `ATB_HOME`.
pub const SOCKET_NAME: &str = "desktop.sock";
/// How long the running app waits for a connected client to say what it wants.
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// What a launch found.
pub enum Claim {
    /// This is the only app on this `ATB_HOME`.
    First(Instance),
    /// Another app already runs on this `ATB_HOME`; `asked` says whether it was reached and asked
    /// to come forward.
    AlreadyRunning { asked: bool },
}

/// The running app's hold on its `ATB_HOME`: the locked file (the lock lasts as long as this
/// handle) and, where the folder allows socket files, the listener later launches talk to.
pub struct Instance {
    _lock: File,
    pub listener: Option<UnixListener>,
    /// Why there is no listener (a later launch then cannot bring this window forward).
    pub no_listener: Option<String>,
    socket: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.listener.is_some() {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

/// Claims `home` for this process.
pub fn claim(home: &Path) -> Result<Claim, String> {
    let lock_path = home.join(LOCK_NAME);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| format!("cannot open the lock file {} ({e})", lock_path.display()))?;
    // SAFETY: a valid open descriptor; flock has no other preconditions.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == ErrorKind::WouldBlock {
            return Ok(Claim::AlreadyRunning {
                asked: ask_to_focus(&home.join(SOCKET_NAME)),
            });
        }
        return Err(format!(
            "cannot lock {} ({e}); ATB_HOME must be a local folder that supports file locks",
            lock_path.display()
        ));
    }
    let socket = home.join(SOCKET_NAME);
    // Holding the lock, any socket file here is a dead app's (or planted): replace it.
    let bound = match std::fs::remove_file(&socket) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .and_then(|()| UnixListener::bind(&socket))
    .and_then(|listener| {
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    });
    let (listener, no_listener) = match bound {
        Ok(listener) => (Some(listener), None),
        Err(e) => (
            None,
            Some(format!(
                "no single-instance socket at {} ({e}): a second launch will still refuse to run, but cannot bring this window forward",
                socket.display()
            )),
        ),
    };
    Ok(Claim::First(Instance {
        _lock: lock,
        listener,
        no_listener,
        socket,
    }))
}

/// Asks the running app to come forward; whether it was reached.
fn ask_to_focus(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok_and(|mut other| {
        let _ = other.set_write_timeout(Some(READ_TIMEOUT));
        other.write_all(b"focus\n").is_ok()
    })
}

/// Answers later launches for as long as the app runs, calling `focus` for each that asks; each
/// connection on its own thread, read with a timeout.
pub fn serve(listener: UnixListener, focus: impl Fn() + Send + Sync + 'static) {
    let focus = std::sync::Arc::new(focus);
    let listening = std::thread::Builder::new()
        .name("atb-instance".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let focus = focus.clone();
                // A client whose thread cannot start is dropped: its launch then says the window
                // could not be asked to come forward.
                let _ = std::thread::Builder::new()
                    .name("atb-instance-client".into())
                    .spawn(move || {
                        let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
                        let mut request = [0u8; 16];
                        if stream
                            .read(&mut request)
                            .is_ok_and(|n| request[..n].starts_with(b"focus"))
                        {
                            focus();
                        }
                    });
            }
        });
    if let Err(e) = listening {
        eprintln!("atb-desktop: cannot answer later launches ({e}); they will still refuse to run");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn first(home: &Path) -> Instance {
        match claim(home) {
            Ok(Claim::First(instance)) => instance,
            Ok(Claim::AlreadyRunning { .. }) => panic!("the first launch must claim the home"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_second_launch_focuses_the_first_even_behind_a_silent_client() {
        let home = tempfile::tempdir().unwrap();
        let mut instance = first(home.path());
        let (tx, rx) = mpsc::channel();
        serve(instance.listener.take().unwrap(), move || {
            tx.send(()).unwrap()
        });
        let mode = std::fs::metadata(home.path().join(SOCKET_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        // A client that connects and says nothing.
        let _silent = UnixStream::connect(home.path().join(SOCKET_NAME)).unwrap();
        assert!(matches!(
            claim(home.path()),
            Ok(Claim::AlreadyRunning { asked: true })
        ));
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the first app was asked to come forward");
    }

    #[test]
    fn simultaneous_launches_give_one_app() {
        for _ in 0..20 {
            let home = tempfile::tempdir().unwrap();
            let barrier = std::sync::Barrier::new(8);
            // Each launch opens its own descriptor, as separate processes do, and keeps what it
            // claimed until all have tried.
            let claims: Vec<Claim> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            claim(home.path()).unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let firsts = claims
                .iter()
                .filter(|c| matches!(c, Claim::First(_)))
                .count();
            assert_eq!(firsts, 1);
        }
    }

    #[test]
    fn a_socket_left_or_planted_does_not_stop_a_launch() {
        let home = tempfile::tempdir().unwrap();
        // A dead app's socket, or one bound by someone else, with nobody holding the lock.
        let planted = UnixListener::bind(home.path().join(SOCKET_NAME)).unwrap();
        let instance = first(home.path());
        assert!(instance.listener.is_some(), "{:?}", instance.no_listener);
        drop(planted);
        // Where no socket can be made, the lock alone still keeps a second launch out.
        let long = home.path().join("x".repeat(120));
        std::fs::create_dir_all(&long).unwrap();
        let instance = first(&long);
        assert!(instance.listener.is_none());
        assert!(
            instance
                .no_listener
                .as_deref()
                .unwrap()
                .contains("still refuse")
        );
        assert!(matches!(
            claim(&long),
            Ok(Claim::AlreadyRunning { asked: false })
        ));
    }
}
