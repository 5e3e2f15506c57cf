//! The registry against misuse: a damaged index row cannot point a deletion outside the registry,
//! a modified or damaged feature schema or metadata file is refused by `load` and reported by
//! `verify`, `verify` tells a registration still in progress from one whose process died, and a
//! finished run waits for a write lock held longer than the busy timeout instead of being dropped.

use atb_engine::TrainOutcome;
use atb_engine::testing::registry::Registry;

use crate::common::quick_outcome;
use atb_engine::{Error, Settings};
use atb_protocol::rpc::Remedy;

fn registered() -> (tempfile::TempDir, Settings, String, String) {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let outcome = quick_outcome();
    let row = Registry::open(&settings)
        .unwrap()
        .register(&outcome, None, false)
        .unwrap();
    (home, settings, row.version_id, row.folder)
}

#[test]
fn delete_removes_only_the_folder_the_version_names() {
    let (home, settings, version, folder) = registered();
    let outside = home.path().join("precious");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "mine").unwrap();
    // A damaged (or hand-edited) index row pointing elsewhere.
    let db = rusqlite::Connection::open(settings.database_path()).unwrap();
    db.execute(
        "UPDATE model_versions SET folder = ?1 WHERE version_id = ?2",
        ["models/../precious", version.as_str()],
    )
    .unwrap();
    let err = Registry::open(&settings)
        .unwrap()
        .delete(&version, true)
        .unwrap_err();
    assert!(matches!(err.inner(), Error::CorruptVersion { .. }), "{err}");
    assert_eq!(err.remedy(), Some(Remedy::VerifyRegistry));
    assert!(outside.join("keep.txt").is_file());
    assert!(home.path().join(&folder).is_dir());
    // Repaired, the same deletion goes through and removes the version's own folder.
    db.execute(
        "UPDATE model_versions SET folder = ?1 WHERE version_id = ?2",
        [folder.as_str(), version.as_str()],
    )
    .unwrap();
    Registry::open(&settings)
        .unwrap()
        .delete(&version, true)
        .unwrap();
    assert!(!home.path().join(&folder).exists());
    assert!(outside.join("keep.txt").is_file());
}

#[test]
fn verify_calls_a_temporary_folder_safe_to_delete_only_when_its_process_is_gone() {
    let (home, settings, _, folder) = registered();
    let series = home.path().join(&folder).parent().unwrap().to_path_buf();
    let running = series.join(format!(".tmp-{}-1", std::process::id()));
    // Far above any pid Linux hands out (pid_max is at most 2^22).
    let dead = series.join(".tmp-999999999-1");
    std::fs::create_dir_all(&running).unwrap();
    std::fs::create_dir_all(&dead).unwrap();
    let report = Registry::open(&settings).unwrap().verify().unwrap();
    assert!(report.damaged.is_empty() && report.orphan_folders.is_empty());
    assert!(report.database_problems.is_empty(), "{report:?}");
    assert_eq!(report.incomplete_writes.len(), 1, "{report:?}");
    assert!(report.incomplete_writes[0].ends_with(".tmp-999999999-1"));
    assert_eq!(report.registrations_in_progress.len(), 1, "{report:?}");
    assert!(
        report.registrations_in_progress[0].ends_with(&format!(".tmp-{}-1", std::process::id()))
    ); // Clearing leftovers removes only the dead process's folder.
    let cleared = Registry::open(&settings)
        .unwrap()
        .clear_interrupted()
        .unwrap();
    assert_eq!(cleared.removed.len(), 1, "{cleared:?}");
    assert!(cleared.kept_for_recovery.is_empty(), "{cleared:?}");
    assert!(!dead.exists() && running.exists());
}

#[test]
fn a_modified_feature_schema_or_metadata_is_refused_and_reported() {
    let (home, settings, version, folder) = registered();
    let device = atb_models::burn::prelude::Device::flex();
    let path = home.path().join(&folder).join("feature_schema.json");
    let original = std::fs::read(&path).unwrap();
    let mut schema: serde_json::Value = serde_json::from_slice(&original).unwrap();
    // A plausible edit: one scaler's mean moved. Only the recorded hash can see it.
    schema["means"][0] = serde_json::json!(schema["means"][0].as_f64().unwrap() + 1.0);
    std::fs::write(&path, serde_json::to_vec_pretty(&schema).unwrap()).unwrap();
    let registry = Registry::open(&settings).unwrap();
    let err = registry.load(&version, &device).err().unwrap().to_string();
    assert!(
        err.contains("feature_schema.json") && err.contains("modified"),
        "{err}"
    );
    let damaged = registry.verify().unwrap().damaged;
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert!(damaged[0].1.contains("feature_schema.json"), "{damaged:?}");

    std::fs::write(&path, &original).unwrap();
    registry.load(&version, &device).unwrap();
    let metadata = home.path().join(&folder).join("metadata.json");
    let mut text = std::fs::read_to_string(&metadata).unwrap();
    text.push('\n');
    std::fs::write(&metadata, text).unwrap();
    let err = registry.load(&version, &device).err().unwrap().to_string();
    assert!(
        err.contains("metadata.json") && err.contains("modified"),
        "{err}"
    );
    let damaged = registry.verify().unwrap().damaged;
    assert!(damaged[0].1.contains("metadata.json"), "{damaged:?}");
}

