//! Builds the wasm UI into `ui/dist` (when its sources changed) so that a plain
//! `cargo build --bin atb-desktop` embeds the current UI, then runs Tauri's build step against
//! the `tauri.conf.json` at the repository root.

use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let root = manifest
        .parent()
        .expect("src-tauri sits in the repository")
        .to_path_buf();
    for watched in [
        "ui/src",
        "ui/Cargo.toml",
        "ui/index.html",
        "crates/protocol/src",
        "crates/protocol/Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=ATB_WASM_BINDGEN");
    if let Err(message) = build_ui(&root) {
        // A build script can only fail by panicking; say what broke and how to fix it.
        panic!("\n\natb-desktop: the wasm UI could not be built: {message}\n\n");
    }
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("capabilities").display()
    );
    // Declaring the app's commands makes every command not granted by `capabilities/` refused.
    let attributes = tauri_build::Attributes::new()
        .config_path(root.join("tauri.conf.json"))
        // `atb_protocol::rpc::COMMAND`; tests/config.rs checks the two agree.
        .app_manifest(tauri_build::AppManifest::new().commands(&["rpc"]));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("\n\natb-desktop: Tauri's build step failed: {e:#}\n\n");
    }
}

/// The target directory this build writes to (OUT_DIR is `<target>/<profile>/build/<pkg>/out`,
/// or one level deeper when cross-compiling).
fn target_dir() -> Result<PathBuf, String> {
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    out.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent()?.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cannot find the target directory above {}", out.display()))
}

fn locked_wasm_bindgen_version(root: &Path) -> Result<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_string());
        }
    }
    Err("Cargo.lock has no wasm-bindgen entry".into())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn build_ui(root: &Path) -> Result<(), String> {
    let wanted = locked_wasm_bindgen_version(root)?;
    let bindgen = std::env::var("ATB_WASM_BINDGEN").unwrap_or_else(|_| "wasm-bindgen".into());
    let version = Command::new(&bindgen)
        .arg("--version")
        .output()
        .map_err(|e| {
            format!(
                "`{bindgen}` was not found ({e}). Run scripts/setup.sh, which installs wasm-bindgen-cli {wanted} (or `cargo install wasm-bindgen-cli --version {wanted}`)."
            )
        })?;
    let found = String::from_utf8_lossy(&version.stdout);
    if found.split_whitespace().nth(1) != Some(wanted.as_str()) {
        return Err(format!(
            "`{bindgen} --version` says {:?} but Cargo.lock pins wasm-bindgen {wanted}; the two must match. Run scripts/setup.sh (or `cargo install wasm-bindgen-cli --version {wanted}`).",
            found.trim()
        ));
    }

    // A separate target directory: the outer cargo holds the lock on ours.
    let wasm_target_dir = target_dir()?.join("atb-ui-wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(root)
        .args(["build", "--release", "--locked", "--lib", "-p", "atb-ui"])
        .args(["--target", WASM_TARGET])
        .arg("--target-dir")
        .arg(&wasm_target_dir)
        // Flags meant for the host build must not leak into the wasm one. Nor may clippy's
        // driver: under `cargo clippy` it wraps rustc for workspace crates, and a UI compiled
        // through it came out different (2.7 kB) and never started in the webview.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR");
    run(&mut build, "cargo build of the UI for wasm32").map_err(|e| {
        format!("{e}. If the wasm32 target is missing, run scripts/setup.sh (or `rustup target add {WASM_TARGET}`).")
    })?;

    let wasm = wasm_target_dir
        .join(WASM_TARGET)
        .join("release")
        .join("atb_ui.wasm");
    let dist = root.join("ui").join("dist");
    std::fs::create_dir_all(&dist).map_err(|e| format!("cannot create {}: {e}", dist.display()))?;
    run(
        Command::new(&bindgen)
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&dist)
            .arg(&wasm),
        "wasm-bindgen",
    )?;
    std::fs::copy(root.join("ui").join("index.html"), dist.join("index.html"))
        .map_err(|e| format!("cannot copy ui/index.html: {e}"))?;
    Ok(())
}
