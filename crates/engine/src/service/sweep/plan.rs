//! `atb sweep plan`: a sweep declaration (TOML) read into every combination it names, each
//! checked as training checks it (fields, memory per task, enough data), every problem listed
//! before anything is written; then the candles snapshotted as content-addressed CSV files and
//! one job file per training written beside a manifest.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use atb_protocol::desktop::{SeriesRequest, TrainRequest};
use atb_protocol::sweep::{
    CANDLES_DIR, CandleSnapshot, JOBS_DIR, SWEEP_MANIFEST_FILE, SweepFold, SweepJob, SweepJobEntry,
    SweepManifest, SweepResources, job_file_name,
};
use atb_protocol::vocab::{Architecture, CandleSource, Symbol, Target, Timeframe, Variant};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::fsutil::{io, sha256_hex, write_atomic};
use crate::market::csv::write_csv;
use crate::market::source::{CandleSeries, with_context};
use crate::service::data::load_series;
use crate::settings::Settings;
use crate::training::{
    CheckedSpec, TrainSpec, candles_sha256, prepare, resources::check_memory_with,
};

/// The most jobs one sweep may plan: beyond it a typo in a grid (a list of 1,000 learning rates)
/// would write a folder no scheduler wants.
pub const MAX_JOBS: usize = 10_000;

/// A sweep declaration, as `SWEEP.toml` holds it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub name: String,
    pub series: SeriesSection,
    pub models: ModelsSection,
    /// TrainSpec fields every job shares (names as in a version's metadata, e.g. `epochs`,
    /// `sequence_length`, `device`).
    #[serde(default)]
    pub spec: toml::Table,
    /// TrainSpec fields to vary: each a list of values; every combination is a job.
    #[serde(default)]
    pub grid: toml::Table,
    #[serde(default)]
    pub walk_forward: Option<WalkForwardSection>,
    #[serde(default)]
    pub resources: ResourcesSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesSection {
    pub symbols: Vec<Symbol>,
    pub timeframe: Timeframe,
    /// `binance`, `sample` or `csv:PATH`.
    pub source: CandleSource,
    #[serde(default)]
    pub days: Option<u32>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsSection {
    pub architectures: Vec<Architecture>,
    #[serde(default = "default_variants")]
    pub variants: Vec<Variant>,
    #[serde(default = "default_targets")]
    pub targets: Vec<Target>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
}

fn default_variants() -> Vec<Variant> {
    vec![Variant::Default]
}

fn default_targets() -> Vec<Target> {
    vec![Target::default()]
}

fn default_seeds() -> Vec<u64> {
    vec![TrainSpec::default().seed]
}

/// A walk-forward study: each model trained once per fold on an expanding window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkForwardSection {
    pub folds: usize,
}

/// The walk-forward folds a sweep may ask for.
pub const SWEEP_FOLDS: std::ops::RangeInclusive<usize> = 2..=20;

/// What each task asks of the cluster; every field optional (defaults: [`SweepResources`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSection {
    cpus: Option<u32>,
    memory_gb: Option<u32>,
    gpus: Option<u32>,
    time_minutes: Option<u32>,
    parallel: Option<u32>,
}

impl ResourcesSection {
    fn resolve(&self) -> std::result::Result<SweepResources, String> {
        let d = SweepResources::default();
        let r = SweepResources {
            cpus: self.cpus.unwrap_or(d.cpus),
            memory_gb: self.memory_gb.unwrap_or(d.memory_gb),
            gpus: self.gpus.unwrap_or(d.gpus),
            time_minutes: self.time_minutes.unwrap_or(d.time_minutes),
            parallel: self.parallel.unwrap_or(d.parallel),
        };
        for (name, value, range) in [
            ("cpus", r.cpus, 1..=1024),
            ("memory_gb", r.memory_gb, 1..=4096),
            ("gpus", r.gpus, 0..=16),
            ("time_minutes", r.time_minutes, 1..=43_200),
            ("parallel", r.parallel, 1..=10_000),
        ] {
            if !range.contains(&value) {
                return Err(format!(
                    "resources.{name} = {value} is outside {}..={}",
                    range.start(),
                    range.end()
                ));
            }
        }
        Ok(r)
    }
}

