//! Sweeps end to end: `atb sweep plan`, `atb worker run`, `atb models import` (hash-checked,
//! idempotent, a tampered bundle refused while the others import), `atb sweep status|report`,
//! the Kubernetes manifest's Job fields, and a real single-node Slurm cluster running a sweep
//! of four trainings as a job array (root only: slurmd runs jobs as their user).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{atb, atb_binary, run};

const NO_NETWORK: &str = "http://127.0.0.1:9";

/// A sweep on 60 days of the sample: quick CPU trainings (one epoch, 48-step windows).
fn sweep_toml(architectures: &str, seeds: &str, extra: &str) -> String {
    format!(
        r#"name = "test sweep"
[series]
symbols = ["BTCUSDT"]
timeframe = "1h"
source = "sample"
days = 60
[models]
architectures = [{architectures}]
variants = ["lightweight"]
seeds = [{seeds}]
[spec]
epochs = 1
sequence_length = 48
device = "cpu"
[resources]
cpus = 1
memory_gb = 1
parallel = 2
{extra}"#
    )
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}"))
}

/// Plans `toml` into `dir/sweep`; returns the manifest.
fn plan(home: &Path, dir: &Path, toml: &str) -> Value {
    let file = dir.join("sweep.toml");
    std::fs::write(&file, toml).unwrap();
    let (code, out, err) = run(atb(home, NO_NETWORK)
        .args(["sweep", "plan"])
        .arg(&file)
        .arg("--out")
        .arg(dir.join("sweep"))
        .arg("--json"));
    assert_eq!(code, 0, "plan failed: {err}");
    json_of(&out)
}

fn worker(home: &Path, sweep: &Path, index: usize) -> (i32, String, String) {
    run(atb(home, NO_NETWORK)
        .args(["worker", "run"])
        .arg(sweep)
        .args(["--index", &index.to_string(), "--out"])
        .arg(sweep.join("results")))
}

fn import(home: &Path, results: &Path) -> (i32, Value, String) {
    let (code, out, err) = run(atb(home, NO_NETWORK)
        .args(["models", "import"])
        .arg(results)
        .arg("--json"));
    (code, json_of(&out), err)
}

