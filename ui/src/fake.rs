//! A backend that answers from memory (feature `testing`), for screen tests that need states the
//! real shell cannot reach on demand (a run mid-epoch, a failing export). Clones share one state,
//! so a test keeps a handle to inspect what was sent and to push run updates.

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::rc::Rc;

use atb_protocol::backtest::{
    Backtest, BacktestReport, BacktestSpec, DeflatedSharpe, Positions, ReturnMoments, SignalRule,
    StrategyResult,
};
use atb_protocol::bench::{BenchReport, BenchUpdate};
use atb_protocol::desktop::{
    AppInfo, AttentionMap, CandleChart, DataOverview, ExportOutcome, FeatureColumn, FeaturePreview,
    Forecast, ModelDetail, PairedComparison, QueueSnapshot, QueuedRun, RunSnapshot, RunUpdate,
    TargetSeries, TestPredictions, UiPrefs,
};
use atb_protocol::forward::{FORWARD_MIN_WINDOWS, ForwardReport, ForwardResult};
use atb_protocol::registry::{
    EnsembleMember, EnsembleRecipe, Finding, FindingKind, ModelRow, OnnxExport, RegistryCheck,
    WeightingFit,
};
use atb_protocol::selection::{
    JudgedComparison, JudgedVersion, MCS_ALPHA, McsMember, McsStatistic, ModelConfidenceSet, holm,
};
use atb_protocol::training::{
    Comparison, DatasetSummary, EVALUATION_METHOD, EpochRecord, Evaluation, Metrics, PairResult,
    PairedTest, SkillInterval, SplitEvaluation, SplitInfo, StopReason, TrainingEvent,
    VarianceKernel,
};
use atb_protocol::verdict::{verdict, verdict_with};
use atb_protocol::{CoverageRow, FetchProgress, FetchSummary, Gap};

use atb_protocol::targets::{
    DirectionEvaluation, DirectionScores, LossComparison, MincerZarnowitzFit, Prediction,
    ReliabilityRow, TargetEvaluation, VolatilityEvaluation, VolatilityScores,
};
use atb_protocol::vocab::{
    Architecture, CandleSource, FeatureSet, Symbol, Target, Timeframe, Variant, Weighting,
};

use crate::backend::{
    Backend, ErrorKind, ErrorReply, Failure, Received, Reply, Request, RequestKind,
};

/// Answers that arrive as replies.
macro_rules! replies {
    ($($reply:expr),* $(,)?) => { vec![$(Ok($reply)),*] };
}

const HOUR_MS: i64 = 3_600_000;
const START_MS: i64 = 1_704_067_200_000; // 2024-01-01

/// What the fake knows and what it was asked.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Every request, in order.
    pub sent: Vec<Request>,
    pub inbox: VecDeque<Received>,
    pub models: Vec<ModelRow>,
    /// When set, every request fails with this message.
    pub fail_with: Option<String>,
    pub run: Option<RunSnapshot>,
    /// The parity figure exports report.
    pub export_max_abs_diff: f64,
    /// What an import answers (`None`: the user closed the dialog).
    pub import: Option<atb_protocol::ImportSummary>,
    /// What importing a results folder answers (`None`: the user closed the dialog); its
    /// imported rows join the registry.
    pub results_import: Option<atb_protocol::sweep::ImportReport>,
    /// What a registry check finds (none: every version sound).
    pub findings: Vec<Finding>,
    /// The run queue: nothing in it ever starts here.
    pub queue: QueueSnapshot,
    pub next_queue_id: u64,
    /// The last benchmark report kept (what `LastBench` answers).
    pub last_bench: Option<BenchReport>,
    /// The last feature benchmark kept (what `LastFeatureBench` answers).
    pub last_feature_bench: Option<atb_protocol::bench::FeatureBenchReport>,
    /// The saved screen and forms (what `LoadPrefs` answers).
    pub prefs: Option<UiPrefs>,
    /// A fetch stays at half way until Cancel fetch (a slow exchange).
    pub hold_fetch: bool,
}

#[derive(Clone, Default)]
pub struct FakeBackend(Rc<RefCell<FakeState>>);

impl FakeBackend {
    /// A fake registry with one cnn_lstm, one attention_lstm and one tcn.
    pub fn with_sample_models() -> Self {
        let fake = Self::default();
        {
            let mut s = fake.state();
            s.export_max_abs_diff = 1.2e-7;
            s.models = vec![
                sample_row(0, Architecture::CnnLstm, Variant::Default, 812.0),
                sample_row(1, Architecture::AttentionLstm, Variant::Default, 790.0),
                sample_row(2, Architecture::Tcn, Variant::Lightweight, 845.0),
            ];
        }
        fake
    }

    /// A volatility and a direction version (cnn_lstm and gbdt), with their own evaluations.
    pub fn with_target_models() -> Self {
        let fake = Self::default();
        fake.state().models = vec![
            sample_target_row(0, Architecture::CnnLstm, Target::Volatility),
            sample_target_row(1, Architecture::Gbdt, Target::Direction),
        ];
        fake
    }

