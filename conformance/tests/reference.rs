//! Every server fixture against the reference server (crate `nodehttp`),
//! through the embedded adapter running in this process.
//!
//! Each scenario runs as written, with every send written byte by byte,
//! and with every send cut in two at each offset: one transcript must hold
//! for every way the bytes arrive (llparse-test-fixture's rule). Time is
//! tokio's paused clock: timeouts of hundreds of milliseconds elapse at once
//! when nothing else can happen, while the sockets are real (127.0.0.1).
//!
//! Paused time and real sockets have one race: when the kernel hands a
//! loopback packet to its softirq thread instead of delivering it at once,
//! the runtime can see itself idle and move the clock on. So a run that
//! fails under paused time is run again on the real clock, and only a
//! failure there fails the test: the real clock is what the CLI uses.
//!
//! The reference's transcript of every fixture file is kept as an insta
//! snapshot (`tests/snapshots/`), dates masked, so any change of behaviour
//! shows in review.

use std::path::{Path, PathBuf};

use nodehttp_conformance::adapter::Adapter;
use nodehttp_conformance::exec::{run_scenario, Split};
use nodehttp_conformance::fixture::{parse_file, Scenario, Side, Step};
use nodehttp_conformance::result::Outcome;
use nodehttp_conformance::run::skip_reason;
use nodehttp_conformance::sections::Sections;
use rstest::rstest;

/// Sends up to this long are cut in two at every offset; longer ones (the
/// heads of 16 KiB that check `maxHeaderSize`) at this many offsets spread
/// evenly, plus the last bytes, so that a scenario stays under a second and
/// the run does not exhaust the ephemeral ports.
const EVERY_CUT_UP_TO: usize = 512;

/// The offsets at which the sends of `s` are cut in two.
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
    if longest <= EVERY_CUT_UP_TO {
        return (1..longest).collect();
    }
    let step = longest / EVERY_CUT_UP_TO;
    let mut cuts: Vec<usize> = (1..longest).step_by(step).collect();
    cuts.extend(longest.saturating_sub(16)..longest);
    cuts.dedup();
    cuts
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

fn real_time_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Runs `scenario` once with `split` under paused time; a failure is
/// confirmed on the real clock (see the module docs), and panics with the
/// runner's diff.
async fn check(adapter: &mut Adapter, scenario: &Scenario, split: Option<Split>) -> Vec<String> {
    let (result, _) = run_scenario(adapter, scenario, split).await;
    if result.outcome == Outcome::Pass {
        return result.actual;
    }
    let scenario2 = scenario.clone();
    let result = std::thread::spawn(move || {
        real_time_runtime().block_on(async {
            let mut adapter = Adapter::in_process()
                .await
                .expect("the embedded adapter starts");
            run_scenario(&mut adapter, &scenario2, split).await.0
        })
    })
    .join()
    .expect("the real-time run");
    if result.outcome != Outcome::Pass {
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
    result.actual
}

/// Runs every scenario of the fixture file at `path` (sends split too when
/// `splits` and the scenario allows it) and snapshots the transcripts in
/// `tests/snapshots/{dir}/`.
fn run_fixture_file(path: &Path, side: Side, splits: bool, dir: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let scenarios =
        parse_file(path, &text, side, &Sections::embedded()).unwrap_or_else(|e| panic!("{e:?}"));
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let folder = path
        .parent()
        .and_then(Path::file_name)
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    paused_runtime().block_on(async {
        let mut adapter = Adapter::in_process().await.expect("the embedded adapter starts");
        let mut snapshot = String::new();
        for s in &scenarios {
            if let Some(why) = skip_reason(s, &adapter.info, true) {
                snapshot.push_str(&format!("## {}\n\nskipped: {why}\n\n", s.id));
                continue;
            }
            let transcript = check(&mut adapter, s, None).await;
            snapshot.push_str(&format!("## {}\n\n", s.id));
            for line in &transcript {
                snapshot.push_str(line);
                snapshot.push('\n');
            }
            snapshot.push('\n');
            if !splits || !s.split {
                continue;
            }
            check(&mut adapter, s, Some(Split::Pieces(1))).await;
            for k in cuts(s) {
                check(&mut adapter, s, Some(Split::At(k))).await;
            }
        }
        insta::with_settings!({
            snapshot_path => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(dir),
            prepend_module_to_snapshot => false,
            description => format!("the reference's transcript of fixtures/{folder}/{name}.md"),
        }, {
            insta::assert_snapshot!(name, snapshot);
        });
    });
}

#[rstest]
fn server_fixture_passes_on_the_reference(#[files("../fixtures/server/*.md")] path: PathBuf) {
    run_fixture_file(&path, Side::Server, true, "reference");
}

/// Every client fixture against the reference client, whole, under paused
/// time (a failure is confirmed on the real clock, as above); the
/// transcripts are kept in `tests/snapshots/reference_client/`.
#[rstest]
fn client_fixture_passes_on_the_reference(#[files("../fixtures/client/*.md")] path: PathBuf) {
    run_fixture_file(&path, Side::Client, false, "reference_client");
}
