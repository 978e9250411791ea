//! Every fixture against the reference (crate `nodehttp`), through the
//! embedded adapter running in this process, on the real clock, as the
//! command line runs them: a scenario that fails here fails the test, with
//! the runner's diff.
//!
//! Server scenarios that allow it (`split`, the default) also run with every
//! send cut in two, near its start and in its middle: one transcript must
//! hold however the bytes arrive. Byte-by-byte sends are the CI's
//! `run --split 1` (against the reference and Node alike), and every split
//! point of the parsers is covered by their unit tests and fuzz targets.
//!
//! There is no retry: a run that fails is a failure.

use std::path::{Path, PathBuf};

use nodehttp_conformance::adapter::Adapter;
use nodehttp_conformance::exec::{run_scenario, Split};
use nodehttp_conformance::fixture::{parse_file, Scenario, Side, Step};
use nodehttp_conformance::result::Outcome;
use nodehttp_conformance::run::skip_reason;
use nodehttp_conformance::sections::Sections;
use rstest::rstest;

/// The offsets at which the sends of `s` are cut in two: after the first
/// byte, and in the middle of the longest send.
fn cuts(s: &Scenario) -> Vec<usize> {
    let longest = s
        .wire
        .iter()
        .filter_map(|w| match &w.step {
            Step::Send(bytes) => Some(bytes.len()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let mut cuts = vec![1, longest / 2];
    cuts.retain(|&k| k > 0 && k < longest);
    cuts.dedup();
    cuts
}

/// Runs `scenario` once with `split`; panics with the runner's diff unless
/// it passes.
async fn check(adapter: &mut Adapter, scenario: &Scenario, split: Option<Split>) {
    let (result, _) = run_scenario(adapter, scenario, split).await;
    if result.outcome == Outcome::Pass {
        return;
    }
    let expected: Vec<&str> = result.expected.iter().map(String::as_str).collect();
    let actual: Vec<&str> = result.actual.iter().map(String::as_str).collect();
    let diff = similar::TextDiff::from_slices(&expected, &actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string();
    panic!(
        "{} ({}:{}) with {:?}: {:?}\n{diff}\nstderr:\n{}",
        scenario.id,
        scenario.file.display(),
        scenario.line,
        split,
        result.outcome,
        result.stderr
    );
}

/// Runs every scenario of the fixture file at `path`, strict ones included,
/// and with `splits`, the splittable ones cut in two as well.
fn run_fixture_file(path: &Path, side: Side, splits: bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let scenarios =
        parse_file(path, &text, side, &Sections::embedded()).unwrap_or_else(|e| panic!("{e:?}"));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let mut adapter = Adapter::in_process()
                .await
                .expect("the embedded adapter starts");
            for s in &scenarios {
                if skip_reason(s, &adapter.info, true).is_some() {
                    continue;
                }
                check(&mut adapter, s, None).await;
                if !splits || !s.split {
                    continue;
                }
                for k in cuts(s) {
                    check(&mut adapter, s, Some(Split::At(k))).await;
                }
            }
        });
}

#[rstest]
fn server_fixture_passes_on_the_reference(#[files("../fixtures/server/*.md")] path: PathBuf) {
    run_fixture_file(&path, Side::Server, true);
}

#[rstest]
fn client_fixture_passes_on_the_reference(#[files("../fixtures/client/*.md")] path: PathBuf) {
    run_fixture_file(&path, Side::Client, false);
}
