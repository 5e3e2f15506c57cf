//! The registry as both doors use it: list, show, compare, promote, delete, verify, re-evaluate,
//! the desktop's detail view, test-window predictions and attention maps, and ONNX export with
//! an optional copy.

use std::path::{Path, PathBuf};

use atb_models::burn::prelude::Device;
use atb_protocol::desktop::{AttentionMap, ModelDetail, PairedComparison, TestPredictions};
use atb_protocol::registry::{EnsembleRecipe, ModelRow, OnnxExport, RecoveryReport};
use atb_protocol::training::{DatasetSummary, Evaluation};
use atb_protocol::vocab::Symbol;

use crate::error::{Error, Result};
use crate::inference;
use crate::onnx::export::{ExportReport, export_version};
use crate::registry::metadata::ModelMetadata;
use crate::registry::{Cleared, Registry, VerifyReport};
use crate::settings::Settings;

/// The index row of a version by id or alias (nothing is read from its folder).
pub fn resolve(settings: &Settings, reference: &str) -> Result<ModelRow> {
    Registry::open(settings)?.resolve(reference)
}

/// Registered versions, oldest first; only `symbol`'s when given.
pub fn list(settings: &Settings, symbol: Option<&Symbol>) -> Result<Vec<ModelRow>> {
    Registry::open(settings)?.list(symbol.map(Symbol::as_str))
}

/// Everything recorded about one version.
#[derive(Debug, Clone)]
pub struct VersionReport {
    pub row: ModelRow,
    /// The version folder, absolute.
    pub folder: PathBuf,
    pub metadata: ModelMetadata,
    /// The current evaluation (a re-evaluation when there is one, else the stored one).
    pub evaluation: Evaluation,
    pub export: Option<OnnxExport>,
    /// The latest forward test, if any.
    pub forward: Option<atb_protocol::forward::ForwardResult>,
    /// An ensemble's members and weights (`None` for every other model).
    pub ensemble: Option<EnsembleRecipe>,
}

/// One version by id or alias.
pub fn show(settings: &Settings, reference: &str) -> Result<VersionReport> {
    let registry = Registry::open(settings)?;
    let row = registry.resolve(reference)?;
    let metadata = registry.metadata(&row)?;
    let evaluation = registry.evaluation(&row, &metadata)?;
    let export = registry.onnx_export(&row)?;
    let forward = registry.forward(&row.version_id)?;
    let ensemble = registry.ensemble_recipe(&row)?;
    Ok(VersionReport {
        forward,
        ensemble,
        folder: settings.home.join(&row.folder),
        row,
        metadata,
        evaluation,
        export,
    })
}

/// What the desktop's Model screen shows about one version.
pub fn detail(settings: &Settings, reference: &str) -> Result<ModelDetail> {
    let v = show(settings, reference)?;
    let training_params = serde_json::to_value(&v.metadata.training_params)
        .map_err(|e| Error::InvalidData(format!("training parameters: {e}")))?;
    Ok(ModelDetail {
        folder: v.folder.display().to_string(),
        training_params,
        dataset: v.metadata.dataset,
        evaluation: v.evaluation,
        history: v.metadata.training_history,
        device: v.metadata.device,
        export: v.export,
        importance: v.metadata.importance,
        forward: v.forward,
        row: v.row,
        ensemble: v.ensemble,
    })
}

/// The test evaluations of several versions, in the order asked for; versions of different
/// targets are refused (their scores are not on one scale).
pub fn compare(settings: &Settings, references: &[String]) -> Result<Compared> {
    let registry = Registry::open(settings)?;
    let mut columns = Vec::with_capacity(references.len());
    let mut datasets: Vec<DatasetSummary> = Vec::with_capacity(references.len());
    for reference in references {
        let row = registry.resolve(reference)?;
        let metadata = registry.metadata(&row)?;
        let evaluation = registry.evaluation(&row, &metadata)?;
        columns.push((row, evaluation));
        datasets.push(metadata.dataset);
    }
    if let Some(pair) = columns.windows(2).find(|w| w[0].0.target != w[1].0.target) {
        return Err(Error::InvalidRequest(format!(
            "{} forecasts {} and {} forecasts {}: compare versions of one target",
            pair[0].0.version_id, pair[0].0.target, pair[1].0.version_id, pair[1].0.target
        )));
    }
    Ok(Compared {
        columns,
        same_test_windows: datasets.windows(2).all(|w| w[0].same_test_windows(&w[1])),
    })
}

/// Versions' test evaluations side by side (all of one target), and whether they were tested
/// on the same windows ([`DatasetSummary::same_test_windows`]).
pub struct Compared {
    pub columns: Vec<(ModelRow, Evaluation)>,
    pub same_test_windows: bool,
}

/// Points `alias` at a version.
pub fn promote(settings: &Settings, reference: &str, alias: &str) -> Result<ModelRow> {
    Registry::open(settings)?.promote(reference, alias)
}