fn bundle_version(results: &Path, index: usize) -> String {
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(results.join(format!("job-{index:06}/bundle.json"))).unwrap(),
    )
    .unwrap();
    manifest["version_id"].as_str().unwrap().to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_sweep_is_planned_run_by_workers_and_imported_with_every_hash_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let planner = tmp.path().join("planner");
    let manifest = plan(
        &planner,
        tmp.path(),
        &sweep_toml(r#""tcn", "gbdt""#, "1", ""),
    );
    let sweep = tmp.path().join("sweep");
    let jobs = manifest["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{manifest}");
    // The snapshot is content-addressed: its name is its bytes' SHA-256.
    let snapshot = &manifest["snapshots"][0];
    let bytes = std::fs::read(sweep.join(snapshot["file"].as_str().unwrap())).unwrap();
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(snapshot["sha256"].as_str().unwrap(), sha);
    assert!(
        snapshot["file"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{sha}.csv"))
    );

    // Each worker has its own (empty) home: everything comes from the sweep folder.
    for index in 0..2 {
        let home = tmp.path().join(format!("worker-{index}"));
        let (code, out, err) = worker(&home, &sweep, index);
        assert_eq!(code, 0, "worker {index}: {err}");
        assert!(out.contains(&format!("job {index}: ")), "{out}");
        assert!(
            !home.join("models").exists(),
            "the worker trained in a private home, not ATB_HOME"
        );
    }
    let results = sweep.join("results");
    // Idempotent: a bundle already there is left alone.
    let before = std::fs::read(results.join("job-000000/bundle.json")).unwrap();
    let (code, out, err) = worker(&tmp.path().join("again"), &sweep, 0);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("already done"), "{out}");
    assert_eq!(
        std::fs::read(results.join("job-000000/bundle.json")).unwrap(),
        before
    );
    // No private home is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&results)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".work-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let (code, out, err) = run(atb(&planner, NO_NETWORK)
        .args(["sweep", "status"])
        .arg(&sweep)
        .arg("--json"));
    assert_eq!(code, 0, "{err}");
    let states: Vec<String> = json_of(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["done", "done"]);

    // Home: both imported under their original ids; a second import imports nothing new.
    let home = tmp.path().join("home");
    let (code, report, err) = import(&home, &results);
    assert_eq!(code, 0, "{err} {report}");
    let imported: Vec<&str> = report["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        imported,
        [bundle_version(&results, 0), bundle_version(&results, 1)]
    );
    assert!(imported[0].contains("_sweep-"), "{imported:?}");
    let (code, again, err) = import(&home, &results);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again["imported"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(
        again["already_present"].as_array().unwrap().len(),
        2,
        "{again}"
    );
    // The imported versions load and verify like local ones, with their verdicts.
    let (code, out, err) = run(atb(&home, NO_NETWORK).args(["models", "list", "--json"]));
    assert_eq!(code, 0, "{err}");
    let rows = json_of(&out);
    assert_eq!(rows.as_array().unwrap().len(), 2);
    for row in rows.as_array().unwrap() {
        assert_eq!(row["tag"], "sweep");
        assert!(row["verdict_vs_persistence"].is_object(), "{row}");
        assert!(
            row["aliases"].as_array().unwrap().is_empty(),
            "an import never moves latest"
        );
    }
    let (code, out, err) = run(atb(&home, NO_NETWORK).args(["models", "verify"]));
    assert_eq!(code, 0, "{out} {err}");
    let (code, _, err) =
        run(atb(&home, NO_NETWORK).args(["predict", imported[0], "--source", "sample"]));
    assert_eq!(code, 0, "{err}");

    // The report: both jobs on the same test windows, judged together.
    let (code, out, err) = run(atb(&home, NO_NETWORK)
        .args(["sweep", "report"])
        .arg(&sweep)
        .arg("--json"));
    assert_eq!(code, 0, "{err}");
    let report = json_of(&out);
    assert_eq!(report["imported"], 2, "{report}");
    let group = &report["groups"][0];
    assert_eq!(group["rows"].as_array().unwrap().len(), 2, "{report}");
    assert!(
        group["judged"]["model_confidence_set"].is_object(),
        "{report}"
    );
    for row in group["rows"].as_array().unwrap() {
        assert!(row["in_confidence_set"].is_boolean(), "{row}");
    }

    refuses_tampered_bundles(tmp.path(), &sweep);
}

/// A tampered bundle is refused and named while the other one imports; a job the sweep's
/// manifest no longer pins is refused.
fn refuses_tampered_bundles(tmp: &Path, sweep: &Path) {
    let copy = tmp.join("copy");
    copy_dir(sweep, &copy);
    let weights = copy.join("results/job-000000/version/weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let fresh = tmp.join("fresh");
    let (code, report, _) = import(&fresh, &copy.join("results"));
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["imported"].as_array().unwrap().len(), 1, "{report}");
    let refused = &report["refused"][0];
    assert!(
        refused["bundle"].as_str().unwrap().ends_with("job-000000"),
        "{report}"
    );
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("weights.safetensors differs"),
        "{report}"
    );

    // A job file changed after planning: the bundle no longer matches the sweep's manifest.
    let moved = tmp.join("moved");
    copy_dir(sweep, &moved);
    let manifest_path = moved.join("sweep.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    m["jobs"][1]["sha256"] = Value::from("0".repeat(64));
    std::fs::write(&manifest_path, serde_json::to_vec(&m).unwrap()).unwrap();
    let (code, report, _) = import(&tmp.join("fresh2"), &moved.join("results"));
    assert_eq!(code, 1);
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("differs from the one the sweep's manifest pins"),
        "{report}"
    );
}

