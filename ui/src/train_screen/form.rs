//! The training form: every option of `atb train model` typed as text or a choice, checked
//! field by field into a `TrainRequest` (the tree options in place of the network's for gbdt).

use super::*;

/// The form as typed: choices are typed values, numbers stay text until checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub series: SeriesForm,
    pub architecture: Architecture,
    pub variant: Variant,
    pub epochs: String,
    pub batch_size: String,
    pub sequence_length: String,
    pub learning_rate: String,
    pub patience: String,
    pub horizon: String,
    pub target: Target,
    pub feature_set: FeatureSet,
    /// Another market's symbol as context (empty: none).
    pub context: String,
    pub seed: String,
    pub device: DeviceChoice,
    pub grad_clip: String,
    pub folds: String,
    /// The tree options (`gbdt` only); empty means the variant's value.
    pub trees: TreeFields,
}

/// The `gbdt` options as typed; an empty field takes the variant's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeFields {
    pub leaves: String,
    pub max_depth: String,
    pub rounds: String,
    pub learning_rate: String,
    pub min_rows_in_leaf: String,
    pub early_stopping_rounds: String,
}

impl TreeFields {
    pub(super) fn from_overrides(o: &TreeOverrides) -> Self {
        pub(super) fn text<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        Self {
            leaves: text(o.leaves),
            max_depth: text(o.max_depth),
            rounds: text(o.rounds),
            learning_rate: text(o.learning_rate),
            min_rows_in_leaf: text(o.min_rows_in_leaf),
            early_stopping_rounds: text(o.early_stopping_rounds),
        }
    }

    pub(super) fn overrides(&self, p: &mut Vec<FieldProblem>) -> TreeOverrides {
        let whole = "a whole number, or empty for the variant's";
        TreeOverrides {
            leaves: parse_optional(&self.leaves, "leaves", whole, p),
            max_depth: parse_optional(&self.max_depth, "max depth", whole, p),
            rounds: parse_optional(&self.rounds, "rounds", whole, p),
            learning_rate: parse_optional(
                &self.learning_rate,
                "tree learning rate",
                "a number, e.g. 0.05, or empty for the variant's",
                p,
            ),
            min_rows_in_leaf: parse_optional(&self.min_rows_in_leaf, "rows per leaf", whole, p),
            early_stopping_rounds: parse_optional(
                &self.early_stopping_rounds,
                "early-stopping rounds",
                whole,
                p,
            ),
        }
    }
}

impl Default for TrainForm {
    /// The same defaults as `atb train model` (`TrainSpec::default()`), on the bundled sample.
    fn default() -> Self {
        Self::from_request(&TrainRequest::default())
    }
}

pub(super) fn parse<T: std::str::FromStr>(
    text: &str,
    field: &str,
    what: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    match text.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            problems.push(FieldProblem::new(field, what));
            None
        }
    }
}

pub(super) fn parse_optional<T: std::str::FromStr>(
    text: &str,
    field: &str,
    what: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    if text.trim().is_empty() {
        None
    } else {
        parse(text, field, what, problems)
    }
}

/// "tcn lightweight, seed 42, BTCUSDT 1h from sample": what a queued run is.
pub(super) fn describe(r: &TrainRequest) -> String {
    format!(
        "{} {}, seed {}, {} {} from {}",
        r.spec.architecture,
        r.spec.variant,
        r.spec.seed,
        r.series.symbol,
        r.series.timeframe,
        r.series.source
    )
}

/// A field read only when `read` (a network's option): otherwise its default, unjudged.
pub(super) fn parse_if<T: std::str::FromStr>(
    read: bool,
    text: &str,
    field: &str,
    what: &str,
    problems: &mut Vec<FieldProblem>,
    default: T,
) -> Option<T> {
    if read {
        parse(text, field, what, problems)
    } else {
        Some(default)
    }
}

