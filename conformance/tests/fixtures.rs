//! Every fixture file parses, and every scenario keeps the suite's rules.

use std::path::{Path, PathBuf};

use nodehttp_conformance::fixture::{parse_file, Side, Step, Suite, Version};
use nodehttp_conformance::sections::Sections;
use rstest::rstest;

fn joined(errors: Vec<nodehttp_conformance::fixture::FixtureError>) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

#[rstest]
fn server_fixture_file_parses(#[files("../fixtures/server/*.md")] path: PathBuf) {
    let text = std::fs::read_to_string(&path).unwrap();
    let scenarios = parse_file(&path, &text, Side::Server, &Sections::embedded())
        .unwrap_or_else(|e| panic!("{}", joined(e)));
    assert!(
        !scenarios.is_empty(),
        "{} holds no scenario",
        path.display()
    );
    for s in &scenarios {
        assert!(
            s.rule.trim_end().ends_with('.'),
            "{}: the rule is one sentence ending in a period",
            s.id
        );
        assert!(!s.title.is_empty(), "{}: a scenario has a title", s.id);
        // Timing belongs to the runner: a scenario that waits for seconds
        // would make the suite slow; none needs to.
        for w in &s.wire {
            if let Step::Pause(d) | Step::OpenFor(d) | Step::ClosedWithin(d) = &w.step {
                assert!(
                    d.as_millis() <= 3000,
                    "{}: line {} waits {} ms",
                    s.id,
                    w.line,
                    d.as_millis()
                );
            }
        }
    }
}

#[rstest]
fn client_fixture_file_parses(#[files("../fixtures/client/*.md")] path: PathBuf) {
    let text = std::fs::read_to_string(&path).unwrap();
    let scenarios = parse_file(&path, &text, Side::Client, &Sections::embedded())
        .unwrap_or_else(|e| panic!("{}", joined(e)));
    assert!(
        !scenarios.is_empty(),
        "{} holds no scenario",
        path.display()
    );
    for s in &scenarios {
        assert!(
            s.rule.trim_end().ends_with('.'),
            "{}: the rule is one sentence ending in a period",
            s.id
        );
        assert!(
            !s.requests.is_empty() || !s.websockets.is_empty(),
            "{}: a client scenario issues requests or opens WebSockets",
            s.id
        );
        if !s.websockets.is_empty() {
            assert!(
                s.since.is_some_and(|v| v >= Version(22, 5, 0)),
                "{}: http.WebSocket came in Node 22.5.0 (since)",
                s.id
            );
        }
        for w in &s.wire {
            if let Step::Pause(d) | Step::OpenFor(d) | Step::ClosedWithin(d) = &w.step {
                assert!(
                    d.as_millis() <= 3000,
                    "{}: line {} waits {} ms",
                    s.id,
                    w.line,
                    d.as_millis()
                );
            }
        }
    }
}

#[test]
fn the_whole_suite_loads_with_unique_ids() {
    let suite =
        Suite::load(&fixtures(), &Sections::embedded()).unwrap_or_else(|e| panic!("{}", joined(e)));
    assert!(
        suite.scenarios.len() >= 80,
        "{} scenarios",
        suite.scenarios.len()
    );
    // A section marked untestable has no scenario: one or the other.
    for s in &suite.scenarios {
        for a in &s.anchors {
            if let Some(why) = suite.untestable.get(a) {
                assert!(
                    a != s.section(),
                    "{} is filed under {a}, marked untestable ({why})",
                    s.id
                );
            }
        }
    }
}

#[test]
fn the_embedded_sections_are_the_spec_sections() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/sections.tsv");
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(
            text,
            include_str!("../../fixtures/sections.tsv"),
            "fixtures/sections.tsv is stale"
        );
    }
}
