//! Reporters: they only consume a [`Report`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use similar::{ChangeTag, TextDiff};

use crate::result::{Counts, Outcome, Report, ScenarioResult};
use crate::sections::Sections;

const RED: Style = AnsiColor::Red.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// A unified diff of two transcripts, `-` expected and `+` actual, with all
/// lines kept (transcripts are short and the context is the story).
pub fn diff(expected: &[String], actual: &[String], color: bool) -> String {
    let e = expected.join("\n") + "\n";
    let a = actual.join("\n") + "\n";
    let d = TextDiff::from_lines(&e, &a);
    let mut out = String::new();
    for change in d.iter_all_changes() {
        let line = change.value().trim_end_matches('\n');
        let (sign, style) = match change.tag() {
            ChangeTag::Delete => ('-', RED),
            ChangeTag::Insert => ('+', GREEN),
            ChangeTag::Equal => (' ', DIM),
        };
        let _ = writeln!(out, "{}", paint(color, style, &format!("{sign} {line}")));
    }
    out
}

/// The closing line: `N passed, N failed, N skipped` (errors count as failed,
/// unsupported as skipped; the line before says how many of each).
pub fn closing_line(c: &Counts) -> String {
    format!(
        "{} passed, {} failed, {} skipped",
        c.pass,
        c.fail + c.error,
        c.skip + c.unsupported
    )
}

/// Per-section counts, in spec order.
pub fn by_section<'a>(report: &'a Report, sections: &Sections) -> Vec<(&'a str, Counts)> {
    let mut map: BTreeMap<(usize, &str), Counts> = BTreeMap::new();
    for r in &report.results {
        map.entry((sections.position(&r.section), r.section.as_str()))
            .or_default()
            .add(&r.outcome);
    }
    map.into_iter().map(|((_, s), c)| (s, c)).collect()
}

/// The human report: failures with their diffs, the per-section table,
/// deviations, and the closing line.
pub fn human(report: &Report, sections: &Sections, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "target: {} {} (protocol {}, adapter: {})",
        report.target.implementation, report.target.version, report.protocol, report.adapter
    );
    for r in report.results.iter().filter(|r| r.outcome.is_failure()) {
        out.push('\n');
        failure(&mut out, r, color);
    }

    let _ = writeln!(out, "\n{}", paint(color, BOLD, "Sections"));
    let rows = by_section(report, sections);
    let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(7).max(7);
    let _ = writeln!(
        out,
        "  {:<width$}  pass  fail  skip  unsup  error",
        "section"
    );
    for (s, c) in &rows {
        let line = format!(
            "  {s:<width$}  {:>4}  {:>4}  {:>4}  {:>5}  {:>5}",
            c.pass, c.fail, c.skip, c.unsupported, c.error
        );
        let style = if c.fail + c.error > 0 {
            RED
        } else {
            Style::new()
        };
        let _ = writeln!(out, "{}", paint(color, style, &line));
    }

    let deviations: Vec<&ScenarioResult> = report
        .results
        .iter()
        .filter(|r| r.deviation.is_some())
        .collect();
    if !deviations.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            paint(
                color,
                BOLD,
                "Where Node contradicts its docs (the scenarios follow Node)"
            )
        );
        for r in deviations {
            let _ = writeln!(
                out,
                "  {} [{}]: {}",
                r.id,
                r.outcome.name(),
                r.deviation.as_deref().unwrap_or_default()
            );
        }
    }

    let c = report.counts();
    let _ = writeln!(
        out,
        "\n{} scenarios in {:.1} s: {} unsupported, {} adapter errors",
        c.total(),
        report.duration.as_secs_f64(),
        c.unsupported,
        c.error
    );
    let style = if report.failed() { RED } else { GREEN };
    let _ = writeln!(out, "{}", paint(color, style, &closing_line(&c)));
    out
}