impl TrainForm {
    /// The form showing `r` (a run the page attached to).
    pub fn from_request(r: &TrainRequest) -> Self {
        let opt = |v: Option<String>| v.unwrap_or_default();
        let spec = &r.spec;
        Self {
            series: SeriesForm {
                source: r.series.source.clone(),
                symbol: r.series.symbol.to_string(),
                timeframe: r.series.timeframe,
                days: r.series.days.map(|d| d.to_string()).unwrap_or_default(),
                start_date: opt(r.series.start_date.clone()),
                end_date: opt(r.series.end_date.clone()),
            },
            architecture: spec.architecture,
            variant: spec.variant,
            epochs: spec.epochs.to_string(),
            batch_size: spec.batch_size.to_string(),
            sequence_length: spec.sequence_length.to_string(),
            learning_rate: spec.learning_rate.to_string(),
            patience: spec.patience.to_string(),
            horizon: spec.horizon.to_string(),
            target: spec.target,
            feature_set: spec.feature_set,
            context: spec
                .context
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            seed: spec.seed.to_string(),
            device: spec.device,
            grad_clip: spec
                .grad_clip_norm
                .map(|c| c.to_string())
                .unwrap_or_default(),
            folds: spec
                .walk_forward_folds
                .map(|k| k.to_string())
                .unwrap_or_default(),
            trees: TreeFields::from_overrides(&spec.trees),
        }
    }

    /// The request, or every reason Train is disabled.
    pub fn request(&self) -> Result<TrainRequest, Vec<FieldProblem>> {
        let (series, mut problems) = match self.series.request() {
            Ok(s) => (Some(s), Vec::new()),
            Err(p) => (None, p),
        };
        let p = &mut problems;
        let whole = "a whole number";
        let network = self.architecture.is_network();
        // The networks' options are hidden for trees: their fields are neither read nor judged.
        let defaults = TrainSpec::default();
        let epochs = parse_if(network, &self.epochs, "epochs", whole, p, defaults.epochs);
        let batch_size = parse_if(
            network,
            &self.batch_size,
            "batch size",
            whole,
            p,
            defaults.batch_size,
        );
        let sequence_length = parse(&self.sequence_length, "sequence length", whole, p);
        let learning_rate = parse_if(
            network,
            &self.learning_rate,
            "learning rate",
            "a number, e.g. 0.001",
            p,
            defaults.learning_rate,
        );
        let patience = parse_if(
            network,
            &self.patience,
            "patience",
            whole,
            p,
            defaults.patience,
        );
        let trees = if network {
            TreeOverrides::default()
        } else {
            self.trees.overrides(p)
        };
        let horizon = parse(&self.horizon, "horizon", whole, p);
        let seed = parse(&self.seed, "seed", "a whole number ≥ 0", p);
        let grad_clip = if network {
            parse_optional(&self.grad_clip, "gradient clip", "a number", p)
        } else {
            None
        };
        let folds = parse_optional(&self.folds, "walk-forward folds", whole, p);
        let context = parse_optional(&self.context, "context", "a symbol such as BTCUSDT", p);
        let (
            Some(series),
            Some(epochs),
            Some(batch_size),
            Some(sequence_length),
            Some(learning_rate),
            Some(patience),
            Some(horizon),
            Some(seed),
        ) = (
            series,
            epochs,
            batch_size,
            sequence_length,
            learning_rate,
            patience,
            horizon,
            seed,
        )
        else {
            return Err(problems);
        };
        let request = TrainRequest {
            series,
            spec: TrainSpec {
                architecture: self.architecture,
                variant: self.variant,
                epochs,
                batch_size,
                sequence_length,
                learning_rate,
                patience,
                horizon,
                target: self.target,
                feature_set: self.feature_set,
                context,
                seed,
                device: self.device,
                grad_clip_norm: grad_clip,
                walk_forward_folds: folds,
                trees,
                ..TrainSpec::default()
            },
        };
        problems.extend(request.problems());
        if problems.is_empty() {
            Ok(request)
        } else {
            Err(problems)
        }
    }

