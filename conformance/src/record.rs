//! The fixture recorder: writes what an implementation did in a scenario
//! (the bytes it sent, how its connections ended, its events) into the
//! scenario's `wire` and `events` blocks, for review in the diff, as insta
//! does for snapshots.
//!
//! Real Node is the oracle: the command line refuses to record from the
//! embedded reference. What is written is what happened, not what the
//! documentation says: a reviewer reads the diff against the spec.

use serde_json::{Map, Value};

use crate::exec::Recording;
use crate::fixture::{Scenario, Step, CLIENT_EVENTS, CORE_EVENTS};

/// The fields written for an event the scenario did not list yet (all of
/// them for an event not named here); an event it lists keeps its fields.
fn default_fields(event: &str) -> Option<&'static [&'static str]> {
    Some(match event {
        "request" | "checkContinue" | "checkExpectation" => &["method", "url", "headers"],
        "connect" | "upgrade" => &["request", "method", "url", "headers", "statusCode", "head"],
        "end" => &["body", "complete", "trailers"],
        "response" => &["request", "statusCode", "statusMessage", "headers"],
        "response.end" => &["request", "body", "complete", "trailers"],
        "information" => &["request", "statusCode", "headers"],
        "ws.open" => &["websocket", "protocol", "extensions"],
        "ws.message" => &["websocket", "dataType", "data"],
        "ws.error" => &["websocket", "message", "readyState"],
        "ws.close" => &["websocket", "code", "reason", "wasClean"],
        _ => return None,
    })
}

fn name(e: &Map<String, Value>) -> &str {
    e.get("event").and_then(Value::as_str).unwrap_or("")
}

/// The events to write: those the runner compares (core events, client
/// events, and the other events the scenario already names), each with the
/// fields the scenario already checks for it, or the default ones.
pub fn events_to_write(
    scenario: &Scenario,
    recorded: &[Map<String, Value>],
) -> Vec<Map<String, Value>> {
    let named = |n: &str| scenario.events.iter().any(|e| name(e) == n);
    let kept = recorded
        .iter()
        .filter(|e| {
            let n = name(e);
            CORE_EVENTS.contains(&n) || CLIENT_EVENTS.contains(&n) || named(n)
        })
        .collect::<Vec<_>>();
    kept.iter()
        .enumerate()
        .map(|(i, e)| {
            let shape = scenario.events.get(i).filter(|old| name(old) == name(e));
            let mut out = Map::new();
            out.insert("event".into(), e["event"].clone());
            let keys: Vec<String> = match (shape, default_fields(name(e))) {
                (Some(old), _) => old.keys().cloned().collect(),
                (None, Some(fields)) => fields.iter().map(|f| (*f).to_owned()).collect(),
                (None, None) => e.keys().cloned().collect(),
            };
            for k in keys {
                if k == "event" {
                    continue;
                }
                match e.get(&k) {
                    // Empty trailers say nothing a reader needs.
                    Some(Value::Object(o))
                        if k == "trailers" && o.is_empty() && shape.is_none() => {}
                    Some(v) => {
                        out.insert(k, v.clone());
                    }
                    None => {}
                }
            }
            out
        })
        .collect()
}

/// JSON as the fixtures write it: `{"event": "end", "body": ""}`.
pub fn json_line(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{}: {}", json_string(k), json_line(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(json_line).collect();
            format!("[{}]", items.join(", "))
        }
        Value::String(s) => json_string(s),
        other => other.to_string(),
    }
}

/// A JSON string with every character outside printable ASCII escaped
/// (`\u0081`), as the fixtures write bytes.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        // A long run of one printable character is written `{{c*N}}`, as
        // the fixtures write it (a WebSocket message of 65,536 bytes).
        let run = 1 + chars[i..].iter().take_while(|&&x| x == c).count();
        if run >= crate::matching::EVENT_RUN
            && matches!(c, ' '..='~')
            && !matches!(c, '{' | '}' | '*' | '"' | '\\')
        {
            out.push_str(&format!("{{{{{c}*{run}}}}}"));
            i += run - 1;
            continue;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// A fenced block of the scenario: the index of its opening fence and of
/// its closing fence, in the file's lines.
fn find_block(lines: &[&str], from: usize, to: usize, info: &str) -> Option<(usize, usize)> {
    let mut i = from;
    while i < to {
        let t = lines[i].trim_start();
        if t.starts_with("```") {
            let open = i;
            let this = t.trim_start_matches('`').trim();
            i += 1;
            while i < to && !lines[i].trim_start().starts_with("```") {
                i += 1;
            }
            if this == info {
                return Some((open, i));
            }
        }
        i += 1;
    }
    None
}

/// The end (exclusive, 0-based) of the scenario whose heading is at
/// 0-based line `start`: the next `##` heading outside a fence, or the end.
fn scenario_end(lines: &[&str], start: usize) -> usize {
    let mut fenced = false;
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && l.starts_with("## ") {
            return i;
        }
    }
    lines.len()
}