    pub fn state(&self) -> RefMut<'_, FakeState> {
        self.0.borrow_mut()
    }

    pub fn sent(&self) -> Vec<Request> {
        self.0.borrow().sent.clone()
    }

    /// Delivers `reply` on the UI's next frame, as a streamed update would arrive.
    pub fn push(&self, reply: Reply) {
        self.state().inbox.push_back(Ok(reply));
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one arm per request kind, as the shell's dispatch"
    )]
    fn answer(&self, request: &Request) -> Vec<Received> {
        let mut s = self.state();
        if let Some(message) = &s.fail_with {
            return vec![Err(Failure {
                request: request.kind(),
                error: ErrorReply::new(ErrorKind::Internal, message.clone()),
            })];
        }

        match request {
            Request::AppInfo => replies![Reply::AppInfo(AppInfo {
                atb_version: "0.1.0".into(),
                home: "/tmp/atb-fake".into(),
                gpu_compiled: false,
                warnings: Vec::new(),
            })],
            Request::DataOverview => replies![Reply::DataOverview(DataOverview {
                coverage: vec![CoverageRow {
                    symbol: Symbol::default(),
                    timeframe: Timeframe::H1,
                    first_open_time_ms: START_MS,
                    last_open_time_ms: START_MS + 499 * HOUR_MS,
                    rows: 498,
                    gaps: 1,
                    missing_candles: 2,
                }],
                last_fetch: None,
            })],
            Request::Candles(series) => replies![Reply::Candles(sample_chart(&series.symbol))],
            Request::FeaturePreview {
                series,
                feature_set,
            } => replies![Reply::FeaturePreview(sample_features(
                &series.symbol,
                *feature_set
            ))],
            Request::Fetch(_) | Request::Refetch(_) if s.hold_fetch => {
                replies![Reply::FetchProgress(FetchProgress {
                    candles_wanted: 500,
                    candles_done: 250,
                    requests: 1,
                })]
            }
            Request::CancelFetch if s.hold_fetch => {
                s.hold_fetch = false;
                vec![
                    Ok(Reply::FetchCancelRequested),
                    Err(Failure {
                        request: RequestKind::Fetch,
                        error: ErrorReply::new(
                            ErrorKind::Cancelled,
                            "fetch cancelled: the 250 of 500 candles fetched before it stopped are stored; fetch the same range again to resume",
                        ),
                    }),
                ]
            }
            Request::CancelFetch => vec![Err(Failure {
                request: RequestKind::CancelFetch,
                error: ErrorReply::new(ErrorKind::NotFound, "no fetch is running"),
            })],
            Request::Fetch(series) | Request::Refetch(series) => replies![
                Reply::FetchProgress(FetchProgress {
                    candles_wanted: 500,
                    candles_done: 250,
                    requests: 1,
                }),
                Reply::Fetched(FetchSummary {
                    symbol: series.symbol.clone(),
                    timeframe: series.timeframe,
                    start_ms: START_MS,
                    end_ms: START_MS + 499 * HOUR_MS,
                    stored: 498,
                    inserted: 498,
                    requests: 2,
                    gaps: vec![Gap {
                        first_missing_ms: START_MS + 200 * HOUR_MS,
                        missing: 2,
                    }],
                }),
            ],
            Request::Train(request) => {
                let snapshot = RunSnapshot {
                    run_id: 1,
                    request: request.clone(),
                    updates: vec![RunUpdate::Loading {
                        message: "loading candles".into(),
                    }],
                    active: true,
                };
                s.run = Some(snapshot.clone());
                replies![Reply::RunSnapshot(Some(snapshot))]
            }
            Request::AttachRun => replies![Reply::RunSnapshot(s.run.clone())],
            Request::CancelRun { .. } => {
                s.run = None;
                replies![
                    Reply::CancelRequested,
                    Reply::Run(RunUpdate::Training {
                        event: TrainingEvent::Cancelled {
                            epoch: 1,
                            best_epoch: None,
                        },
                    }),
                    Reply::Run(RunUpdate::NotRegistered {
                        reason: "cancelled: nothing was registered".into(),
                    }),
                ]
            }
            Request::ListModels => replies![Reply::Models(s.models.clone())],
            Request::ModelDetail { version: v } => {
                match s.models.iter().find(|r| &r.version_id == v) {
                    Some(row) => replies![Reply::Detail(Box::new(sample_detail(row)))],
                    None => vec![not_found(request, v)],
                }
            }
            Request::Predictions { version: v } => {
                match s.models.iter().find(|r| &r.version_id == v) {
                    Some(row) => replies![Reply::Predictions(sample_predictions(row))],
                    None => vec![not_found(request, v)],
                }
            }
            Request::Attention { version: v } => match s.models.iter().find(|r| &r.version_id == v)
            {
                Some(row) if row.architecture.has_attention() => {
                    let size = 12;
                    let weights = (0..size * size)
                        .map(|i| ((i % size) as f32 + 1.0) / 78.0)
                        .collect();
                    replies![Reply::Attention(Some(AttentionMap {
                        version_id: v.clone(),
                        size,
                        heads: 4,
                        weights,
                        window: size,
                    }))]
                }
                Some(_) => replies![Reply::Attention(None)],
                None => vec![not_found(request, v)],
            },
            Request::ExportOnnx { version: v } => {
                let diff = s.export_max_abs_diff;
                match s.models.iter_mut().find(|r| &r.version_id == v) {
                    Some(row) => {
                        row.onnx_sha256 = Some("ab".repeat(32));
                        row.onnx_max_abs_diff = Some(diff);
                        replies![Reply::Exported(Some(ExportOutcome {
                            export: sample_export(v, diff),
                            copied_to: Some(format!("/tmp/{v}.onnx")),
                            copy_failed: None,
                        }))]
                    }
                    None => vec![not_found(request, v)],
                }
            }
            Request::Promote { version, alias } => {
                for row in s.models.iter_mut() {
                    row.aliases.retain(|a| a != alias);
                }
                match s.models.iter_mut().find(|r| &r.version_id == version) {
                    Some(row) => {
                        row.aliases.push(alias.clone());
                        replies![Reply::Promoted(row.clone())]
                    }
                    None => vec![not_found(request, version)],
                }
            }
            Request::MakeEnsemble { versions, .. } => {
                let members: Vec<&ModelRow> = versions
                    .iter()
                    .filter_map(|v| s.models.iter().find(|r| &r.version_id == v))
                    .collect();
                match members.as_slice() {
                    [first, _, ..] => {
                        let mut row = sample_row(
                            s.models.len(),
                            Architecture::Ensemble,
                            Variant::Default,
                            first.test_mae_usd.unwrap_or(700.0) * 0.99,
                        );
                        row.version_id = format!("BTCUSDT_1h_ensemble_{}", s.models.len());
                        row.aliases = vec!["latest".into()];
                        s.models.push(row.clone());
                        replies![Reply::EnsembleMade(Box::new(row))]
                    }
                    _ => vec![not_found(request, &versions.join(", "))],
                }
            }
            Request::ImportCsv { .. } => replies![Reply::Imported(s.import.clone())],
            Request::ImportResults => {
                let report = s.results_import.clone();
                if let Some(r) = &report {
                    for row in &r.imported {
                        if !s.models.iter().any(|m| m.version_id == row.version_id) {
                            s.models.push(row.clone());
                        }
                    }
                }
                replies![Reply::ResultsImported(report)]
            }
            Request::CheckRegistry => {
                let damaged: Vec<&str> = s
                    .findings
                    .iter()
                    .filter(|f| f.kind == FindingKind::Damaged)
                    .map(|f| f.subject.as_str())
                    .collect();
                replies![Reply::RegistryChecked(RegistryCheck {
                    checked: s.models.len(),
                    ok: s
                        .models
                        .iter()
                        .filter(|r| !damaged.contains(&r.version_id.as_str()))
                        .count(),
                    findings: s.findings.clone(),
                })]
            }
            Request::Recover => {
                s.findings
                    .retain(|f| f.kind != FindingKind::AwaitingRecovery);
                replies![Reply::Recovered(Default::default())]
            }
            Request::Forecast { version: v } => {
                match s.models.iter().find(|r| &r.version_id == v) {
                    Some(row) => replies![Reply::Forecast(Forecast {
                        version_id: v.clone(),
                        source: CandleSource::Sample,
                        last_open_ms: START_MS + 499 * HOUR_MS,
                        last_close: 42_000.0,
                        horizon: 1,
                        prediction: match row.target {
                            Target::Return => Prediction::Return {
                                predicted_close: 42_010.5,
                                predicted_log_return: (42_010.5f64 / 42_000.0).ln(),
                            },
                            // ln 0.0085 as a log volatility; a logit of 0.2.
                            target => Prediction::from_output(
                                target,
                                if target == Target::Volatility {
                                    0.0085f64.ln()
                                } else {
                                    0.2
                                },
                                42_000.0,
                            ),
                        },
                        verdicts: match row.target {
                            Target::Return => {
                                row.verdict_vs_persistence.iter().cloned().collect()
                            }
                            _ => row.target_verdicts.clone(),
                        },
                    })],
                    None => vec![not_found(request, v)],
                }
            }
            Request::Validate => {
                let pairs: Vec<PairResult> = [
                    (Architecture::CnnLstm, Variant::Lightweight, "ok"),
                    (Architecture::Gbdt, Variant::Lightweight, "ok"),
                ]
                .into_iter()
                .map(|(architecture, variant, status)| PairResult {
                    architecture,
                    variant,
                    parameters: 1_000,
                    seconds: 2.0,
                    onnx_max_abs_diff: Some(1e-7),
                    status: status.into(),
                })
                .collect();
                let mut out: Vec<Received> = pairs
                    .iter()
                    .map(|p| Ok(Reply::ValidationProgress(p.clone())))
                    .collect();
                out.push(Ok(Reply::Validated(pairs)));
                out
            }
            Request::CancelValidation => replies![Reply::ValidationCancelRequested],
            Request::Enqueue { requests } => {
                for r in requests {
                    s.next_queue_id += 1;
                    let queue_id = s.next_queue_id;
                    s.queue.pending.push(QueuedRun {
                        queue_id,
                        request: r.clone(),
                    });
                }
                replies![Reply::Queue(s.queue.clone())]
            }
            Request::QueueState => replies![Reply::Queue(s.queue.clone())],
            Request::QueueShift { queue_id, up } => {
                match s.queue.pending.iter().position(|q| q.queue_id == *queue_id) {
                    Some(i) => {
                        let j = if *up {
                            i.saturating_sub(1)
                        } else {
                            (i + 1).min(s.queue.pending.len() - 1)
                        };
                        s.queue.pending.swap(i, j);
                        replies![Reply::Queue(s.queue.clone())]
                    }
                    None => vec![not_found(request, &queue_id.to_string())],
                }
            }
            Request::QueueRemove { queue_id } => {
                s.queue.pending.retain(|q| q.queue_id != *queue_id);
                replies![Reply::Queue(s.queue.clone())]
            }
            Request::Bench(spec) => {
                // A real report measured on the CI machine, cut to the models asked for.
                let mut report = sample_bench();
                report
                    .results
                    .retain(|r| spec.architectures.contains(&r.architecture));
                let total = report.results.len();
                let mut out: Vec<Received> = Vec::new();
                for (i, r) in report.results.iter().enumerate() {
                    out.push(Ok(Reply::BenchProgress(BenchUpdate::Started {
                        architecture: r.architecture,
                        variant: r.variant,
                        seed: 42,
                        index: i + 1,
                        total,
                    })));
                    out.push(Ok(Reply::BenchProgress(BenchUpdate::Measured(Box::new(
                        r.clone(),
                    )))));
                }
                s.last_bench = Some(report.clone());
                out.push(Ok(Reply::Benched(Box::new(report))));
                out
            }
            Request::CancelBench => replies![Reply::BenchCancelRequested],
            Request::LoadPrefs => replies![Reply::Prefs(s.prefs.clone().map(Box::new))],
            Request::SavePrefs(p) => {
                s.prefs = Some(p.clone());
                replies![Reply::PrefsSaved]
            }
            Request::LastBench => replies![Reply::LastBench(s.last_bench.clone().map(Box::new))],
            Request::LastFeatureBench => replies![Reply::LastFeatureBench(
                s.last_feature_bench.clone().map(Box::new)
            )],
            Request::PairedTest { first, second } => {
                let find = |v: &str| s.models.iter().find(|r| r.version_id == v).cloned();
                match (find(first), find(second)) {
                    (Some(a), Some(b)) => {
                        let test = PairedTest {
                            statistic: -2.1,
                            p_value: 0.036,
                            mean_loss_difference: -3.5,
                            n: 300,
                            kernel: Some(VarianceKernel::Rectangular),
                        };
                        replies![Reply::Paired(PairedComparison {
                            first: a.version_id.clone(),
                            second: b.version_id.clone(),
                            windows: 300,
                            first_mae_usd: a.test_mae_usd.unwrap_or(f64::NAN),
                            second_mae_usd: b.test_mae_usd.unwrap_or(f64::NAN),
                            verdict: atb_protocol::verdict::verdict_of(
                                &b.version_id,
                                Some(&test),
                                None
                            ),
                            test: Some(test),
                        })]
                    }
                    (None, _) => vec![not_found(request, first)],
                    (_, None) => vec![not_found(request, second)],
                }
            }
            Request::Judge { versions } => {
                let rows: Vec<ModelRow> = versions
                    .iter()
                    .filter_map(|v| s.models.iter().find(|r| &r.version_id == v).cloned())
                    .collect();
                match versions
                    .iter()
                    .find(|v| !rows.iter().any(|r| &r.version_id == *v))
                {
                    Some(missing) => vec![not_found(request, missing)],
                    None => replies![Reply::Judged(sample_judgement(&rows))],
                }
            }
            Request::ForwardTest { versions } => {
                match versions
                    .iter()
                    .find(|v| !s.models.iter().any(|r| &r.version_id == *v))
                {
                    Some(missing) => vec![not_found(request, missing)],
                    None => replies![Reply::ForwardTested(ForwardReport {
                        results: versions
                            .iter()
                            .map(|v| ForwardResult {
                                version_id: v.clone(),
                                data_end_ms: START_MS + 1999 * HOUR_MS,
                                windows: 12,
                                needed: FORWARD_MIN_WINDOWS,
                                first_target_ms: Some(START_MS + 2000 * HOUR_MS),
                                last_target_ms: Some(START_MS + 2011 * HOUR_MS),
                                tested_at: "2024-03-25T08:00:00Z".into(),
                                evaluation: None,
                            })
                            .collect(),
                        pair: None,
                    })],
                }
            }
            Request::Backtest { version: v, .. } => {
                if s.models.iter().any(|r| &r.version_id == v) {
                    replies![Reply::Backtested(Box::new(BacktestReport {
                        version_id: v.clone(),
                        backtest: sample_backtest(),
                        deflated: vec![
                            (Positions::LongFlat, Some(sample_deflated(0.31))),
                            (Positions::LongShort, Some(sample_deflated(0.12))),
                        ],
                    }))]
                } else {
                    vec![not_found(request, v)]
                }
            }
            Request::Delete { version: v } => {
                let before = s.models.len();
                s.models.retain(|r| &r.version_id != v);
                if s.models.len() == before {
                    vec![not_found(request, v)]
                } else {
                    replies![Reply::Deleted(v.clone())]
                }
            }
        }
    }
}