    pub(super) fn show(&mut self, ui: &mut Ui, problems: &[FieldProblem]) {
        let say = |ui: &mut Ui, field: &str| {
            for p in problems.iter().filter(|p| p.field == field) {
                problem(ui, &p.reason);
            }
        };
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.strong("Candles");
            self.series.show(ui, problems, true);
            ui.strong("Model");
            choice(
                ui,
                "Architecture",
                &mut self.architecture,
                &Architecture::TRAINABLE,
            );
            choice(ui, "Variant", &mut self.variant, &Variant::ALL);
            choice(ui, "Target", &mut self.target, &Target::ALL);
            ui.label(RichText::new(format!("Predicts {}.", self.target.description())).weak());
            choice(ui, "Feature set", &mut self.feature_set, &FeatureSet::ALL);
            labelled_edit(ui, "Context market (empty: none)", &mut self.context, 90.0);
            say(ui, "context");
            choice(ui, "Device", &mut self.device, &DeviceChoice::ALL);

            let ui = &mut cols[1];
            if !self.architecture.is_network() {
                self.show_trees(ui, problems);
                return;
            }
            ui.strong("Training");
            for (label, field, value) in [
                ("Epochs", "epochs", &mut self.epochs),
                ("Batch size", "batch size", &mut self.batch_size),
                (
                    "Sequence length",
                    "sequence length",
                    &mut self.sequence_length,
                ),
                ("Learning rate", "learning rate", &mut self.learning_rate),
                ("Early-stop patience", "patience", &mut self.patience),
                ("Horizon (bars)", "horizon", &mut self.horizon),
                ("Seed", "seed", &mut self.seed),
                (
                    "Gradient clip (empty: none)",
                    "gradient clip",
                    &mut self.grad_clip,
                ),
                (
                    "Walk-forward folds (empty: none)",
                    "walk-forward folds",
                    &mut self.folds,
                ),
            ] {
                labelled_edit(ui, label, value, 90.0);
                say(ui, field);
            }
        });
    }
}

impl TrainForm {
    /// The `gbdt` column: what a tree model is asked for (the networks' epochs, batch size,
    /// learning rate, patience and clipping do not apply to it). Empty fields show the
    /// variant's value as a hint.
    pub(super) fn show_trees(&mut self, ui: &mut Ui, problems: &[FieldProblem]) {
        let budget = TreeBudget::for_variant(self.variant);
        ui.strong("Trees (LightGBM, on the CPU)");
        let t = &mut self.trees;
        for (label, field, value, hint) in [
            (
                "Leaves per tree",
                "leaves",
                &mut t.leaves,
                budget.leaves.to_string(),
            ),
            (
                "Max depth",
                "max depth",
                &mut t.max_depth,
                budget.max_depth.to_string(),
            ),
            (
                "Boosting rounds",
                "rounds",
                &mut t.rounds,
                budget.rounds.to_string(),
            ),
            (
                "Tree learning rate",
                "tree learning rate",
                &mut t.learning_rate,
                budget.learning_rate.to_string(),
            ),
            (
                "Rows per leaf (min)",
                "rows per leaf",
                &mut t.min_rows_in_leaf,
                budget.min_rows_in_leaf.to_string(),
            ),
            (
                "Early-stop rounds",
                "early-stopping rounds",
                &mut t.early_stopping_rounds,
                budget.early_stopping_rounds.to_string(),
            ),
        ] {
            ui.horizontal(|ui| {
                let l = ui.label(label);
                ui.add(
                    egui::TextEdit::singleline(value)
                        .desired_width(90.0)
                        .hint_text(hint),
                )
                .labelled_by(l.id);
            });
            for p in problems.iter().filter(|p| p.field == field) {
                problem(ui, &p.reason);
            }
        }
        for (label, field, value) in [
            (
                "Sequence length",
                "sequence length",
                &mut self.sequence_length,
            ),
            ("Horizon (bars)", "horizon", &mut self.horizon),
            ("Seed", "seed", &mut self.seed),
            (
                "Walk-forward folds (empty: none)",
                "walk-forward folds",
                &mut self.folds,
            ),
        ] {
            labelled_edit(ui, label, value, 90.0);
            for p in problems.iter().filter(|p| p.field == field) {
                problem(ui, &p.reason);
            }
        }
    }
}
