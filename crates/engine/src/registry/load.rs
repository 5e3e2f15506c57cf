//! Reading a registered version back: its folder (checked against the index), its recorded
//! files with their hashes, its metadata, the model itself; and deleting it.

use super::layout::*;
use super::*;

impl Registry {
    pub(super) fn folder(&self, row: &ModelRow) -> PathBuf {
        self.home.join(&row.folder)
    }

    /// One of a version's JSON files, refused when its hash differs from the one recorded at
    /// registration (versions registered before hashing record none).
    pub(super) fn read_recorded(&self, row: &ModelRow, file: &str) -> Result<(PathBuf, Vec<u8>)> {
        let column = match file {
            METADATA_FILE => "metadata_sha256",
            SCHEMA_FILE => "schema_sha256",
            other => {
                return Err(Error::InvalidRequest(format!(
                    "{other} has no recorded hash"
                )));
            }
        };
        let path = self.folder(row).join(file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let recorded: Option<String> = self
            .conn
            .query_row(
                &format!("SELECT {column} FROM model_versions WHERE version_id = ?1"),
                [&row.version_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        if let Some(recorded) = recorded {
            let actual = sha256_hex(&bytes);
            if actual != recorded {
                return Err(Error::CorruptVersion {
                    version: row.version_id.clone(),
                    reason: format!(
                        "{} has SHA-256 {actual}, but the registry recorded {recorded}: the file was modified or truncated",
                        path.display()
                    ),
                });
            }
        }
        Ok((path, bytes))
    }

    /// Metadata of a version, read from its folder and checked against its recorded hash.
    pub fn metadata(&self, row: &ModelRow) -> Result<ModelMetadata> {
        let (path, bytes) = self.read_recorded(row, METADATA_FILE)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptVersion {
            version: row.version_id.clone(),
            reason: format!("{} is not valid metadata: {e}", path.display()),
        })
    }

    /// Loads a version for inference on `device`, refusing altered or truncated weights.
    pub fn load(&self, reference: &str, device: &Device) -> Result<LoadedModel> {
        let row = self.resolve(reference)?;
        let dir = self.folder(&row);
        let weights_path = dir.join(weights_file(row.architecture));
        let weights = std::fs::read(&weights_path).map_err(|e| Error::CorruptVersion {
            version: row.version_id.clone(),
            reason: format!("cannot read {}: {e}", weights_path.display()),
        })?;
        let actual = sha256_hex(&weights);
        if actual != row.weights_sha256 {
            return Err(Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!(
                    "{} has SHA-256 {actual}, but the registry recorded {}: the file was modified or truncated",
                    weights_path.display(),
                    row.weights_sha256
                ),
            });
        }
        let metadata = self.metadata(&row)?;
        let schema = self.schema(&row)?;
        let model = match (&metadata.training_params.model_config, row.architecture) {
            (Some(config), a) if a.is_network() => TrainedModel::Network {
                model: ForecastModel::from_safetensors(config, weights, device)?,
                config: config.clone(),
            },
            (None, a) if !a.is_network() => {
                let text = String::from_utf8(weights).map_err(|_| Error::CorruptVersion {
                    version: row.version_id.clone(),
                    reason: format!("{} is not text", weights_path.display()),
                })?;
                TrainedModel::Trees(GbdtModel::from_text(
                    &text,
                    schema.sequence_length,
                    schema.n_features,
                )?)
            }
            _ => {
                return Err(Error::CorruptVersion {
                    version: row.version_id.clone(),
                    reason: format!(
                        "metadata.json's model configuration does not fit a {} model",
                        row.architecture
                    ),
                });
            }
        };
        Ok(LoadedModel {
            row,
            metadata,
            schema,
            model,
        })
    }

    /// Deletes a version (its row, then its folder). Refuses an aliased version unless `force`.
    pub fn delete(&mut self, reference: &str, force: bool) -> Result<ModelRow> {
        let row = self.resolve(reference)?;
        // Only ever the folder the version's identity names under `models/`, whatever path the
        // index row holds (a hand-edited or damaged index must not point the removal elsewhere).
        let dir = self.version_dir(&row)?;
        let db_path = self.db_path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&db_path))?;
        // Aliases are read inside the write transaction: one set between `resolve` and here is
        // seen.
        let aliases: Option<String> = tx
            .query_row(
                "SELECT group_concat(name, ', ') FROM aliases WHERE version_id = ?1",
                [&row.version_id],
                |r| r.get(0),
            )
            .map_err(db_err(&db_path))?;
        if let Some(aliases) = aliases.filter(|_| !force) {
            return Err(Error::InvalidRequest(format!(
                "{} is aliased as {aliases}; move the alias first, or force the deletion",
                row.version_id
            )));
        }
        for table in [
            "aliases",
            "onnx_exports",
            "evaluations",
            "forward_tests",
            "model_versions",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE version_id = ?1"),
                [&row.version_id],
            )
            .map_err(db_err(&db_path))?;
        }
        tx.commit().map_err(db_err(&db_path))?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(row)
    }

    /// The folder a version's identity names, `models/SYMBOL/TIMEFRAME/ARCHITECTURE/VERSION_ID`;
    /// refused when the index row records another path or the id is not a plain name.
    pub(super) fn version_dir(&self, row: &ModelRow) -> Result<PathBuf> {
        let plain = !row.version_id.is_empty()
            && row
                .version_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        let relative = Path::new("models")
            .join(row.symbol.as_str())
            .join(row.timeframe.as_str())
            .join(row.architecture.as_str())
            .join(&row.version_id);
        if !plain || Path::new(&row.folder) != relative {
            return Err(Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!(
                    "the index records the folder {:?}, not {}; refusing to touch it",
                    row.folder,
                    relative.display()
                ),
            }
            .with_remedy(Remedy::VerifyRegistry));
        }
        Ok(self.home.join(relative))
    }
}