/// What the shell answers for a version that is not there.
fn not_found(request: &Request, version: &str) -> Received {
    Err(Failure {
        request: request.kind(),
        error: ErrorReply::new(ErrorKind::NotFound, format!("no model version {version}")),
    })
}

impl Backend for FakeBackend {
    fn send(&mut self, request: Request, ctx: &egui::Context) {
        let replies = self.answer(&request);
        let mut s = self.state();
        s.sent.push(request);
        s.inbox.extend(replies);
        ctx.request_repaint();
    }

    fn poll(&mut self) -> Vec<Received> {
        self.state().inbox.drain(..).collect()
    }
}

/// The benchmark report measured for docs/benchmarks.md (six default models, 90 days of the
/// sample, this project's CI machine).
pub fn sample_bench() -> BenchReport {
    serde_json::from_str(include_str!("../../docs/bench-cpu-gbdt.json"))
        .unwrap_or_else(|e| panic!("docs/bench-cpu-gbdt.json is not a report: {e}"))
}

/// A registry row whose test MAE is `mae` (persistence: 800).
pub fn sample_row(i: usize, architecture: Architecture, variant: Variant, mae: f64) -> ModelRow {
    ModelRow {
        version_id: format!("BTCUSDT_1h_2024010{}_120000", i + 1),
        symbol: Symbol::default(),
        timeframe: Timeframe::H1,
        architecture,
        variant,
        created_at: format!("2024-01-0{}T12:00:00Z", i + 1),
        folder: format!("models/BTCUSDT/1h/v{i}"),
        parameters: 10_000 * (i as u64 + 1),
        train_seconds: 30.0 * (i as f64 + 1.0),
        test_mae_usd: Some(mae),
        test_rmse_usd: Some(mae * 1.4),
        persistence_mae_usd: Some(800.0),
        skill_vs_persistence: Some(1.0 - mae / 800.0),
        directional_accuracy: Some(0.49 + 0.01 * i as f64),
        pt_p_value: Some(0.4),
        weights_sha256: "cd".repeat(32),
        data_sha256: "ef".repeat(32),
        aliases: if i == 0 {
            vec!["latest".into()]
        } else {
            vec![]
        },
        tag: None,
        onnx_sha256: None,
        onnx_max_abs_diff: None,
        evaluation_method: EVALUATION_METHOD,
        vs_persistence: Some(comparison(mae, 800.0)),
        vs_ridge: Some(comparison(mae, 805.0)),
        verdict_vs_persistence: Some(verdict("persistence", Some(&comparison(mae, 800.0)))),
        verdict_vs_ridge: Some(verdict("ridge", Some(&comparison(mae, 805.0)))),
        target: Target::Return,
        target_verdicts: Vec::new(),
    }
}

