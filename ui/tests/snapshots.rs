//! Image snapshots of the main screens, rendered with wgpu (on CI: Mesa's software Vulkan).
//! Regenerate after an intended UI change with `UPDATE_SNAPSHOTS=1 cargo test -p atb-ui`.

use atb_protocol::desktop::RunSnapshot;
use atb_ui::backend::Reply;
use atb_ui::fake::{FakeBackend, sample_epoch, sample_finish, sample_run_started};
use atb_ui::{AtbApp, Screen};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn click(h: &mut Harness<'static, AtbApp>, role: Role, label: &str) {
    h.get_by_role_and_label(role, label).click();
    h.run();
}

#[test]
fn main_screens() {
    let fake = FakeBackend::with_sample_models();
    let app = AtbApp::new(Box::new(fake.clone()));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 860.0))
        .wgpu()
        .build_ui_state(|ui, app: &mut AtbApp| app.ui(ui), app);
    h.run();

    // Train, mid-run with three of six epochs streamed, then finished.
    fake.push(Reply::RunSnapshot(Some(RunSnapshot {
        run_id: 1,
        request: Default::default(),
        updates: std::iter::once(sample_run_started(6))
            .chain((1..=3).flat_map(|e| sample_epoch(e, 6)))
            .collect(),
        active: true,
    })));
    h.run();
    h.snapshot("train_running");
    for u in (4..=6)
        .flat_map(|e| sample_epoch(e, 6))
        .chain(sample_finish(6))
    {
        fake.push(Reply::Run(u));
    }
    h.run();
    h.snapshot("train_finished");

    click(&mut h, Role::Button, "Data");
    click(&mut h, Role::Button, "Show chart");
    h.snapshot("data");

    click(&mut h, Role::Button, "Models");
    // Ticking rows by clicking is covered in screens.rs; here only the picture matters.
    for v in ["BTCUSDT_1h_20240101_120000", "BTCUSDT_1h_20240102_120000"] {
        h.state_mut().state.models.selected.insert(v.into());
    }
    h.run();
    click(&mut h, Role::Button, "Compare selected (2)");
    click(&mut h, Role::Button, "Judge together");
    h.snapshot("models_compare");

    click(&mut h, Role::Link, "BTCUSDT_1h_20240102_120000");
    assert_eq!(h.state().state.screen, Screen::Detail);
    click(&mut h, Role::Button, "Forecast next close");
    h.snapshot("model_detail");

    click(&mut h, Role::Button, "Guide");
    h.snapshot("guide");

    click(&mut h, Role::Button, "Benchmark");
    click(&mut h, Role::Button, "Run benchmark");
    h.snapshot("benchmark");

    // The guide again, now judging the claims by the benchmark's corrected tests.
    click(&mut h, Role::Button, "Guide");
    h.snapshot("guide_judged");
    click(&mut h, Role::Button, "Benchmark");

    click(&mut h, Role::Button, "Registry");
    click(&mut h, Role::Button, "Check registry");
    click(&mut h, Role::Button, "Validate all");
    h.snapshot("registry");
}