/// Reads a sweep declaration, naming the file and the TOML problem.
pub fn read_sweep_file(path: &Path) -> Result<(SweepFile, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::InvalidRequest(format!("{} is not UTF-8 text", path.display())))?;
    let file: SweepFile = toml::from_str(text).map_err(|e| {
        Error::InvalidRequest(format!(
            "{} is not a sweep declaration: {}",
            path.display(),
            e.to_string().trim_end()
        ))
    })?;
    Ok((file, bytes))
}

/// The fields `[spec]` and `[grid]` may set: a TrainSpec's, as its metadata names them, less
/// those `[models]` declares.
fn settable_fields() -> Vec<String> {
    let mut fields: Vec<String> = match serde_json::to_value(TrainSpec::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    fields.extend(["overrides", "trees", "context"].map(String::from));
    fields.retain(|f| {
        !matches!(
            f.as_str(),
            "architecture" | "architecture_variant" | "target" | "seed"
        )
    });
    fields.sort();
    fields.dedup();
    fields
}

/// A field's name as a TrainSpec serialises it (`device` is stored as `device_choice`).
fn field_key(name: &str) -> &str {
    match name {
        "device" => "device_choice",
        other => other,
    }
}

/// One combination before it is checked.
struct Combination {
    symbol: Symbol,
    spec: std::result::Result<TrainSpec, String>,
    grid: BTreeMap<String, Value>,
}

/// Every combination the declaration names, in a fixed order (symbol, architecture, variant,
/// target, grid point, seed); a field value a TrainSpec cannot hold is its problem.
fn combinations(file: &SweepFile) -> std::result::Result<(Vec<Combination>, usize), Vec<String>> {
    let settable = settable_fields();
    let mut problems = Vec::new();
    let mut base = match serde_json::to_value(TrainSpec::default()) {
        Ok(Value::Object(map)) => map,
        _ => return Err(vec!["the default spec does not serialise".into()]),
    };
    for (name, value) in &file.spec {
        let key = field_key(name);
        if !settable.iter().any(|f| f == key) {
            problems.push(unknown_field("spec", name, &settable));
            continue;
        }
        base.insert(key.to_string(), toml_to_json(value));
    }
    let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
    for (name, value) in &file.grid {
        let key = field_key(name);
        if !settable.iter().any(|f| f == key) {
            problems.push(unknown_field("grid", name, &settable));
            continue;
        }
        match value {
            toml::Value::Array(values) if !values.is_empty() => {
                axes.push((key.to_string(), values.iter().map(toml_to_json).collect()));
            }
            _ => problems.push(format!(
                "grid.{name} must be a non-empty list of values, e.g. {name} = [1, 2]"
            )),
        }
    }
    let m = &file.models;
    for (what, empty) in [
        ("series.symbols", file.series.symbols.is_empty()),
        ("models.architectures", m.architectures.is_empty()),
        ("models.variants", m.variants.is_empty()),
        ("models.targets", m.targets.is_empty()),
        ("models.seeds", m.seeds.is_empty()),
    ] {
        if empty {
            problems.push(format!("{what} is empty: name at least one"));
        }
    }
    let points: usize = axes.iter().map(|(_, v)| v.len()).product();
    let folds = file.walk_forward.as_ref().map_or(1, |w| w.folds);
    let count = file.series.symbols.len()
        * m.architectures.len()
        * m.variants.len()
        * m.targets.len()
        * points
        * m.seeds.len()
        * folds;
    if count > MAX_JOBS {
        problems.push(format!(
            "the sweep names {count} trainings; at most {MAX_JOBS} per sweep (split it into several)"
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = Vec::with_capacity(count / folds.max(1));
    let mut seen_trees = std::collections::HashSet::new();
    for symbol in &file.series.symbols {
        for architecture in &m.architectures {
            for variant in &m.variants {
                for target in &m.targets {
                    for point in 0..points {
                        let mut grid = BTreeMap::new();
                        let mut rest = point;
                        for (key, values) in axes.iter().rev() {
                            grid.insert(key.clone(), values[rest % values.len()].clone());
                            rest /= values.len();
                        }
                        for seed in &m.seeds {
                            let mut spec = base.clone();
                            let mut grid = grid.clone();
                            for (key, value) in &grid {
                                spec.insert(key.clone(), value.clone());
                            }
                            if *architecture == Architecture::Gbdt {
                                // Trees read none of the networks' fields: a grid over them
                                // would train the same trees again.
                                for field in TrainSpec::NETWORK_ONLY_FIELDS {
                                    spec.remove(*field);
                                    grid.remove(*field);
                                }
                                let key = format!(
                                    "{symbol}|{variant}|{target}|{seed}|{}",
                                    Value::Object(spec.clone())
                                );
                                if !seen_trees.insert(key) {
                                    continue;
                                }
                                for field in TrainSpec::NETWORK_ONLY_FIELDS {
                                    if let Some(v) = base.get(*field) {
                                        spec.insert(field.to_string(), v.clone());
                                    }
                                }
                            }
                            spec.insert("architecture".into(), Value::from(architecture.as_str()));
                            spec.insert(
                                "architecture_variant".into(),
                                Value::from(variant.as_str()),
                            );
                            spec.insert("target".into(), Value::from(target.as_str()));
                            spec.insert("seed".into(), Value::from(*seed));
                            out.push(Combination {
                                symbol: symbol.clone(),
                                spec: serde_json::from_value(Value::Object(spec))
                                    .map_err(|e| e.to_string()),
                                grid,
                            });
                        }
                    }
                }
            }
        }
    }
    let dropped = count / folds.max(1) - out.len();
    Ok((out, dropped))
}

fn unknown_field(section: &str, name: &str, settable: &[String]) -> String {
    format!(
        "{section}.{name} is not a training field that a sweep sets; it may set {}",
        settable.join(", ")
    )
}

fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `candles` as a content-addressed snapshot (`candles/SHA256.csv`), its text kept in
/// `snapshots` until the plan is written.
fn snapshot(candles: &[crate::candles::Candle], snapshots: &mut Snapshots) -> CandleSnapshot {
    let text = write_csv(candles);
    let sha256 = sha256_hex(text.as_bytes());
    let file = format!("{CANDLES_DIR}/{sha256}.csv");
    if !snapshots.iter().any(|(f, _)| *f == file) {
        snapshots.push((file.clone(), text));
    }
    CandleSnapshot {
        file,
        sha256,
        candles: candles.len(),
        first_open_ms: candles.first().map_or(0, |c| c.open_time),
        last_open_ms: candles.last().map_or(0, |c| c.open_time),
    }
}

/// The candles of each fold's expanding window: fold k of K ends where fold k+1's test split
/// starts, so the test splits follow one another (the last fold uses every candle).
pub fn fold_lengths(candles: usize, folds: usize, test_fraction: f64) -> Vec<usize> {
    (1..=folds)
        .map(|k| {
            let shrink = (1.0 - test_fraction).powi((folds - k) as i32);
            ((candles as f64 * shrink).round() as usize).min(candles)
        })
        .collect()
}

/// The series a job trains on: the snapshot's candles (the first `fold.candles` of them for a
/// walk-forward fold) with the context market's candles up to the series' last.
pub fn job_series(
    series: &SeriesRequest,
    candles: &[crate::candles::Candle],
    context: Option<(&Symbol, &[crate::candles::Candle])>,
    fold: Option<&SweepFold>,
) -> CandleSeries {
    let candles = match fold {
        Some(f) => candles[..f.candles.min(candles.len())].to_vec(),
        None => candles.to_vec(),
    };
    let last = candles.last().map_or(i64::MIN, |c| c.open_time);
    CandleSeries {
        symbol: series.symbol.clone(),
        timeframe: series.timeframe,
        source: series.source.clone(),
        context: context.map(|(symbol, rows)| crate::market::source::ContextCandles {
            symbol: symbol.clone(),
            candles: rows
                .iter()
                .filter(|c| c.open_time <= last)
                .copied()
                .collect(),
        }),
        candles,
    }
}

/// A combination whose fields passed, with its series request and grid point.
type Checked = (TrainRequest, CheckedSpec, BTreeMap<String, Value>);

/// Plans `sweep` into `out` (new, empty, or holding an earlier plan): every combination
/// checked (fields, memory per task, enough data), all problems returned together before
/// anything is written.
pub async fn plan(settings: &Settings, sweep: &Path, out: &Path) -> Result<SweepManifest> {
    let (file, declaration) = read_sweep_file(sweep)?;
    let resources = file.resources.resolve().map_err(Error::InvalidRequest)?;
    let (combos, dropped) = combinations(&file).map_err(|p| listed(sweep, &p))?;
    if let Some(w) = &file.walk_forward
        && !SWEEP_FOLDS.contains(&w.folds)
    {
        return Err(listed(
            sweep,
            &[format!(
                "walk_forward.folds = {} is outside {}..={}",
                w.folds,
                SWEEP_FOLDS.start(),
                SWEEP_FOLDS.end()
            )],
        ));
    }
    // Every field of every combination, then memory per task, before any candle is loaded.
    let checked = check_fields(&file, &combos, &resources).map_err(|p| listed(sweep, &p))?;
    let (jobs, snapshots) = build_jobs(settings, &file, &checked)
        .await?
        .map_err(|p| listed(sweep, &p))?;
    prepare_out(out)?;
    for (file, text) in &snapshots {
        let path = out.join(file);
        // Content-addressed: a file of that name already holds exactly these bytes.
        if !path.exists() {
            write_atomic(&path, text.as_bytes())?;
        }
    }
    write_sweep(out, &file.name, &declaration, resources, jobs, dropped)
}

/// The fields of every combination as training checks them, and memory against what each
/// task asks for (a cluster task is not bound by the planning machine's memory).
fn check_fields(
    file: &SweepFile,
    combos: &[Combination],
    resources: &SweepResources,
) -> std::result::Result<Vec<Checked>, Vec<String>> {
    let mut problems = Vec::new();
    let mut checked = Vec::with_capacity(combos.len());
    for (i, c) in combos.iter().enumerate() {
        let series = SeriesRequest {
            source: file.series.source.clone(),
            symbol: c.symbol.clone(),
            timeframe: file.series.timeframe,
            days: file.series.days,
            start_date: file.series.start_date.clone(),
            end_date: file.series.end_date.clone(),
        };
        let spec = match &c.spec {
            Ok(spec) => spec.clone(),
            Err(e) => {
                problems.push(format!("combination {} ({}): {e}", i + 1, c.symbol));
                continue;
            }
        };
        let mut label = format!(
            "{} {}/{} {} seed {}",
            c.symbol, spec.architecture, spec.variant, spec.target, spec.seed
        );
        for (field, value) in &c.grid {
            label.push_str(&format!(" {field}={value}"));
        }
        let request = TrainRequest { series, spec };
        let field_problems = request.problems();
        for p in &field_problems {
            problems.push(format!("{label}: {}: {}", p.field, p.reason));
        }
        if file.walk_forward.is_some() && request.spec.walk_forward_folds.is_some() {
            problems.push(format!(
                "{label}: walk_forward_folds trains every fold inside one job; a sweep's [walk_forward] makes one job per fold, so set one of them"
            ));
        }
        if !request.spec.architecture.is_trainable() {
            problems.push(format!(
                "{label}: an ensemble is made from registered versions, not trained"
            ));
            continue;
        }
        match request.spec.clone().check() {
            // `check` names the first of the problems listed above.
            Err(_) if !field_problems.is_empty() => {}
            Ok(spec) => {
                if let Err(e) = check_memory_with(&spec, u64::from(resources.memory_gb) << 30) {
                    problems.push(format!(
                        "{label}: in the {} GB each task asks for (resources.memory_gb): {e}",
                        resources.memory_gb
                    ));
                }
                checked.push((request, spec, c.grid.clone()));
            }
            Err(p) => problems.push(format!("{label}: {}: {}", p.field, p.reason)),
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems)
    }
}

/// Snapshots held in memory until the plan is known to be sound: (file, CSV text).
type Snapshots = Vec<(String, String)>;

/// Loads the candles (once per symbol and context market), checks that every job has enough
/// data with the same preparation training does, and makes the job files' contents. The outer
/// error is a load failure; the inner one every data problem.
async fn build_jobs(
    settings: &Settings,
    file: &SweepFile,
    checked: &[Checked],
) -> Result<std::result::Result<(Vec<SweepJob>, Snapshots), Vec<String>>> {
    let mut loaded: HashMap<Symbol, (CandleSeries, CandleSnapshot)> = HashMap::new();
    let mut contexts: HashMap<(Symbol, Symbol), (Vec<crate::candles::Candle>, CandleSnapshot)> =
        HashMap::new();
    let mut snapshots = Snapshots::new();
    let mut jobs = Vec::new();
    let mut problems = Vec::new();
    let mut data_checked: HashMap<String, std::result::Result<(), String>> = HashMap::new();
    let folds = file.walk_forward.as_ref().map_or(1, |w| w.folds);
    for (request, spec, grid) in checked {
        let symbol = &request.series.symbol;
        if !loaded.contains_key(symbol) {
            let series = load_series(settings, &request.series, &mut |_| {}).await?;
            let snap = snapshot(&series.candles, &mut snapshots);
            loaded.insert(symbol.clone(), (series, snap));
        }
        let (series, snap) = &loaded[symbol];
        let context = match &spec.context {
            Some(context) => {
                let key = (symbol.clone(), context.clone());
                if !contexts.contains_key(&key) {
                    let with = with_context(settings, series.clone(), Some(context)).await?;
                    let rows = with.context.map(|c| c.candles).unwrap_or_default();
                    let s = snapshot(&rows, &mut snapshots);
                    contexts.insert(key.clone(), (rows, s));
                }
                Some((context.clone(), contexts[&key].clone()))
            }
            None => None,
        };
        let lengths = match &file.walk_forward {
            Some(w) => fold_lengths(series.candles.len(), w.folds, spec.fractions.test),
            None => vec![series.candles.len()],
        };
        for (k, &length) in lengths.iter().enumerate() {
            let fold = (folds > 1).then(|| SweepFold {
                fold: k + 1,
                folds,
                candles: length,
            });
            let job_series = job_series(
                &request.series,
                &series.candles,
                context.as_ref().map(|(s, (rows, _))| (s, rows.as_slice())),
                fold.as_ref(),
            );
            // Enough data: the same preparation training does, once per distinct input.
            let key = format!(
                "{symbol}|{length}|{:?}|{}|{}|{}|{:?}|{:?}|{:?}",
                spec.feature_set,
                spec.sequence_length,
                spec.horizon,
                spec.target,
                spec.fractions,
                spec.walk_forward_folds,
                spec.context
            );
            let verdict = data_checked.entry(key).or_insert_with(|| {
                prepare(&job_series, spec)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            let job = SweepJob {
                sweep_id: String::new(),
                index: jobs.len(),
                atb_version: env!("CARGO_PKG_VERSION").into(),
                series: request.series.clone(),
                spec: (**spec).clone(),
                candles: snap.clone(),
                context: context.as_ref().map(|(_, (_, s))| s.clone()),
                fold,
                grid: grid.clone(),
                data_sha256: candles_sha256(&job_series, spec.feature_set),
            };
            if let Err(e) = verdict {
                problems.push(format!("{}: {e}", job.label()));
            }
            jobs.push(job);
        }
    }
    Ok(if problems.is_empty() {
        Ok((jobs, snapshots))
    } else {
        Err(problems)
    })
}

/// `out` must be new, empty, or hold an earlier plan (which is replaced whole).
fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        let entries: Vec<_> = std::fs::read_dir(out)
            .map_err(io(out))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        if !entries.is_empty() && !out.join(SWEEP_MANIFEST_FILE).exists() {
            return Err(Error::InvalidRequest(format!(
                "{} holds files and no {SWEEP_MANIFEST_FILE}; plan a sweep into a new or empty folder",
                out.display()
            )));
        }
        let jobs = out.join(JOBS_DIR);
        if jobs.exists() {
            std::fs::remove_dir_all(&jobs).map_err(io(&jobs))?;
        }
    }
    for dir in [out.to_path_buf(), out.join(JOBS_DIR), out.join(CANDLES_DIR)] {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    }
    Ok(())
}

fn write_sweep(
    out: &Path,
    name: &str,
    declaration: &[u8],
    resources: SweepResources,
    mut jobs: Vec<SweepJob>,
    duplicates_dropped: usize,
) -> Result<SweepManifest> {
    // The sweep's id: its declaration and the snapshots it reads.
    let mut snapshots: Vec<CandleSnapshot> = jobs
        .iter()
        .flat_map(|j| std::iter::once(j.candles.clone()).chain(j.context.clone()))
        .collect();
    snapshots.sort_by(|a, b| a.file.cmp(&b.file));
    snapshots.dedup();
    let mut identity = declaration.to_vec();
    for s in &snapshots {
        identity.extend_from_slice(s.sha256.as_bytes());
    }
    let sweep_id = sha256_hex(&identity);
    let mut entries = Vec::with_capacity(jobs.len());
    for job in &mut jobs {
        job.sweep_id = sweep_id.clone();
        let bytes = serde_json::to_vec_pretty(job)
            .map_err(|e| Error::InvalidData(format!("cannot serialise job {}: {e}", job.index)))?;
        write_atomic(&out.join(JOBS_DIR).join(job_file_name(job.index)), &bytes)?;
        entries.push(SweepJobEntry {
            index: job.index,
            sha256: sha256_hex(&bytes),
            label: job.label(),
        });
    }
    write_atomic(&out.join("sweep.toml"), declaration)?;
    let manifest = SweepManifest {
        name: name.to_string(),
        sweep_id,
        atb_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        resources,
        jobs: entries,
        duplicates_dropped,
        snapshots,
    };
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::InvalidData(format!("cannot serialise the manifest: {e}")))?;
    write_atomic(&out.join(SWEEP_MANIFEST_FILE), &bytes)?;
    Ok(manifest)
}

/// Every problem, one per line, under the file's name.
fn listed(sweep: &Path, problems: &[impl AsRef<str>]) -> Error {
    let mut text = format!(
        "{} cannot be planned ({} problem{}):",
        sweep.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        text.push_str("\n  - ");
        text.push_str(p.as_ref());
    }
    Error::InvalidRequest(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_tile_the_test_splits() {
        // 1,000 candles, test 20%, 3 folds: 1000·0.8² = 640, 1000·0.8 = 800, 1000.
        assert_eq!(fold_lengths(1000, 3, 0.2), vec![640, 800, 1000]);
        // Fold k's window ends where fold k+1's test split (its last 15%) starts.
        let l = fold_lengths(10_000, 4, 0.2);
        for w in l.windows(2) {
            let next_test_start = w[1] - (w[1] as f64 * 0.2).round() as usize;
            assert!(w[0].abs_diff(next_test_start) <= 1, "{l:?}");
        }
    }

    fn parse(text: &str) -> SweepFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_grid_expands_in_a_fixed_order_and_unknown_fields_are_named() {
        let file = parse(
            r#"
name = "grid"
[series]
symbols = ["BTCUSDT"]
timeframe = "1h"
source = "sample"
[models]
architectures = ["lstm", "gbdt"]
seeds = [1, 2]
[spec]
epochs = 2
device = "cpu"
[grid]
learning_rate = [0.001, 0.0003]
"#,
        );
        let (combos, dropped) = combinations(&file).unwrap();
        // gbdt reads no learning rate: its two grid points are one training per seed.
        assert_eq!((combos.len(), dropped), (2 * 2 + 2, 2));
        assert!(combos[4].grid.is_empty(), "{:?}", combos[4].grid);
        let first = combos[0].spec.as_ref().unwrap();
        assert_eq!(first.architecture, Architecture::Lstm);
        assert_eq!(
            (first.epochs, first.seed, first.learning_rate),
            (2, 1, 0.001)
        );
        assert_eq!(combos[1].spec.as_ref().unwrap().seed, 2);
        assert_eq!(combos[2].spec.as_ref().unwrap().learning_rate, 0.0003);
        assert_eq!(
            combos[4].spec.as_ref().unwrap().architecture,
            Architecture::Gbdt
        );
        assert_eq!(first.device.to_string(), "cpu");

        let bad = parse(
            r#"
name = "bad"
[series]
symbols = []
timeframe = "1h"
source = "sample"
[models]
architectures = ["lstm"]
[spec]
epoch = 2
[grid]
batch_size = 32
"#,
        );
        let problems = combinations(&bad).err().unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("spec.epoch is not a training field"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("grid.batch_size must be a non-empty list"),
            "{problems:?}"
        );
        assert!(
            problems[2].contains("series.symbols is empty"),
            "{problems:?}"
        );
    }
}