#[test]
fn a_damaged_feature_schema_without_a_recorded_hash_is_refused_by_its_invariants() {
    let (home, settings, version, folder) = registered();
    // A version registered before hashing records no hash for its schema.
    let db = rusqlite::Connection::open(settings.database_path()).unwrap();
    db.execute(
        "UPDATE model_versions SET schema_sha256 = NULL WHERE version_id = ?1",
        [version.as_str()],
    )
    .unwrap();
    let path = home.path().join(&folder).join("feature_schema.json");
    let mut schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    schema["stds"][0] = serde_json::json!(0.0);
    std::fs::write(&path, serde_json::to_vec(&schema).unwrap()).unwrap();
    let registry = Registry::open(&settings).unwrap();
    let device = atb_models::burn::prelude::Device::flex();
    let err = registry.load(&version, &device).err().unwrap().to_string();
    assert!(err.contains("standard deviation"), "{err}");
    let damaged = registry.verify().unwrap().damaged;
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert!(damaged[0].1.contains("feature_schema.json"), "{damaged:?}");
}

#[test]
fn a_registration_waits_behind_a_write_lock_held_past_the_busy_timeout() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let outcome = quick_outcome();
    // A busy timeout of 0.2 s stands in for the real 10 s.
    let mut registry = Registry::open(&settings)
        .unwrap()
        .with_busy_timeout(std::time::Duration::from_millis(200))
        .unwrap();
    // Another process holds the write lock for 1.2 s, longer than the busy timeout (a long CSV
    // import does).
    let writer = rusqlite::Connection::open(settings.database_path()).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        writer.execute_batch("COMMIT").unwrap();
    });
    let row = registry.register(&outcome, None, true).unwrap();
    holder.join().unwrap();
    assert_eq!(registry.list(None).unwrap()[0].version_id, row.version_id);
}

/// A registry in `settings` whose registrations are deferred: `writer` (another process, in
/// effect) holds the write lock, and the registry gives up waiting for it after 10 ms.
fn locked_out(settings: &Settings) -> (Registry, rusqlite::Connection) {
    let registry = Registry::open(settings)
        .unwrap()
        .with_lock_wait(std::time::Duration::from_millis(10));
    let writer = rusqlite::Connection::open(settings.database_path()).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    (registry, writer)
}

/// Registers `outcome` on a locked-out registry; the recovery folder it was kept in.
fn deferred(
    registry: &mut Registry,
    outcome: &TrainOutcome,
    set_latest: bool,
) -> std::path::PathBuf {
    match registry.register(outcome, None, set_latest) {
        Err(Error::RegistrationDeferred { folder, .. }) => folder,
        other => panic!(
            "expected a deferred registration, got {:?}",
            other.map(|r| r.version_id)
        ),
    }
}

#[test]
fn a_run_the_index_cannot_take_is_kept_for_recovery_and_registered_later() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let outcome = quick_outcome();
    // Another process holds the write lock past the busy timeout and the wait.
    let (mut registry, writer) = locked_out(&settings);
    let err = registry.register(&outcome, None, true).unwrap_err();
    let Error::RegistrationDeferred { folder, .. } = &err else {
        panic!("expected a deferred registration, got {err}");
    };
    assert_eq!(err.remedy(), Some(Remedy::Recover), "{err}");
    assert!(Remedy::Recover.cli().contains("atb models recover"));
    assert!(folder.join("weights.safetensors").is_file());
    writer.execute_batch("COMMIT").unwrap();
    assert!(registry.list(None).unwrap().is_empty());
    assert_eq!(registry.verify().unwrap().awaiting_recovery.len(), 1);

    let rows = registry.recover().unwrap().registered;
    assert_eq!(rows.len(), 1);
    assert!(!folder.exists());
    let device = atb_models::burn::prelude::Device::flex();
    let loaded = registry.load("latest", &device).unwrap();
    assert_eq!(loaded.row.version_id, rows[0].version_id);
    assert_eq!(loaded.metadata.version_id, rows[0].version_id);
    let report = registry.verify().unwrap();
    assert_eq!(report.ok.len(), 1, "{report:?}");
    assert!(report.awaiting_recovery.is_empty());
    assert!(registry.recover().unwrap().is_empty());
}