/// The file `text` with `scenario`'s `wire` lines and `events` block
/// replaced by `rec`. Lines the recording does not replace (sends,
/// directives, comments) stay as written.
pub fn rewrite(text: &str, scenario: &Scenario, rec: &Recording) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = scenario.line.saturating_sub(1);
    let end = scenario_end(&lines, start);
    let Some((wire_open, wire_close)) = find_block(&lines, start, end, "wire") else {
        return text.to_owned();
    };
    let mut out: Vec<String> = lines[..=wire_open]
        .iter()
        .map(|l| (*l).to_owned())
        .collect();

    // Which step each line of the wire block belongs to (by its 1-based
    // line number: a step owns the lines from its own to the next step's).
    let step_of =
        |line_no: usize| -> Option<usize> { scenario.wire.iter().rposition(|w| w.line <= line_no) };
    let mut written = vec![false; scenario.wire.len()];
    for (i, l) in lines
        .iter()
        .enumerate()
        .take(wire_close)
        .skip(wire_open + 1)
    {
        let line_no = i + 1;
        let replaced = step_of(line_no).and_then(|k| {
            let new = rec.wire.get(k)?.as_ref()?;
            let w = &scenario.wire[k];
            let drop = match w.step {
                Step::Expect(_) => l.starts_with('<'),
                Step::OpenFor(_)
                | Step::ClosedWithin(_)
                | Step::ExpectFrame(_)
                | Step::WsRequest => line_no == w.line,
                _ => false,
            };
            drop.then_some((k, new))
        });
        match replaced {
            Some((k, new)) => {
                if !written[k] {
                    written[k] = true;
                    out.extend(new.iter().cloned());
                }
            }
            None => out.push((*l).to_owned()),
        }
    }
    out.push(lines[wire_close].to_owned());

    let events: Vec<String> = events_to_write(scenario, &rec.events)
        .into_iter()
        .map(|e| json_line(&Value::Object(e)))
        .collect();
    match find_block(&lines, wire_close + 1, end, "events") {
        Some((open, close)) => {
            out.extend(lines[wire_close + 1..=open].iter().map(|l| (*l).to_owned()));
            let old_body = &lines[open + 1..close];
            if events.is_empty()
                && old_body
                    .iter()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                // Still no event: the block stays as written.
                out.extend(old_body.iter().map(|l| (*l).to_owned()));
            }
            out.extend(events);
            out.extend(lines[close..].iter().map(|l| (*l).to_owned()));
        }
        None => {
            let mut rest: Vec<String> = lines[wire_close + 1..]
                .iter()
                .map(|l| (*l).to_owned())
                .collect();
            if !events.is_empty() {
                let mut block = vec![String::new(), "```events".to_owned()];
                block.extend(events);
                block.push("```".to_owned());
                let at = end - (wire_close + 1);
                // Before the blank lines that end the scenario.
                let mut at = at.min(rest.len());
                while at > 0 && rest[at - 1].trim().is_empty() {
                    at -= 1;
                }
                rest.splice(at..at, block);
            }
            out.extend(rest);
        }
    }
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{parse_file, Side};
    use crate::sections::Sections;
    use serde_json::json;
    use std::path::Path;

    const FILE: &str = r#"# T

## A

```toml
id = "server/responsestatuscode/a"
anchors = ["responsestatuscode"]
rule = "r"
```

```wire
> GET / HTTP/1.1
>
# the answer
< stale
! open for 50
> again
```

```events
{"event": "request", "url": "/"}
```

## B

```toml
id = "server/responsestatuscode/b"
anchors = ["responsestatuscode"]
rule = "r"
```

```wire
> GET / HTTP/1.1
>
```
"#;

    fn scenarios() -> Vec<Scenario> {
        parse_file(
            Path::new("fixtures/server/responsestatuscode.md"),
            FILE,
            Side::Server,
            &Sections::embedded(),
        )
        .unwrap()
    }

    fn ev(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn replaces_expectations_and_outcomes_keeps_the_rest() {
        let s = &scenarios()[0];
        let rec = Recording {
            wire: vec![
                None,
                Some(vec!["< HTTP/1.1 200 OK".into(), "<".into()]),
                Some(vec!["! closed within 50".into()]),
                None,
            ],
            events: vec![
                ev(json!({"event": "connection"})),
                ev(json!({"event": "request", "method": "GET", "url": "/x", "headers": {}})),
                ev(json!({"event": "end", "body": "", "complete": true, "trailers": {}})),
            ],
        };
        let out = rewrite(FILE, s, &rec);
        let want = FILE
            .replace("< stale\n! open for 50", "< HTTP/1.1 200 OK\n<\n! closed within 50")
            .replace(
                "{\"event\": \"request\", \"url\": \"/\"}",
                "{\"event\": \"request\", \"url\": \"/x\"}\n{\"event\": \"end\", \"body\": \"\", \"complete\": true}",
            );
        assert_eq!(out, want);
    }

    #[test]
    fn long_runs_are_written_as_repeats() {
        let v = json!({"data": format!("a{}b", "c".repeat(2000))});
        assert_eq!(json_line(&v), r#"{"data": "a{{c*2000}}b"}"#);
    }

    #[test]
    fn strings_escape_what_is_not_printable_ascii() {
        let v = json!({"head": "\u{81}\u{0}\"\\\r\n\t\u{1f600}é"});
        assert_eq!(
            json_line(&v),
            r#"{"head": "\u0081\u0000\"\\\r\n\t\ud83d\ude00\u00e9"}"#
        );
        let back: Value = serde_json::from_str(&json_line(&v)).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn adds_an_events_block_where_there_was_none() {
        let s = &scenarios()[1];
        let rec = Recording {
            wire: vec![None],
            events: vec![ev(
                json!({"event": "request", "method": "GET", "url": "/", "headers": {"a": "1"}}),
            )],
        };
        let out = rewrite(FILE, s, &rec);
        assert!(
            out.ends_with(
                "```wire\n> GET / HTTP/1.1\n>\n```\n\n```events\n{\"event\": \"request\", \"method\": \"GET\", \"url\": \"/\", \"headers\": {\"a\": \"1\"}}\n```\n"
            ),
            "{out}"
        );
        // The first scenario is untouched.
        assert!(out.starts_with(&FILE[..FILE.find("## B").unwrap()]));
    }
}