fn metrics(mae: f64, da: Option<f64>) -> Metrics {
    Metrics {
        rmse_usd: mae * 1.4,
        mae_usd: mae,
        mape_pct: mae / 400.0,
        return_rmse: 0.01,
        return_mae: 0.007,
        return_r2: -0.01,
        directional_accuracy: da,
        pt_statistic: da.map(|_| 0.3),
        pt_p_value: da.map(|_| 0.4),
        skill_vs_persistence: 1.0 - mae / 800.0,
        mase: mae / 800.0,
        direction_withheld: None,
    }
}

/// A comparison whose skill is `1 - mae / baseline` and whose p-value follows from it.
fn comparison(mae: f64, baseline: f64) -> Comparison {
    let skill = 1.0 - mae / baseline;
    let test = PairedTest {
        statistic: -skill * 200.0,
        // Significant exactly when the interval below excludes zero.
        p_value: if skill.abs() > 0.004 { 0.004 } else { 0.41 },
        mean_loss_difference: mae - baseline,
        n: 300,
        kernel: Some(VarianceKernel::Rectangular),
    };
    Comparison {
        absolute: Some(test),
        squared: Some(test),
        skill: Some(SkillInterval {
            skill,
            lower: skill - 0.004,
            upper: skill + 0.004,
            block_length: 7,
            resamples: 2000,
        }),
        clark_west: None,
    }
}

