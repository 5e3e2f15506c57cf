//! Ensembles through the whole flow: made from registered versions, weighed on the validation
//! split only (a poisoned test split moves no weight), evaluated and registered like any model,
//! re-evaluated to the same figures, predicted natively and from one exported ONNX graph (three
//! networks in tract, a network and trees in ONNX Runtime) within the parity limit, for the
//! volatility and direction targets too (beside their own baselines, the head in the graph), and
//! refused with the reason when the members cannot be summed or a member would be deleted from
//! under it.

use crate::common::{params, sample_tail};

use atb_engine::Settings;
use atb_engine::service::block_on;
use atb_engine::service::ensemble::make_ensemble;
use atb_engine::service::predict::{self, PredictWith};
use atb_engine::service::train::{TrainOptions, TrainResult, train_and_register};
use atb_engine::service::{decision, models};
use atb_engine::testing::inference::recorded_data;
use atb_engine::testing::onnx::{OnnxDocument, read_metadata};
use atb_engine::testing::registry::Registry;
use atb_engine::testing::training::{CancelToken, TrainSpec, fit_weightings, train};
use atb_models::burn::prelude::Device;
use atb_models::{Architecture, Variant};
use atb_protocol::registry::ModelRow;
use atb_protocol::targets::Prediction;
use atb_protocol::vocab::{CandleSource, Weighting};

fn spec(architecture: Architecture) -> TrainSpec {
    TrainSpec {
        sequence_length: 48,
        ..params(architecture, Variant::Lightweight, 2)
    }
}

