//! `atb-desktop`: the desktop app. Opens the same `ATB_HOME` registry and candle store as `atb`.

fn main() -> anyhow::Result<()> {
    atb_desktop::run()
}
