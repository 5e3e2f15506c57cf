//! Terminal output helpers: progress bars that appear only on a terminal, and time formatting.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar on stderr, hidden when stderr is not a terminal (pipes, CI, `--json`).
pub fn progress_bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `YYYY-MM-DD HH:MM` UTC.
pub fn time(ms: i64) -> String {
    atb_engine::format_ms(ms)
}

/// "1 request" / "3 requests".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A cancel token that Ctrl-C fires; listening starts now, so an early Ctrl-C still cancels.
pub fn cancel_on_ctrl_c() -> atb_engine::CancelToken {
    let cancel = atb_engine::CancelToken::new();
    let fired = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            fired.cancel();
        }
    });
    cancel
}
