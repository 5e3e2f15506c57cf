//! Registry rows as the CLI's `--json` output and the desktop UI's model table see them.

use serde::{Deserialize, Serialize};

/// One registered model version, with its headline test metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub version_id: String,
    pub symbol: String,
    pub timeframe: String,
    pub architecture: String,
    pub variant: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Version folder, relative to `ATB_HOME`.
    pub folder: String,
    pub parameters: u64,
    pub train_seconds: f64,
    pub test_mae_usd: Option<f64>,
    pub test_rmse_usd: Option<f64>,
    pub persistence_mae_usd: Option<f64>,
    pub skill_vs_persistence: Option<f64>,
    pub directional_accuracy: Option<f64>,
    pub pt_p_value: Option<f64>,
    pub weights_sha256: String,
    pub data_sha256: String,
    /// Aliases pointing here, e.g. `latest`, `champion`.
    pub aliases: Vec<String>,
    /// `bench` for benchmark runs; `None` for ordinary ones.
    pub tag: Option<String>,
}
