//! Comparing what happened with what a scenario expects: date masking, event
//! selection and field-subset matching, and their transcripts.

use std::sync::OnceLock;

use regex::bytes::Regex;
use serde_json::{Map, Value};

use crate::fixture::{
    Expected, SendPiece, Step, CLIENT_EVENTS, CORE_EVENTS, DATE_LEN, DATE_MASK, PORT_MARK,
};

fn date_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        )
        .expect("valid regex")
    })
}

/// Replaces every IMF-fixdate in `bytes` with `{{date}}`.
pub fn mask_dates(bytes: &[u8]) -> Vec<u8> {
    date_regex()
        .replace_all(bytes, DATE_MASK.as_bytes())
        .into_owned()
}

/// Bytes as transcript lines: `prefix text` per line, as in a `wire` block.
pub fn transcript_lines(prefix: char, bytes: &[u8]) -> Vec<String> {
    crate::escape::escape_lines(bytes)
        .into_iter()
        .map(|l| {
            if l.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix} {l}")
            }
        })
        .collect()
}

/// The text an expectation is compared with (dates as `{{date}}`), and the
/// number of bytes it stands for on the wire. `{{port}}` is replaced by
/// `port` when given.
pub fn expected_text(pieces: &[Expected]) -> (Vec<u8>, usize) {
    expected_text_with(pieces, None)
}

/// [`expected_text`], with `{{port}}` replaced by `port` when given.
pub fn expected_text_with(pieces: &[Expected], port: Option<u16>) -> (Vec<u8>, usize) {
    let mut text = Vec::new();
    let mut len = 0;
    for p in pieces {
        match p {
            Expected::Port => {
                let shown = port.map_or_else(|| PORT_MARK.to_owned(), |p| p.to_string());
                text.extend_from_slice(shown.as_bytes());
                len += shown.len();
            }
            Expected::Bytes(b) => {
                text.extend_from_slice(b);
                len += b.len();
            }
            Expected::Date => {
                text.extend_from_slice(DATE_MASK.as_bytes());
                len += DATE_LEN;
            }
            Expected::WsKey => {
                text.extend_from_slice(crate::wsframe::WS_KEY.as_bytes());
                len += crate::wsframe::WS_KEY_LEN;
            }
        }
    }
    (text, len)
}

/// The expected-transcript lines of a step, without running it.
pub fn describe(step: &Step) -> Vec<String> {
    let render = transcript_lines;
    match step {
        Step::Send(b) => render('>', b),
        Step::SendFrames(pieces) => pieces
            .iter()
            .flat_map(|p| match p {
                SendPiece::Bytes(b) => render('>', b),
                SendPiece::Frame(f) => vec![format!("> {}", f.render(true))],
            })
            .collect(),
        Step::ExpectFrame(f) => vec![format!("< {}", f.render(false))],
        Step::WebSocket(n) => vec![format!("! websocket {n}")],
        Step::WsRequest => vec!["! ws-request".into()],
        Step::Expect(pieces) => render('<', &expected_text(pieces).0),
        Step::Pause(d) => vec![format!("! pause {}", d.as_millis())],
        Step::Shutdown => vec!["! shutdown".into()],
        Step::Close => vec!["! close".into()],
        Step::Reset => vec!["! reset".into()],
        Step::ClosedWithin(d) => vec![format!("! closed within {}", d.as_millis())],
        Step::OpenFor(d) => vec![format!("! open for {}", d.as_millis())],
        Step::Connect(n) => vec![format!("! connect {n}")],
        Step::ConnectRefused(n) => vec![format!("! connect {n} refused")],
        Step::Accept(n) => vec![format!("! accept {n}")],
        Step::Request(n) => vec![format!("! request {n}")],
        Step::Agent(n) => vec![format!("! agent {n}")],
        Step::Use(n) => vec![format!("! use {n}")],
        Step::Signal(n) => vec![format!("! signal {n}")],
        Step::Event(n) => vec![format!("! event {n}")],
        Step::Call {
            target,
            name,
            method,
            args,
            report,
        } => {
            let shown = if args.is_empty() {
                String::new()
            } else {
                format!(" {}", Value::Array(args.clone()))
            };
            let name = name.as_ref().map(|n| format!("{n}.")).unwrap_or_default();
            let q = if *report { "?" } else { "" };
            vec![format!("! call {target}.{name}{method}{q}{shown}")]
        }
    }
}

