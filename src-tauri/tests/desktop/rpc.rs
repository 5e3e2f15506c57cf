//! The shell's contract, natively: every request kind goes through [`shell::handle`] against a
//! real engine on a temporary `ATB_HOME` (Binance is the in-process mock), answers and failures
//! alike, and the test fails if a kind of `RequestKind::all()` was never exercised.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atb_desktop::shell::{self, CloseChoice, FileDialogs, Notice, Notifier, Shell, Stream};
use atb_engine::Settings;
use atb_mock_binance::{Fault, MockBinance, MockConfig};
use atb_protocol::backtest::BacktestSettings;
use atb_protocol::desktop::{RunUpdate, SeriesRequest, TrainRequest};
use atb_protocol::rpc::{ErrorKind, ErrorReply, Reply, Request, RequestKind};
use atb_protocol::spec::TrainSpec;
use atb_protocol::vocab::{Architecture, CandleSource, DeviceChoice, Symbol, Variant, Weighting};

/// Collects streamed replies.
#[derive(Default)]
struct Collected(Mutex<Vec<Reply>>);

impl Stream for Collected {
    fn send(&self, reply: Reply) -> bool {
        self.0.lock().unwrap().push(reply);
        true
    }
}

/// Dialogs that answer with whatever the test put in them (`None`: the user cancelled): the save
/// dialog with `.0`, the open dialogs (file and folder) with `.1`.
#[derive(Default)]
struct ScriptedDialog(Mutex<Option<PathBuf>>, Mutex<Option<PathBuf>>);

impl FileDialogs for ScriptedDialog {
    fn save_path(&self, _: &str, _: &str) -> Result<Option<PathBuf>, ErrorReply> {
        Ok(self.0.lock().unwrap().clone())
    }

    fn open_csv(&self, _: &str) -> Result<Option<PathBuf>, ErrorReply> {
        Ok(self.1.lock().unwrap().clone())
    }

    fn open_folder(&self, _: &str) -> Result<Option<PathBuf>, ErrorReply> {
        Ok(self.1.lock().unwrap().clone())
    }
}

/// Keeps every desktop notification the shell sends.
#[derive(Default)]
struct Noticed(Mutex<Vec<Notice>>);

impl Notifier for Noticed {
    fn notify(&self, notice: Notice) {
        self.0.lock().unwrap().push(notice);
    }
}

impl Noticed {
    fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Fixture {
    shell: Shell,
    dialog: Arc<ScriptedDialog>,
    noticed: Arc<Noticed>,
    mock: MockBinance,
    seen: HashSet<RequestKind>,
    _home: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let mock = MockBinance::start(MockConfig::default()).unwrap();
        let home = tempfile::tempdir().unwrap();
        let settings = Settings::resolve(home.path().to_path_buf(), Some(mock.url())).unwrap();
        let dialog = Arc::new(ScriptedDialog::default());
        let noticed = Arc::new(Noticed::default());
        Self {
            shell: Shell::new(settings, dialog.clone(), noticed.clone()),
            dialog,
            noticed,
            mock,
            seen: HashSet::new(),
            _home: home,
        }
    }

    /// Sends `request`; returns its answer and the replies streamed meanwhile.
    fn call(&mut self, request: Request) -> (Result<Reply, ErrorReply>, Arc<Collected>) {
        self.seen.insert(request.kind());
        let stream = Arc::new(Collected::default());
        let answer = shell::handle(&self.shell, request, stream.clone());
        (answer, stream)
    }

    fn ok(&mut self, request: Request) -> Reply {
        let what = format!("{request:?}");
        match self.call(request).0 {
            Ok(reply) => reply,
            Err(e) => panic!("{what} failed: {e:?}"),
        }
    }

    fn fails(&mut self, request: Request, kind: ErrorKind) -> String {
        let what = format!("{request:?}");
        match self.call(request).0 {
            Err(e) => {
                assert_eq!(e.kind, kind, "{what}: {}", e.message);
                e.message
            }
            Ok(reply) => panic!("{what} should have failed, got {reply:?}"),
        }
    }

