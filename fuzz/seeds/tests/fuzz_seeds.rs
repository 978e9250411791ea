//! The fuzz targets (`nodehttp_fuzzing`, crate fuzz/harness, run by libFuzzer from `fuzz/`) on
//! their seed corpus: every fixture's request and response bytes, and the
//! minimised finds kept in `fuzz/regressions/<target>/`. A find that
//! panicked once must pass here for good.

use std::path::{Path, PathBuf};

use nodehttp_conformance::fixture::Suite;
use nodehttp_conformance::sections::Sections;
use nodehttp_fuzz_seeds as corpus;
use nodehttp_fuzzing::{self as fuzzing, TARGETS};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn exchanges() -> Vec<corpus::Exchange> {
    let suite = Suite::load(&fixtures(), &Sections::embedded()).expect("the fixtures load");
    let e = corpus::exchanges(&suite);
    assert!(e.len() > 100, "only {} scenarios with requests", e.len());
    e
}

#[test]
fn request_targets_pass_on_every_fixture_request() {
    for e in exchanges() {
        fuzzing::parse_request(&e.request);
        fuzzing::chunked_decoder(&e.request);
        fuzzing::connection(&fuzzing::connection_input(&e.request));
        // The headers and validators targets read the bytes as arbitrary input.
        fuzzing::headers(&e.request);
        fuzzing::validators(&e.request);
    }
}

#[test]
fn response_target_passes_on_every_fixture_response() {
    for e in exchanges() {
        fuzzing::parse_response(&e.response);
    }
}

#[test]
fn client_target_passes_on_every_fixture_response() {
    let all = exchanges();
    let client = all
        .iter()
        .filter(|e| e.name.starts_with("client__"))
        .count();
    assert!(client > 50, "only {client} client scenarios with requests");
    for e in &all {
        let methods: Vec<&str> = e.methods.iter().map(String::as_str).collect();
        if e.name.starts_with("client__") {
            assert!(!methods.is_empty(), "{}: no request parses", e.name);
        }
        fuzzing::client_connection(&fuzzing::client_connection_input(&e.response, &methods));
    }
}

#[test]
fn websocket_target_passes_on_every_fixture_frames() {
    let all = exchanges();
    let frames: Vec<_> = all.iter().filter(|e| !e.frames.is_empty()).collect();
    assert!(
        frames.len() >= 60,
        "only {} WebSocket scenarios send frames",
        frames.len()
    );
    // The handshake answers open with the fixed key's accept.
    let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    let ping = all
        .iter()
        .find(|e| e.name == "client__websocket__ping-empty")
        .expect("the scenario exists");
    assert!(ping.response.starts_with(head), "{:?}", ping.response);
    assert_eq!(ping.frames, b"\x89\x00");
    for e in frames {
        fuzzing::websocket_frames(&e.frames);
    }
}

#[test]
fn every_kept_find_passes_its_target() {
    let found = corpus::regressions(&corpus::regressions_dir(&fixtures())).expect("readable");
    for (target, name, bytes) in &found {
        let (_, run) = TARGETS
            .iter()
            .find(|(t, _)| t == target)
            .unwrap_or_else(|| panic!("fuzz/regressions/{target}: no such target"));
        eprintln!("{target}/{name}");
        run(bytes);
    }
}

#[test]
fn the_corpus_command_writes_requests_responses_and_seeds() {
    let out = std::env::temp_dir().join(format!("nodehttp-corpus-{}", std::process::id()));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_nodehttp-fuzz-seeds"))
        .arg("--out")
        .arg(&out)
        .arg("--fixtures")
        .arg(fixtures())
        .status()
        .expect("runs");
    assert!(status.success());
    let request = std::fs::read(out.join("requests/server__messageheaders__duplicates-joined"));
    let count = |sub: &str| std::fs::read_dir(out.join(sub)).map_or(0, |d| d.count());
    let (requests, seeds) = (count("requests"), count("seeds/connection"));
    let differential = count("differential");
    let websocket = count("seeds/websocket_frames");
    let (responses, client_seeds) = (count("responses"), count("seeds/client_connection"));
    std::fs::remove_dir_all(&out).expect("removable");
    assert!(
        requests > 100 && requests == seeds,
        "{requests} requests, {seeds} seeds"
    );
    assert!(
        responses > 100 && responses == client_seeds,
        "{responses} responses, {client_seeds} client seeds"
    );
    assert!(websocket >= 60, "{websocket} WebSocket seeds");
    // The differential finds with Node's answers, in pairs.
    assert!(
        differential >= 80 && differential % 2 == 0,
        "{differential} differential files"
    );
    assert!(request.is_ok_and(|r| r.starts_with(b"GET ")) || requests > 100);
}