/// Plans `file` into `out`, which must be refused (exit 1); returns stderr.
fn plan_refused(home: &Path, file: &Path, out: &Path) -> String {
    let (code, _, err) = run(atb(home, NO_NETWORK)
        .args(["sweep", "plan"])
        .arg(file)
        .arg("--out")
        .arg(out));
    assert_eq!(code, 1, "{err}");
    err
}

#[test]
fn planning_lists_every_problem_before_writing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("sweep.toml");
    let toml = sweep_toml(
        r#""lstm", "ensemble""#,
        "1",
        "[grid]\nbatch_size = [0, 32]\nlearning_rate = [0.001]\n",
    )
    .replace("epochs = 1", "epochs = 1\nsequence_lenght = 48");
    std::fs::write(&file, toml).unwrap();
    let out_dir = tmp.path().join("sweep");
    let err = plan_refused(tmp.path(), &file, &out_dir);
    assert!(
        err.contains("spec.sequence_lenght is not a training field"),
        "{err}"
    );
    assert!(
        !out_dir.exists(),
        "nothing is written when a problem is found"
    );

    // Fields fine, but the ensemble and the zero batch are refused, each named.
    std::fs::write(
        &file,
        sweep_toml(
            r#""lstm", "ensemble""#,
            "1",
            "[grid]\nbatch_size = [0, 32]\n",
        ),
    )
    .unwrap();
    let err = plan_refused(tmp.path(), &file, &out_dir);
    // lstm at batch 0; the ensemble at batch 0 (its batch and its kind) and at batch 32.
    assert!(err.contains("4 problems"), "{err}");
    assert!(
        err.contains("lstm/lightweight return seed 1 batch_size=0: batch size"),
        "{err}"
    );
    assert!(
        err.contains("ensemble is made from registered versions"),
        "{err}"
    );
    assert!(!out_dir.exists());

    // Too little data for the window is found by the same preparation training does.
    std::fs::write(
        &file,
        sweep_toml(r#""lstm""#, "1", "").replace("days = 60", "days = 3"),
    )
    .unwrap();
    let err = plan_refused(tmp.path(), &file, &out_dir);
    assert!(err.contains("cannot be planned (1 problem)"), "{err}");
    assert!(
        !out_dir.exists(),
        "candles are written only once every job has enough"
    );
}

#[test]
fn workers_exit_with_codes_a_scheduler_can_act_on() {
    let tmp = tempfile::tempdir().unwrap();
    plan(tmp.path(), tmp.path(), &sweep_toml(r#""gbdt""#, "1, 2", ""));
    let sweep = tmp.path().join("sweep");
    // No such job: failed (1), with the reason in the results folder.
    let (code, _, err) = worker(tmp.path(), &sweep, 7);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("there is no job 7"), "{err}");
    let reason = std::fs::read_to_string(sweep.join("results/job-000007.failed.txt")).unwrap();
    assert!(reason.starts_with("failed: "), "{reason}");
    // A snapshot changed after planning: failed, naming it.
    let snapshots = sweep.join("candles");
    let snapshot = std::fs::read_dir(&snapshots)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&snapshot).unwrap();
    std::fs::write(&snapshot, text.replacen(",", ";", 3)).unwrap();
    let (code, _, err) = worker(tmp.path(), &sweep, 0);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("differs from the snapshot the job pins"),
        "{err}"
    );
    std::fs::write(&snapshot, text).unwrap();
    // Results that cannot be written (a file where the folder should be): temporary, 75.
    let blocked = tmp.path().join("blocked");
    std::fs::write(&blocked, "not a folder").unwrap();
    let (code, _, err) = run(atb(tmp.path(), NO_NETWORK)
        .args(["worker", "run"])
        .arg(&sweep)
        .args(["--index", "0", "--out"])
        .arg(&blocked));
    assert_eq!(code, 75, "{err}");
    // The index from the scheduler's variable.
    let (code, out, err) = run(atb(tmp.path(), NO_NETWORK)
        .args(["worker", "run"])
        .arg(&sweep)
        .arg("--out")
        .arg(sweep.join("results"))
        .env("JOB_COMPLETION_INDEX", "1"));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("job 1: "), "{out}");
    // Status: job 1 done, job 0 failed with its reason (the snapshot run), job 7 is no job.
    let (_, out, _) = run(atb(tmp.path(), NO_NETWORK)
        .args(["sweep", "status"])
        .arg(&sweep));
    assert!(out.contains("2 job(s): 1 done, 1 failed"), "{out}");
}

