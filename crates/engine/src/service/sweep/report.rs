//! `atb sweep report`: the sweep's jobs as `atb bench`-style tables from the imported versions,
//! grouped by the test windows they share (one symbol, fold, target, horizon and split); each
//! group of two or more imported return forecasts judged together (model confidence set and
//! Holm-adjusted verdicts against persistence, `decision::judge`).

use std::path::Path;

use atb_protocol::sweep::{
    BUNDLE_MANIFEST_FILE, BundleManifest, SweepReport, SweepReportGroup, SweepReportRow,
    WalkForwardRow, bundle_dir_name,
};
use atb_protocol::verdict::VerdictKind;
use atb_protocol::vocab::Target;

use super::{read_job, read_manifest};
use crate::error::Result;
use crate::registry::Registry;
use crate::registry::metadata::ModelMetadata;
use crate::settings::Settings;

struct Group {
    /// The first bundle's metadata: what the group's windows are.
    head: Option<ModelMetadata>,
    title: String,
    rows: Vec<SweepReportRow>,
}

/// The report over the bundles in `results` and what of them the registry holds.
pub async fn report(settings: &Settings, sweep_dir: &Path, results: &Path) -> Result<SweepReport> {
    let manifest = read_manifest(sweep_dir)?;
    let registry = Registry::open(settings)?;
    let mut groups: Vec<Group> = Vec::new();
    let mut not_run = Group {
        head: None,
        title: "not run yet (no bundle)".into(),
        rows: Vec::new(),
    };
    let mut imported = 0;
    // Walk-forward: each job's model (its label without the fold) and fold count, by index.
    let mut models: Vec<(usize, String, usize)> = Vec::new();
    for entry in &manifest.jobs {
        let (job, _) = read_job(sweep_dir, &manifest, entry.index)?;
        if let Some(f) = &job.fold {
            let unfolded = atb_protocol::sweep::SweepJob {
                fold: None,
                ..job.clone()
            };
            models.push((entry.index, unfolded.label(), f.folds));
        }
        let mut row = SweepReportRow {
            index: entry.index,
            label: job.label(),
            version_id: None,
            test_mae_usd: None,
            skill_vs_persistence: None,
            vs_persistence: None,
            in_confidence_set: None,
        };
        let bundle = results.join(bundle_dir_name(entry.index));
        let found = std::fs::read(bundle.join(BUNDLE_MANIFEST_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<BundleManifest>(&b).ok())
            .zip(
                std::fs::read(bundle.join("version").join(crate::registry::METADATA_FILE))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<ModelMetadata>(&b).ok()),
            );
        let Some((bundle_manifest, metadata)) = found else {
            not_run.rows.push(row);
            continue;
        };
        row.version_id = Some(bundle_manifest.version_id.clone());
        if let Ok(r) = registry.resolve(&bundle_manifest.version_id) {
            imported += 1;
            row.test_mae_usd = r.test_mae_usd;
            row.skill_vs_persistence = r.skill_vs_persistence;
            row.vs_persistence = r.verdict_vs_persistence.clone();
        }
        let target = metadata.training_params.spec.target;
        let place = groups.iter().position(|g| {
            g.head.as_ref().is_some_and(|h| {
                h.training_params.spec.target == target
                    && h.dataset.same_test_windows(&metadata.dataset)
            })
        });
        match place {
            Some(i) => groups[i].rows.push(row),
            None => {
                let d = &metadata.dataset;
                let title = format!(
                    "{} {} {}, horizon {}, {} test windows from {}{}",
                    d.symbol,
                    d.timeframe,
                    target,
                    d.horizon,
                    d.test.samples,
                    crate::market::format_ms(d.test.first_target_open_ms),
                    job.fold
                        .as_ref()
                        .map(|f| format!(" (fold {}/{})", f.fold, f.folds))
                        .unwrap_or_default()
                );
                groups.push(Group {
                    head: Some(metadata),
                    title,
                    rows: vec![row],
                });
            }
        }
    }
    let mut out = Vec::new();
    for group in groups {
        out.push(judged(settings, group).await);
    }
    if !not_run.rows.is_empty() {
        out.push(SweepReportGroup {
            title: not_run.title,
            rows: not_run.rows,
            judged: None,
            note: Some("run these jobs and import their bundles".into()),
        });
    }
    let walk_forward = walk_forward_rows(&models, &out);
    Ok(SweepReport {
        name: manifest.name.clone(),
        sweep_id: manifest.sweep_id.clone(),
        jobs: manifest.jobs.len(),
        imported,
        groups: out,
        walk_forward,
    })
}