fn register(settings: &Settings, spec: &TrainSpec) -> ModelRow {
    let result = train_and_register(
        settings,
        &sample_tail(1_500),
        &spec.clone().check().unwrap(),
        &TrainOptions::default(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap();
    let TrainResult::Registered { row, .. } = result else {
        panic!("{} did not register: {result:?}", spec.architecture);
    };
    *row
}

fn ids(rows: &[&ModelRow]) -> Vec<String> {
    rows.iter().map(|r| r.version_id.clone()).collect()
}

fn next_log_return(settings: &Settings, version: &str, with: PredictWith) -> f64 {
    let predictor = predict::open(settings, version, with).unwrap();
    let next = block_on(predictor.next_close(settings, &CandleSource::Sample)).unwrap();
    match next.prediction {
        Prediction::Return {
            predicted_log_return,
            ..
        } => predicted_log_return,
        other => panic!("{version}: {other:?}"),
    }
}

#[test]
fn ensembles_weigh_on_validation_evaluate_register_predict_and_export_as_one_graph() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let lstm = register(&settings, &spec(Architecture::Lstm));
    let tcn = register(&settings, &spec(Architecture::Tcn));
    let cnn = register(&settings, &spec(Architecture::CnnLstm));
    let trees = register(&settings, &spec(Architecture::Gbdt));

    // Three networks, non-negative weights.
    let made = make_ensemble(&settings, &ids(&[&lstm, &tcn, &cnn]), Weighting::Nnls).unwrap();
    let row = &made.row;
    assert_eq!(row.architecture, Architecture::Ensemble);
    assert!(row.aliases.contains(&"latest".to_string()));
    let recipe = &made.recipe;
    assert_eq!(recipe.members.len(), 3);
    assert!(recipe.members.iter().all(|m| m.weight >= 0.0));
    // Some member weighs: the parity check below compares a graph that computes something.
    assert!(recipe.members.iter().any(|m| m.weight > 0.0), "{recipe:?}");
    let fit = |w: Weighting| recipe.fits.iter().find(|f| f.weighting == w).unwrap();
    // NNLS searches a cone that holds the equal weights: it can only do as well or better.
    assert!(fit(Weighting::Nnls).validation_loss <= fit(Weighting::Equal).validation_loss + 1e-12);
    assert_eq!(
        recipe.members.iter().map(|m| m.weight).collect::<Vec<_>>(),
        fit(Weighting::Nnls).weights
    );
    let test = made.evaluation.test.as_ref().unwrap();
    assert!(test.model.mae_usd.is_finite() && test.persistence.mae_usd.is_finite());
    assert!(row.verdict_vs_persistence.is_some() && row.verdict_vs_ridge.is_some());
    // Tested on the members' windows: compare puts them side by side.
    let compared = models::compare(&settings, &ids(&[row, &lstm, &tcn])).unwrap();
    assert!(compared.same_test_windows);
    // Judged together with its members: in the model confidence set's contest like any model.
    let judged = block_on(decision::judge(&settings, &ids(&[row, &lstm, &tcn]))).unwrap();
    let set = judged.model_confidence_set.unwrap();
    assert!(
        set.members.iter().any(|m| m.name.contains(&row.version_id)),
        "{set:?}"
    );
    assert_eq!(judged.verdicts[0].version_id, row.version_id);
    // The detail and `show` carry the recipe.
    let detail = models::detail(&settings, &row.version_id).unwrap();
    assert_eq!(detail.ensemble.as_ref(), Some(recipe));
    // Re-evaluated from its recorded candles and its members: the same figures.
    let (_, again) = block_on(models::reevaluate(&settings, &row.version_id)).unwrap();
    let again = again.test.unwrap();
    assert!((again.model.mae_usd - test.model.mae_usd).abs() < 1e-9 * test.model.mae_usd);

    // One graph in tract, within the parity limit, and the same forecast from it.
    let report = block_on(models::export(&settings, &row.version_id, None)).unwrap();
    assert!(report.export.max_abs_diff <= 1e-4, "{report:?}");
    assert!(report.export.runtime.contains("tract"), "{report:?}");
    // The file says what it is made of.
    let props = read_metadata(&std::fs::read(&report.path).unwrap()).unwrap();
    let described = OnnxDocument::from_props(&props).unwrap();
    assert_eq!(described.architecture, "ensemble");
    assert_eq!(described.ensemble.as_ref(), Some(recipe));
    let native = next_log_return(&settings, &row.version_id, PredictWith::Native);
    let onnx = next_log_return(&settings, &row.version_id, PredictWith::Onnx);
    assert!((native - onnx).abs() < 1e-6, "{native} vs {onnx}");

    // A network and trees: checked in ONNX Runtime (tract has no tree operator).
    let mixed = make_ensemble(&settings, &ids(&[&lstm, &trees]), Weighting::Equal).unwrap();
    assert_eq!(mixed.recipe.weighting, Weighting::Equal);
    assert!(mixed.recipe.members.iter().all(|m| m.weight == 0.5));
    let report = block_on(models::export(&settings, &mixed.row.version_id, None)).unwrap();
    assert!(report.export.max_abs_diff <= 1e-4, "{report:?}");
    assert!(report.export.runtime.contains("ONNX Runtime"), "{report:?}");
    let e = predict::open(&settings, &mixed.row.version_id, PredictWith::Onnx)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("tract cannot run"), "{e}");
    let native = next_log_return(&settings, &mixed.row.version_id, PredictWith::Native);
    let ort = next_log_return(&settings, &mixed.row.version_id, PredictWith::OnnxRuntime);
    assert!((native - ort).abs() < 1e-6, "{native} vs {ort}");

    // A member is not deleted from under its ensembles; after them it is.
    let e = models::delete(&settings, &lstm.version_id, true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&row.version_id) && e.contains(&mixed.row.version_id),
        "{e}"
    );
    models::delete(&settings, &mixed.row.version_id, true).unwrap();
    models::delete(&settings, &row.version_id, true).unwrap();
    models::delete(&settings, &lstm.version_id, true).unwrap();

    // Refusals, each naming its reason.
    let refused = |versions: &[String], needle: &str| {
        let e = make_ensemble(&settings, versions, Weighting::Nnls)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    };
    refused(&ids(&[&tcn]), "2 to 16 members");
    refused(&ids(&[&tcn, &tcn]), "twice");
    let shorter = register(
        &settings,
        &TrainSpec {
            sequence_length: 32,
            ..spec(Architecture::Tcn)
        },
    );
    refused(&ids(&[&tcn, &shorter]), "sequence lengths differ");
    let later = register(
        &settings,
        &TrainSpec {
            horizon: 4,
            ..spec(Architecture::Tcn)
        },
    );
    refused(&ids(&[&tcn, &later]), "horizons differ");
    let nested = make_ensemble(&settings, &ids(&[&tcn, &cnn]), Weighting::Nnls).unwrap();
    refused(
        &[nested.row.version_id.clone(), cnn.version_id.clone()],
        "itself an ensemble",
    );

    // A member's row lost behind atb's back (a hand-edited index): verify names the ensemble
    // as damaged, and loading it says which member is gone.
    assert!(models::verify(&settings).unwrap().damaged.is_empty());
    let db = rusqlite::Connection::open(settings.database_path()).unwrap();
    for table in ["aliases", "onnx_exports", "evaluations", "model_versions"] {
        db.execute(
            &format!("DELETE FROM {table} WHERE version_id = ?1"),
            [&cnn.version_id],
        )
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    let report = models::verify(&settings).unwrap();
    let damaged: Vec<_> = report
        .damaged
        .iter()
        .map(|(v, why)| (v.as_str(), why.as_str()))
        .collect();
    assert!(
        damaged.iter().any(|(v, why)| *v == nested.row.version_id
            && why.contains(&format!("its member {} is not registered", cnn.version_id))),
        "{damaged:?}"
    );
    let e = predict::open(&settings, &nested.row.version_id, PredictWith::Native)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is no longer registered"), "{e}");
}

