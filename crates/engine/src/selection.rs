//! The model confidence set of Hansen, Lunde and Nason (2011): of several models scored on the
//! same windows, the ones the data cannot tell from the best at level a. Each step tests
//! equal predictive ability of the models still in the set with the T_max or T_R statistic,
//! whose distribution comes from the circular block bootstrap of `stats` (blocks of at least 2h,
//! the same resamples for every model so their dependence is kept), and removes the worst model
//! while the test rejects. A model's MCS p-value is the largest test p-value up to its removal.

use atb_protocol::selection::{McsMember, McsStatistic, ModelConfidenceSet};

use crate::stats::{
    BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CircularBlocks, CircularSums, block_length,
};

/// The model confidence set at level `alpha` of models named `names` whose losses on the same
/// windows are `losses[model][window]` (at horizon `h`, for the block length). `None` with
/// fewer than two models or three windows, or when the loss series differ in length or are not
/// finite.
pub fn model_confidence_set(
    names: &[String],
    losses: &[Vec<f64>],
    h: usize,
    statistic: McsStatistic,
    alpha: f64,
    loss: &str,
) -> Option<ModelConfidenceSet> {
    model_confidence_set_with(
        names,
        losses,
        block_length(losses.first()?.len(), h),
        BOOTSTRAP_RESAMPLES,
        statistic,
        alpha,
        loss,
    )
}

fn model_confidence_set_with(
    names: &[String],
    losses: &[Vec<f64>],
    block: usize,
    resamples: usize,
    statistic: McsStatistic,
    alpha: f64,
    loss: &str,
) -> Option<ModelConfidenceSet> {
    let m = losses.len();
    let n = losses.first()?.len();
    if m < 2
        || names.len() != m
        || n < 3
        || losses
            .iter()
            .any(|l| l.len() != n || l.iter().any(|x| !x.is_finite()))
    {
        return None;
    }
    let nf = n as f64;
    let means: Vec<f64> = losses.iter().map(|l| l.iter().sum::<f64>() / nf).collect();
    // Each resample's mean loss of every model: the same blocks for all models.
    let sums: Vec<CircularSums> = losses.iter().map(|l| CircularSums::new(l)).collect();
    let mut blocks = CircularBlocks::new(n, block, BOOTSTRAP_SEED);
    let boot: Vec<Vec<f64>> = (0..resamples)
        .map(|_| {
            let resample = blocks.next_resample();
            sums.iter().map(|s| s.sum(&resample) / nf).collect()
        })
        .collect();

    let mut alive: Vec<usize> = (0..m).collect();
    let mut p_values = vec![1.0; m];
    let mut running = 0.0f64;
    while alive.len() > 1 {
        // No step: the models left have identical losses on every window, so nothing can
        // tell them apart and they all stay.
        let Some((p, worst)) = (match statistic {
            McsStatistic::Max => step_max(&alive, &means, &boot),
            McsStatistic::Range => step_range(&alive, &means, &boot),
        }) else {
            break;
        };
        running = running.max(p);
        p_values[worst] = running;
        alive.retain(|&i| i != worst);
    }
    Some(ModelConfidenceSet {
        statistic,
        alpha,
        loss: loss.to_string(),
        windows: n,
        block_length: block.clamp(1, n),
        resamples,
        members: (0..m)
            .map(|i| McsMember {
                name: names[i].clone(),
                mean_loss: means[i],
                p_value: p_values[i],
                in_set: p_values[i] >= alpha,
            })
            .collect(),
    })
}

/// Share of bootstrap statistics at least the observed one.
fn p_value(observed: f64, draws: impl Iterator<Item = f64>) -> f64 {
    let (mut at_least, mut total) = (0usize, 0usize);
    for d in draws {
        total += 1;
        if d >= observed {
            at_least += 1;
        }
    }
    at_least as f64 / total.max(1) as f64
}

/// T_max over the models in `alive`: d_i = mean loss of i minus the set's average, t_i = d_i
/// over its bootstrap standard error; the statistic is max t_i, the model with it leaves.
/// A model whose d_i never varies (its losses are the set's average on every window) has
/// t_i = 0. Returns (p-value, the model to remove); `None` when no d_i varies.
fn step_max(alive: &[usize], means: &[f64], boot: &[Vec<f64>]) -> Option<(f64, usize)> {
    let k = alive.len() as f64;
    let centre = |values: &[f64]| alive.iter().map(|&i| values[i]).sum::<f64>() / k;
    let observed_centre = centre(means);
    let d: Vec<f64> = alive.iter().map(|&i| means[i] - observed_centre).collect();
    // Bootstrap deviations of d_i, centred on the observed d_i.
    let deviations: Vec<Vec<f64>> = boot
        .iter()
        .map(|b| {
            let c = centre(b);
            alive.iter().zip(&d).map(|(&i, di)| b[i] - c - di).collect()
        })
        .collect();
    let se: Vec<f64> = (0..alive.len())
        .map(|j| {
            (deviations.iter().map(|v| v[j] * v[j]).sum::<f64>() / deviations.len() as f64).sqrt()
        })
        .collect();
    if se.iter().all(|s| !(*s > 0.0)) {
        return None;
    }
    let ratio = |x: f64, s: f64| if s > 0.0 { x / s } else { 0.0 };
    let t: Vec<f64> = d.iter().zip(&se).map(|(di, s)| ratio(*di, *s)).collect();
    let (worst, observed) = t
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let draws = deviations.iter().map(|v| {
        v.iter()
            .zip(&se)
            .map(|(x, s)| ratio(*x, *s))
            .fold(f64::NEG_INFINITY, f64::max)
    });
    Some((p_value(observed, draws), alive[worst]))
}

