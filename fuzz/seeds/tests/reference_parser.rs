//! The fixtures, checked on real Node, as an oracle for the reference's
//! sans-IO parser: for every server scenario whose first request Node either
//! refused with a parse error (a `clientError` event carrying an `HPE_*`
//! code) or accepted (a `request` event), the reference parser must agree:
//! same error code, or same method, URL, version, raw headers and body.

use std::path::Path;

use nodehttp_conformance::fixture::{Scenario, Step, Suite};
use nodehttp_conformance::sections::Sections;
use nodehttp_proto::chunked::ChunkedDecoder;
use nodehttp_proto::parse::{parse_request, BodyKind, ParseOptions, RequestHead, Status};
use serde_json::Value;

/// What the reference makes of one message's bytes.
enum Parsed {
    Request(RequestHead, Vec<u8>),
    Error {
        code: &'static str,
        bytes_parsed: Option<usize>,
        in_head: bool,
    },
    Incomplete,
}

fn parse(bytes: &[u8], opts: &ParseOptions) -> Parsed {
    let head = match parse_request(bytes, opts) {
        Ok(Status::Complete(head)) => head,
        Ok(Status::Partial) => return Parsed::Incomplete,
        Err(e) => {
            return Parsed::Error {
                code: e.code(),
                bytes_parsed: e.bytes_parsed(),
                in_head: true,
            }
        }
    };
    let rest = &bytes[head.head_len..];
    let mut body = Vec::new();
    match head.body {
        BodyKind::None => {}
        BodyKind::ContentLength(n) => body.extend_from_slice(&rest[..rest.len().min(n as usize)]),
        BodyKind::UntilEof => body.extend_from_slice(rest),
        BodyKind::Chunked => {
            let mut d = ChunkedDecoder::new(*opts);
            // Node reports no parse error while llhttp's upgrade flag is
            // set: the request stands with what its body gave.
            match d.decode(rest, &mut body) {
                Err(_) if head.upgrade => {}
                Err(e) => {
                    return Parsed::Error {
                        code: e.code(),
                        bytes_parsed: None,
                        in_head: false,
                    }
                }
                Ok(_) => {}
            }
        }
    }
    Parsed::Request(head, body)
}

fn options(s: &Scenario) -> ParseOptions {
    let mut o = ParseOptions::default();
    if let Some(n) = s.options.get("maxHeaderSize").and_then(Value::as_u64) {
        o.max_header_size = n as usize;
    }
    if let Some(b) = s.options.get("insecureHTTPParser").and_then(Value::as_bool) {
        o.insecure = b;
    }
    o
}

/// The bytes of the first send, if the scenario starts with one.
fn first_send(s: &Scenario) -> Option<&[u8]> {
    match s.wire.first().map(|w| &w.step) {
        Some(Step::Send(b)) => Some(b),
        _ => None,
    }
}

#[test]
fn the_reference_parser_agrees_with_node_on_every_fixture_request() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let suite = Suite::load(&dir, &Sections::embedded()).expect("fixtures load");
    let (mut checked, mut failures) = (0, Vec::new());
    for s in &suite.scenarios {
        let Some(bytes) = first_send(s) else { continue };
        let Some(first) = s.events.first() else {
            continue;
        };
        let event = first["event"].as_str().unwrap_or_default();
        let parsed = parse(bytes, &options(s));
        let problem = match (event, &parsed) {
            ("clientError", _)
                if !first["code"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("HPE_") =>
            {
                continue
            }
            (
                "clientError",
                Parsed::Error {
                    code,
                    bytes_parsed,
                    in_head,
                },
            ) => {
                let want = first["code"].as_str().unwrap_or_default();
                let want_at = first
                    .get("bytesParsed")
                    .and_then(Value::as_u64)
                    .map(|n| n as usize);
                if *code != want {
                    Some(format!("Node: {want}, reference: {code}"))
                } else if *in_head && want_at.is_some() && want_at != *bytes_parsed {
                    Some(format!(
                        "{code}: Node's bytesParsed {want_at:?}, reference {bytes_parsed:?}"
                    ))
                } else {
                    None
                }
            }
            ("clientError", Parsed::Request(h, _)) => Some(format!(
                "Node: {}, reference accepted {} {}",
                first["code"], h.method, h.url
            )),
            // Node answers an unknown expectation itself (417), with no event:
            // the first event is then about a later message.
            ("request", Parsed::Request(h, _))
                if !s.listeners.contains_key("checkExpectation")
                    && h.headers.iter().any(|(n, v)| {
                        n.eq_ignore_ascii_case("expect") && !v.eq_ignore_ascii_case("100-continue")
                    }) =>
            {
                continue
            }
            (
                "request" | "checkContinue" | "checkExpectation" | "connect" | "upgrade",
                Parsed::Request(h, body),
            ) => {
                let version = format!("{}.{}", h.version.0, h.version.1);
                let raw: Vec<Value> = h
                    .headers
                    .iter()
                    .flat_map(|(n, v)| [n.into(), v.into()])
                    .collect();
                let mut diffs = Vec::new();
                for (field, got) in [
                    ("method", Value::from(h.method)),
                    ("url", h.url.clone().into()),
                    ("httpVersion", version.into()),
                    ("rawHeaders", raw.into()),
                ] {
                    if let Some(want) = first.get(field) {
                        if *want != got {
                            diffs.push(format!("{field}: Node {want}, reference {got}"));
                        }
                    }
                }
                // The body, when the scenario shows it and sends it all at once.
                let end = s.events.iter().find(|e| e["event"] == "end");
                let sends = s
                    .wire
                    .iter()
                    .filter(|w| matches!(w.step, Step::Send(_)))
                    .count();
                // A body read through setEncoding() is decoded text, not
                // the bytes.
                let decoded = s
                    .handler
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|steps| {
                        steps.iter().any(|step| {
                            step[0]
                                .as_str()
                                .is_some_and(|call| call.starts_with("req.setEncoding"))
                        })
                    });
                if let (Some(want), "request", 1, false) =
                    (end.and_then(|e| e.get("body")), event, sends, decoded)
                {
                    let got: String = body.iter().map(|&b| b as char).collect();
                    if want.as_str().is_some_and(|w| !w.is_empty() && w != got) {
                        diffs.push(format!("body: Node {want}, reference {got:?}"));
                    }
                }
                (!diffs.is_empty()).then(|| diffs.join("; "))
            }
            // The head parsed and the body failed: Node emitted the request
            // before its parser met the error.
            (
                "request" | "checkContinue" | "checkExpectation",
                Parsed::Error { in_head: false, .. },
            ) => continue,
            ("request" | "checkContinue" | "checkExpectation", Parsed::Error { code, .. }) => {
                Some(format!("Node accepted the request, reference: {code}"))
            }
            _ => continue,
        };
        checked += 1;
        if let Some(p) = problem {
            failures.push(format!("{} ({}:{}): {p}", s.id, s.file.display(), s.line));
        }
    }
    assert!(checked >= 100, "only {checked} scenarios checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