#[test]
fn weights_read_no_test_label_and_identical_members_equal_either() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    // One run registered twice: two versions with identical weights (their files' hashes may
    // differ: safetensors does not fix the order of the tensors it writes).
    let outcome = train(
        &sample_tail(1_500),
        &spec(Architecture::Lstm).check().unwrap(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap();
    let mut registry = Registry::open(&settings).unwrap();
    let first = registry.register(&outcome, None, false).unwrap();
    let second = registry.register(&outcome, None, false).unwrap();
    assert_ne!(first.version_id, second.version_id);
    let made = make_ensemble(&settings, &ids(&[&first, &second]), Weighting::Equal).unwrap();
    let alone = outcome.evaluation.as_ref().unwrap().test.as_ref().unwrap();
    let together = made.evaluation.test.as_ref().unwrap();
    let same = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
    assert!(same(together.model.mae_usd, alone.model.mae_usd));
    assert!(same(together.model.rmse_usd, alone.model.rmse_usd));

    // Weights from the validation split alone: labels of the test split set to nonsense move
    // nothing; the same nonsense in the validation split does (so the check can fail).
    let device = Device::flex();
    let members = [
        registry.load(&first.version_id, &device).unwrap(),
        registry.load(&second.version_id, &device).unwrap(),
    ];
    let models: Vec<_> = members.iter().map(|m| &m.model).collect();
    let (data, _) = block_on(recorded_data(&settings, &members[0])).unwrap();
    let fits = fit_weightings(&models, &data, &device).unwrap();
    let poison = |samples: &[usize]| {
        let mut poisoned = data.clone();
        for &t in samples {
            poisoned.labels[t] = 0.5 - poisoned.labels[t] * 1e3;
        }
        fit_weightings(&models, &poisoned, &device).unwrap()
    };
    assert_eq!(poison(&data.samples.test), fits);
    assert_ne!(poison(&data.samples.validation), fits);
}

#[test]
fn volatility_and_direction_ensembles_evaluate_beside_their_baselines_and_export() {
    use atb_protocol::targets::TargetEvaluation;
    use atb_protocol::vocab::Target;
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    for (target, weighting) in [
        (Target::Volatility, Weighting::Nnls),
        (Target::Direction, Weighting::Nnls),
    ] {
        let member = |architecture| {
            register(
                &settings,
                &TrainSpec {
                    target,
                    ..spec(architecture)
                },
            )
        };
        let (lstm, trees) = (member(Architecture::Lstm), member(Architecture::Gbdt));
        let made = make_ensemble(&settings, &ids(&[&lstm, &trees]), weighting)
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(made.row.target, target);
        assert!(
            made.recipe.loss.contains(match target {
                Target::Direction => "log loss",
                _ => "squared error",
            }),
            "{target}: {}",
            made.recipe.loss
        );
        let fit = |w: Weighting| {
            made.recipe
                .fits
                .iter()
                .find(|f| f.weighting == w)
                .unwrap()
                .validation_loss
        };
        assert!(
            fit(Weighting::Nnls) <= fit(Weighting::Equal) + 1e-9,
            "{target}: {:?}",
            made.recipe.fits
        );
        // Scored beside the target's own baselines, with its verdicts in the row.
        match made.evaluation.target.as_ref() {
            Some(TargetEvaluation::Volatility(v)) => {
                assert_eq!(target, Target::Volatility);
                assert!(v.model.qlike.is_finite() && v.har.is_some());
            }
            Some(TargetEvaluation::Direction(d)) => {
                assert_eq!(target, Target::Direction);
                assert!(d.model.log_loss.is_finite());
            }
            None => panic!("{target}: no target evaluation"),
        }
        assert!(!made.row.target_verdicts.is_empty(), "{target}");
        // One graph with the target's head (the ensemble's own smearing correction for
        // volatility), in ONNX Runtime because of the trees, and the same forecast natively.
        let report = block_on(models::export(&settings, &made.row.version_id, None))
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(report.export.max_abs_diff <= 1e-4, "{target}: {report:?}");
        let forecast = |with| {
            let p = predict::open(&settings, &made.row.version_id, with).unwrap();
            block_on(p.next_close(&settings, &CandleSource::Sample))
                .unwrap()
                .prediction
        };
        match (
            forecast(PredictWith::Native),
            forecast(PredictWith::OnnxRuntime),
        ) {
            (
                Prediction::Volatility {
                    predicted_volatility: a,
                    ..
                },
                Prediction::Volatility {
                    predicted_volatility: b,
                    ..
                },
            ) => assert!(a > 0.0 && (a / b - 1.0).abs() < 1e-3, "{a} vs {b}"),
            (
                Prediction::Direction { up_probability: a },
                Prediction::Direction { up_probability: b },
            ) => assert!(a > 0.0 && a < 1.0 && (a - b).abs() < 1e-4, "{a} vs {b}"),
            other => panic!("{target}: {other:?}"),
        }
    }
}
