//! `atb-desktop`: the desktop app. Opens the same `ATB_HOME` registry and candle store as `atb`.

fn main() -> anyhow::Result<()> {
    // Training reuses large buffers; keep freed memory instead of faulting fresh pages in.
    atb_models::kernels::memory::hold_freed_memory();
    atb_desktop::run()
}
