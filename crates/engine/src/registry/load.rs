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
            (None, Architecture::Ensemble) => {
                TrainedModel::Ensemble(self.load_ensemble(&row, &weights, device)?)
            }
            (None, Architecture::Gbdt) => {
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

    /// An ensemble's members, each loaded (hash-checked) and checked against the weights' hash
    /// the ensemble recorded for it.
    fn load_ensemble(
        &self,
        row: &ModelRow,
        recipe: &[u8],
        device: &Device,
    ) -> Result<EnsembleModel> {
        let corrupt = |reason: String| Error::CorruptVersion {
            version: row.version_id.clone(),
            reason,
        };
        let recipe = parse_recipe(row, recipe)?;
        let mut members = Vec::with_capacity(recipe.members.len());
        for member in &recipe.members {
            let loaded = self.load(&member.version_id, device).map_err(|e| match e {
                Error::UnknownVersion(_) => corrupt(format!(
                    "its member {} is no longer registered",
                    member.version_id
                )),
                other => other,
            })?;
            if loaded.row.architecture == Architecture::Ensemble {
                return Err(corrupt(format!(
                    "its member {} is itself an ensemble",
                    member.version_id
                )));
            }
            if loaded.row.weights_sha256 != member.weights_sha256 {
                return Err(corrupt(format!(
                    "its member {} holds weights with SHA-256 {}, not the {} it was made of",
                    member.version_id, loaded.row.weights_sha256, member.weights_sha256
                )));
            }
            members.push(loaded.model);
        }
        Ok(EnsembleModel { members, recipe })
    }

    /// An ensemble's recipe, checked against its recorded hash (`None` for other models).
    pub fn ensemble_recipe(&self, row: &ModelRow) -> Result<Option<EnsembleRecipe>> {
        if row.architecture != Architecture::Ensemble {
            return Ok(None);
        }
        let path = self.folder(row).join(ENSEMBLE_FILE);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        if sha256_hex(&bytes) != row.weights_sha256 {
            return Err(Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!(
                    "{} differs from the file it was registered with",
                    path.display()
                ),
            });
        }
        parse_recipe(row, &bytes).map(Some)
    }

    /// The ensembles that name `version_id` as a member.
    fn ensembles_using(&self, version_id: &str) -> Result<Vec<String>> {
        let mut statement = self
            .conn
            .prepare("SELECT version_id FROM model_versions WHERE architecture = 'ensemble'")
            .map_err(|e| self.err(e))?;
        let ids = statement
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        let mut users = Vec::new();
        for id in ids {
            let row = self.row(&id)?;
            let path = self.folder(&row).join(ENSEMBLE_FILE);
            // An unreadable recipe names no member for sure: keep the member (refuse) rather
            // than break an ensemble that may still need it.
            let names_it = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<EnsembleRecipe>(&b).ok())
                .is_none_or(|r| r.members.iter().any(|m| m.version_id == version_id));
            if names_it {
                users.push(id);
            }
        }
        Ok(users)
    }

    /// Deletes a version (its row, then its folder). Refuses an aliased version unless `force`,
    /// and a member of an ensemble always (the ensemble would lose it).
    pub fn delete(&mut self, reference: &str, force: bool) -> Result<ModelRow> {
        let row = self.resolve(reference)?;
        // Only ever the folder the version's identity names under `models/`, whatever path the
        // index row holds (a hand-edited or damaged index must not point the removal elsewhere).
        let dir = self.version_dir(&row)?;
        let users = self.ensembles_using(&row.version_id)?;
        if !users.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "{} is a member of the ensemble {}; delete the ensemble first",
                row.version_id,
                users.join(", ")
            )));
        }
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

/// An ensemble's `ensemble.json`, read.
fn parse_recipe(row: &ModelRow, bytes: &[u8]) -> Result<EnsembleRecipe> {
    serde_json::from_slice(bytes).map_err(|e| Error::CorruptVersion {
        version: row.version_id.clone(),
        reason: format!("{ENSEMBLE_FILE} is not an ensemble recipe: {e}"),
    })
}