    /// Starts a run and waits for its last update.
    fn train(&mut self, spec: TrainSpec) -> Vec<RunUpdate> {
        let request = Request::Train(TrainRequest {
            series: sample(40),
            spec,
        });
        let (answer, stream) = self.call(request);
        let Ok(Reply::RunSnapshot(Some(snapshot))) = answer else {
            panic!("Train did not start: {answer:?}");
        };
        assert!(snapshot.active);
        let started = Instant::now();
        loop {
            let updates: Vec<RunUpdate> = stream
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|r| match r {
                    Reply::Run(u) => u.clone(),
                    other => panic!("a run streamed {other:?}"),
                })
                .collect();
            if updates.last().is_some_and(RunUpdate::is_final) {
                return updates;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "the run did not finish: {updates:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn sample(days: u32) -> SeriesRequest {
    SeriesRequest {
        days: Some(days),
        ..SeriesRequest::default()
    }
}

fn binance(symbol: &str, days: u32) -> SeriesRequest {
    SeriesRequest {
        source: CandleSource::Binance,
        symbol: symbol.parse().unwrap(),
        days: Some(days),
        ..SeriesRequest::default()
    }
}

fn tiny(architecture: Architecture) -> TrainSpec {
    TrainSpec {
        architecture,
        variant: Variant::Lightweight,
        epochs: 1,
        sequence_length: 24,
        device: DeviceChoice::Cpu,
        ..TrainSpec::default()
    }
}

fn registered(updates: &[RunUpdate]) -> String {
    match updates.last() {
        Some(RunUpdate::Registered { row }) => row.version_id.clone(),
        other => panic!("the run ended with {other:?}"),
    }
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one scenario through every request kind"
)]
fn every_request_kind_answers_or_fails_with_its_kind() {
    let mut f = Fixture::new();

    // Start-up requests.
    let arrived = f.ok(Request::AppInfo);
    let Reply::AppInfo(info) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(info.home, f.shell.settings.home.display().to_string());
    let arrived = f.ok(Request::DataOverview);
    let Reply::DataOverview(overview) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(overview.coverage.is_empty() && overview.last_fetch.is_none());
    assert_eq!(f.ok(Request::AttachRun), Reply::RunSnapshot(None));
    f.fails(Request::CancelRun { run_id: 1 }, ErrorKind::NotFound);
    assert_eq!(f.ok(Request::ListModels), Reply::Models(vec![]));

    // Candles and fetches.
    let arrived = f.ok(Request::Candles(sample(30)));
    let Reply::Candles(chart) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(chart.candles >= 700 && chart.closes.len() == chart.open_times_ms.len());
    // The features of the same candles: every column, after the warm-up.
    let arrived = f.ok(Request::FeaturePreview {
        series: sample(30),
        feature_set: atb_protocol::vocab::FeatureSet::Technical,
    });
    let Reply::FeaturePreview(preview) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(preview.candles, chart.candles);
    assert_eq!(preview.rows, chart.candles - 60);
    assert_eq!(preview.columns.len(), 12);
    assert!(
        preview
            .columns
            .iter()
            .all(|c| c.points.len() == preview.open_times_ms.len() && !c.meaning.is_empty())
    );
    // Too few candles for the warm-up: said, not an empty preview.
    let short = f.fails(
        Request::FeaturePreview {
            series: SeriesRequest {
                start_date: Some("2024-06-01".into()),
                end_date: Some("2024-06-02".into()),
                days: None,
                ..sample(1)
            },
            feature_set: atb_protocol::vocab::FeatureSet::Technical,
        },
        ErrorKind::InvalidInput,
    );
    assert!(short.contains("need more than 60 candles"), "{short}");
    f.fails(
        Request::Candles(binance("BTCUSDT", 3)),
        ErrorKind::InvalidInput,
    );
    f.fails(Request::Fetch(sample(3)), ErrorKind::InvalidInput);
    // The page never names a file: a compromised page could read any file the user can.
    let file = SeriesRequest {
        source: CandleSource::Csv("/proc/self/environ".into()),
        ..sample(3)
    };
    let refused = f.fails(Request::Candles(file.clone()), ErrorKind::InvalidInput);
    assert!(refused.contains("Import CSV"), "{refused}");
    f.fails(Request::Fetch(file.clone()), ErrorKind::InvalidInput);
    f.fails(
        Request::Train(TrainRequest {
            series: file,
            spec: tiny(Architecture::Tcn),
        }),
        ErrorKind::InvalidInput,
    );
    f.fails(
        Request::Fetch(binance("NOPEUSDT", 3)),
        ErrorKind::InvalidInput,
    );
    // A batch that cannot fit in memory is refused before a year of candles is fetched.
    let refused = f.fails(
        Request::Train(TrainRequest {
            series: binance("BTCUSDT", 365),
            spec: TrainSpec {
                sequence_length: 10_000,
                batch_size: 2_048,
                ..tiny(Architecture::AttentionLstm)
            },
        }),
        ErrorKind::InvalidInput,
    );
    assert!(refused.contains("per training batch"), "{refused}");
    // CSV files come in through the shell's open dialog only.
    let import = || Request::ImportCsv {
        symbol: "ETHUSDT".parse::<Symbol>().unwrap(),
        timeframe: atb_protocol::vocab::Timeframe::H1,
    };
    assert_eq!(f.ok(import()), Reply::Imported(None));
    *f.dialog.1.lock().unwrap() = Some(PathBuf::from("/dev/zero"));
    let refused = f.fails(import(), ErrorKind::InvalidInput);
    assert!(refused.contains("not a regular file"), "{refused}");
    let csv = f._home.path().join("eth.csv");
    std::fs::write(
        &csv,
        "open_time_ms,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,10\n",
    )
    .unwrap();
    *f.dialog.1.lock().unwrap() = Some(csv);
    let arrived = f.ok(import());
    let Reply::Imported(Some(imported)) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!((imported.candles, imported.inserted), (1, 1));
    *f.dialog.1.lock().unwrap() = None;
    // A long ban fails at once (a short one is waited out).
    f.mock.push_faults([Fault::Banned {
        retry_after_secs: 7_200,
    }]);
    f.fails(Request::Fetch(binance("ETHUSDT", 3)), ErrorKind::Network);
    let (answer, stream) = f.call(Request::Fetch(binance("BTCUSDT", 3)));
    let Ok(Reply::Fetched(summary)) = answer else {
        panic!("{answer:?}")
    };
    assert!(summary.stored >= 70, "{summary:?}");
    assert!(
        stream
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|r| matches!(r, Reply::FetchProgress(_)))
    );
    // Fetch again: the settled range is asked for again (a plain fetch would ask only for the
    // unsettled tail), and nothing new is stored.
    let requests = f.mock.kline_requests();
    let arrived = f.ok(Request::Refetch(binance("BTCUSDT", 3)));
    let Reply::Fetched(again) = arrived else {
        panic!("got {arrived:?}")
    };
    // (One more candle only if the hour turned in between.)
    assert!(
        again.stored >= summary.stored && again.inserted <= 1,
        "{again:?} after {summary:?}"
    );
    assert!(
        f.mock.kline_requests() > requests,
        "asked the exchange again"
    );
    let summary = again;
    let arrived = f.ok(Request::DataOverview);
    let Reply::DataOverview(overview) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(overview.last_fetch, Some(summary));
    // The fetched series and the imported one.
    assert_eq!(overview.coverage.len(), 2);
    assert!(matches!(
        f.ok(Request::Candles(binance("BTCUSDT", 3))),
        Reply::Candles(c) if c.candles >= 70
    ));