/// T_R over the models in `alive`: t_ij = (mean loss i - mean loss j) over its bootstrap
/// standard error; the statistic is max |t_ij|, and the model with the largest t_ij against
/// any other leaves. A pair with identical losses on every window has t_ij = 0; `None` when
/// every pair is such.
fn step_range(alive: &[usize], means: &[f64], boot: &[Vec<f64>]) -> Option<(f64, usize)> {
    let k = alive.len();
    let mut se = vec![0.0; k * k];
    for a in 0..k {
        for b in a + 1..k {
            let (i, j) = (alive[a], alive[b]);
            let d = means[i] - means[j];
            let v = boot.iter().map(|x| (x[i] - x[j] - d).powi(2)).sum::<f64>() / boot.len() as f64;
            se[a * k + b] = v.sqrt();
            se[b * k + a] = v.sqrt();
        }
    }
    if (0..k).all(|a| (0..k).all(|b| a == b || !(se[a * k + b] > 0.0))) {
        return None;
    }
    let ratio = |x: f64, s: f64| if s > 0.0 { x / s } else { 0.0 };
    let t = |a: usize, b: usize| ratio(means[alive[a]] - means[alive[b]], se[a * k + b]);
    let mut observed = 0.0f64;
    let mut worst = (0, f64::NEG_INFINITY);
    for a in 0..k {
        for b in 0..k {
            if a != b {
                let v = t(a, b);
                observed = observed.max(v.abs());
                if v > worst.1 {
                    worst = (a, v);
                }
            }
        }
    }
    let draws = boot.iter().map(|x| {
        let mut largest = 0.0f64;
        for a in 0..k {
            for b in a + 1..k {
                let (i, j) = (alive[a], alive[b]);
                let v = ratio((x[i] - x[j]) - (means[i] - means[j]), se[a * k + b]);
                largest = largest.max(v.abs());
            }
        }
        largest
    });
    Some((p_value(observed, draws), alive[worst.0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn names(m: usize) -> Vec<String> {
        (0..m).map(|i| format!("m{i}")).collect()
    }

    /// Four models: three with equal expected loss, one clearly worse; losses share a common
    /// component (as errors on the same windows do).
    fn constructed(n: usize, worse_by: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = StdRng::seed_from_u64(seed);
        let common: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..2.0)).collect();
        (0..4)
            .map(|model| {
                common
                    .iter()
                    .map(|c| {
                        let own: f64 = rng.random_range(0.0..1.0);
                        c + own + if model == 3 { worse_by } else { 0.0 }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_clearly_worse_model_leaves_and_equal_ones_stay() {
        for statistic in [McsStatistic::Max, McsStatistic::Range] {
            let losses = constructed(600, 0.3, 5);
            let set = model_confidence_set(&names(4), &losses, 1, statistic, 0.10, "loss").unwrap();
            let kept = set.kept();
            assert!(!kept.contains(&"m3"), "{statistic:?}: {set:?}");
            assert!(set.members[3].p_value < 0.01, "{set:?}");
            // Three equal models: the set keeps them all in most samples; with this seed it
            // keeps all three.
            assert_eq!(kept, ["m0", "m1", "m2"], "{statistic:?}: {set:?}");
            // The best-by-mean model always has p-value 1.
            let best = (0..3)
                .min_by(|&a, &b| {
                    set.members[a]
                        .mean_loss
                        .total_cmp(&set.members[b].mean_loss)
                })
                .unwrap();
            assert_eq!(set.members[best].p_value, 1.0);
        }
    }

    #[test]
    fn equal_models_are_kept_at_about_the_nominal_rate() {
        // Under equal ability, the set must keep every model in at least about 90% of samples.
        let mut all_kept = 0;
        let replications = 60;
        for seed in 0..replications {
            let losses = constructed(300, 0.0, 1_000 + seed);
            let set = model_confidence_set_with(
                &names(4),
                &losses,
                7,
                400,
                McsStatistic::Max,
                0.10,
                "loss",
            )
            .unwrap();
            if set.kept().len() == 4 {
                all_kept += 1;
            }
        }
        assert!(
            all_kept as f64 / replications as f64 >= 0.8,
            "all four kept in {all_kept} of {replications}"
        );
    }

    #[test]
    fn identical_models_stay_together() {
        // Two versions with the same forecasts (the same losses) and a clearly worse one: the
        // worse leaves, the identical pair cannot be told apart and both stay.
        let mut losses = constructed(400, 0.3, 9);
        losses[1] = losses[0].clone();
        losses.truncate(2);
        losses.push(constructed(400, 0.3, 9)[3].clone());
        for statistic in [McsStatistic::Max, McsStatistic::Range] {
            let set = model_confidence_set(&names(3), &losses, 1, statistic, 0.10, "loss").unwrap();
            assert_eq!(set.kept(), ["m0", "m1"], "{statistic:?}: {set:?}");
        }
        // Every model identical: all kept.
        let same = vec![losses[0].clone(); 3];
        let set = model_confidence_set(&names(3), &same, 1, McsStatistic::Max, 0.1, "l").unwrap();
        assert_eq!(set.kept().len(), 3);
    }

    #[test]
    fn undefined_inputs() {
        let losses = constructed(10, 0.0, 1);
        assert!(
            model_confidence_set(&names(1), &losses[..1], 1, McsStatistic::Max, 0.1, "l").is_none()
        );
        let mut bad = losses.clone();
        bad[0][3] = f64::NAN;
        assert!(model_confidence_set(&names(4), &bad, 1, McsStatistic::Max, 0.1, "l").is_none());
    }
}
