//! `atb train model`: load candles from a source, train with live progress, register the result
//! and print its test metrics beside the baselines. Ctrl-C cancels cleanly (nothing registered).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use atb_engine::service::data::load_series;
use atb_engine::service::train::{TrainOptions, TrainResult, train_and_register};
use atb_engine::{
    Architecture, CandleSource, DeviceChoice, FeatureSet, Settings, Symbol, Target, Timeframe,
    TrainSpec, Variant,
};
use atb_protocol::desktop::TrainRequest;
use atb_protocol::spec::TreeOverrides;
use atb_protocol::targets::TargetEvaluation;
use atb_protocol::training::{Evaluation, TrainingEvent};
use clap::{Args, Subcommand};

use crate::EXIT_INTERRUPTED;
use crate::data::RangeArgs;
use crate::output::{cancel_on_ctrl_c, progress_bar, time};

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Train one model, evaluate it against the baselines and register it.
    Model(TrainArgs),
}

/// The flags' defaults are `TrainSpec::default()`, the same the desktop form starts from.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Trading pair, e.g. BTCUSDT.
    symbol: Symbol,
    /// cnn_lstm, attention_lstm, tcn, tcn_attention, lstm or gbdt (LightGBM trees; epochs,
    /// batch size, learning rate and patience are the networks' and do not apply to it).
    #[arg(long, alias = "model-type", default_value_t = TrainSpec::default().architecture)]
    architecture: Architecture,
    /// lightweight, default or deep.
    #[arg(long, alias = "model-variant", default_value_t = TrainSpec::default().variant)]
    variant: Variant,
    #[arg(long, short = 't', default_value_t = Timeframe::default())]
    timeframe: Timeframe,
    #[command(flatten)]
    range: RangeArgs,
    /// `binance`, `sample` (bundled BTCUSDT 1h) or `csv:PATH`.
    #[arg(long, default_value_t = CandleSource::Binance)]
    source: CandleSource,
    #[arg(long, default_value_t = TrainSpec::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = TrainSpec::default().batch_size)]
    batch_size: usize,
    /// Candles per input window.
    #[arg(long, default_value_t = TrainSpec::default().sequence_length)]
    sequence_length: usize,
    #[arg(long, default_value_t = TrainSpec::default().learning_rate)]
    learning_rate: f64,
    /// Epochs without validation improvement before stopping early.
    #[arg(long, default_value_t = TrainSpec::default().patience)]
    patience: usize,
    /// Epochs without validation improvement before the learning rate is halved.
    #[arg(long, default_value_t = TrainSpec::default().lr_patience)]
    lr_patience: usize,
    /// The learning rate is never halved below this.
    #[arg(long, default_value_t = TrainSpec::default().min_learning_rate)]
    min_learning_rate: f64,
    /// Bars ahead to predict.
    #[arg(long, default_value_t = TrainSpec::default().horizon)]
    horizon: usize,
    /// What to forecast about the next h bars: return (the log return), volatility (realised
    /// volatility, judged against RV persistence, EWMA and HAR-RV) or direction (the probability
    /// of an up move, judged against climatology and the last move).
    #[arg(long, default_value_t = TrainSpec::default().target)]
    target: Target,
    /// price, technical, wavelet, wavelet_haar or flow.
    #[arg(long, default_value_t = TrainSpec::default().feature_set)]
    feature_set: FeatureSet,
    /// Another market's returns and relative volume as inputs (e.g. BTCUSDT beside ETHUSDT),
    /// fetched from Binance beside the series and aligned on open time.
    #[arg(long)]
    context: Option<Symbol>,
    #[arg(long, default_value_t = TrainSpec::default().seed)]
    seed: u64,
    /// auto, gpu or cpu.
    #[arg(long, default_value_t = TrainSpec::default().device)]
    device: DeviceChoice,
    /// Clip the global gradient norm to this value.
    #[arg(long, alias = "grad-clip")]
    grad_clip_norm: Option<f64>,
    /// Also evaluate by walk-forward over this many folds (trains one model per fold).
    #[arg(long, alias = "folds")]
    walk_forward_folds: Option<usize>,
    /// gbdt: leaves per tree (the variant's when not given).
    #[arg(long, help_heading = "gbdt")]
    leaves: Option<u32>,
    /// gbdt: depth limit per tree.
    #[arg(long, help_heading = "gbdt")]
    max_depth: Option<u32>,
    /// gbdt: boosting rounds at most.
    #[arg(long, help_heading = "gbdt")]
    rounds: Option<u32>,
    /// gbdt: shrinkage of each tree (LightGBM's learning_rate).
    #[arg(long, help_heading = "gbdt")]
    tree_learning_rate: Option<f64>,
    /// gbdt: fewest training rows a leaf may hold.
    #[arg(long, help_heading = "gbdt")]
    min_rows_in_leaf: Option<u32>,
    /// gbdt: rounds without a better validation loss before stopping.
    #[arg(long, help_heading = "gbdt")]
    early_stopping_rounds: Option<u32>,
    /// Print one final JSON object on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
}