#[test]
fn the_kubernetes_route_is_an_indexed_job_over_the_sweep_volume() {
    let tmp = tempfile::tempdir().unwrap();
    plan(
        tmp.path(),
        tmp.path(),
        &sweep_toml(r#""gbdt", "tcn""#, "1, 2, 3", ""),
    );
    let sweep = tmp.path().join("sweep");
    let (code, out, err) = run(atb(tmp.path(), NO_NETWORK)
        .args(["sweep", "submit"])
        .arg(&sweep)
        .args([
            "--executor",
            "kubernetes",
            "--image",
            "registry.example/atb-worker:1",
            "--volume-claim",
            "studies",
        ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kubectl apply -f"), "{out}");
    let job: Value =
        serde_json::from_slice(&std::fs::read(sweep.join("kubernetes/job.json")).unwrap()).unwrap();
    // The fields a batch/v1 Indexed Job must have for this to work.
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    let name = job["metadata"]["name"].as_str().unwrap();
    assert!(
        name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{name}"
    );
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 6);
    assert_eq!(spec["parallelism"], 2);
    assert!(spec["backoffLimitPerIndex"].as_u64().is_some());
    let rule = &spec["podFailurePolicy"]["rules"][0];
    assert_eq!(rule["action"], "FailIndex");
    assert_eq!(rule["onExitCodes"]["values"], serde_json::json!([1]));
    let pod = &spec["template"]["spec"];
    assert_eq!(
        pod["restartPolicy"], "Never",
        "a podFailurePolicy needs restartPolicy Never"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["name"], rule["onExitCodes"]["containerName"]);
    assert_eq!(container["image"], "registry.example/atb-worker:1");
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        command,
        ["atb", "worker", "run", "/sweep", "--out", "/sweep/results"]
    );
    assert_eq!(container["resources"]["requests"]["memory"], "1Gi");
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/sweep");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "studies"
    );
    // The worker finds its index where an Indexed Job puts it (tested in the worker test) and
    // the image the manifest names is built from the repository's Dockerfile.
    let dockerfile = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker/worker.Dockerfile"),
    )
    .unwrap();
    assert!(
        dockerfile.contains("COPY atb /usr/local/bin/atb"),
        "{dockerfile}"
    );
}

