//! The SQLite index: one row per version (with its test metrics and comparisons for listing),
//! aliases per series and architecture, re-evaluations; resolving an id or alias to a row.

use super::*;

pub const LATEST: &str = "latest";

/// The test split's paired comparisons as the index keeps them: the return target's, or the
/// volatility or direction target's evaluation.
#[derive(serde::Deserialize, Serialize)]
struct TestComparisons {
    vs_persistence: Option<Comparison>,
    vs_ridge: Option<Comparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<TargetEvaluation>,
}

pub(super) fn comparisons_json(e: &Evaluation) -> Result<String> {
    serde_json::to_string(&TestComparisons {
        vs_persistence: e.test.as_ref().and_then(|t| t.vs_persistence),
        vs_ridge: e.test.as_ref().and_then(|t| t.vs_ridge),
        target: e.target.clone(),
    })
    .map_err(|e| Error::InvalidData(format!("comparisons are not serialisable: {e}")))
}

/// The listing's metric columns of an evaluation (all `None` for the volatility and direction
/// targets, whose scores are not in price space).
pub(super) struct MetricColumns {
    pub mae_usd: Option<f64>,
    pub rmse_usd: Option<f64>,
    pub persistence_mae_usd: Option<f64>,
    pub skill_vs_persistence: Option<f64>,
    pub directional_accuracy: Option<f64>,
    pub pt_p_value: Option<f64>,
}

impl MetricColumns {
    pub fn of(e: &Evaluation) -> Self {
        let t = e.test.as_ref();
        Self {
            mae_usd: t.map(|t| t.model.mae_usd),
            rmse_usd: t.map(|t| t.model.rmse_usd),
            persistence_mae_usd: t.map(|t| t.persistence.mae_usd),
            skill_vs_persistence: t.map(|t| t.model.skill_vs_persistence),
            directional_accuracy: t.and_then(|t| t.model.directional_accuracy),
            pt_p_value: t.and_then(|t| t.model.pt_p_value),
        }
    }
}

impl Registry {
    pub(super) fn row(&self, version_id: &str) -> Result<ModelRow> {
        self.rows("WHERE v.version_id = ?1", params![version_id])?
            .pop()
            .ok_or_else(|| Error::UnknownVersion(version_id.to_string()))
    }