#[test]
fn recovery_takes_each_folder_on_its_own_and_keeps_what_it_cannot_take() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let outcome = quick_outcome();
    let (mut registry, writer) = locked_out(&settings);
    let good = deferred(&mut registry, &outcome, false);
    let damaged = deferred(&mut registry, &outcome, false);
    writer.execute_batch("COMMIT").unwrap();
    // One run's weights altered, and a folder that is no run at all, both sorted before the
    // good one.
    let recovery = home.path().join("recovery");
    let damaged_first = recovery.join("0-damaged");
    std::fs::rename(&damaged, &damaged_first).unwrap();
    let weights = damaged_first.join("weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&weights, bytes).unwrap();
    let junk = recovery.join("0-junk");
    std::fs::create_dir_all(&junk).unwrap();

    let report = registry.recover().unwrap();
    assert_eq!(report.registered.len(), 1, "{report:?}");
    assert!(!good.exists());
    let failed: Vec<&str> = report.failed.iter().map(|f| f.folder.as_str()).collect();
    assert_eq!(
        failed,
        ["recovery/0-damaged", "recovery/0-junk"],
        "{report:?}"
    );
    assert!(report.failed[0].reason.contains("differ"), "{report:?}");
    // Both left where they were, and still reported.
    assert!(damaged_first.is_dir() && junk.is_dir());
    assert_eq!(registry.verify().unwrap().awaiting_recovery.len(), 2);
}

#[test]
fn a_run_killed_after_staging_is_moved_to_recovery_not_deleted() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let outcome = quick_outcome();
    let (mut registry, writer) = locked_out(&settings);
    let folder = deferred(&mut registry, &outcome, true);
    writer.execute_batch("COMMIT").unwrap();
    // Put it where a registration killed after staging leaves it: a temporary folder in its
    // series, named after a process that is gone.
    let series = home.path().join("models/BTCUSDT/1h/tcn");
    std::fs::create_dir_all(&series).unwrap();
    let staged = series.join(".tmp-999999999-7");
    std::fs::rename(&folder, &staged).unwrap();
    // And a half-written one beside it (no pending.json): that one is a leftover.
    let half = series.join(".tmp-999999999-8");
    std::fs::create_dir_all(&half).unwrap();
    let report = registry.verify().unwrap();
    assert_eq!(report.awaiting_recovery.len(), 1, "{report:?}");
    assert_eq!(report.incomplete_writes.len(), 1, "{report:?}");

    let cleared = registry.clear_interrupted().unwrap();
    assert_eq!(
        cleared.kept_for_recovery,
        ["recovery/999999999-7"],
        "{cleared:?}"
    );
    assert_eq!(cleared.removed.len(), 1, "{cleared:?}");
    assert!(!half.exists() && !staged.exists());
    let report = registry.recover().unwrap();
    assert_eq!(report.registered.len(), 1, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    let check = registry.verify().unwrap();
    assert_eq!(check.ok.len(), 1, "{check:?}");
    assert!(check.stray_files.is_empty(), "{check:?}");
}

#[test]
fn an_imported_version_keeps_its_id_and_an_other_version_under_that_id_is_refused() {
    use atb_engine::testing::registry::Imported;
    let (_home, _settings, id, folder) = registered();
    let source = _home.path().join(&folder);
    // Into another registry: the same id, found there the second time.
    let other = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(other.path().to_path_buf(), None).unwrap();
    let mut registry = Registry::open(&settings).unwrap();
    match registry.import_version(&source).unwrap() {
        Imported::New(row) => {
            assert_eq!(row.version_id, id);
            assert!(row.aliases.is_empty(), "an import never moves latest");
        }
        other => panic!("expected a new version, got {other:?}"),
    }
    assert!(matches!(
        registry.import_version(&source).unwrap(),
        Imported::AlreadyPresent(row) if row.version_id == id
    ));
    registry
        .load(&id, &atb_models::burn::prelude::Device::flex())
        .unwrap();
    // Another run's files under the same id: refused, the registered one untouched.
    let forged = tempfile::tempdir().unwrap();
    let outcome = quick_outcome();
    let another = Registry::open(&Settings::resolve(forged.path().join("h"), None).unwrap())
        .unwrap()
        .register(&outcome, None, false)
        .unwrap();
    let forged_dir = forged.path().join("h").join(&another.folder);
    let metadata_path = forged_dir.join("metadata.json");
    let mut metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata_path).unwrap()).unwrap();
    metadata["version_id"] = serde_json::Value::from(id.clone());
    // Other weights for certain (two quick runs can write identical bytes): one byte changed,
    // the metadata's hash made to match it.
    let weights_path = forged_dir.join("weights.safetensors");
    let mut weights = std::fs::read(&weights_path).unwrap();
    let last = weights.len() - 1;
    weights[last] ^= 0x01;
    std::fs::write(&weights_path, &weights).unwrap();
    metadata["weights_sha256"] = serde_json::Value::from(atb_engine::fsutil::sha256_hex(&weights));
    std::fs::write(&metadata_path, serde_json::to_vec(&metadata).unwrap()).unwrap();
    let err = registry.import_version(&forged_dir).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "version {id} is already in this registry with other weights"
        )),
        "{err}"
    );
    // Weights that differ from the metadata's hash are refused before anything is written.
    std::fs::write(forged_dir.join("weights.safetensors"), b"not weights").unwrap();
    let err = registry.import_version(&forged_dir).unwrap_err();
    assert!(err.to_string().contains("SHA-256 mismatch"), "{err}");
    assert_eq!(registry.list(None).unwrap().len(), 1);
}