fn split(mae: f64, da: Option<f64>) -> SplitEvaluation {
    SplitEvaluation {
        samples: 300,
        up_share: 0.51,
        model: metrics(mae, da),
        persistence: metrics(800.0, None),
        drift: metrics(801.0, Some(0.51)),
        ridge: metrics(805.0, Some(0.5)),
        direction_samples: Some(298),
        zero_move_share: Some(0.0),
        vs_persistence: Some(comparison(mae, 800.0)),
        vs_ridge: Some(comparison(mae, 805.0)),
        vs_drift: Some(comparison(mae, 801.0)),
    }
}

/// The rows judged together: their stored tests against persistence (and against drift, the
/// same here) adjusted with Holm's method, and a confidence set keeping every model within 1%
/// of the best mean loss.
pub fn sample_judgement(rows: &[ModelRow]) -> JudgedComparison {
    let tests: Vec<Option<PairedTest>> = rows
        .iter()
        .map(|r| r.vs_persistence.and_then(|c| c.absolute))
        .collect();
    let mut p: Vec<f64> = Vec::new();
    for t in &tests {
        let p_value = t.map_or(f64::NAN, |t| t.p_value);
        p.extend([p_value, p_value]);
    }
    let adjusted = holm(&p);
    let mut names: Vec<(String, f64)> = rows
        .iter()
        .map(|r| (r.version_id.clone(), r.test_mae_usd.unwrap_or(f64::NAN)))
        .collect();
    names.push(("persistence".into(), 800.0));
    names.push(("drift".into(), 801.0));
    let best = names.iter().map(|n| n.1).fold(f64::INFINITY, f64::min);
    JudgedComparison {
        windows: 300,
        model_confidence_set: Some(ModelConfidenceSet {
            statistic: McsStatistic::Max,
            alpha: MCS_ALPHA,
            loss: "absolute price error".into(),
            windows: 300,
            block_length: 7,
            resamples: 2000,
            members: names
                .iter()
                .map(|(name, loss)| McsMember {
                    name: name.clone(),
                    mean_loss: *loss,
                    p_value: if *loss <= best * 1.01 { 0.6 } else { 0.02 },
                    in_set: *loss <= best * 1.01,
                })
                .collect(),
        }),
        verdicts: rows
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let c = r.vs_persistence;
                let (t, sk) = (c.and_then(|c| c.absolute), c.and_then(|c| c.skill));
                JudgedVersion {
                    version_id: r.version_id.clone(),
                    vs_persistence: verdict_with(
                        "persistence",
                        t.as_ref(),
                        sk.as_ref(),
                        Some(adjusted[2 * k]),
                    ),
                    vs_drift: verdict_with(
                        "drift",
                        t.as_ref(),
                        sk.as_ref(),
                        Some(adjusted[2 * k + 1]),
                    ),
                }
            })
            .collect(),
        tests_adjusted: p.iter().filter(|p| p.is_finite()).count(),
    }
}

fn sample_deflated(probability: f64) -> DeflatedSharpe {
    DeflatedSharpe {
        trials: 4,
        sharpe_variance: 0.0004,
        variance_from_trials: true,
        threshold: 0.021,
        probability,
    }
}