fn name(e: &Map<String, Value>) -> &str {
    e.get("event").and_then(Value::as_str).unwrap_or("")
}

/// The actual events a scenario compares: core events, and the others the
/// scenario names at least once.
pub fn relevant<'a>(
    expected: &[Map<String, Value>],
    actual: &'a [Map<String, Value>],
) -> Vec<&'a Map<String, Value>> {
    actual
        .iter()
        .filter(|a| {
            let n = name(a);
            CORE_EVENTS.contains(&n)
                || CLIENT_EVENTS.contains(&n)
                || expected.iter().any(|e| name(e) == n)
        })
        .collect()
}

/// Whether `actual` has every field of `expected`, each equal.
pub fn event_matches(expected: &Map<String, Value>, actual: &Map<String, Value>) -> bool {
    expected.iter().all(|(k, v)| actual.get(k) == Some(v))
}

/// One event as a transcript line. When `shape` is given and names the same
/// event, only its fields are shown (in its order), so that the diff shows
/// just what the scenario checks.
pub fn event_line(actual: &Map<String, Value>, shape: Option<&Map<String, Value>>) -> String {
    match shape {
        Some(s) if name(s) == name(actual) => {
            let mut m = Map::new();
            for k in s.keys() {
                if let Some(v) = actual.get(k) {
                    m.insert(k.clone(), v.clone());
                }
            }
            shown(&Value::Object(m))
        }
        _ => shown(&Value::Object(actual.clone())),
    }
}

/// Runs of one character at least this long are shown `{{c*N}}` in the
/// events of a transcript (fixtures write them so).
pub const EVENT_RUN: usize = 1024;

/// An event as a transcript line: JSON, with runs of [`EVENT_RUN`] or more
/// copies of one character in a string written `{{c*N}}`.
pub fn shown(v: &Value) -> String {
    fn compact(v: &Value) -> Value {
        match v {
            Value::String(s) if s.len() >= EVENT_RUN => {
                let mut out = String::new();
                let chars: Vec<char> = s.chars().collect();
                let mut i = 0;
                while i < chars.len() {
                    let c = chars[i];
                    let run = chars[i..].iter().take_while(|&&x| x == c).count();
                    if run >= EVENT_RUN && !matches!(c, '{' | '}' | '*') {
                        out.push_str(&format!("{{{{{c}*{run}}}}}"));
                    } else {
                        out.extend(std::iter::repeat_n(c, run));
                    }
                    i += run;
                }
                Value::String(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(compact).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), compact(x))).collect())
            }
            other => other.clone(),
        }
    }
    compact(v).to_string()
}

/// The events part of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventComparison {
    /// Expected lines (header line, then one line per event).
    pub expected: Vec<String>,
    /// Actual lines, projected on the expected fields where names align.
    pub actual: Vec<String>,
    /// The first difference, if any: the index of the expected event it is
    /// about (`expected.len()` for an extra event) and what differs.
    pub failure: Option<(usize, String)>,
}