/// Each walk-forward model over its folds, in the order the sweep lists them.
fn walk_forward_rows(
    models: &[(usize, String, usize)],
    groups: &[SweepReportGroup],
) -> Vec<WalkForwardRow> {
    let mut out: Vec<WalkForwardRow> = Vec::new();
    let mut sums: Vec<(f64, usize, f64, usize)> = Vec::new();
    for (index, label, folds) in models {
        let at = match out.iter().position(|r| &r.label == label) {
            Some(i) => i,
            None => {
                out.push(WalkForwardRow {
                    label: label.clone(),
                    imported: 0,
                    folds: *folds,
                    mean_test_mae_usd: None,
                    mean_skill_vs_persistence: None,
                    folds_better: 0,
                    folds_worse: 0,
                });
                sums.push((0.0, 0, 0.0, 0));
                out.len() - 1
            }
        };
        let Some(row) = groups
            .iter()
            .flat_map(|g| &g.rows)
            .find(|r| r.index == *index)
        else {
            continue;
        };
        let Some(mae) = row.test_mae_usd else {
            continue;
        };
        let (r, s) = (&mut out[at], &mut sums[at]);
        r.imported += 1;
        s.0 += mae;
        s.1 += 1;
        if let Some(skill) = row.skill_vs_persistence {
            s.2 += skill;
            s.3 += 1;
        }
        match row.vs_persistence.as_ref().map(|v| v.kind) {
            Some(VerdictKind::Better) => r.folds_better += 1,
            Some(VerdictKind::Worse) => r.folds_worse += 1,
            _ => {}
        }
    }
    for (r, s) in out.iter_mut().zip(sums) {
        r.mean_test_mae_usd = (s.1 > 0).then(|| s.0 / s.1 as f64);
        r.mean_skill_vs_persistence = (s.3 > 0).then(|| s.2 / s.3 as f64);
    }
    out
}

/// The group with its imported versions judged together, when that can be done.
async fn judged(settings: &Settings, mut group: Group) -> SweepReportGroup {
    let ids: Vec<String> = group
        .rows
        .iter()
        .filter(|r| r.test_mae_usd.is_some())
        .filter_map(|r| r.version_id.clone())
        .collect();
    let target = group.head.as_ref().map(|h| h.training_params.spec.target);
    let (judged, note) = if ids.len() < 2 {
        (
            None,
            Some(format!(
                "{} imported version(s): judging needs two",
                ids.len()
            )),
        )
    } else if target != Some(Target::Return) {
        (
            None,
            Some("verdicts are each version's own: joint judging is for return forecasts".into()),
        )
    } else {
        match super::super::decision::judge(settings, &ids).await {
            Ok(j) => (Some(j), None),
            Err(e) => (None, Some(format!("not judged together: {e}"))),
        }
    };
    if let Some(j) = &judged {
        for row in &mut group.rows {
            let Some(id) = &row.version_id else { continue };
            if let Some(v) = j.verdicts.iter().find(|v| &v.version_id == id) {
                row.vs_persistence = Some(v.vs_persistence.clone());
            }
            row.in_confidence_set = j
                .model_confidence_set
                .as_ref()
                .and_then(|m| m.members.iter().find(|m| &m.name == id))
                .map(|m| m.in_set);
        }
    }
    SweepReportGroup {
        title: group.title,
        rows: group.rows,
        judged,
        note,
    }
}