/// Deletes a version and its folder; an aliased one only with `force`.
pub fn delete(settings: &Settings, reference: &str, force: bool) -> Result<ModelRow> {
    Registry::open(settings)?.delete(reference, force)
}

/// Checks every version's files and hashes and finds orphans; deletes nothing.
pub fn verify(settings: &Settings) -> Result<VerifyReport> {
    Registry::open(settings)?.verify()
}

/// Puts right what killed registrations and re-exports left (see
/// [`Registry::clear_interrupted`]); the desktop app runs it as it starts.
pub fn clear_interrupted(settings: &Settings) -> Result<Cleared> {
    Registry::open(settings)?.clear_interrupted()
}

/// Registers the finished runs kept under `recovery/`, each folder on its own (see
/// [`Registry::recover`]).
pub fn recover(settings: &Settings) -> Result<RecoveryReport> {
    Registry::open(settings)?.recover()
}

/// Recomputes a version's evaluation with this build's method (see
/// [`inference::reevaluate`]) and stores it beside the version in the index.
pub async fn reevaluate(settings: &Settings, reference: &str) -> Result<(ModelRow, Evaluation)> {
    inference::reevaluate(settings, reference).await
}

/// Predicted against actual closes over a version's test split, at most `max_points` of them.
pub async fn test_predictions(
    settings: &Settings,
    reference: &str,
    max_points: usize,
) -> Result<TestPredictions> {
    let device = Device::flex();
    let loaded = Registry::open(settings)?.load(reference, &device)?;
    inference::test_predictions(settings, &loaded, &device, max_points).await
}

/// `first` against `second` on their common test windows: both versions' own models predict
/// every test window (rebuilt from their recorded candles), and the Diebold-Mariano test on
/// their absolute price errors gives the verdict. Refused when the windows differ (another
/// series, range, split or horizon): a paired test needs the same windows.
pub async fn paired(settings: &Settings, first: &str, second: &str) -> Result<PairedComparison> {
    let device = Device::flex();
    let registry = Registry::open(settings)?;
    let (first, second) = (
        registry.load(first, &device)?,
        registry.load(second, &device)?,
    );
    if let Some(why) = different_windows(&first, &second) {
        return Err(Error::InvalidRequest(format!(
            "{why}: their errors cannot be paired; compare versions trained on the same series, \
             range and split"
        )));
    }
    let a = inference::test_forecasts(settings, &first, &device).await?;
    let b = inference::test_forecasts(settings, &second, &device).await?;
    let (ea, eb) = (
        a.price_errors(|i| a.forecast[i]),
        b.price_errors(|i| b.forecast[i]),
    );
    let mae = |e: &[f64]| e.iter().map(|x| x.abs()).sum::<f64>() / e.len().max(1) as f64;
    let test = crate::stats::diebold_mariano(&ea, &eb, a.horizon, crate::stats::Loss::Absolute);
    Ok(PairedComparison {
        verdict: atb_protocol::verdict::verdict_of(&b.version_id, test.as_ref(), None),
        first: a.version_id,
        second: b.version_id,
        windows: ea.len(),
        first_mae_usd: mae(&ea),
        second_mae_usd: mae(&eb),
        test,
    })
}

/// Attention weights on the last test window; `None` for architectures without attention.
pub async fn attention_map(settings: &Settings, reference: &str) -> Result<Option<AttentionMap>> {
    let device = Device::flex();
    let loaded = Registry::open(settings)?.load(reference, &device)?;
    inference::attention_map(settings, &loaded, &device).await
}

/// Exports a version to `model.onnx` in its folder with the parity check, and copies it to
/// `copy_to` when given (a file, or a folder that gets `VERSION_ID.onnx`).
pub async fn export(
    settings: &Settings,
    reference: &str,
    copy_to: Option<&Path>,
) -> Result<ExportReport> {
    export_version(settings, reference, copy_to).await
}

/// Why two loaded versions were not tested on the same windows
/// ([`DatasetSummary::same_test_windows`]), in words; `None` when they were.
pub(crate) fn different_windows(
    a: &crate::registry::LoadedModel,
    b: &crate::registry::LoadedModel,
) -> Option<String> {
    let (da, db) = (&a.metadata.dataset, &b.metadata.dataset);
    (!da.same_test_windows(db)).then(|| {
        format!(
            "{} and {} were tested on different windows ({} {} from {}, {} windows from {}, \
             horizon {}; and {} {} from {}, {} windows from {}, horizon {})",
            a.row.version_id,
            b.row.version_id,
            da.symbol,
            da.timeframe,
            da.source,
            da.test.samples,
            crate::market::format_ms(da.test.first_target_open_ms),
            da.horizon,
            db.symbol,
            db.timeframe,
            db.source,
            db.test.samples,
            crate::market::format_ms(db.test.first_target_open_ms),
            db.horizon
        )
    })
}