fn failure(out: &mut String, r: &ScenarioResult, color: bool) {
    let tag = match r.outcome {
        Outcome::Error(_) => "ERROR",
        _ => "FAIL",
    };
    let _ = writeln!(
        out,
        "{} {}  ({})",
        paint(color, RED.bold(), tag),
        paint(color, BOLD, &r.id),
        r.location
    );
    let _ = writeln!(out, "  rule: {}", r.rule);
    if let Outcome::Fail(why) | Outcome::Error(why) = &r.outcome {
        let _ = writeln!(out, "  {}", paint(color, YELLOW, why));
    }
    if !r.expected.is_empty() || !r.actual.is_empty() {
        let _ = writeln!(out, "  {}", paint(color, DIM, "--- expected  +++ actual"));
        for line in diff(&r.expected, &r.actual, color).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    if !r.stderr.trim().is_empty() {
        let _ = writeln!(out, "  adapter stderr:");
        for line in r.stderr.trim_end().lines().take(40) {
            let _ = writeln!(out, "  | {line}");
        }
    }
}

/// The JSON report: the whole [`Report`], plus counts and per-section counts.
pub fn json(report: &Report, sections: &Sections) -> String {
    let per_section: serde_json::Map<String, serde_json::Value> = by_section(report, sections)
        .into_iter()
        .map(|(s, c)| {
            (
                s.to_owned(),
                serde_json::to_value(c).expect("counts serialise"),
            )
        })
        .collect();
    let mut value = serde_json::to_value(report).expect("reports serialise");
    let obj = value.as_object_mut().expect("a report is an object");
    obj.insert(
        "counts".into(),
        serde_json::to_value(report.counts()).expect("counts serialise"),
    );
    obj.insert("sections".into(), per_section.into());
    let deviations: Vec<serde_json::Value> = report
        .results
        .iter()
        .filter_map(|r| {
            let d = r.deviation.as_ref()?;
            Some(serde_json::json!({"id": r.id, "outcome": r.outcome.name(), "deviation": d}))
        })
        .collect();
    obj.insert("deviations".into(), deviations.into());
    let mut s = serde_json::to_string_pretty(&value).expect("reports serialise");
    s.push('\n');
    s
}

/// Text escaped for XML and HTML (a control character XML cannot carry
/// becomes `\xNN`).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML report: one `testsuite` per section, one `testcase` per
/// scenario (`classname` = section, `name` = id).
pub fn junit(report: &Report, sections: &Sections) -> String {
    let c = report.counts();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"nodehttp-conformance: {} {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        xml_escape(&report.target.implementation),
        xml_escape(&report.target.version),
        c.total(),
        c.fail,
        c.error,
        c.skip + c.unsupported,
        report.duration.as_secs_f64()
    );
    for (section, counts) in by_section(report, sections) {
        let time: f64 = report
            .results
            .iter()
            .filter(|r| r.section == section)
            .map(|r| r.duration.as_secs_f64())
            .sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            xml_escape(section),
            counts.total(),
            counts.fail,
            counts.error,
            counts.skip + counts.unsupported,
            time
        );
        for r in report.results.iter().filter(|r| r.section == section) {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
                xml_escape(section),
                xml_escape(&r.id),
                xml_escape(r.location.rsplit_once(':').map_or(&r.location, |(f, _)| f)),
                r.duration.as_secs_f64()
            );
            match &r.outcome {
                Outcome::Pass => out.push_str("/>\n"),
                Outcome::Skip(why) | Outcome::Unsupported(why) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}: {}\"/>\n    </testcase>",
                        r.outcome.name(),
                        xml_escape(why)
                    );
                }
                Outcome::Fail(why) | Outcome::Error(why) => {
                    let tag = if matches!(r.outcome, Outcome::Fail(_)) {
                        "failure"
                    } else {
                        "error"
                    };
                    let body = format!("rule: {}\n{}", r.rule, diff(&r.expected, &r.actual, false));
                    let _ = writeln!(
                        out,
                        ">\n      <{tag} message=\"{}\">{}</{tag}>",
                        xml_escape(why),
                        xml_escape(&body)
                    );
                    if !r.stderr.is_empty() {
                        let _ = writeln!(
                            out,
                            "      <system-err>{}</system-err>",
                            xml_escape(&r.stderr)
                        );
                    }
                    out.push_str("    </testcase>\n");
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::AdapterInfo;
    use std::time::Duration;

    fn result(id: &str, section: &str, outcome: Outcome) -> ScenarioResult {
        ScenarioResult {
            id: id.into(),
            section: section.into(),
            anchors: vec![section.into()],
            title: "A title".into(),
            rule: "The rule <checked> & stated.".into(),
            location: format!("fixtures/server/{section}.md:7"),
            deviation: None,
            outcome,
            duration: Duration::from_millis(12),
            expected: Vec::new(),
            actual: Vec::new(),
            stderr: String::new(),
        }
    }

    /// A fixed set of results: one of each outcome, a deviation, a diff.
    fn sample() -> Report {
        let mut failing = result(
            "server/event-checkexpectation/default-417",
            "event-checkexpectation",
            Outcome::Fail("line 20: the bytes received differ".into()),
        );
        failing.expected = vec![
            "> GET / HTTP/1.1".into(),
            ">".into(),
            "< HTTP/1.1 417 Expectation Failed".into(),
            "<".into(),
            "# events".into(),
        ];
        failing.actual = vec![
            "> GET / HTTP/1.1".into(),
            ">".into(),
            "< HTTP/1.1 200 OK".into(),
            "<".into(),
            "# events".into(),
            r#"{"event":"request","url":"/"}"#.into(),
        ];
        failing.stderr = "warning: something\n".into();
        let mut deviating = result("server/messageheaders/dup", "messageheaders", Outcome::Pass);
        deviating.deviation = Some("Node joins with `, ` where the docs say otherwise.".into());
        Report {
            adapter: "node adapters/node/adapter.mjs".into(),
            target: AdapterInfo {
                implementation: "node".into(),
                version: "23.5.0".into(),
            },
            protocol: 1,
            results: vec![
                result(
                    "server/messageheaders/lower-case",
                    "messageheaders",
                    Outcome::Pass,
                ),
                deviating,
                failing,
                result(
                    "server/event-checkcontinue/strict-one",
                    "event-checkcontinue",
                    Outcome::Skip("strict (run with --strict)".into()),
                ),
                result(
                    "server/event-connect_1/x",
                    "event-connect_1",
                    Outcome::Unsupported("no CONNECT".into()),
                ),
                result(
                    "server/event-upgrade_1/y",
                    "event-upgrade_1",
                    Outcome::Error("the adapter exited".into()),
                ),
            ],
            duration: Duration::from_millis(1234),
        }
    }

    #[test]
    fn human_report() {
        insta::assert_snapshot!(human(&sample(), &Sections::embedded(), false));
    }

    #[test]
    fn human_report_in_colour_marks_the_diff() {
        let out = human(&sample(), &Sections::embedded(), true);
        assert!(out.contains("\u{1b}[31m- < HTTP/1.1 417 Expectation Failed"));
        assert!(out.contains("\u{1b}[32m+ < HTTP/1.1 200 OK"));
    }

    #[test]
    fn json_report() {
        insta::assert_snapshot!(json(&sample(), &Sections::embedded()));
    }

    #[test]
    fn junit_report() {
        insta::assert_snapshot!(junit(&sample(), &Sections::embedded()));
    }

    #[test]
    fn xml_escapes_control_characters() {
        assert_eq!(
            xml_escape("a<\u{1}>&\"'"),
            "a&lt;\\x01&gt;&amp;&quot;&apos;"
        );
    }
}