/// A private single-node Slurm cluster, stopped when dropped.
struct Slurm {
    dir: PathBuf,
    script: PathBuf,
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = std::process::Command::new(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn a_sweep_runs_on_a_real_slurm_array_and_comes_home() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "skipped: starting slurmd needs root (it runs each job as its user); run the tests as root to include it"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-single-node.sh");
    let cluster = tmp.path().join("slurm");
    let (code, out, err) = run(std::process::Command::new(&script)
        .arg("start")
        .arg(&cluster));
    let slurm = Slurm {
        dir: cluster.clone(),
        script,
    };
    assert_eq!(
        code, 0,
        "the single-node cluster did not start: {out} {err}"
    );
    let conf = slurm.dir.join("slurm.conf");

    let planner = tmp.path().join("planner");
    plan(
        &planner,
        tmp.path(),
        &sweep_toml(r#""tcn""#, "1, 2, 3, 4", ""),
    );
    let sweep = tmp.path().join("sweep");
    let started = Instant::now();
    let (code, out, err) = run(atb(&planner, NO_NETWORK)
        .env("SLURM_CONF", &conf)
        .args(["sweep", "submit"])
        .arg(&sweep)
        .args(["--executor", "slurm", "--atb"])
        .arg(atb_binary()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("submitted Slurm array job"), "{out}");
    let script_text = std::fs::read_to_string(sweep.join("slurm/sweep.sbatch")).unwrap();
    assert!(
        script_text.contains("#SBATCH --array=0-3%2"),
        "{script_text}"
    );
    // Follow it as a user would, until every job has a bundle (or failed).
    let deadline = Instant::now() + Duration::from_secs(900);
    let statuses = loop {
        let (code, out, err) = run(atb(&planner, NO_NETWORK)
            .env("SLURM_CONF", &conf)
            .args(["sweep", "status"])
            .arg(&sweep)
            .arg("--json"));
        assert_eq!(code, 0, "{err}");
        let statuses = json_of(&out);
        let states: Vec<&str> = statuses
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap())
            .collect();
        if states.iter().all(|s| *s == "done" || *s == "failed") {
            break statuses;
        }
        assert!(
            Instant::now() < deadline,
            "the array did not finish in 15 minutes: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let wall = started.elapsed();
    let logs: Vec<String> = (0..4)
        .map(|i| {
            std::fs::read_to_string(sweep.join(format!("logs/job-{i}.log"))).unwrap_or_default()
        })
        .collect();
    for s in statuses.as_array().unwrap() {
        assert_eq!(s["state"], "done", "{s} logs: {logs:?}");
    }
    eprintln!(
        "slurm sweep of 4 trainings: {:.1} s wall",
        wall.as_secs_f64()
    );
    // Home, hash-checked: four versions with verdicts.
    let home = tmp.path().join("home");
    let (code, report, err) = import(&home, &sweep.join("results"));
    assert_eq!(code, 0, "{err} {report}");
    assert_eq!(report["imported"].as_array().unwrap().len(), 4, "{report}");
    let (_, out, _) = run(atb(&home, NO_NETWORK).args(["models", "list", "--json"]));
    let rows = json_of(&out);
    assert_eq!(rows.as_array().unwrap().len(), 4);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["verdict_vs_persistence"].is_object()),
        "{rows}"
    );
    // Submitting again sends nothing: every job has its bundle.
    let (code, out, err) = run(atb(&planner, NO_NETWORK)
        .env("SLURM_CONF", &conf)
        .args(["sweep", "submit"])
        .arg(&sweep)
        .args(["--executor", "slurm"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing to submit"), "{out}");
    drop(slurm);
}

#[test]
fn a_sweep_planned_again_never_takes_the_earlier_plans_bundles_for_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    plan(tmp.path(), tmp.path(), &sweep_toml(r#""gbdt""#, "1", ""));
    let sweep = tmp.path().join("sweep");
    let (code, _, err) = worker(tmp.path(), &sweep, 0);
    assert_eq!(code, 0, "{err}");
    // The same folder, another declaration: job 0 is another training now.
    plan(tmp.path(), tmp.path(), &sweep_toml(r#""gbdt""#, "2", ""));
    let (_, out, _) = run(atb(tmp.path(), NO_NETWORK)
        .args(["sweep", "status"])
        .arg(&sweep));
    assert!(out.contains("holds a bundle of another plan"), "{out}");
    assert!(out.contains("0 done, 1 failed"), "{out}");
    // Named by its sweep folder, the results are checked against the new plan and refused.
    let (code, report, _) = import(&tmp.path().join("home"), &sweep);
    assert_eq!(code, 1, "{report}");
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("belongs to sweep"),
        "{report}"
    );
    // The worker refuses to overwrite it.
    let (code, _, err) = worker(tmp.path(), &sweep, 0);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("holds a bundle of another job"), "{err}");
}