    // Cancel fetch: the page stored before it stays, the request held up at the exchange is
    // dropped at once (not waited out), one fetch runs at a time, and fetching again resumes.
    f.fails(Request::CancelFetch, ErrorKind::NotFound);
    f.mock.update_config(|c| {
        c.symbols.insert("ADAUSDT".into());
    });
    // 60 days of 1h: a full page of 1000 candles, then one of 440 that the exchange holds up.
    f.mock.push_faults([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::from_secs(20)),
    ]);
    let requests_before = f.mock.kline_requests();
    let stream = Arc::new(Collected::default());
    std::thread::scope(|scope| {
        let running = scope.spawn(|| {
            shell::handle(
                &f.shell,
                Request::Fetch(binance("ADAUSDT", 60)),
                stream.clone(),
            )
        });
        let started = Instant::now();
        while !stream
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|r| matches!(r, Reply::FetchProgress(p) if p.candles_done > 0))
        {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no page was fetched"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The second request is at the exchange, which holds it up.
        while f.mock.kline_requests() < requests_before + 2 {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the second page was not asked for"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let again = shell::handle(
            &f.shell,
            Request::Fetch(binance("BTCUSDT", 3)),
            Arc::new(Collected::default()),
        );
        assert_eq!(again.unwrap_err().kind, ErrorKind::Busy);
        let asked = Instant::now();
        assert_eq!(
            shell::handle(
                &f.shell,
                Request::CancelFetch,
                Arc::new(Collected::default())
            ),
            Ok(Reply::FetchCancelRequested)
        );
        let ended = running.join().unwrap().unwrap_err();
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "the cancel waited out the exchange: {:?}",
            asked.elapsed()
        );
        assert_eq!(ended.kind, ErrorKind::Cancelled);
        assert!(
            ended.message.contains("1000 of 1440 candles") && ended.message.contains("resume"),
            "{}",
            ended.message
        );
    });
    f.seen.insert(RequestKind::Fetch);
    f.seen.insert(RequestKind::CancelFetch);
    let arrived = f.ok(Request::DataOverview);
    let Reply::DataOverview(overview) = arrived else {
        panic!("got {arrived:?}")
    };
    let ada = overview
        .coverage
        .iter()
        .find(|c| c.symbol.as_str() == "ADAUSDT")
        .expect("the first page was kept");
    assert_eq!(ada.rows, 1000);
    let requests_cancelled = f.mock.kline_requests() - requests_before;
    assert_eq!(requests_cancelled, 2, "{:?}", f.mock.request_log());
    let arrived = f.ok(Request::Fetch(binance("ADAUSDT", 60)));
    let Reply::Fetched(resumed) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(resumed.stored, 1440);
    assert_eq!(resumed.requests, 1, "only the missing page is asked for");

    // Training: a bad spec is refused before anything starts; one run at a time.
    f.fails(
        Request::Train(TrainRequest {
            series: sample(40),
            spec: TrainSpec {
                epochs: 0,
                ..tiny(Architecture::Tcn)
            },
        }),
        ErrorKind::InvalidInput,
    );
    let first = f.train(tiny(Architecture::TcnAttention));
    assert!(matches!(first[0], RunUpdate::Loading { .. }));
    let old = registered(&first);
    let arrived = f.ok(Request::AttachRun);
    let Reply::RunSnapshot(Some(last)) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(!last.active && last.updates == first);
    let (answer, stream) = f.call(Request::Train(TrainRequest {
        series: sample(40),
        spec: tiny(Architecture::TcnAttention),
    }));
    assert!(matches!(answer, Ok(Reply::RunSnapshot(Some(_)))));
    // While it runs, a second run is refused and cancelling is accepted... once it has started.
    let busy = f.fails(
        Request::Train(TrainRequest {
            series: sample(40),
            spec: tiny(Architecture::Tcn),
        }),
        ErrorKind::Busy,
    );
    assert!(busy.contains("run"), "{busy}");
    // A cancel naming another run never reaches this one.
    let Ok(Reply::RunSnapshot(Some(second))) = &answer else {
        unreachable!()
    };
    f.fails(
        Request::CancelRun {
            run_id: second.run_id + 1,
        },
        ErrorKind::NotFound,
    );
    // Let the second run finish normally (cancelling is covered by the engine's run tests and
    // by CancelRun's NotFound above).
    let started = Instant::now();
    let new = loop {
        let final_update = stream.0.lock().unwrap().iter().rev().find_map(|r| match r {
            Reply::Run(u) if u.is_final() => Some(u.clone()),
            _ => None,
        });
        if let Some(u) = final_update {
            break registered(&[u]);
        }
        assert!(started.elapsed() < Duration::from_secs(600));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(old, new);

    // The registry.
    let arrived = f.ok(Request::ListModels);
    let Reply::Models(rows) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(rows.len(), 2);
    // The two runs share their series, range and split: their errors pair window by window.
    let arrived = f.ok(Request::PairedTest {
        first: new.clone(),
        second: old.clone(),
    });
    let Reply::Paired(paired) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(paired.windows > 10, "{paired:?}");
    // Same spec and seed, but other tests in this process draw from the device's generator in
    // between, so the two models may differ: identical errors give no test (never a claim),
    // different ones a p-value.
    match &paired.test {
        None => assert_eq!(paired.first_mae_usd, paired.second_mae_usd),
        Some(t) => assert!((0.0..=1.0).contains(&t.p_value), "{paired:?}"),
    }
    assert!(paired.verdict.text.contains(&old), "{paired:?}");
    f.fails(
        Request::PairedTest {
            first: new.clone(),
            second: "no_such_version".into(),
        },
        ErrorKind::NotFound,
    );
    // Judged together: both versions, persistence and drift in the confidence set; every
    // verdict adjusted.
    let arrived = f.ok(Request::Judge {
        versions: vec![new.clone(), old.clone()],
    });
    let Reply::Judged(judged) = arrived else {
        panic!("got {arrived:?}")
    };
    let set = judged.model_confidence_set.as_ref().expect("a set");
    assert_eq!(set.members.len(), 4, "{judged:?}");
    assert!(
        judged
            .verdicts
            .iter()
            .all(|v| v.vs_persistence.text.contains("Holm-adjusted")),
        "{judged:?}"
    );
    f.fails(
        Request::Judge {
            versions: vec![new.clone(), "no_such_version".into()],
        },
        ErrorKind::NotFound,
    );
    // A forward test of a version whose data ends with the sample: no candle after it yet.
    let arrived = f.ok(Request::ForwardTest {
        versions: vec![new.clone()],
    });
    let Reply::ForwardTested(forward) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(forward.results.len(), 1);
    assert!(forward.results[0].evaluation.is_none() || forward.results[0].windows >= 30);
    f.fails(
        Request::ForwardTest {
            versions: vec!["no_such_version".into()],
        },
        ErrorKind::NotFound,
    );
    // Value after costs with the deflated Sharpe; costs are checked before any work.
    let arrived = f.ok(Request::Backtest {
        version: new.clone(),
        settings: BacktestSettings::default(),
    });
    let Reply::Backtested(report) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(report.version_id, new);
    assert_eq!(report.deflated.len(), 2);
    f.fails(
        Request::Backtest {
            version: new.clone(),
            settings: BacktestSettings {
                fee_bps: -1.0,
                ..BacktestSettings::default()
            },
        },
        ErrorKind::InvalidInput,
    );
    assert!(rows.iter().all(|r| r.symbol == Symbol::default()));
    let arrived = f.ok(Request::ModelDetail {
        version: new.clone(),
    });
    let Reply::Detail(detail) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(detail.row.version_id, new);
    assert_eq!(detail.training_params["architecture"], "tcn_attention");
    f.fails(
        Request::ModelDetail {
            version: "no_such_version".into(),
        },
        ErrorKind::NotFound,
    );
    let arrived = f.ok(Request::Predictions {
        version: new.clone(),
    });
    let Reply::Predictions(p) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(!p.predicted_close.is_empty() && p.predicted_close.len() == p.actual_close.len());
    let Reply::Attention(Some(map)) = f.ok(Request::Attention {
        version: new.clone(),
    }) else {
        panic!("tcn_attention has attention weights")
    };
    assert_eq!(map.weights.len(), map.size * map.size);
    f.fails(
        Request::Attention {
            version: "no_such_version".into(),
        },
        ErrorKind::NotFound,
    );

    // Export: closing the dialog writes nothing; choosing a file exports with parity.
    assert_eq!(
        f.ok(Request::ExportOnnx {
            version: new.clone()
        }),
        Reply::Exported(None)
    );
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("chosen.onnx");
    *f.dialog.0.lock().unwrap() = Some(target.clone());
    let arrived = f.ok(Request::ExportOnnx {
        version: new.clone(),
    });
    let Reply::Exported(Some(outcome)) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(outcome.export.max_abs_diff <= outcome.export.tolerance);
    assert_eq!(outcome.copied_to, Some(target.display().to_string()));
    assert!(std::fs::metadata(&target).unwrap().len() > 1000);
    f.fails(
        Request::ExportOnnx {
            version: "no_such_version".into(),
        },
        ErrorKind::NotFound,
    );

    // An ensemble of two runs on one series and set of windows, registered like any model; its
    // members stay while it exists, and one version alone is no ensemble.
    let third = registered(&f.train(tiny(Architecture::TcnAttention)));
    let arrived = f.ok(Request::MakeEnsemble {
        versions: vec![new.clone(), third.clone()],
        weighting: Weighting::Nnls,
    });
    let Reply::EnsembleMade(ensemble) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(ensemble.architecture, Architecture::Ensemble);
    assert!(ensemble.verdict_vs_persistence.is_some());
    let made = f.fails(
        Request::Delete {
            version: third.clone(),
        },
        ErrorKind::InvalidInput,
    );
    assert!(made.contains(&ensemble.version_id), "{made}");
    f.fails(
        Request::MakeEnsemble {
            versions: vec![third],
            weighting: Weighting::Equal,
        },
        ErrorKind::InvalidInput,
    );
    f.fails(
        Request::MakeEnsemble {
            versions: vec![new.clone(), "no_such_version".into()],
            weighting: Weighting::Equal,
        },
        ErrorKind::NotFound,
    );

    // Aliases and deletion: the aliased version is kept, the other one goes.
    let arrived = f.ok(Request::Promote {
        version: new.clone(),
        alias: "champion".into(),
    });
    let Reply::Promoted(row) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(row.aliases.contains(&"champion".to_string()));
    f.fails(
        Request::Delete {
            version: new.clone(),
        },
        ErrorKind::InvalidInput,
    );
    assert_eq!(
        f.ok(Request::Delete {
            version: old.clone()
        }),
        Reply::Deleted(old.clone())
    );
    f.fails(Request::Delete { version: old }, ErrorKind::NotFound);

    // Cancel reaches a run still loading its candles (a slow exchange here).
    f.mock.push_faults([Fault::Delay(Duration::from_secs(3))]);
    let (answer, stream) = f.call(Request::Train(TrainRequest {
        series: binance("ETHUSDT", 30),
        spec: tiny(Architecture::Tcn),
    }));
    let Ok(Reply::RunSnapshot(Some(loading))) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        f.ok(Request::CancelRun {
            run_id: loading.run_id
        }),
        Reply::CancelRequested
    );
    let started = Instant::now();
    let last = loop {
        let last = stream.0.lock().unwrap().iter().rev().find_map(|r| match r {
            Reply::Run(u) if u.is_final() => Some(u.clone()),
            _ => None,
        });
        if let Some(u) = last {
            break u;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "cancel was not heard"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        matches!(&last, RunUpdate::NotRegistered { reason } if reason.contains("loading")),
        "{last:?}"
    );

    // The forecast of a version, with its verdict beside it.
    let arrived = f.ok(Request::Forecast {
        version: new.clone(),
    });
    let Reply::Forecast(forecast) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(forecast.source, CandleSource::Sample);
    assert!(forecast.prediction.is_finite() && forecast.last_close > 0.0);
    assert_eq!(forecast.verdicts.len(), 1, "{:?}", forecast.verdicts);
    f.fails(
        Request::Forecast {
            version: "no_such_version".into(),
        },
        ErrorKind::NotFound,
    );

    // The registry check: sound, then a tampered weight file is found with its fix.
    let arrived = f.ok(Request::CheckRegistry);
    let Reply::RegistryChecked(check) = arrived else {
        panic!("got {arrived:?}")
    };
    // The champion, the ensemble's other member and the ensemble.
    assert_eq!((check.checked, check.ok), (3, 3), "{check:?}");
    assert!(check.findings.is_empty(), "{check:?}");
    let arrived = f.ok(Request::ModelDetail {
        version: new.clone(),
    });
    let Reply::Detail(detail) = arrived else {
        panic!("got {arrived:?}")
    };
    let weights = std::path::Path::new(&detail.folder).join("weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes.push(0);
    std::fs::write(&weights, bytes).unwrap();
    let arrived = f.ok(Request::CheckRegistry);
    let Reply::RegistryChecked(check) = arrived else {
        panic!("got {arrived:?}")
    };
    // The tampered champion is damaged; the others are sound.
    assert_eq!(check.ok, 2, "{check:?}");
    let damaged = &check.findings[0];
    assert_eq!(damaged.subject, new);
    assert!(damaged.fix.contains("Delete it"), "{damaged:?}");
    assert_eq!(f.ok(Request::Recover), Reply::Recovered(Default::default()));

    // Validation streams each pair; Cancel stops it; one at a time.
    f.fails(Request::CancelValidation, ErrorKind::NotFound);
    let stream = Arc::new(Collected::default());
    std::thread::scope(|scope| {
        let running = scope.spawn(|| shell::handle(&f.shell, Request::Validate, stream.clone()));
        let started = Instant::now();
        while !stream
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|r| matches!(r, Reply::ValidationProgress(p) if p.ok()))
        {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "no pair validated"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let again = shell::handle(&f.shell, Request::Validate, Arc::new(Collected::default()));
        assert_eq!(again.unwrap_err().kind, ErrorKind::Busy);
        assert_eq!(
            shell::handle(
                &f.shell,
                Request::CancelValidation,
                Arc::new(Collected::default())
            ),
            Ok(Reply::ValidationCancelRequested)
        );
        let ended = running.join().unwrap();
        assert_eq!(ended.unwrap_err().kind, ErrorKind::Cancelled);
    });
    f.seen.insert(RequestKind::Validate);
    f.seen.insert(RequestKind::CancelValidation);

    // The queue: three tree runs wait behind a run started by hand (held up by a slow
    // exchange), are reordered and trimmed while they wait, then run unattended in order.
    let arrived = f.ok(Request::QueueState);
    let Reply::Queue(empty) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(!empty.busy());
    f.noticed.take();
    f.mock.push_faults([Fault::Delay(Duration::from_secs(3))]);
    let (answer, manual) = f.call(Request::Train(TrainRequest {
        series: binance("SOLUSDT", 30),
        spec: tiny(Architecture::Tcn),
    }));
    assert!(
        matches!(answer, Ok(Reply::RunSnapshot(Some(_)))),
        "{answer:?}"
    );
    let tree = |seed: u64| TrainRequest {
        series: sample(40),
        spec: TrainSpec {
            seed,
            ..tiny(Architecture::Gbdt)
        },
    };
    let arrived = f.ok(Request::Enqueue {
        requests: vec![tree(1), tree(2), tree(3)],
    });
    let Reply::Queue(q) = arrived else {
        panic!("got {arrived:?}")
    };
    let ids: Vec<u64> = q.pending.iter().map(|r| r.queue_id).collect();
    assert_eq!(ids.len(), 3, "{q:?}");
    let arrived = f.ok(Request::QueueShift {
        queue_id: ids[2],
        up: true,
    });
    let Reply::Queue(q) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(
        q.pending.iter().map(|r| r.queue_id).collect::<Vec<_>>(),
        [ids[0], ids[2], ids[1]]
    );
    let arrived = f.ok(Request::QueueRemove { queue_id: ids[1] });
    let Reply::Queue(q) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(q.pending.len(), 2);
    f.fails(
        Request::QueueRemove { queue_id: ids[1] },
        ErrorKind::NotFound,
    );
    let bad = TrainRequest {
        spec: TrainSpec {
            epochs: 0,
            ..tiny(Architecture::Tcn)
        },
        ..tree(9)
    };
    f.fails(
        Request::Enqueue {
            requests: vec![bad],
        },
        ErrorKind::InvalidInput,
    );
    let started = Instant::now();
    let done = loop {
        let arrived = f.ok(Request::QueueState);
        let Reply::Queue(q) = arrived else {
            panic!("got {arrived:?}")
        };
        if !q.busy() {
            break q;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{q:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        manual
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|r| matches!(r, Reply::Run(u) if u.is_final())),
        "the queue waited for the run started by hand"
    );
    let seeds: Vec<u64> = done.finished.iter().map(|r| r.request.spec.seed).collect();
    assert_eq!(seeds, [1, 3], "in the queue's order");
    for run in &done.finished {
        assert!(
            matches!(&run.outcome, RunUpdate::Registered { row } if row.verdict_vs_persistence.is_some()),
            "{run:?}"
        );
    }
    // One desktop notification per run that ended, the one started by hand first, each naming
    // what was trained and, for a registered model, its version and verdict.
    let notices = f.noticed.take();
    assert_eq!(notices.len(), 3, "{notices:?}");
    assert!(
        notices[0].body.starts_with("tcn lightweight on SOLUSDT"),
        "{notices:?}"
    );
    for (notice, run) in notices[1..].iter().zip(&done.finished) {
        let RunUpdate::Registered { row } = &run.outcome else {
            unreachable!()
        };
        assert_eq!(notice.title, "Training finished");
        assert!(
            notice
                .body
                .starts_with("gbdt lightweight on BTCUSDT 1h: registered as ")
                && notice.body.contains(&row.version_id)
                && notice.body.contains(&format!(
                    "Against persistence: {}.",
                    row.verdict_vs_persistence.as_ref().unwrap().text
                )),
            "{notice:?}"
        );
    }

    // A benchmark of the tree model, kept as the last report.
    assert_eq!(f.ok(Request::LastBench), Reply::LastBench(None));
    // No feature benchmark kept here (`atb bench --feature-sets` keeps one for the guide).
    assert_eq!(
        f.ok(Request::LastFeatureBench),
        Reply::LastFeatureBench(None)
    );
    f.fails(Request::CancelBench, ErrorKind::NotFound);
    let spec = atb_protocol::bench::BenchSpec {
        architectures: vec![Architecture::Gbdt],
        variants: vec![Variant::Lightweight],
        series: sample(40),
        sequence_length: 24,
        ..Default::default()
    };
    let (answer, progress) = f.call(Request::Bench(spec));
    let Ok(Reply::Benched(report)) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(report.results.len(), 1);
    assert_eq!(
        f.noticed.take(),
        [Notice {
            title: "Benchmark finished".into(),
            body: "1 model(s) measured on BTCUSDT 1h; the table is on the Benchmark screen.".into(),
        }]
    );
    assert!(progress.0.lock().unwrap().iter().any(|r| matches!(
        r,
        Reply::BenchProgress(atb_protocol::bench::BenchUpdate::Measured(_))
    )));
    let arrived = f.ok(Request::LastBench);
    let Reply::LastBench(Some(kept)) = arrived else {
        panic!("got {arrived:?}")
    };
    // The same report (serde_json reads floats to within a unit in the last place).
    assert_eq!(kept.created_at, report.created_at);
    assert_eq!(
        kept.results[0].runs[0].version_id,
        report.results[0].runs[0].version_id
    );

    // The page's screen and forms, remembered in ATB_HOME/desktop.json.
    assert_eq!(f.ok(Request::LoadPrefs), Reply::Prefs(None));
    let prefs = atb_protocol::desktop::UiPrefs {
        screen: "bench".into(),
        train: Some(TrainRequest::default()),
        ..Default::default()
    };
    assert_eq!(f.ok(Request::SavePrefs(prefs.clone())), Reply::PrefsSaved);
    assert_eq!(
        f.ok(Request::LoadPrefs),
        Reply::Prefs(Some(Box::new(prefs)))
    );

    import_sweep_results(&mut f);

    let missing: Vec<_> = RequestKind::all()
        .into_iter()
        .filter(|k| !f.seen.contains(k))
        .collect();
    assert!(missing.is_empty(), "never exercised: {missing:?}");
}

/// Import results: a closed dialog imports nothing; a results folder's bundle (a sweep planned
/// and one job run by the engine, as a cluster's worker would) is registered under its own id,
/// and importing it again finds it there.
fn import_sweep_results(f: &mut Fixture) {
    use atb_engine::service::sweep;
    *f.dialog.1.lock().unwrap() = None;
    assert_eq!(f.ok(Request::ImportResults), Reply::ResultsImported(None));
    let study = f._home.path().join("study");
    std::fs::create_dir_all(&study).unwrap();
    let declaration = study.join("sweep.toml");
    std::fs::write(
        &declaration,
        "name = \"desktop\"\n[series]\nsymbols = [\"BTCUSDT\"]\ntimeframe = \"1h\"\nsource = \"sample\"\ndays = 40\n\
         [models]\narchitectures = [\"gbdt\"]\nvariants = [\"lightweight\"]\n[spec]\nsequence_length = 24\ndevice = \"cpu\"\n",
    )
    .unwrap();
    let planner = Settings::resolve(f._home.path().join("planner"), None).unwrap();
    let folder = study.join("sweep");
    atb_engine::service::block_on(sweep::plan::plan(&planner, &declaration, &folder)).unwrap();
    let results = folder.join("results");
    let ran = sweep::worker::run_job(
        &folder,
        0,
        &results,
        &mut |_| {},
        &atb_engine::CancelToken::new(),
    )
    .unwrap_or_else(|failure| panic!("the worker failed: {failure}"));
    *f.dialog.1.lock().unwrap() = Some(results);
    let arrived = f.ok(Request::ImportResults);
    let Reply::ResultsImported(Some(report)) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(report.imported.len(), 1, "{report:?}");
    assert_eq!(report.imported[0].version_id, ran.version_id);
    let arrived = f.ok(Request::ListModels);
    let Reply::Models(rows) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(rows.iter().any(|r| r.version_id == ran.version_id));
    let arrived = f.ok(Request::ImportResults);
    let Reply::ResultsImported(Some(again)) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(
        (again.imported.len(), again.already_present.len()),
        (0, 1),
        "{again:?}"
    );
    *f.dialog.1.lock().unwrap() = None;
}

#[test]
fn closing_the_window_mid_run_asks_then_cancels_and_waits_for_the_run_to_end() {
    let mut f = Fixture::new();
    let (answer, stream) = f.call(Request::Train(TrainRequest {
        series: sample(40),
        spec: TrainSpec {
            epochs: 500,
            patience: 500,
            ..tiny(Architecture::Tcn)
        },
    }));
    let Ok(Reply::RunSnapshot(Some(snapshot))) = answer else {
        panic!("Train did not start: {answer:?}");
    };
    let id = snapshot.run_id;
    let runs = f.shell.workbench.runs.clone();
    assert_eq!(runs.active_run(), Some(id));
    let question = shell::close_question(&f.shell).expect("a run is training");
    assert!(
        question.contains("training tcn lightweight on BTCUSDT 1h"),
        "{question}"
    );
    // "Keep working": the window stays, the run goes on.
    assert!(!shell::close_with_jobs(&f.shell, || CloseChoice::KeepOpen));
    assert_eq!(runs.active_run(), Some(id));
    // "Stop and close": returns only once the run has ended, unregistered.
    assert!(shell::close_with_jobs(&f.shell, || {
        CloseChoice::StopAndClose
    }));
    assert_eq!(runs.active_run(), None);
    assert!(shell::close_question(&f.shell).is_none());
    let last = stream.0.lock().unwrap().last().cloned();
    assert!(
        matches!(last, Some(Reply::Run(RunUpdate::NotRegistered { .. }))),
        "{last:?}"
    );
    let arrived = f.ok(Request::ListModels);
    let Reply::Models(rows) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(rows.is_empty());
}

#[test]
fn a_benchmark_has_the_machine_to_itself_and_closing_during_it_asks_and_pauses_the_queue() {
    let mut f = Fixture::new();
    // A benchmark long enough to be caught in the middle.
    let spec = atb_protocol::bench::BenchSpec {
        architectures: vec![Architecture::Tcn, Architecture::Lstm],
        variants: vec![Variant::Lightweight],
        seeds: 3,
        epochs: 200,
        series: sample(40),
        sequence_length: 24,
        ..Default::default()
    };
    let shell = f.shell.clone();
    let progress = Arc::new(Collected::default());
    let bench = std::thread::spawn({
        let progress = progress.clone();
        move || shell::handle(&shell, Request::Bench(spec), progress)
    });
    let started = Instant::now();
    while !f
        .shell
        .workbench
        .jobs()
        .iter()
        .any(|j| j.what == "a benchmark")
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no benchmark");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Train is refused, naming the benchmark; a queued run waits and never starts beside it.
    let message = f.fails(
        Request::Train(TrainRequest {
            series: sample(40),
            spec: tiny(Architecture::Tcn),
        }),
        ErrorKind::Busy,
    );
    assert!(message.contains("a benchmark"), "{message}");
    let arrived = f.ok(Request::Enqueue {
        requests: vec![TrainRequest {
            series: sample(40),
            spec: tiny(Architecture::Tcn),
        }],
    });
    let Reply::Queue(queue) = arrived else {
        panic!("got {arrived:?}")
    };
    assert_eq!(queue.pending.len(), 1);
    f.fails(Request::Validate, ErrorKind::Busy);
    std::thread::sleep(Duration::from_millis(500));
    let arrived = f.ok(Request::QueueState);
    let Reply::Queue(queue) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(
        queue.running.is_none() && queue.pending.len() == 1,
        "{queue:?}"
    );
    assert_eq!(f.shell.workbench.runs.active_run(), None);

    // Closing asks about the benchmark and the queue, by name.
    let question = shell::close_question(&f.shell).expect("a benchmark runs");
    assert!(
        question.contains("a benchmark") && question.contains("1 queued run that would not start"),
        "{question}"
    );
    assert!(!shell::close_with_jobs(&f.shell, || CloseChoice::KeepOpen));
    assert!(shell::close_with_jobs(&f.shell, || {
        CloseChoice::StopAndClose
    }));
    let answer = bench.join().unwrap();
    assert!(
        matches!(&answer, Err(e) if e.kind == ErrorKind::Cancelled),
        "{answer:?}"
    );
    // The queue was paused: its run never starts once the benchmark has gone.
    std::thread::sleep(Duration::from_millis(500));
    let arrived = f.ok(Request::QueueState);
    let Reply::Queue(queue) = arrived else {
        panic!("got {arrived:?}")
    };
    assert!(
        queue.running.is_none() && queue.finished.is_empty() && queue.pending.len() == 1,
        "{queue:?}"
    );
    assert_eq!(f.shell.workbench.runs.active_run(), None);
}
