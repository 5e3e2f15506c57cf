//! A seed makes a CPU run repeatable. Alone in its own test binary: Burn's CPU random source is
//! shared by the whole process, so concurrent runs (other tests) would draw from it in between.

mod common;
use common::{params, sample_tail};

use atb_engine::testing::training::{CancelToken, TrainSpec, train};
use atb_models::{Architecture, Variant};

#[test]
fn the_same_seed_gives_the_same_cpu_run() {
    let series = sample_tail(1_200);
    let run = |seed| {
        let p = TrainSpec {
            seed,
            ..params(Architecture::Tcn, Variant::Lightweight, 2)
        };
        train(
            &series,
            &p.clone().check().unwrap(),
            &mut |_| {},
            &CancelToken::new(),
        )
        .unwrap()
        .history
    };
    let (a, b, c) = (run(7), run(7), run(8));
    let losses = |h: &Vec<atb_protocol::training::EpochRecord>| {
        h.iter()
            .map(|e| (e.train_loss, e.val_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&a), losses(&b));
    assert_ne!(losses(&a), losses(&c));
}
