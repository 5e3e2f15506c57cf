//! Memory checked before a run starts: a network's training batch is estimated from its layers
//! (`ModelConfig::bytes_per_window`) and refused, with the figures and what to change, when it
//! would not fit in the memory this machine has available. Without the check a valid request
//! (attention at a window of 10,000 keeps 4 × 10⁸ weights per window) asked for tens of GB and
//! the allocation aborted the whole process, the desktop's queue and benchmark with it.
//! Inference batches are sized from the same estimate, so evaluation stays within it too.

use atb_models::ModelConfig;
use atb_protocol::spec::{FieldProblem, TrainSpec};

use crate::error::{Error, Result};

/// Share of the available memory a training batch may take (the rest: the dataset, the
/// baselines, the UI and whatever else runs).
const USABLE_SHARE: f64 = 0.6;
/// Room kept aside for the model's weights, optimiser state and the runtime.
const OVERHEAD_BYTES: u64 = 256 << 20;
/// The largest inference batch (what evaluation uses when memory is not the limit).
pub const MAX_INFERENCE_BATCH: usize = 256;

/// Memory this process can still use, in bytes: the kernel's `MemAvailable`, bounded by the
/// cgroup's limit where one is set (containers, systemd scopes). `None` where the platform does
/// not say (then nothing is refused on memory grounds).
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)?;
    let read = |name: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{name}"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let cgroup_room = match (read("memory.max"), read("memory.current")) {
        (Some(max), Some(current)) => Some(max.saturating_sub(current)),
        _ => None,
    };
    Some(cgroup_room.map_or(available, |room| room.min(available)))
}

/// The resolved model of a network spec (`None` for trees).
fn network_config(spec: &TrainSpec) -> Option<ModelConfig> {
    if !spec.architecture.is_network() {
        return None;
    }
    let features = spec.feature_set.feature_names().len();
    ModelConfig::resolve(
        spec.architecture,
        spec.variant,
        [spec.sequence_length, features],
        &spec.overrides,
    )
    .ok()
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Refuses `spec` when its training batch would not fit in `available` bytes, saying how much
/// it needs, how much there is, and the largest window and batch that fit.
pub fn check_memory_with(spec: &TrainSpec, available: u64) -> Result<()> {
    let Some(config) = network_config(spec) else {
        return Ok(());
    };
    let budget = ((available as f64 * USABLE_SHARE) as u64).saturating_sub(OVERHEAD_BYTES);
    let per_window = config.bytes_per_window(true);
    let need = per_window.saturating_mul(spec.batch_size as u64);
    if need <= budget {
        return Ok(());
    }
    let fits = |window: usize| {
        let c = ModelConfig {
            sequence_length: window,
            ..config.clone()
        };
        c.bytes_per_window(true)
            .saturating_mul(spec.batch_size as u64)
            <= budget
    };
    // The largest window that fits at this batch (the estimate grows with the window).
    let (mut lo, mut hi) = (0usize, spec.sequence_length);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    let max_batch = (budget / per_window.max(1)) as usize;
    let mut fixes = Vec::new();
    if lo >= 2 {
        fixes.push(format!("a window of at most {}", thousands(lo)));
    }
    if max_batch >= 1 {
        fixes.push(format!("a batch of at most {}", thousands(max_batch)));
    }
    if fixes.is_empty() {
        fixes.push("a lighter variant".to_string());
    }
    let why = match config.attention {
        Some(a) => format!(
            " (its attention keeps {} heads × window² weights per window)",
            a.heads
        ),
        None => String::new(),
    };
    Err(Error::InvalidSpec(FieldProblem::new(
        "sequence length",
        format!(
            "{} {} at a window of {} needs about {} per training batch of {}{why}; this machine has {} available: use {}",
            spec.architecture,
            spec.variant,
            thousands(spec.sequence_length),
            gb(need),
            thousands(spec.batch_size),
            gb(available),
            fixes.join(", or ")
        ),
    )))
}

/// `check_memory_with` against what this machine has available now.
pub fn check_memory(spec: &TrainSpec) -> Result<()> {
    match available_memory() {
        Some(available) => check_memory_with(spec, available),
        None => Ok(()),
    }
}

/// Windows per inference batch for `config`: up to `MAX_INFERENCE_BATCH`, fewer where a batch of
/// long attention windows would not fit in the memory available (never fewer than one).
pub fn inference_batch(config: &ModelConfig) -> usize {
    let Some(available) = available_memory() else {
        return MAX_INFERENCE_BATCH;
    };
    let budget = ((available as f64 * USABLE_SHARE) as u64).saturating_sub(OVERHEAD_BYTES);
    let per_window = config.bytes_per_window(false).max(1);
    ((budget / per_window) as usize).clamp(1, MAX_INFERENCE_BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atb_protocol::vocab::Architecture;

    fn spec(architecture: Architecture, window: usize) -> TrainSpec {
        TrainSpec {
            architecture,
            sequence_length: window,
            ..TrainSpec::default()
        }
    }

    #[test]
    fn a_ten_thousand_window_attention_run_is_refused_with_the_figures_and_the_fix() {
        let available = 23_000_000_000;
        let e = check_memory_with(&spec(Architecture::AttentionLstm, 10_000), available)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("window of 10,000")
                && e.contains("batch of 32")
                && e.contains("23.0 GB available")
                && e.contains("window of at most")
                && e.contains("4 heads"),
            "{e}"
        );
        // The window it proposes does fit.
        let at_most: usize = e
            .split("window of at most ")
            .nth(1)
            .unwrap()
            .split(|c: char| !c.is_ascii_digit() && c != ',')
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap();
        assert!(check_memory_with(&spec(Architecture::AttentionLstm, at_most), available).is_ok());
        assert!(
            check_memory_with(&spec(Architecture::AttentionLstm, at_most + 50), available).is_err()
        );
        // The defaults, and trees, pass.
        assert!(check_memory_with(&spec(Architecture::AttentionLstm, 120), available).is_ok());
        assert!(check_memory_with(&spec(Architecture::Gbdt, 10_000), available).is_ok());
    }

    #[test]
    fn inference_batches_shrink_for_long_attention_windows() {
        let short = ModelConfig::table(
            Architecture::AttentionLstm,
            atb_protocol::vocab::Variant::Default,
            120,
            5,
        );
        let long = ModelConfig {
            sequence_length: 10_000,
            ..short.clone()
        };
        if available_memory().is_some() {
            assert_eq!(inference_batch(&short), MAX_INFERENCE_BATCH);
            assert!(inference_batch(&long) < MAX_INFERENCE_BATCH);
        }
    }
}