/// A backtest of 300 hourly periods: the model a little above water before costs and below
/// after them, beside buy and hold and the last move's sign.
pub fn sample_backtest() -> Backtest {
    let strategy = |rule: SignalRule, positions: Positions, drift: f64, wave: f64| {
        let equity: Vec<f64> = (0..300)
            .map(|k| 1.0 + drift * k as f64 + wave * (k as f64 / 17.0).sin())
            .collect();
        let total = equity[299] - 1.0;
        StrategyResult {
            rule,
            positions,
            total_return: total,
            gross_return: total + 0.02,
            sharpe: drift / 0.004 * 8_766f64.sqrt(),
            sharpe_se: 1.1,
            max_drawdown: 2.0 * wave,
            turnover: 0.4,
            exposure: if rule == SignalRule::BuyAndHold {
                1.0
            } else {
                0.55
            },
            hit_rate: Some(0.51),
            trades: 120,
            probabilistic_sharpe: Some(0.4 + 1_000.0 * drift),
            moments: ReturnMoments {
                periods: 300,
                mean: drift,
                std: 0.004,
                skewness: -0.2,
                kurtosis: 5.0,
            },
            equity,
        }
    };
    Backtest {
        spec: BacktestSpec::default(),
        horizon: 1,
        periods: 300,
        periods_per_year: 8_766.0,
        first_open_ms: START_MS + 1500 * HOUR_MS,
        last_open_ms: START_MS + 1800 * HOUR_MS,
        equity_times_ms: (0..300).map(|k| START_MS + (1501 + k) * HOUR_MS).collect(),
        strategies: vec![
            strategy(SignalRule::Model, Positions::LongFlat, -0.00004, 0.01),
            strategy(
                SignalRule::LastMoveSign,
                Positions::LongFlat,
                -0.00008,
                0.012,
            ),
            strategy(SignalRule::Model, Positions::LongShort, -0.00006, 0.015),
            strategy(
                SignalRule::LastMoveSign,
                Positions::LongShort,
                -0.0001,
                0.016,
            ),
            strategy(SignalRule::BuyAndHold, Positions::LongFlat, 0.0002, 0.03),
        ],
    }
}

/// A detail consistent with `row`.
/// An ensemble of the first two sample versions with non-negative weights.
pub fn sample_recipe() -> EnsembleRecipe {
    let member = |i: usize, architecture, weight| EnsembleMember {
        version_id: sample_row(i, architecture, Variant::Default, 800.0).version_id,
        architecture,
        variant: Variant::Default,
        weights_sha256: "cd".repeat(32),
        weight,
    };
    EnsembleRecipe {
        weighting: Weighting::Nnls,
        members: vec![
            member(0, Architecture::CnnLstm, 0.25),
            member(1, Architecture::AttentionLstm, 0.7),
        ],
        fits: vec![
            WeightingFit {
                weighting: Weighting::Equal,
                weights: vec![0.5, 0.5],
                validation_loss: 1.02,
            },
            WeightingFit {
                weighting: Weighting::Nnls,
                weights: vec![0.25, 0.7],
                validation_loss: 0.98,
            },
        ],
        loss: "mean squared error of the standardised label".into(),
    }
}

pub fn sample_detail(row: &ModelRow) -> ModelDetail {
    let mae = row.test_mae_usd.unwrap_or(800.0);
    let history = (1..=8)
        .map(|e| EpochRecord {
            epoch: e,
            train_loss: 1.0 / e as f64 + mae / 1e4,
            val_loss: 1.1 / e as f64 + mae / 1e4,
            learning_rate: 1e-3,
            seconds: 2.0,
            train_seconds: 1.8,
        })
        .collect();
    let info = |a: i64| SplitInfo {
        samples: 300,
        first_target_open_ms: START_MS + a * HOUR_MS,
        last_target_open_ms: START_MS + (a + 299) * HOUR_MS,
    };
    ModelDetail {
        ensemble: (row.architecture == Architecture::Ensemble).then(sample_recipe),
        row: row.clone(),
        folder: format!("/tmp/atb-fake/{}", row.folder),
        training_params: serde_json::json!({"architecture": row.architecture, "epochs": 8}),
        dataset: DatasetSummary {
            source: CandleSource::Sample,
            symbol: row.symbol.clone(),
            timeframe: row.timeframe,
            candles: 2000,
            first_candle_open_ms: START_MS,
            last_candle_open_ms: START_MS + 1999 * HOUR_MS,
            warmup_rows: 20,
            feature_names: vec!["log_return".into()],
            sequence_length: 120,
            horizon: 1,
            embargo: 1,
            train: info(0),
            validation: info(1000),
            test: info(1500),
            data_sha256: row.data_sha256.clone(),
            gap_windows_dropped: 0,
            context_rows_dropped: 0,
        },
        evaluation: match row.target {
            Target::Return => Evaluation {
                test: Some(split(mae, row.directional_accuracy)),
                validation: Some(split(mae, row.directional_accuracy)),
                target: None,
                walk_forward: None,
                method: EVALUATION_METHOD,
                ridge: None,
                backtest: Some(sample_backtest()),
            },
            target => Evaluation {
                test: None,
                validation: None,
                target: Some(sample_target_evaluation(target)),
                walk_forward: None,
                method: EVALUATION_METHOD,
                ridge: None,
                backtest: None,
            },
        },
        history,
        device: "cpu (flex)".into(),
        export: row
            .onnx_max_abs_diff
            .map(|d| sample_export(&row.version_id, d)),
        importance: Vec::new(),
        forward: None,
    }
}

