//! What the shell has said about shared things, kept once for every screen: the registry's rows,
//! each version's detail and test predictions, and the last benchmark reports. Screens keep only
//! their own view state (selection, sort, forms, what they are waiting for) and read these, so a
//! version's detail shown on the Models and the Model detail screens is one value, never two
//! copies that drift apart.

use std::collections::HashMap;

use atb_protocol::bench::{BenchReport, FeatureBenchReport};
use atb_protocol::desktop::{ModelDetail, TargetSeries, TestPredictions};
use atb_protocol::forward::ForwardReport;
use atb_protocol::registry::ModelRow;

#[derive(Debug, Default)]
pub struct Store {
    /// The registry's versions, as the last listing said.
    pub rows: Vec<ModelRow>,
    /// Whether a listing has arrived (an empty registry and one not read yet differ).
    pub rows_loaded: bool,
    pub details: HashMap<String, ModelDetail>,
    pub predictions: HashMap<String, TestPredictions>,
    /// The last return-table benchmark (this session's, or the one the shell kept).
    pub bench: Option<BenchReport>,
    /// The last feature benchmark the shell kept, which the guide's Phase 2 claims read.
    pub feature_bench: Option<FeatureBenchReport>,
}

impl Store {
    /// A new listing. Details of versions no longer listed are dropped; a detail whose row
    /// changed (an export, a promotion) takes the new row at once and is returned, to be asked
    /// for again (its export record, for one, came with the old).
    pub fn set_rows(&mut self, rows: Vec<ModelRow>) -> Vec<String> {
        self.rows_loaded = true;
        self.details
            .retain(|v, _| rows.iter().any(|r| &r.version_id == v));
        let mut stale = Vec::new();
        for (version, detail) in &mut self.details {
            if let Some(row) = rows.iter().find(|r| &r.version_id == version)
                && *row != detail.row
            {
                detail.row = row.clone();
                stale.push(version.clone());
            }
        }
        self.rows = rows;
        stale
    }

    /// A deleted version leaves every table.
    pub fn forget(&mut self, version: &str) {
        self.details.remove(version);
        self.predictions.remove(version);
        self.rows.retain(|r| r.version_id != version);
    }

    /// Each forward-tested version's detail shows its new result.
    pub fn forward_arrived(&mut self, report: &ForwardReport) {
        for result in &report.results {
            if let Some(d) = self.details.get_mut(&result.version_id) {
                d.forward = Some(result.clone());
            }
        }
    }

    /// A volatility or direction version's test forecasts against what happened, once asked for.
    pub fn target_series(&self, version: &str) -> Option<&TargetSeries> {
        self.predictions
            .get(version)
            .and_then(|p| p.target_series.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{sample_detail, sample_row};
    use atb_protocol::vocab::{Architecture, Variant};

    #[test]
    fn one_copy_per_version_refreshed_when_its_row_changes() {
        let rows: Vec<ModelRow> = (0..3)
            .map(|i| sample_row(i, Architecture::Tcn, Variant::Default, 800.0))
            .collect();
        let mut store = Store::default();
        assert!(store.set_rows(rows.clone()).is_empty());
        for r in &rows {
            store.details.insert(r.version_id.clone(), sample_detail(r));
        }
        // One exported (its row changed), one deleted elsewhere, one untouched.
        let mut next = rows.clone();
        next[0].onnx_sha256 = Some("ab".repeat(32));
        next.remove(2);
        let stale = store.set_rows(next.clone());
        assert_eq!(stale, [rows[0].version_id.clone()]);
        assert_eq!(store.details.len(), 2);
        assert_eq!(store.details[&rows[0].version_id].row, next[0]);
        assert_eq!(store.details[&rows[1].version_id].row, rows[1]);
        store.forget(&rows[1].version_id);
        assert_eq!(store.rows.len(), 1);
        assert!(!store.details.contains_key(&rows[1].version_id));
    }
}