impl TrainArgs {
    /// The request these flags make: the same type the desktop sends.
    pub fn request(&self) -> TrainRequest {
        TrainRequest {
            series: self
                .range
                .series(self.source.clone(), self.symbol.clone(), self.timeframe),
            spec: TrainSpec {
                architecture: self.architecture,
                variant: self.variant,
                epochs: self.epochs,
                batch_size: self.batch_size,
                sequence_length: self.sequence_length,
                learning_rate: self.learning_rate,
                patience: self.patience,
                lr_patience: self.lr_patience,
                min_learning_rate: self.min_learning_rate,
                horizon: self.horizon,
                target: self.target,
                feature_set: self.feature_set,
                context: self.context.clone(),
                seed: self.seed,
                device: self.device,
                grad_clip_norm: self.grad_clip_norm,
                walk_forward_folds: self.walk_forward_folds,
                trees: TreeOverrides {
                    leaves: self.leaves,
                    max_depth: self.max_depth,
                    rounds: self.rounds,
                    learning_rate: self.tree_learning_rate,
                    min_rows_in_leaf: self.min_rows_in_leaf,
                    early_stopping_rounds: self.early_stopping_rounds,
                },
                ..TrainSpec::default()
            },
        }
    }
}

pub async fn run(cmd: TrainCommand) -> Result<ExitCode> {
    let TrainCommand::Model(args) = cmd;
    let settings = Settings::from_env()?;
    // Listen for Ctrl-C from the start, so an early one still cancels cleanly.
    let cancel = cancel_on_ctrl_c();
    let request = args.request();
    // Every problem at once, before any candle is loaded.
    let problems = request.problems();
    if !problems.is_empty() {
        anyhow::bail!(
            "{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    // And the memory a training batch needs, still before any candle is loaded.
    let spec = atb_engine::service::train::check(&request.spec)?;
    if request.series.source == CandleSource::Binance
        && let Some(w) = settings.insecure_url_warning()
    {
        eprintln!("{w}");
    }
    let series = load_series(&settings, &request.series, &mut |_| {}).await?;
    let trees = !spec.architecture.is_network();
    let bar = Arc::new(Mutex::new(progress_bar(
        0,
        if trees {
            "{msg}\n[{bar:40}] {pos}/{len} rounds, ETA {eta}"
        } else {
            "{msg}\n[{bar:40}] {pos}/{len} batches, epoch ETA {eta}"
        },
    )));
    let epochs = spec.epochs;
    let bar_events = Arc::clone(&bar);
    let worker_cancel = cancel.clone();
    let worker_spec = spec.clone();
    let worker_settings = settings.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut on_event = |e: TrainingEvent| {
            if trees {
                report_rounds(&e, &bar_events)
            } else {
                report(&e, &bar_events, epochs)
            }
        };
        train_and_register(
            &worker_settings,
            &series,
            &worker_spec,
            &TrainOptions::default(),
            &mut on_event,
            &worker_cancel,
        )
    })
    .await
    .context("the training thread stopped unexpectedly")??;
    if let Ok(b) = bar.lock() {
        b.finish_and_clear();
    }
    let (row, outcome) = match result {
        TrainResult::Registered { row, outcome } => (row, outcome),
        TrainResult::Cancelled { epochs_run } => {
            eprintln!("{}", TrainResult::cancelled_message(epochs_run));
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    let evaluation = outcome
        .evaluation
        .as_ref()
        .context("a registered run has an evaluation")?;
    if args.json {
        let out = serde_json::json!({
            "version_id": row.version_id,
            "path": settings.home.join(&row.folder),
            "stop": outcome.stop,
            "epochs_run": outcome.epochs_run,
            "evaluation": evaluation,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let d = &outcome.dataset;
    let (steps, learned) = if trees {
        ("boosting rounds", "leaves")
    } else {
        ("epochs", "parameters")
    };
    println!(
        "{} {} {} {}: {} {steps} ({:?}), {:.1} s on {}, {} {learned}",
        d.symbol,
        d.timeframe,
        spec.architecture,
        spec.variant,
        outcome.epochs_run,
        outcome.stop,
        outcome.train_seconds,
        outcome.device,
        outcome.parameters
    );
    match (&evaluation.test, &evaluation.target) {
        (Some(test), _) => println!(
            "test window: {} windows, targets {} to {} ({:.1}% up moves)",
            test.samples,
            time(d.test.first_target_open_ms),
            time(d.test.last_target_open_ms),
            test.up_share * 100.0
        ),
        (None, target) => println!(
            "test window: {} windows scored, targets {} to {}; target: {} ({})",
            target.as_ref().map_or(0, |t| t.windows()),
            time(d.test.first_target_open_ms),
            time(d.test.last_target_open_ms),
            spec.target,
            spec.target.description()
        ),
    }
    if d.gap_windows_dropped > 0 {
        println!(
            "{} windows spanning missing candles were left out",
            d.gap_windows_dropped
        );
    }
    if let Some(context) = &spec.context {
        println!(
            "context {context}: {} rows without a {context} candle at their open time were left out",
            d.context_rows_dropped
        );
    }
    print_evaluation(evaluation);
    println!(
        "registered {} in {}",
        row.version_id,
        settings.home.join(&row.folder).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Progress of a `gbdt` run: the bar follows the rounds; a line every 50 rounds and at the end.
fn report_rounds(e: &TrainingEvent, bar: &Mutex<indicatif::ProgressBar>) {
    let Ok(bar) = bar.lock() else { return };
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}")
        } else {
            bar.println(line)
        }
    };
    match e {
        TrainingEvent::RunStarted {
            device,
            device_reason,
            dataset,
            epochs,
            model_config,
            ..
        } => {
            bar.set_length(*epochs as u64);
            say(format!(
                "boosting on {device} ({device_reason}); budget {model_config}; {} / {} / {} windows",
                dataset.train.samples, dataset.validation.samples, dataset.test.samples
            ));
        }
        TrainingEvent::EpochEnd {
            epoch,
            epochs,
            train_loss,
            val_loss,
            best_epoch,
            ..
        } => {
            bar.set_position(*epoch as u64);
            let line = format!(
                "round {epoch}/{epochs}: train {train_loss:.4}  val {val_loss:.4}  best {best_epoch}"
            );
            bar.set_message(line.clone());
            if *epoch == 1 || epoch % 50 == 0 {
                say(line);
            }
        }
        TrainingEvent::EarlyStopped { epoch, best_epoch } => say(format!(
            "early stop at round {epoch}; keeping the trees up to round {best_epoch}"
        )),
        TrainingEvent::Fold { fold, folds, inner } => {
            if let TrainingEvent::EarlyStopped { best_epoch, .. } = inner.as_ref() {
                say(format!(
                    "walk-forward fold {fold}/{folds}: stopped, best round {best_epoch}"
                ));
            }
        }
        _ => {}
    }
}

fn report(e: &TrainingEvent, bar: &Mutex<indicatif::ProgressBar>, epochs: usize) {
    let Ok(bar) = bar.lock() else { return };
    match e {
        TrainingEvent::RunStarted {
            device,
            device_reason,
            parameters,
            dataset,
            batches_per_epoch,
            ..
        } => {
            bar.set_length(*batches_per_epoch as u64);
            bar.set_message(format!("epoch 1/{epochs}"));
            eprintln!(
                "training on {device} ({device_reason}); {parameters} parameters; {} / {} / {} windows",
                dataset.train.samples, dataset.validation.samples, dataset.test.samples
            );
        }
        TrainingEvent::Batch {
            batch,
            loss,
            samples_per_second,
            epoch,
            ..
        } => {
            bar.set_position(*batch as u64);
            bar.set_message(format!(
                "epoch {epoch}/{epochs}  batch loss {loss:.4}  {samples_per_second:.0} samples/s"
            ));
        }
        TrainingEvent::EpochEnd {
            epoch,
            train_loss,
            val_loss,
            learning_rate,
            eta_s,
            best_epoch,
            ..
        } => {
            bar.set_position(0);
            let line = format!(
                "epoch {epoch}/{epochs}: train {train_loss:.4}  val {val_loss:.4}  lr {learning_rate:.1e}  best {best_epoch}  ETA {eta_s:.0} s"
            );
            if bar.is_hidden() {
                eprintln!("{line}")
            } else {
                bar.println(line)
            }
        }
        TrainingEvent::EarlyStopped { epoch, best_epoch } => {
            bar.println(format!(
                "early stop at epoch {epoch}; restoring the weights of epoch {best_epoch}"
            ));
        }
        TrainingEvent::Diverged {
            reason, best_epoch, ..
        } => {
            bar.println(match best_epoch {
                Some(b) => format!("stopped: {reason}; keeping the weights of epoch {b}"),
                None => format!("stopped: {reason}"),
            });
        }
        TrainingEvent::Fold { fold, folds, inner } => {
            if let TrainingEvent::EpochEnd {
                epoch,
                epochs,
                val_loss,
                ..
            } = inner.as_ref()
            {
                let line = format!(
                    "walk-forward fold {fold}/{folds}: epoch {epoch}/{epochs}  val {val_loss:.4}"
                );
                if bar.is_hidden() {
                    eprintln!("{line}")
                } else {
                    bar.println(line)
                }
            }
        }
        _ => {}
    }
}

fn fmt(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| fmt(v, digits)).unwrap_or_else(|| "-".into())
}

/// The test metrics beside the baselines, the verdicts against persistence and ridge, how ridge
/// chose its penalty, and the walk-forward summary.
pub fn print_evaluation(e: &Evaluation) {
    if let Some(target) = &e.target {
        print_target_evaluation(target);
        return;
    }
    let Some(test) = &e.test else {
        println!("(this record holds no test metrics)");
        return;
    };
    // Method 1 had no paired tests and another MASE; method 2 the old DM variance and blocks.
    let legacy = e.is_legacy();
    print_metrics_table(e);
    for v in e.verdicts() {
        println!("verdict: {}", v.text);
    }
    if let Some(why) = &test.model.direction_withheld {
        println!("directional accuracy: {}", why.sentence());
    }
    if legacy {
        println!(
            "(evaluated by an older atb: no paired tests, and MASE had another definition; `atb models reevaluate` recomputes them)"
        );
    } else if e.is_outdated() {
        println!(
            "(evaluated by an older atb: its DM variance was too small for h > 1, its bootstrap blocks too short, and it has no drift verdict, Clark-West or backtest; `atb models reevaluate` recomputes them)"
        );
    }
    if let (Some(n), Some(zero)) = (test.direction_samples, test.zero_move_share) {
        println!(
            "direction metrics on {n} non-overlapping windows; {:.1}% of windows had no move (left out)",
            100.0 * zero
        );
    }
    if let Some(r) = &e.ridge {
        println!(
            "ridge: penalty {:.3e} chosen on validation ({} of {} tried{}), {} columns ({} bars)",
            r.lambda,
            r.grid_index + 1,
            r.grid_points,
            if r.at_edge {
                "; at the edge of the grid"
            } else {
                ""
            },
            r.columns,
            r.bars
        );
    }
    if let Some(b) = &e.backtest {
        crate::backtest::print_backtest(b, &[]);
        println!(
            "(`atb backtest VERSION` adds the deflated Sharpe over this series' trials and other costs)"
        );
    }
    if let Some(wf) = &e.walk_forward {
        println!(
            "walk-forward over {} folds: MAE {:.2} ± {:.2} USD (persistence {:.2} ± {:.2}{}), skill {:+.4} ± {:.4}{}",
            wf.folds,
            wf.model_mae_usd.mean,
            wf.model_mae_usd.std,
            wf.persistence_mae_usd.mean,
            wf.persistence_mae_usd.std,
            wf.ridge_mae_usd
                .as_ref()
                .map(|r| format!(", ridge {:.2} ± {:.2}", r.mean, r.std))
                .unwrap_or_default(),
            wf.skill_vs_persistence.mean,
            wf.skill_vs_persistence.std,
            match (wf.better_than_persistence, wf.worse_than_persistence) {
                (Some(b), Some(w)) => format!(
                    "; better than persistence in {b} fold(s), worse in {w}, no significant difference in {}",
                    wf.folds - b - w
                ),
                _ => String::new(),
            }
        );
    }
}

/// Test metrics beside the baselines, one row per metric of the shared table
/// ([`atb_protocol::training::METRIC_ROWS`]; "-" where a value is not available).
pub fn print_metrics_table(e: &Evaluation) {
    let Some(test) = &e.test else { return };
    let cols = test.columns();
    print!("{:<22}", "test metric");
    for (name, _) in &cols {
        print!(" {name:>12}");
    }
    println!();
    for row in &atb_protocol::training::METRIC_ROWS {
        print!("{:<22}", row.label);
        for (_, m) in &cols {
            print!(" {:>12}", opt(e.metric(row, m), row.digits));
        }
        println!();
    }
}

/// A volatility or direction evaluation: the target's table ([`TargetEvaluation::table`]), the
/// verdicts on its own loss, and what its baselines chose.
pub fn print_target_evaluation(target: &TargetEvaluation) {
    let table = target.table();
    let width = table
        .columns
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(12)
        .max(12);
    print!("{:<24}", "test score");
    for name in &table.columns {
        print!(" {name:>width$}");
    }
    println!();
    for row in &table.rows {
        print!("{:<24}", row.label);
        for v in &row.values {
            print!(" {:>width$}", opt(*v, row.digits));
        }
        println!();
    }
    for v in target.verdicts() {
        println!("verdict: {} on {} test windows", v.text, target.windows());
    }
    match target {
        TargetEvaluation::Volatility(v) => {
            if let Some([c, d, w, m]) = v.har_coefficients {
                println!(
                    "HAR-RV (log, spans {} / {} / {} bars) fitted on the training split: {c:.3} + {d:.3} day + {w:.3} week + {m:.3} month",
                    v.har_spans[0], v.har_spans[1], v.har_spans[2]
                );
            } else {
                println!(
                    "HAR-RV not scored: it needs {} bars (a month) of history before every window",
                    v.har_spans[2]
                );
            }
        }
        TargetEvaluation::Direction(d) => {
            println!(
                "{:.1}% of the test windows moved up; reliability (forecast -> observed):",
                100.0 * d.up_share
            );
            for r in d.reliability_table.iter().filter(|r| r.windows > 0) {
                println!(
                    "  {:.1}-{:.1}: {} windows, mean forecast {:.3}, observed {:.3}",
                    r.low, r.high, r.windows, r.mean_forecast, r.observed
                );
            }
        }
    }
}