/// Compares the expected events with the relevant actual ones, in order.
pub fn compare_events(
    expected: &[Map<String, Value>],
    all_actual: &[Map<String, Value>],
) -> EventComparison {
    let actual = relevant(expected, all_actual);
    let mut out = EventComparison {
        expected: vec!["# events".into()],
        actual: vec!["# events".into()],
        failure: None,
    };
    for (i, e) in expected.iter().enumerate() {
        out.expected.push(shown(&Value::Object(e.clone())));
        match actual.get(i) {
            Some(a) => {
                out.actual.push(event_line(a, Some(e)));
                if out.failure.is_none() && !event_matches(e, a) {
                    out.failure = Some((
                        i,
                        if name(e) == name(a) {
                            format!("event {} (`{}`) differs", i + 1, name(e))
                        } else {
                            format!("event {}: expected `{}`, got `{}`", i + 1, name(e), name(a))
                        },
                    ));
                }
            }
            None => {
                if out.failure.is_none() {
                    out.failure = Some((
                        i,
                        format!("event {} (`{}`) was not reported", i + 1, name(e)),
                    ));
                }
            }
        }
    }
    for (i, a) in actual.iter().enumerate().skip(expected.len()) {
        out.actual.push(event_line(a, None));
        if out.failure.is_none() {
            out.failure = Some((
                expected.len(),
                format!("unexpected event {} (`{}`)", i + 1, name(a)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn masks_imf_fixdates_only() {
        let raw =
            b"HTTP/1.1 200 OK\r\nDate: Thu, 26 Nov 2026 14:56:53 GMT\r\nX: Thu, 26 Nov 26\r\n";
        assert_eq!(
            mask_dates(raw),
            b"HTTP/1.1 200 OK\r\nDate: {{date}}\r\nX: Thu, 26 Nov 26\r\n".to_vec()
        );
        assert_eq!(mask_dates(b"no date"), b"no date".to_vec());
    }

    #[test]
    fn fields_not_written_are_not_compared() {
        let e = obj(json!({"event": "request", "method": "GET"}));
        let a = obj(json!({"event": "request", "method": "GET", "url": "/x"}));
        assert!(event_matches(&e, &a));
        let wrong = obj(json!({"event": "request", "method": "POST"}));
        assert!(!event_matches(&e, &wrong));
        let missing = obj(json!({"event": "request"}));
        assert!(!event_matches(&e, &missing));
    }

    #[test]
    fn objects_ignore_key_order_arrays_do_not() {
        let e = obj(
            json!({"event": "request", "headers": {"a": "1", "b": "2"}, "rawHeaders": ["A", "1", "B", "2"]}),
        );
        let a = obj(
            json!({"event": "request", "headers": {"b": "2", "a": "1"}, "rawHeaders": ["A", "1", "B", "2"]}),
        );
        assert!(event_matches(&e, &a));
        let swapped = obj(
            json!({"event": "request", "headers": {"a": "1", "b": "2"}, "rawHeaders": ["B", "2", "A", "1"]}),
        );
        assert!(!event_matches(&e, &swapped));
    }

    #[test]
    fn other_events_count_only_when_named() {
        let actual = vec![
            obj(json!({"event": "connection"})),
            obj(json!({"event": "request"})),
            obj(json!({"event": "res.finish"})),
            obj(json!({"event": "end"})),
        ];
        let plain = vec![
            obj(json!({"event": "request"})),
            obj(json!({"event": "end"})),
        ];
        assert_eq!(compare_events(&plain, &actual).failure, None);
        let with_finish = vec![
            obj(json!({"event": "request"})),
            obj(json!({"event": "end"})),
            obj(json!({"event": "res.finish"})),
        ];
        assert_eq!(
            compare_events(&with_finish, &actual).failure,
            Some((1, "event 2: expected `end`, got `res.finish`".into()))
        );
    }

    #[test]
    fn missing_and_extra_events_fail() {
        let actual = vec![obj(json!({"event": "request"}))];
        let none: Vec<Map<String, Value>> = vec![];
        let c = compare_events(&none, &actual);
        assert_eq!(
            c.failure,
            Some((0, "unexpected event 1 (`request`)".into()))
        );
        assert_eq!(c.actual, vec!["# events", r#"{"event":"request"}"#]);
        let two = vec![
            obj(json!({"event": "request"})),
            obj(json!({"event": "end", "complete": true})),
        ];
        let c = compare_events(&two, &actual);
        assert_eq!(
            c.failure,
            Some((1, "event 2 (`end`) was not reported".into()))
        );
    }

    #[test]
    fn actual_lines_are_projected_on_expected_fields() {
        let e = obj(json!({"event": "request", "url": "/"}));
        let a = obj(json!({"event": "request", "method": "GET", "url": "/a"}));
        assert_eq!(
            event_line(&a, Some(&e)),
            r#"{"event":"request","url":"/a"}"#
        );
        assert_eq!(
            event_line(&a, None),
            r#"{"event":"request","method":"GET","url":"/a"}"#
        );
    }
}
