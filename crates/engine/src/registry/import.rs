//! Importing a version folder trained elsewhere (a sweep worker's bundle): its files checked
//! against its own metadata, then staged and indexed like a local run under its original
//! version id. The same version twice is found, not copied again; the same id with other
//! weights is refused.

use super::layout::*;
use super::*;

/// What importing one version folder did.
#[derive(Debug)]
pub enum Imported {
    /// Registered under its original id.
    New(ModelRow),
    /// The registry already holds this version with the same weights.
    AlreadyPresent(ModelRow),
}

impl Registry {
    /// Imports the version folder `dir` (its weights, `metadata.json` and
    /// `feature_schema.json`). The weights must match the metadata's SHA-256; the version keeps
    /// its id, creation time and tag, and never moves `latest`.
    pub fn import_version(&mut self, dir: &Path) -> Result<Imported> {
        let metadata_path = dir.join(METADATA_FILE);
        let metadata_bytes = std::fs::read(&metadata_path).map_err(io(&metadata_path))?;
        let metadata: ModelMetadata = serde_json::from_slice(&metadata_bytes).map_err(|e| {
            Error::InvalidData(format!(
                "{} is not a version's metadata: {e}",
                metadata_path.display()
            ))
        })?;
        let architecture = metadata.training_params.spec.architecture;
        if architecture == Architecture::Ensemble {
            return Err(Error::InvalidData(format!(
                "{} is an ensemble; ensembles are made from registered versions, not imported",
                dir.display()
            )));
        }
        let weights_path = dir.join(weights_file(architecture));
        let weights = std::fs::read(&weights_path).map_err(io(&weights_path))?;
        if sha256_hex(&weights) != metadata.weights_sha256 {
            return Err(Error::InvalidData(format!(
                "{} differs from the weights its metadata names (SHA-256 mismatch)",
                weights_path.display()
            )));
        }
        let schema_path = dir.join(SCHEMA_FILE);
        let schema = std::fs::read(&schema_path).map_err(io(&schema_path))?;
        let id = metadata.version_id.clone();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            return Err(Error::InvalidData(format!(
                "{} names no usable version id ({id:?})",
                metadata_path.display()
            )));
        }
        if let Ok(row) = self.row(&id) {
            return if row.weights_sha256 == metadata.weights_sha256 {
                Ok(Imported::AlreadyPresent(row))
            } else {
                Err(Error::InvalidRequest(format!(
                    "version {id} is already in this registry with other weights; it was not imported over them"
                )))
            };
        }
        let series_dir = self
            .home
            .join("models")
            .join(metadata.symbol.as_str())
            .join(metadata.timeframe.as_str())
            .join(architecture.as_str());
        std::fs::create_dir_all(&series_dir).map_err(io(&series_dir))?;
        let tmp = series_dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let staged = (|| {
            write_atomic(&tmp.join(weights_file(architecture)), &weights)?;
            write_atomic(&tmp.join(SCHEMA_FILE), &schema)?;
            let pending = PendingRegistration {
                metadata: metadata.clone(),
                schema_sha256: sha256_hex(&schema),
                set_latest: false,
            };
            write_atomic(&tmp.join(PENDING_FILE), &to_json(&pending)?)?;
            Ok::<_, Error>(Staged {
                metadata: pending.metadata,
                schema_sha256: pending.schema_sha256,
            })
        })();
        let indexed = staged.and_then(|staged| self.index_staged(&tmp, &series_dir, staged, false));
        match indexed {
            Ok(row) => Ok(Imported::New(row)),
            Err(e) => {
                // The bundle still holds everything: nothing is lost by dropping the copy.
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }
}
