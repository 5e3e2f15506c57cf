//! Gradient-boosted trees (LightGBM) on the same prepared data as the networks: the same causal
//! features, windows, chronological split with embargo, train-only scalers and scaled target,
//! each window turned into one row by [`tabular`]'s rule. Squared-error boosting (on the scaled
//! return or log volatility; LightGBM's binary objective for direction, whose raw score is the
//! logit the networks output too), one round at a time with the validation loss after each (the "epoch" curve), early stopping on the validation
//! split, the seed honoured, Cancel between rounds. The model is LightGBM's own text format, so a
//! user can load it in LightGBM itself.

mod lightgbm;
pub mod tabular;

pub use atb_protocol::registry::ColumnImportance;
pub use atb_protocol::spec::TreeBudget;
use lightgbm3::{Booster, ImportanceType};

use crate::cancel::CancelToken;
use crate::dataset::{PreparedData, Target};
use crate::error::{Error, Result};

/// LightGBM's parameter string for a budget and target: squared error (binary log loss for
/// direction), deterministic for a seed.
fn parameters(budget: &TreeBudget, seed: u64, target: Target) -> String {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // LightGBM takes a 32-bit seed; fold the 64-bit one so every bit matters.
    let seed = (seed ^ (seed >> 32)) as u32 as i32;
    // zero_as_missing=false: a feature that is exactly 0 (an unchanged close) is a value, and
    // the exported ONNX trees can only route NaN, not zeros, to a default branch.
    let objective = match target {
        Target::Return | Target::Volatility => "objective=regression metric=l2",
        Target::Direction => "objective=binary metric=binary_logloss",
    };
    format!(
        "{objective} num_leaves={} max_depth={} learning_rate={} \
         min_data_in_leaf={} feature_fraction=0.8 bagging_fraction=0.8 bagging_freq=1 \
         zero_as_missing=false seed={seed} deterministic=true force_row_wise=true \
         num_threads={threads} verbosity=-1",
        budget.leaves, budget.max_depth, budget.learning_rate, budget.min_rows_in_leaf
    )
}

/// Losses after one boosting round (mean squared error of the scaled target).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundLoss {
    /// 1-based.
    pub round: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
}

/// How a boosting run ended.
#[derive(Debug)]
pub struct Boosted {
    pub model: GbdtModel,
    /// Every round's losses, including those after the best.
    pub rounds: Vec<RoundLoss>,
    /// True when the validation loss stopped improving before the budget's last round.
    pub stopped_early: bool,
    /// True when Cancel arrived; the model then holds the best round so far.
    pub cancelled: bool,
}

/// A trained tree ensemble: LightGBM's model text and the loaded booster, with the input shape
/// it reads (windows of `sequence_length` bars of `features` features).
pub struct GbdtModel {
    booster: Booster,
    /// LightGBM's model file, exactly as saved (what the registry stores).
    pub text: String,
    pub sequence_length: usize,
    pub features: usize,
    /// Trees kept: the best validation round.
    pub trees: usize,
    /// Boosted on the binary objective: LightGBM predicts a probability, which
    /// `predict_windows` turns back into the raw score (the logit).
    pub binary: bool,
}

// SAFETY: a LightGBM booster handle belongs to no thread (LightGBM keeps no per-thread state in
// it); `GbdtModel` is moved between threads, never shared (it is not `Sync`).
unsafe impl Send for GbdtModel {}

impl std::fmt::Debug for GbdtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbdtModel")
            .field("sequence_length", &self.sequence_length)
            .field("features", &self.features)
            .field("trees", &self.trees)
            .finish_non_exhaustive()
    }
}

impl GbdtModel {
    /// Loads LightGBM model text for windows of `sequence_length` x `features`; refuses a model
    /// whose input width is not the tabular rule's for that shape.
    pub fn from_text(text: &str, sequence_length: usize, features: usize) -> Result<Self> {
        let booster = Booster::from_string(text)
            .map_err(|e| Error::Gbdt(format!("not a LightGBM model: {e}")))?;
        let columns = features * tabular::COLUMNS_PER_FEATURE;
        if booster.num_features() as usize != columns {
            return Err(Error::Gbdt(format!(
                "the model reads {} columns, but {features} features make {columns}",
                booster.num_features()
            )));
        }
        let trees = booster.num_iterations().max(0) as usize;
        let binary = text.lines().any(|l| l.starts_with("objective=binary"));
        Ok(Self {
            booster,
            text: text.to_string(),
            sequence_length,
            features,
            binary,
            trees,
        })
    }

