//! `atb models ...`: list, show, compare, promote, delete, verify, re-evaluate and export
//! registered versions, and make an ensemble of them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use atb_engine::service::models;
use atb_engine::{PARITY_TOLERANCE, Settings, Symbol, Target};
use atb_protocol::forward::ForwardReport;
use atb_protocol::registry::{EnsembleRecipe, ModelRow};
use atb_protocol::selection::JudgedComparison;
use atb_protocol::training::{Evaluation, SplitEvaluation};
use atb_protocol::verdict::{VerdictKind, verdict};
use atb_protocol::vocab::Weighting;
use clap::Subcommand;

use crate::train::print_evaluation;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Registered versions, oldest first.
    List {
        #[arg(long)]
        symbol: Option<Symbol>,
        #[arg(long)]
        json: bool,
    },
    /// One version: metadata, hashes, aliases, test metrics beside the baselines.
    Show {
        /// Version id or alias (e.g. `latest` when only one series has one).
        #[arg(value_name = "VERSION")]
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Test metrics of several versions side by side with their baselines, the 90% model
    /// confidence set and Holm-adjusted verdicts on their common test windows.
    Compare {
        #[arg(value_name = "VERSION", required = true, num_args = 1..)]
        references: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Score versions on candles that closed after their data ended (fetched first for
    /// Binance), beside their test-split results; with two versions of one series, the first
    /// (champion) against the second (challenger) on their common forward windows.
    #[command(name = "forward-test")]
    ForwardTest {
        #[arg(value_name = "VERSION", required = true, num_args = 1..)]
        references: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Point an alias (default `champion`) at a version.
    Promote {
        #[arg(value_name = "VERSION")]
        reference: String,
        #[arg(long, default_value = "champion")]
        alias: String,
    },
    /// Delete a version; an aliased one only with --force.
    Delete {
        #[arg(value_name = "VERSION")]
        reference: String,
        #[arg(long)]
        force: bool,
    },
    /// Check every version's files and hashes and report orphans (deletes nothing).
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Register the finished runs kept under ATB_HOME/recovery (a registration that could not
    /// reach the index, e.g. its database stayed locked for minutes).
    Recover,
    /// Recompute a version's evaluation with this atb's method (paired tests, fair ridge,
    /// return-space MASE) from its recorded candles and its own weights; stored beside it in the
    /// index, its folder untouched.
    Reevaluate {
        #[arg(value_name = "VERSION")]
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Make an ensemble of registered versions of one series, horizon, target, features and
    /// windows: weighed on their validation forecasts (never the test split), evaluated on the
    /// test split beside the same baselines as any model, and registered as model type
    /// `ensemble` (exported to ONNX as one graph like any version).
    Ensemble {
        #[arg(value_name = "VERSION", required = true, num_args = 2..)]
        references: Vec<String>,
        /// `nnls`: non-negative weights minimising the target's loss on the validation split;
        /// `equal`: 1/k each. Both fits are reported either way.
        #[arg(long, default_value_t = Weighting::default())]
        weights: Weighting,
        #[arg(long)]
        json: bool,
    },
    /// Import the version bundles sweep workers wrote (`atb worker run`): each bundle's files
    /// checked against its manifest and its job against the sweep's, then registered under its
    /// original version id. Bundles already imported are found, not copied again; a corrupt one
    /// is refused and named while the others import (exit 1 when any was refused).
    Import {
        /// Results folders (or single bundles).
        #[arg(value_name = "RESULTS", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// The sweep folder `atb sweep plan` wrote (default: the one holding or beside RESULTS).
        #[arg(long, value_name = "DIR")]
        sweep: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Export a version to ONNX (`model.onnx` in its folder), re-load it in tract and compare it
    /// with Burn on 64 windows of its test split; fails and keeps nothing above 1e-4.
    #[command(name = "export-onnx")]
    ExportOnnx {
        #[arg(value_name = "VERSION")]
        reference: String,
        /// Also write a copy here (a file, or a folder that gets VERSION_ID.onnx).
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

/// Columns shown by `models show`; the rest are summed on one line.
const IMPORTANCE_SHOWN: usize = 15;

/// A tree model's importance per input column, by gain, with split counts and a bar.
fn print_importance(importance: &[atb_protocol::registry::ColumnImportance]) {
    if importance.is_empty() {
        return;
    }
    let total: f64 = importance.iter().map(|c| c.gain).sum();
    let mut sorted: Vec<_> = importance.iter().collect();
    sorted.sort_by(|a, b| b.gain.total_cmp(&a.gain));
    println!(
        "\nfeature importance (gain share, splits), top {IMPORTANCE_SHOWN} of {}:",
        sorted.len()
    );
    for c in sorted.iter().take(IMPORTANCE_SHOWN) {
        let share = if total > 0.0 { c.gain / total } else { 0.0 };
        println!(
            "  {:<28} {:>6.1}% {:>6}  {}",
            c.column,
            100.0 * share,
            c.splits,
            "#".repeat((share * 50.0).round() as usize)
        );
    }
    let rest: f64 = sorted.iter().skip(IMPORTANCE_SHOWN).map(|c| c.gain).sum();
    if sorted.len() > IMPORTANCE_SHOWN && total > 0.0 {
        println!(
            "  {:<28} {:>6.1}%  ({} columns)",
            "the rest",
            100.0 * rest / total,
            sorted.len() - IMPORTANCE_SHOWN
        );
    }
}

pub async fn run(cmd: ModelsCommand) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    match cmd {
        ModelsCommand::ExportOnnx {
            reference,
            output,
            json,
        } => export_onnx(&settings, &reference, output.as_deref(), json).await,
        ModelsCommand::List { symbol, json } => list(&settings, symbol.as_ref(), json),
        ModelsCommand::Reevaluate { reference, json } => {
            reevaluate(&settings, &reference, json).await
        }
        ModelsCommand::Show { reference, json } => show(&settings, &reference, json),
        ModelsCommand::Compare { references, json } => {
            compare_versions(&settings, &references, json).await
        }
        ModelsCommand::ForwardTest { references, json } => {
            forward_test(&settings, &references, json).await
        }
        ModelsCommand::Promote { reference, alias } => promote(&settings, &reference, &alias),
        ModelsCommand::Delete { reference, force } => delete(&settings, &reference, force),
        ModelsCommand::Recover => recover(&settings),
        ModelsCommand::Ensemble {
            references,
            weights,
            json,
        } => make_ensemble(settings, references, weights, json).await,
        ModelsCommand::Verify { json } => verify(&settings, json),
        ModelsCommand::Import { paths, sweep, json } => {
            crate::sweep::import(settings, paths, sweep, json).await
        }
    }
}

async fn make_ensemble(
    settings: Settings,
    references: Vec<String>,
    weighting: Weighting,
    json: bool,
) -> Result<ExitCode> {
    let made = tokio::task::spawn_blocking(move || {
        atb_engine::service::ensemble::make_ensemble(&settings, &references, weighting)
    })
    .await??;
    if json {
        println!("{}", serde_json::to_string_pretty(&made)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "registered the ensemble {} of {} members ({} weights):",
        made.row.version_id,
        made.recipe.members.len(),
        made.recipe.weighting
    );
    print_recipe(&made.recipe);
    print_evaluation(&made.evaluation);
    Ok(ExitCode::SUCCESS)
}

/// An ensemble's members with their weights, and every weighting's validation loss.
fn print_recipe(recipe: &EnsembleRecipe) {
    for m in &recipe.members {
        println!(
            "  {:>7.4}  {} ({} {})",
            m.weight, m.version_id, m.architecture, m.variant
        );
    }
    println!("validation {}:", recipe.loss);
    for f in &recipe.fits {
        let weights: Vec<String> = f.weights.iter().map(|w| format!("{w:.4}")).collect();
        println!(
            "  {:<6} {:.6}  [{}]",
            f.weighting.as_str(),
            f.validation_loss,
            weights.join(", ")
        );
    }
}

async fn export_onnx(
    settings: &Settings,
    reference: &str,
    output: Option<&std::path::Path>,
    json: bool,
) -> Result<ExitCode> {
    let report = models::export(settings, reference, output).await?;
    let e = &report.export;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "exported {} to {} ({} bytes, opset {}, sha256 {})",
            e.version_id,
            report.path.display(),
            e.bytes,
            e.opset,
            e.sha256
        );
        println!(
            "parity: max |ONNX - native| = {:.3e} over {} test windows in {} (limit {PARITY_TOLERANCE:e})",
            e.max_abs_diff, e.windows, e.runtime
        );
        if let Some(copy) = &report.copy {
            println!("copy:   {}", copy.display());
        }
    }
    if let Some(e) = &report.copy_error {
        eprintln!("error: the export succeeded and is recorded, but the copy failed: {e}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(settings: &Settings, symbol: Option<&Symbol>, json: bool) -> Result<ExitCode> {
    let rows = models::list(settings, symbol)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!(
            "no models registered in {} (train one with `atb train model`)",
            settings.home.display()
        );
    } else {
        print_rows(&rows);
    }
    Ok(ExitCode::SUCCESS)
}

async fn reevaluate(settings: &Settings, reference: &str, json: bool) -> Result<ExitCode> {
    let (row, evaluation) = models::reevaluate(settings, reference).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "row": row, "evaluation": evaluation })
            )?
        );
    } else {
        println!(
            "re-evaluated {} ({} {}) on its recorded candles:",
            row.version_id, row.architecture, row.variant
        );
        print_evaluation(&evaluation);
    }
    Ok(ExitCode::SUCCESS)
}

fn show(settings: &Settings, reference: &str, json: bool) -> Result<ExitCode> {
    let models::VersionReport {
        row,
        folder,
        metadata,
        evaluation,
        export,
        forward,
        ensemble,
    } = models::show(settings, reference)?;
    if json {
        let verdicts = evaluation.verdicts();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "row": row,
                "metadata": metadata,
                "evaluation": evaluation,
                "verdicts": verdicts,
                "forward": forward,
                "ensemble": ensemble,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let p = &metadata.training_params;
    println!(
        "{} — {} {} {} {}",
        row.version_id, row.symbol, row.timeframe, row.architecture, row.variant
    );
    println!("folder:    {}", folder.display());
    println!("created:   {}", row.created_at);
    println!(
        "target:    {} ({}, {} bar(s) ahead)",
        row.target,
        row.target.description(),
        p.spec.horizon
    );
    println!(
        "aliases:   {}",
        if row.aliases.is_empty() {
            "-".into()
        } else {
            row.aliases.join(", ")
        }
    );
    println!(
        "weights:   {} sha256 {}",
        metadata.weights_file, row.weights_sha256
    );
    match export {
        Some(e) => println!(
            "onnx:      sha256 {} (opset {}, max |ONNX - native| {:.2e} over {} test windows in {}, {})",
            e.sha256, e.opset, e.max_abs_diff, e.windows, e.runtime, e.exported_at
        ),
        None => println!(
            "onnx:      not exported (atb models export-onnx {})",
            row.version_id
        ),
    }
    println!(
        "data:      sha256 {} ({} from {})",
        row.data_sha256, metadata.dataset.candles, metadata.dataset.source
    );
    match (&ensemble, &p.tree_budget) {
        (Some(recipe), _) => {
            println!(
                "ensemble:  {} members, {} weights chosen on the validation split, {:.1} s with its members' training",
                recipe.members.len(),
                recipe.weighting,
                metadata.train_seconds
            );
            print_recipe(recipe);
        }
        (None, Some(b)) => println!(
            "training:  {} of {} boosting rounds ({:?}, best {}), {} leaves, depth {}, tree lr {}, min {} rows per leaf, sequence {}, seed {}, horizon {}, features {}, {} on {}",
            p.epochs_run,
            b.rounds,
            p.stop_reason,
            p.best_epoch.map_or("-".into(), |e| e.to_string()),
            b.leaves,
            b.max_depth,
            b.learning_rate,
            b.min_rows_in_leaf,
            p.spec.sequence_length,
            p.spec.seed,
            p.spec.horizon,
            p.spec.feature_set,
            format_args!("{:.1} s", metadata.train_seconds),
            metadata.device
        ),
        (None, None) => println!(
            "training:  {} of {} epochs ({:?}), batch {}, sequence {}, lr {}, seed {}, horizon {}, features {}, {} on {}",
            p.epochs_run,
            p.spec.epochs,
            p.stop_reason,
            p.spec.batch_size,
            p.spec.sequence_length,
            p.spec.learning_rate,
            p.spec.seed,
            p.spec.horizon,
            p.spec.feature_set,
            format_args!("{:.1} s", metadata.train_seconds),
            metadata.device
        ),
    }
    print_evaluation(&evaluation);
    if let Some(f) = &forward {
        println!("{} (tested {})", f.sentence(), f.tested_at);
    }
    print_importance(&metadata.importance);
    Ok(ExitCode::SUCCESS)
}

async fn compare_versions(
    settings: &Settings,
    references: &[String],
    json: bool,
) -> Result<ExitCode> {
    let compared = models::compare(settings, references)?;
    let judged = if references.len() > 1 {
        Some(
            atb_engine::service::decision::judge(settings, references)
                .await
                .map_err(|e| e.to_string()),
        )
    } else {
        None
    };
    compare(&compared, judged.as_ref(), json)?;
    Ok(ExitCode::SUCCESS)
}

async fn forward_test(settings: &Settings, references: &[String], json: bool) -> Result<ExitCode> {
    let report = atb_engine::service::decision::forward_test(settings, references).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_forward(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn promote(settings: &Settings, reference: &str, alias: &str) -> Result<ExitCode> {
    let row = models::promote(settings, reference, alias)?;
    println!(
        "{alias} -> {} ({} {} {})",
        row.version_id, row.symbol, row.timeframe, row.architecture
    );
    Ok(ExitCode::SUCCESS)
}

fn delete(settings: &Settings, reference: &str, force: bool) -> Result<ExitCode> {
    let row = models::delete(settings, reference, force)?;
    println!(
        "deleted {} and {}",
        row.version_id,
        settings.home.join(&row.folder).display()
    );
    Ok(ExitCode::SUCCESS)
}

fn recover(settings: &Settings) -> Result<ExitCode> {
    let report = models::recover(settings)?;
    if report.is_empty() {
        println!("nothing to recover");
    }
    for row in &report.registered {
        println!(
            "registered {} ({} {} {})",
            row.version_id, row.symbol, row.timeframe, row.architecture
        );
    }
    for version in &report.restored_exports {
        println!("put back the recorded model.onnx of {version}");
    }
    for failure in &report.failed {
        eprintln!("not recovered: {}: {}", failure.folder, failure.reason);
    }
    if !report.failed.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(settings: &Settings, json: bool) -> Result<ExitCode> {
    let report = models::verify(settings)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} versions checked, {} intact",
            report.checked,
            report.ok.len()
        );
        for (v, why) in &report.damaged {
            println!("damaged: {v}: {why}");
        }
        for f in &report.orphan_folders {
            println!("orphan folder (no index row): {f}");
        }
        for f in &report.incomplete_writes {
            println!("interrupted registration (temporary folder, safe to delete): {f}");
        }
        for p in &report.database_problems {
            println!("database: {p}");
        }
        for f in &report.registrations_in_progress {
            println!("registration in progress (its process still runs; leave it): {f}");
        }
        for r in &report.orphan_rows {
            println!("orphan row (folder missing): {r}");
        }
        for f in &report.stray_files {
            println!("stray file (not one of the version's files): {f}");
        }
        for f in &report.awaiting_recovery {
            println!("finished run not yet registered (run `atb models recover`): {f}");
        }
    }
    if report.check().fails() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The verdict against persistence in a table cell: the kind and the DM p-value.
fn short_verdict(r: &ModelRow) -> String {
    if r.target != Target::Return {
        let better = r
            .target_verdicts
            .iter()
            .filter(|v| v.kind == VerdictKind::Better)
            .count();
        return format!("beats {better} of {}", r.target_verdicts.len());
    }
    let p = r
        .vs_persistence
        .and_then(|c| c.absolute)
        .map(|t| atb_protocol::verdict::format_p(t.p_value))
        .unwrap_or_default();
    match r.verdict_vs_persistence.as_ref().map(|v| v.kind) {
        Some(VerdictKind::Better) => format!("better (p {p})"),
        Some(VerdictKind::Worse) => format!("worse (p {p})"),
        Some(VerdictKind::NoDifference) => format!("no difference (p {p})"),
        _ => "not computed".into(),
    }
}

fn print_rows(rows: &[ModelRow]) {
    println!(
        "{:<26} {:<9} {:<3} {:<14} {:<11} {:<10} {:>10} {:>10} {:>8} {:>6} {:>7} {:>9}  {:<20} aliases",
        "version",
        "symbol",
        "tf",
        "architecture",
        "variant",
        "target",
        "MAE USD",
        "RMSE USD",
        "skill",
        "dir",
        "p",
        "params",
        "verdict"
    );
    for r in rows {
        println!(
            "{:<26} {:<9} {:<3} {:<14} {:<11} {:<10} {:>10} {:>10} {:>8} {:>6} {:>7} {:>9}  {:<20} {}",
            r.version_id,
            r.symbol,
            r.timeframe,
            r.architecture,
            r.variant,
            r.target,
            opt(r.test_mae_usd, 2),
            opt(r.test_rmse_usd, 2),
            opt(r.skill_vs_persistence, 4),
            opt(r.directional_accuracy, 3),
            opt(r.pt_p_value, 3),
            r.parameters,
            short_verdict(r),
            r.aliases.join(",")
        );
    }
}

/// Each version's forward test: the windows found, and once there are enough, the metrics
/// beside the baselines, the verdicts and the value after costs; then champion against
/// challenger.
fn print_forward(report: &ForwardReport) {
    for r in &report.results {
        println!(
            "{}: data ended {}; {} forward window(s){}",
            r.version_id,
            atb_engine::format_ms(r.data_end_ms),
            r.windows,
            match (r.first_target_ms, r.last_target_ms) {
                (Some(a), Some(b)) => format!(
                    ", targets {} to {}",
                    atb_engine::format_ms(a),
                    atb_engine::format_ms(b)
                ),
                _ => String::new(),
            }
        );
        match &r.evaluation {
            None => println!("  {}", r.sentence()),
            Some(e) => {
                println!(
                    "  MAE {:.2} USD (persistence {:.2}, drift {:.2}), skill {:+.4}",
                    e.model.mae_usd,
                    e.persistence.mae_usd,
                    e.drift.mae_usd,
                    e.model.skill_vs_persistence
                );
                println!(
                    "  verdict: {}",
                    verdict("persistence", Some(&e.vs_persistence)).text
                );
                println!("  verdict: {}", verdict("drift", Some(&e.vs_drift)).text);
                if let Some(b) = &e.backtest {
                    crate::backtest::print_backtest(b, &[]);
                }
            }
        }
    }
    if let Some(p) = &report.pair {
        println!(
            "champion {} against challenger {} on {} common forward window(s): {}",
            p.first, p.second, p.windows, p.verdict.text
        );
    }
}

/// The rows of `atb models compare`, one value per version: the return target's metrics, or the
/// model column of the volatility or direction target's table.
fn compare_rows(columns: &[(ModelRow, Evaluation)]) -> Vec<(String, Vec<Option<f64>>)> {
    type Pick = fn(&SplitEvaluation) -> Option<f64>;
    let picks: [(&str, Pick); 10] = [
        ("MAE (USD)", |t| Some(t.model.mae_usd)),
        ("RMSE (USD)", |t| Some(t.model.rmse_usd)),
        ("skill vs persistence", |t| {
            Some(t.model.skill_vs_persistence)
        }),
        ("MASE", |t| Some(t.model.mase)),
        ("directional accuracy", |t| t.model.directional_accuracy),
        ("PT p-value", |t| t.model.pt_p_value),
        ("persistence MAE (USD)", |t| Some(t.persistence.mae_usd)),
        ("drift MAE (USD)", |t| Some(t.drift.mae_usd)),
        ("ridge MAE (USD)", |t| Some(t.ridge.mae_usd)),
        ("test windows", |t| Some(t.samples as f64)),
    ];
    let Some((_, first)) = columns.first() else {
        return Vec::new();
    };
    match &first.target {
        // `models::compare` refuses versions of different targets, so every column has one.
        Some(target) => {
            let mut rows: Vec<(String, Vec<Option<f64>>)> = target
                .table()
                .rows
                .iter()
                .map(|r| (r.label.to_string(), Vec::new()))
                .collect();
            for (_, evaluation) in columns {
                let table = evaluation.target.as_ref().map(|t| t.table());
                for (i, (_, values)) in rows.iter_mut().enumerate() {
                    values.push(
                        table
                            .as_ref()
                            .and_then(|t| t.rows.get(i))
                            .and_then(|r| r.values[0]),
                    );
                }
            }
            rows.push((
                "test windows".into(),
                columns
                    .iter()
                    .map(|(_, e)| e.target.as_ref().map(|t| t.windows() as f64))
                    .collect(),
            ));
            rows
        }
        None => picks
            .iter()
            .map(|(label, pick)| {
                let values = columns
                    .iter()
                    .map(|(_, e)| e.test.as_ref().and_then(pick).filter(|v| v.is_finite()))
                    .collect();
                (label.to_string(), values)
            })
            .collect(),
    }
}

fn compare(
    compared: &models::Compared,
    judged: Option<&std::result::Result<JudgedComparison, String>>,
    json: bool,
) -> Result<()> {
    let columns = &compared.columns;
    if json {
        let out: Vec<_> = columns
            .iter()
            .map(|(row, evaluation)| {
                serde_json::json!({
                    "version_id": row.version_id,
                    "architecture": row.architecture,
                    "variant": row.variant,
                    "target": row.target,
                    "test": evaluation.test,
                    "target_evaluation": evaluation.target,
                    "verdicts": evaluation.verdicts(),
                })
            })
            .collect();
        let judged = match judged {
            Some(Ok(j)) => serde_json::json!(j),
            Some(Err(why)) => serde_json::json!({ "not_judged": why }),
            None => serde_json::Value::Null,
        };
        let out = serde_json::json!({
            "versions": out,
            "same_test_windows": compared.same_test_windows,
            "judged": judged
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let rows = compare_rows(columns);
    print!("{:<24}", "");
    for (row, _) in columns {
        print!(" {:>26}", format!("{} {}", row.architecture, row.variant));
    }
    println!();
    print!("{:<24}", "");
    for (row, _) in columns {
        print!(" {:>26}", row.version_id);
    }
    println!();
    for (label, values) in &rows {
        // No "best" marks: a point estimate does not pick a winner (the confidence set does).
        print!("{label:<24}");
        for v in values {
            let cell = match v {
                Some(v) => format!("{v:.4} "),
                None => "- ".into(),
            };
            print!(" {cell:>26}");
        }
        println!();
    }
    for (row, evaluation) in columns {
        let verdicts: Vec<String> = evaluation.verdicts().into_iter().map(|v| v.text).collect();
        println!(
            "{} {} {}: {}",
            row.version_id,
            row.architecture,
            row.variant,
            verdicts.join("; ")
        );
    }
    if columns.len() > 1 && !compared.same_test_windows {
        println!(
            "note: these versions were tested on different windows (series or test split differ), so their metrics are not directly comparable"
        );
    }
    match judged {
        Some(Ok(j)) => {
            if let Some(set) = &j.model_confidence_set {
                println!("{}", set.sentence());
            }
            println!(
                "verdicts with Holm's adjustment across the {} paired tests above:",
                j.tests_adjusted
            );
            for v in &j.verdicts {
                println!(
                    "{}: {}; {}",
                    v.version_id, v.vs_persistence.text, v.vs_drift.text
                );
            }
        }
        Some(Err(why)) => println!("not judged together: {why}"),
        None => {}
    }
    Ok(())
}