fn sample_export(version: &str, diff: f64) -> OnnxExport {
    OnnxExport {
        version_id: version.into(),
        exported_at: "2024-01-09T00:00:00Z".into(),
        file: format!("models/{version}/model.onnx"),
        sha256: "ab".repeat(32),
        bytes: 123_456,
        opset: 17,
        max_abs_diff: diff,
        tolerance: 1e-4,
        windows: 64,
        runtime: "tract-onnx 0.23".into(),
        atb_version: "0.1.0".into(),
    }
}

/// A volatility or direction version as the registry lists it: no price columns, the
/// target's verdicts.
pub fn sample_target_row(i: usize, architecture: Architecture, target: Target) -> ModelRow {
    ModelRow {
        test_mae_usd: None,
        test_rmse_usd: None,
        persistence_mae_usd: None,
        skill_vs_persistence: None,
        directional_accuracy: None,
        pt_p_value: None,
        vs_persistence: None,
        vs_ridge: None,
        verdict_vs_persistence: None,
        verdict_vs_ridge: None,
        aliases: Vec::new(),
        target,
        target_verdicts: sample_target_evaluation(target).verdicts(),
        ..sample_row(i, architecture, Variant::Default, 0.0)
    }
}

fn loss_comparison(skill: f64, p_value: f64) -> LossComparison {
    LossComparison {
        test: Some(PairedTest {
            statistic: -skill * 100.0,
            p_value,
            mean_loss_difference: -skill,
            n: 1300,
            kernel: Some(VarianceKernel::Rectangular),
        }),
        skill: Some(SkillInterval {
            skill,
            lower: skill - 0.06,
            upper: skill + 0.06,
            block_length: 8,
            resamples: 2000,
        }),
    }
}

/// A volatility evaluation that beats persistence and EWMA but not HAR-RV, or a direction one
/// no better than climatology: what the sample shows at h = 4.
pub fn sample_target_evaluation(target: Target) -> TargetEvaluation {
    let vol = |qlike: f64, r2: f64| VolatilityScores {
        qlike,
        mse_variance: 2.7e-8,
        mincer_zarnowitz: Some(MincerZarnowitzFit {
            intercept: 1e-6,
            slope: 0.7,
            r_squared: r2,
        }),
    };
    let dir = |log_loss: f64, accuracy: f64| DirectionScores {
        log_loss,
        brier: log_loss * 0.36,
        reliability: 0.0003,
        resolution: 0.0009,
        uncertainty: 0.2496,
        accuracy,
    };
    match target {
        Target::Direction => TargetEvaluation::Direction(Box::new(DirectionEvaluation {
            windows: 1304,
            up_share: 0.519,
            model: dir(0.6917, 0.532),
            climatology: dir(0.6927, 0.519),
            last_move: dir(0.6903, 0.535),
            reliability_table: (0..10)
                .map(|b| ReliabilityRow {
                    low: b as f64 / 10.0,
                    high: (b + 1) as f64 / 10.0,
                    windows: if (4..6).contains(&b) { 650 } else { 0 },
                    mean_forecast: b as f64 / 10.0 + 0.05,
                    observed: b as f64 / 10.0 + 0.03,
                })
                .collect(),
            vs_climatology: Some(loss_comparison(0.001, 0.74)),
            vs_last_move: Some(loss_comparison(-0.002, 0.74)),
            logistic: Some(dir(0.6921, 0.525)),
            vs_logistic: Some(loss_comparison(0.0006, 0.8)),
        })),
        _ => TargetEvaluation::Volatility(Box::new(VolatilityEvaluation {
            windows: 1303,
            model: vol(0.70, 0.08),
            persistence: vol(2.09, 0.04),
            ewma: vol(0.76, 0.04),
            ewma_validated: vol(0.755, 0.02),
            ewma_decay: 0.98,
            har: Some(vol(0.69, 0.05)),
            har_coefficients: Some([-2.4, 0.53, 0.23, 0.07]),
            har_spans: [24, 168, 720],
            vs_persistence: Some(loss_comparison(0.66, 0.0001)),
            vs_ewma: Some(loss_comparison(0.08, 0.01)),
            vs_har: Some(loss_comparison(-0.01, 0.6)),
            ridge: Some(vol(0.72, 0.06)),
            vs_ridge: Some(loss_comparison(0.03, 0.2)),
        })),
    }
}

fn sample_predictions(row: &ModelRow) -> TestPredictions {
    let n = 100;
    if row.target != Target::Return {
        let times: Vec<i64> = (0..n).map(|i| START_MS + i as i64 * HOUR_MS).collect();
        let wave = |i: usize| (i as f64 / 9.0).sin();
        let (forecast, realised, baseline, name) = if row.target == Target::Volatility {
            (
                (0..n).map(|i| 0.008 + 0.002 * wave(i)).collect(),
                (0..n).map(|i| 0.008 + 0.004 * wave(i + 2)).collect(),
                (0..n).map(|i| Some(0.008 + 0.0015 * wave(i + 1))).collect(),
                "HAR-RV",
            )
        } else {
            (
                (0..n).map(|i| 0.5 + 0.05 * wave(i)).collect(),
                (0..n)
                    .map(|i| f64::from(u8::from(wave(i + 3) > 0.0)))
                    .collect(),
                vec![Some(0.519); n],
                "climatology",
            )
        };
        return TestPredictions {
            version_id: row.version_id.clone(),
            target_open_ms: Vec::new(),
            actual_close: Vec::new(),
            predicted_close: Vec::new(),
            target_series: Some(TargetSeries {
                target: row.target,
                target_open_ms: times,
                forecast,
                realised,
                baseline_name: name.into(),
                baseline,
            }),
        };
    }
    let actual: Vec<f64> = (0..n)
        .map(|i| 42_000.0 + 500.0 * (i as f64 / 7.0).sin())
        .collect();
    let offset = row.test_mae_usd.unwrap_or(0.0) / 10.0;
    TestPredictions {
        version_id: row.version_id.clone(),
        target_open_ms: (0..n).map(|i| START_MS + i as i64 * HOUR_MS).collect(),
        predicted_close: actual.iter().map(|a| a + offset).collect(),
        actual_close: actual,
        target_series: None,
    }
}