    pub(super) fn rows(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<ModelRow>> {
        let sql = format!(
            "SELECT v.version_id, v.symbol, v.timeframe, v.architecture, v.variant, v.created_at, v.folder,
                    v.parameters, v.train_seconds, v.test_mae_usd, v.test_rmse_usd, v.persistence_mae_usd,
                    v.skill_vs_persistence, v.directional_accuracy, v.pt_p_value, v.weights_sha256, v.data_sha256,
                    v.tag, (SELECT group_concat(name, ',') FROM aliases a WHERE a.version_id = v.version_id),
                    e.sha256, e.max_abs_diff, v.evaluation_method, v.test_comparisons, v.target
             FROM model_versions v LEFT JOIN onnx_exports e ON e.version_id = v.version_id {filter} ORDER BY v.created_at, v.version_id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        stmt.query_map(args, |r| {
            let aliases: Option<String> = r.get(18)?;
            let method: Option<u32> = r.get(21)?;
            // Unreadable comparisons (a hand-edited index) show as "not computed".
            let comparisons: Option<TestComparisons> = r
                .get::<_, Option<String>>(22)?
                .and_then(|j| serde_json::from_str(&j).ok());
            let (vs_persistence, vs_ridge, target_evaluation) = comparisons
                .map(|c| (c.vs_persistence, c.vs_ridge, c.target))
                .unwrap_or((None, None, None));
            let target: Target = parsed(r, 23)?;
            Ok(ModelRow {
                version_id: r.get(0)?,
                symbol: parsed(r, 1)?,
                timeframe: parsed(r, 2)?,
                architecture: parsed(r, 3)?,
                variant: parsed(r, 4)?,
                created_at: r.get(5)?,
                folder: r.get(6)?,
                parameters: r.get::<_, i64>(7)? as u64,
                train_seconds: r.get(8)?,
                test_mae_usd: r.get(9)?,
                test_rmse_usd: r.get(10)?,
                persistence_mae_usd: r.get(11)?,
                skill_vs_persistence: r.get(12)?,
                directional_accuracy: r.get(13)?,
                pt_p_value: r.get(14)?,
                weights_sha256: r.get(15)?,
                data_sha256: r.get(16)?,
                tag: r.get(17)?,
                aliases: aliases
                    .map(|a| a.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
                onnx_sha256: r.get(19)?,
                onnx_max_abs_diff: r.get(20)?,
                evaluation_method: method.unwrap_or(1),
                verdict_vs_persistence: (target == Target::Return)
                    .then(|| verdict("persistence", vs_persistence.as_ref())),
                verdict_vs_ridge: (target == Target::Return)
                    .then(|| verdict("ridge", vs_ridge.as_ref())),
                target_verdicts: target_evaluation.map(|t| t.verdicts()).unwrap_or_default(),
                target,
                vs_persistence,
                vs_ridge,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// Every version, oldest first, optionally of one symbol.
    pub fn list(&self, symbol: Option<&str>) -> Result<Vec<ModelRow>> {
        match symbol {
            Some(s) => self.rows("WHERE v.symbol = ?1", params![s.to_ascii_uppercase()]),
            None => self.rows("", []),
        }
    }

    /// A version id, or an alias name (`latest`, `champion`) when it names exactly one version.
    pub fn resolve(&self, reference: &str) -> Result<ModelRow> {
        if let Some(row) = self
            .rows("WHERE v.version_id = ?1", params![reference])?
            .pop()
        {
            return Ok(row);
        }
        let targets: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT scope, version_id FROM aliases WHERE name = ?1 ORDER BY scope")
                .map_err(|e| self.err(e))?;
            stmt.query_map([reference], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.err(e))?
        };
        match targets.as_slice() {
            [] => Err(Error::UnknownVersion(reference.to_string())),
            [(_, id)] => self.row(id),
            many => Err(Error::InvalidRequest(format!(
                "alias {reference:?} names {} versions ({}); give a version id",
                many.len(),
                many.iter()
                    .map(|(s, id)| format!("{s}: {id}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The newest evaluation of a version: a re-evaluation stored in the index, else the one in
    /// its folder's metadata.
    pub fn evaluation(&self, row: &ModelRow, metadata: &ModelMetadata) -> Result<Evaluation> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT evaluation FROM evaluations WHERE version_id = ?1",
                [&row.version_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match stored {
            Some(json) => serde_json::from_str(&json).map_err(|e| Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!("its stored re-evaluation is not readable: {e}"),
            }),
            None => Ok(metadata.evaluation_results.clone()),
        }
    }

    /// Keeps a version's latest forward test beside it in the index (replacing the previous).
    pub fn store_forward(&mut self, result: &atb_protocol::forward::ForwardResult) -> Result<()> {
        let json = serde_json::to_string(result)
            .map_err(|e| Error::InvalidData(format!("forward test is not serialisable: {e}")))?;
        self.conn
            .execute(
                "INSERT INTO forward_tests (version_id, tested_at, windows, result) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (version_id) DO UPDATE SET tested_at = excluded.tested_at,
                    windows = excluded.windows, result = excluded.result",
                params![
                    result.version_id,
                    result.tested_at,
                    result.windows as i64,
                    json
                ],
            )
            .map_err(db_err(&self.db_path))?;
        Ok(())
    }

    /// A version's latest stored forward test, if any.
    pub fn forward(
        &self,
        version_id: &str,
    ) -> Result<Option<atb_protocol::forward::ForwardResult>> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT result FROM forward_tests WHERE version_id = ?1",
                [version_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        stored
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| Error::CorruptVersion {
                    version: version_id.to_string(),
                    reason: format!("its stored forward test is not readable: {e}"),
                })
            })
            .transpose()
    }

    /// Stores a recomputed evaluation of a version beside it in the index (the folder stays as
    /// it was) and points the listing's metric columns at it, in one transaction.
    pub fn store_evaluation(
        &mut self,
        version_id: &str,
        evaluation: &Evaluation,
    ) -> Result<ModelRow> {
        let json = serde_json::to_string(evaluation)
            .map_err(|e| Error::InvalidData(format!("evaluation is not serialisable: {e}")))?;
        let comparisons = comparisons_json(evaluation)?;
        let t = MetricColumns::of(evaluation);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&self.db_path))?;
        let updated = tx
            .execute(
                "UPDATE model_versions SET test_mae_usd = ?2, test_rmse_usd = ?3, persistence_mae_usd = ?4,
                    skill_vs_persistence = ?5, directional_accuracy = ?6, pt_p_value = ?7,
                    evaluation_method = ?8, test_comparisons = ?9
                 WHERE version_id = ?1",
                params![
                    version_id,
                    t.mae_usd,
                    t.rmse_usd,
                    t.persistence_mae_usd,
                    t.skill_vs_persistence,
                    t.directional_accuracy,
                    t.pt_p_value,
                    evaluation.method,
                    comparisons,
                ],
            )
            .map_err(db_err(&self.db_path))?;
        if updated == 0 {
            return Err(Error::UnknownVersion(version_id.to_string()));
        }
        tx.execute(
            "INSERT INTO evaluations (version_id, computed_at, method, evaluation) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (version_id) DO UPDATE SET computed_at = excluded.computed_at,
                method = excluded.method, evaluation = excluded.evaluation",
            params![
                version_id,
                Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                evaluation.method,
                json
            ],
        )
        .and_then(|_| tx.commit())
        .map_err(db_err(&self.db_path))?;
        self.row(version_id)
    }

    /// Moves (or creates) `alias` to point at a version, atomically.
    pub fn promote(&mut self, reference: &str, alias: &str) -> Result<ModelRow> {
        if alias.is_empty()
            || !alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::InvalidRequest(format!(
                "alias {alias:?} must be letters, digits, '-' or '_'"
            )));
        }
        let row = self.resolve(reference)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&self.db_path))?;
        // Checked again under the write lock: a version deleted since `resolve` is not aliased.
        let exists = tx
            .query_row(
                "SELECT 1 FROM model_versions WHERE version_id = ?1",
                [&row.version_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(db_err(&self.db_path))?
            .is_some();
        if !exists {
            return Err(Error::UnknownVersion(row.version_id));
        }
        set_alias(
            &tx,
            &scope(
                row.symbol.as_str(),
                row.timeframe.as_str(),
                row.architecture.as_str(),
            ),
            alias,
            &row.version_id,
        )
        .and_then(|_| tx.commit())
        .map_err(db_err(&self.db_path))?;
        self.row(&row.version_id)
    }
}

/// Reads a vocabulary value stored as its name; a name this build does not know (a hand-edited
/// or newer index) is a conversion error on that column, not a panic.
pub(super) fn parsed<T>(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(column)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(super) fn scope(symbol: &str, timeframe: &str, architecture: &str) -> String {
    format!("{symbol}/{timeframe}/{architecture}")
}

pub(super) fn set_alias(
    tx: &rusqlite::Transaction<'_>,
    scope: &str,
    name: &str,
    version_id: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO aliases (scope, name, version_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, name) DO UPDATE SET version_id = excluded.version_id",
        params![scope, name, version_id],
    )?;
    Ok(())
}