    /// Scaled predictions for `n` windows `[n, L, F]` (row-major, scaled like the networks'
    /// input).
    pub fn predict_windows(&self, windows: &[f32], n: usize) -> Result<Vec<f32>> {
        if windows.len() != n * self.sequence_length * self.features {
            return Err(Error::Gbdt(format!(
                "{} values are not {n} windows of {} x {}",
                windows.len(),
                self.sequence_length,
                self.features
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = tabular::rows(windows, n, self.features);
        let columns = (self.features * tabular::COLUMNS_PER_FEATURE) as i32;
        let out = self
            .booster
            .predict(&rows, columns, true)
            .map_err(|e| Error::Gbdt(format!("prediction failed: {e}")))?;
        // lightgbm3 predicts probabilities for the binary objective and offers no raw score:
        // the logit of the probability is that score (to the clip, far beyond any real tree's).
        let raw = |v: f64| {
            if self.binary {
                let p = v.clamp(1e-15, 1.0 - 1e-15);
                (p / (1.0 - p)).ln()
            } else {
                v
            }
        };
        Ok(out.into_iter().map(|v| raw(v) as f32).collect())
    }

    /// Leaves over all kept trees: the model's learned values (its "parameters").
    pub fn leaves(&self) -> usize {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("num_leaves="))
            .filter_map(|n| n.trim().parse::<usize>().ok())
            .sum()
    }

    /// Gain and split count per column of the tabular rule, in column order.
    pub fn importance(&self, feature_names: &[String]) -> Result<Vec<ColumnImportance>> {
        let gain = self
            .booster
            .feature_importance(ImportanceType::Gain)
            .map_err(|e| Error::Gbdt(format!("importance: {e}")))?;
        let splits = self
            .booster
            .feature_importance(ImportanceType::Split)
            .map_err(|e| Error::Gbdt(format!("importance: {e}")))?;
        Ok(tabular::column_names(feature_names)
            .into_iter()
            .zip(gain.into_iter().zip(splits))
            .map(|(column, (gain, splits))| ColumnImportance {
                column,
                gain,
                splits: splits.max(0.0) as u64,
            })
            .collect())
    }
}

/// Rows and scaled targets of `samples`.
fn rows_of(data: &PreparedData, samples: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let (windows, targets) = data.batch(samples);
    (
        tabular::rows(&windows, samples.len(), data.width()),
        targets,
    )
}

/// Boosts on the training split, watching the validation split after every round; `on_round`
/// hears each round as it ends. Keeps the trees up to the best validation round.
pub fn boost(
    data: &PreparedData,
    budget: &TreeBudget,
    seed: u64,
    on_round: &mut dyn FnMut(RoundLoss),
    cancel: &CancelToken,
) -> Result<Boosted> {
    boost_keeping(data, budget, seed, on_round, cancel, Keep::BestRound)
}

/// Which trees a boosting run keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Up to the best validation round (what atb registers).
    BestRound,
    /// Every round grown (tests that need many trees whatever the validation says).
    #[cfg_attr(not(test), allow(dead_code))]
    AllRounds,
}

fn boost_keeping(
    data: &PreparedData,
    budget: &TreeBudget,
    seed: u64,
    on_round: &mut dyn FnMut(RoundLoss),
    cancel: &CancelToken,
    keep: Keep,
) -> Result<Boosted> {
    if let Some(problem) = budget.problems().into_iter().next() {
        return Err(Error::InvalidSpec(problem));
    }
    let columns = data.width() * tabular::COLUMNS_PER_FEATURE;
    let (train_rows, train_targets) = rows_of(data, &data.samples.train);
    let (val_rows, val_targets) = rows_of(data, &data.samples.validation);
    if train_targets.is_empty() || val_targets.is_empty() {
        return Err(Error::TooLittleData(
            "gbdt needs windows in both the training and the validation split".into(),
        ));
    }
    let parameters = parameters(budget, seed, data.target.kind);
    let train = lightgbm::Dataset::new(&train_rows, &train_targets, columns, &parameters, None)?;
    let validation =
        lightgbm::Dataset::new(&val_rows, &val_targets, columns, &parameters, Some(&train))?;
    let mut training = lightgbm::Training::new(&train, &validation, &parameters)?;
    let mut rounds = Vec::new();
    let (mut best, mut best_round) = (f64::INFINITY, 0usize);
    let (mut stopped_early, mut cancelled) = (false, false);
    for round in 1..=budget.rounds as usize {
        if cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        if !training.boost_one_round()? {
            break;
        }
        let loss = RoundLoss {
            round,
            train_loss: training.metric(0)?,
            validation_loss: training.metric(1)?,
        };
        on_round(loss);
        rounds.push(loss);
        if loss.validation_loss < best || keep == Keep::AllRounds {
            (best, best_round) = (loss.validation_loss, round);
        } else if round - best_round >= budget.early_stopping_rounds as usize {
            stopped_early = true;
            break;
        }
    }
    if best_round == 0 {
        return Err(Error::Gbdt(if cancelled {
            "cancelled before the first tree".into()
        } else {
            "LightGBM grew no tree: the training rows leave nothing to split".into()
        }));
    }
    let text = training.model_text(best_round)?;
    let model = GbdtModel::from_text(&text, data.sequence_length, data.width())?;
    Ok(Boosted {
        model,
        rounds,
        stopped_early,
        cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::sample::sample_candles;
    use crate::market::source::CandleSeries;
    use crate::training::{TrainSpec, prepare};
    use atb_protocol::vocab::{CandleSource, Timeframe, Variant};

    fn prepared() -> PreparedData {
        let all = sample_candles().unwrap();
        let series = CandleSeries {
            symbol: "BTCUSDT".parse().unwrap(),
            timeframe: Timeframe::H1,
            source: CandleSource::Sample,
            candles: all[all.len() - 2_000..].to_vec(),
            context: None,
        };
        let spec = TrainSpec {
            sequence_length: 24,
            ..TrainSpec::default()
        };
        prepare(&series, &spec.clone().check().unwrap()).unwrap().0
    }

    #[test]
    fn every_variant_boosts_stops_on_validation_and_is_reproducible() {
        let data = prepared();
        for variant in Variant::ALL {
            let budget = TreeBudget::for_variant(variant);
            let mut heard = Vec::new();
            let run = boost(
                &data,
                &budget,
                7,
                &mut |r| heard.push(r),
                &CancelToken::new(),
            )
            .unwrap();
            assert_eq!(heard, run.rounds);
            assert!(!run.cancelled);
            let best = run
                .rounds
                .iter()
                .min_by(|a, b| a.validation_loss.total_cmp(&b.validation_loss))
                .unwrap();
            assert_eq!(run.model.trees, best.round, "{variant}");
            assert!(run.rounds.iter().all(|r| r.train_loss.is_finite()));
            let (windows, _) = data.batch(&data.samples.test);
            let predictions = run
                .model
                .predict_windows(&windows, data.samples.test.len())
                .unwrap();
            assert_eq!(predictions.len(), data.samples.test.len());
            assert!(predictions.iter().all(|p| p.is_finite()));
            // The model text is LightGBM's own and reloads to the same predictions.
            assert!(
                run.model.text.starts_with("tree"),
                "{}",
                &run.model.text[..20]
            );
            let reloaded =
                GbdtModel::from_text(&run.model.text, data.sequence_length, data.width()).unwrap();
            assert_eq!(
                reloaded
                    .predict_windows(&windows, data.samples.test.len())
                    .unwrap(),
                predictions
            );
        }
        // Same seed, same model; another seed, another one (bagging and column sampling).
        let budget = TreeBudget::for_variant(Variant::Lightweight);
        let a = boost(&data, &budget, 1, &mut |_| {}, &CancelToken::new()).unwrap();
        let b = boost(&data, &budget, 1, &mut |_| {}, &CancelToken::new()).unwrap();
        let c = boost(&data, &budget, 2, &mut |_| {}, &CancelToken::new()).unwrap();
        assert_eq!(a.model.text, b.model.text);
        assert_ne!(a.model.text, c.model.text);
    }

    #[test]
    fn the_onnx_file_of_hundreds_of_trees_matches_lightgbm_in_onnx_runtime() {
        use crate::onnx::OrtModel;
        use crate::onnx::document::{OnnxDocument, model_document};
        use crate::training::TrainedModel;
        let data = prepared();
        let budget = TreeBudget {
            rounds: 300,
            ..TreeBudget::for_variant(Variant::Deep)
        };
        let run = boost_keeping(
            &data,
            &budget,
            5,
            &mut |_| {},
            &CancelToken::new(),
            Keep::AllRounds,
        )
        .unwrap();
        assert_eq!(run.model.trees, 300);
        let (l, f) = (data.sequence_length, data.width());
        let text = run.model.text.clone();
        let bytes = model_document(
            &TrainedModel::Trees(run.model),
            &OnnxDocument::standalone("gbdt", "deep", l, f),
        )
        .unwrap();
        let ort = OrtModel::from_bytes(&bytes).unwrap();
        let (windows, _) = data.batch(&data.samples.test);
        let n = data.samples.test.len();
        let reloaded = GbdtModel::from_text(&text, l, f).unwrap();
        let native = reloaded.predict_windows(&windows, n).unwrap();
        let onnx = ort.predict(&windows, n).unwrap();
        let worst = native
            .iter()
            .zip(&onnx)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-4,
            "max |ONNX - LightGBM| = {worst} over {n} windows"
        );
        // Not a constant: the trees really split the test windows apart.
        assert!(native.iter().any(|p| (p - native[0]).abs() > 1e-3));
    }

    #[test]
    fn importance_names_real_columns_and_sums_to_something_positive() {
        let data = prepared();
        let budget = TreeBudget::for_variant(Variant::Lightweight);
        let run = boost(&data, &budget, 3, &mut |_| {}, &CancelToken::new()).unwrap();
        let importance = run.model.importance(&data.matrix.names).unwrap();
        assert_eq!(
            importance.len(),
            data.width() * tabular::COLUMNS_PER_FEATURE
        );
        assert!(importance.iter().map(|c| c.gain).sum::<f64>() > 0.0);
        assert!(importance.iter().map(|c| c.splits).sum::<u64>() > 0);
        for c in &importance {
            let feature = c.column.split(['[', ':']).next().unwrap();
            assert!(
                data.matrix.names.iter().any(|n| n == feature),
                "{}",
                c.column
            );
        }
    }

    #[test]
    fn a_bad_budget_is_refused_before_any_work_and_cancel_stops_between_rounds() {
        let data = prepared();
        let zero_leaves = TreeBudget {
            leaves: 0,
            ..TreeBudget::for_variant(Variant::Default)
        };
        let err = boost(&data, &zero_leaves, 1, &mut |_| {}, &CancelToken::new()).unwrap_err();
        assert!(err.to_string().contains("leaves"), "{err}");
        let negative = TreeBudget {
            learning_rate: -0.1,
            ..TreeBudget::for_variant(Variant::Default)
        };
        let err = boost(&data, &negative, 1, &mut |_| {}, &CancelToken::new()).unwrap_err();
        assert!(err.to_string().contains("learning rate"), "{err}");

        let cancel = CancelToken::new();
        let mut rounds = 0;
        let run = boost(
            &data,
            &TreeBudget::for_variant(Variant::Deep),
            1,
            &mut |_| {
                rounds += 1;
                if rounds == 5 {
                    cancel.cancel();
                }
            },
            &cancel,
        )
        .unwrap();
        assert!(run.cancelled);
        assert_eq!(run.rounds.len(), 5);
    }
}