fn sample_chart(symbol: &Symbol) -> CandleChart {
    let times: Vec<i64> = (0..500)
        .filter(|i| !(200..202).contains(i))
        .map(|i| START_MS + i * HOUR_MS)
        .collect();
    let price = |t: i64| 42_000.0 + 800.0 * ((t - START_MS) as f64 / 3.0e7).sin();
    let closes: Vec<f64> = times.iter().map(|&t| price(t)).collect();
    let opens: Vec<f64> = times.iter().map(|&t| price(t - HOUR_MS)).collect();
    CandleChart {
        symbol: symbol.clone(),
        timeframe: Timeframe::H1,
        source: CandleSource::Sample,
        candles: times.len(),
        bucket_candles: 1,
        highs: opens
            .iter()
            .zip(&closes)
            .map(|(o, c)| o.max(*c) + 20.0)
            .collect(),
        lows: opens
            .iter()
            .zip(&closes)
            .map(|(o, c)| o.min(*c) - 20.0)
            .collect(),
        volumes: times
            .iter()
            .map(|t| 100.0 + (t / HOUR_MS % 24) as f64 * 5.0)
            .collect(),
        opens,
        closes,
        open_times_ms: times,
        gaps: vec![Gap {
            first_missing_ms: START_MS + 200 * HOUR_MS,
            missing: 2,
        }],
    }
}

/// The features of [`sample_chart`]'s candles, as plausible waves (the statistics are those of
/// the points; the real shell computes them from every row).
fn sample_features(symbol: &Symbol, feature_set: FeatureSet) -> FeaturePreview {
    let warmup = feature_set.warmup_rows();
    // The chart's candles (its gap included) after the warm-up.
    let open_times_ms: Vec<i64> = (warmup as i64..500)
        .filter(|i| !(200..202).contains(i))
        .map(|i| START_MS + i * HOUR_MS)
        .collect();
    let columns = feature_set
        .feature_names()
        .into_iter()
        .enumerate()
        .map(|(j, name)| {
            let points: Vec<f32> = open_times_ms
                .iter()
                .map(|&t| {
                    let x = (t - START_MS) as f64 / HOUR_MS as f64;
                    (0.01 * (j + 1) as f64 * (x / (5.0 + j as f64)).sin()) as f32
                })
                .collect();
            let n = points.len() as f64;
            let mean = points.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
            let var = points
                .iter()
                .map(|&p| (f64::from(p) - mean).powi(2))
                .sum::<f64>()
                / n;
            FeatureColumn {
                meaning: FeatureSet::meaning(&name).into(),
                name,
                mean,
                std: var.sqrt(),
                min: points
                    .iter()
                    .map(|&p| f64::from(p))
                    .fold(f64::MAX, f64::min),
                max: points
                    .iter()
                    .map(|&p| f64::from(p))
                    .fold(f64::MIN, f64::max),
                points,
            }
        })
        .collect();
    FeaturePreview {
        symbol: symbol.clone(),
        timeframe: Timeframe::H1,
        feature_set,
        candles: 498,
        warmup_rows: warmup,
        rows: open_times_ms.len(),
        rows_per_point: 1,
        open_times_ms,
        columns,
    }
}

/// A plausible stream of one epoch's events, for tests and demos.
pub fn sample_epoch(epoch: usize, epochs: usize) -> Vec<RunUpdate> {
    let mut out: Vec<RunUpdate> = (1..=4)
        .map(|b| RunUpdate::Training {
            event: TrainingEvent::Batch {
                epoch,
                batch: b,
                batches: 4,
                loss: 1.0 / (epoch as f64 + b as f64 / 4.0),
                samples_per_second: 900.0,
            },
        })
        .collect();
    out.push(RunUpdate::Training {
        event: TrainingEvent::EpochEnd {
            epoch,
            epochs,
            train_loss: 1.0 / epoch as f64,
            val_loss: 1.2 / epoch as f64,
            learning_rate: 1e-3,
            elapsed_s: 2.0 * epoch as f64,
            eta_s: 2.0 * (epochs - epoch) as f64,
            best_epoch: epoch,
            best_val_loss: 1.2 / epoch as f64,
        },
    });
    out
}

/// `RunStarted` as the engine sends it.
pub fn sample_run_started(epochs: usize) -> RunUpdate {
    let row = sample_row(0, Architecture::CnnLstm, Variant::Default, 800.0);
    let detail = sample_detail(&row);
    RunUpdate::Training {
        event: TrainingEvent::RunStarted {
            model_config: serde_json::json!({}),
            device: "cpu (flex)".into(),
            device_reason: "asked for the CPU".into(),
            parameters: 12_345,
            dataset: detail.dataset,
            epochs,
            batches_per_epoch: 4,
        },
    }
}

/// `Finished` with an evaluation, then the registration.
pub fn sample_finish(epochs: usize) -> Vec<RunUpdate> {
    let row = sample_row(3, Architecture::CnnLstm, Variant::Default, 790.0);
    let detail = sample_detail(&row);
    vec![
        RunUpdate::Training {
            event: TrainingEvent::Finished {
                stop: StopReason::Completed,
                epochs_run: epochs,
                train_seconds: 12.0,
                evaluation: Box::new(detail.evaluation),
            },
        },
        RunUpdate::Registered { row: Box::new(row) },
    ]
}
