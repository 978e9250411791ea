//! A scenario as the site shows it: its prose, its setup, its exchange on
//! the wire and its events as readable transcripts, and each target's
//! outcome with its diff.

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Parser, Tag, TagEnd};

use super::markdown::{esc, link, render_inline};
use crate::fixture::{Scenario, Side};
use crate::outcomes::{Cell, TargetOutcomes};

/// Who writes a `>` line and who a `<` line, for each side.
fn speakers(side: Side) -> (&'static str, &'static str) {
    match side {
        // The runner plays the client; the implementation is the server.
        Side::Server => ("client", "server"),
        // The runner plays the server; the implementation is the client.
        Side::Client => ("server", "client"),
    }
}

/// A `wire` block: one line each, marked with who speaks.
fn wire(text: &str, side: Side) -> String {
    let (send, expect) = speakers(side);
    let mut out = format!(
        "<p class=\"caption\">On the wire: <span class=\"w-send\">&gt; the runner, as the {send}, sends</span>, \
         <span class=\"w-expect\">&lt; the {expect} under test must send</span>, ! a step of the runner</p>\
         <pre class=\"wire\">"
    );
    for line in text.lines() {
        let class = match line.chars().next() {
            Some('>') => "w-send",
            Some('<') => "w-expect",
            Some('!') => "w-step",
            Some('#') => "w-comment",
            _ => "w-other",
        };
        out.push_str(&format!("<span class=\"{class}\">{}</span>", esc(line)));
    }
    out.push_str("</pre>");
    out
}

/// An `events` block: one event a line, its name first.
fn events(text: &str, side: Side) -> String {
    let who = match side {
        Side::Server => "the server reports",
        Side::Client => "the client's requests report",
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    if lines.is_empty() {
        return format!("<p class=\"caption\">Events {who}: none.</p>");
    }
    let mut out =
        format!("<p class=\"caption\">Events {who}, in this order:</p><pre class=\"events\">");
    for line in lines {
        let name = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned));
        match name {
            Some(n) => out.push_str(&format!(
                "<span class=\"ev\"><b>{}</b> {}</span>",
                esc(&n),
                esc(line)
            )),
            None => out.push_str(&format!("<span class=\"ev\">{}</span>", esc(line))),
        }
    }
    out.push_str("</pre>");
    out
}

/// The scenario's Markdown below its heading: prose as prose, the `toml`
/// block as its setup, `wire` and `events` as transcripts.
fn body(s: &Scenario, is_section: &dyn Fn(&str) -> bool) -> String {
    let source = s.source.split_once('\n').map_or("", |(_, rest)| rest);
    let mut out_events: Vec<Event> = Vec::new();
    let mut block: Option<(String, String)> = None;
    for event in Parser::new_ext(source, pulldown_cmark::Options::ENABLE_TABLES) {
        match (event, &mut block) {
            (Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))), None)
                if matches!(&*info, "toml" | "wire" | "events") =>
            {
                block = Some((info.to_string(), String::new()));
            }
            (Event::Text(t), Some((_, text))) => text.push_str(&t),
            (Event::End(TagEnd::CodeBlock), Some(_)) => {
                let (kind, text) = block.take().expect("a block is open");
                let html = match kind.as_str() {
                    "wire" => wire(&text, s.side),
                    "events" => events(&text, s.side),
                    _ => format!(
                        "<details class=\"setup\"><summary>Setup (<code>toml</code>: options, handler, listeners)</summary><pre class=\"toml\">{}</pre></details>",
                        esc(&text)
                    ),
                };
                out_events.push(Event::Html(CowStr::from(html)));
            }
            (Event::Html(h) | Event::InlineHtml(h), None) => out_events.push(Event::Text(h)),
            (
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }),
                None,
            ) => out_events.push(Event::Start(Tag::Link {
                link_type,
                dest_url: CowStr::from(link(&dest_url, is_section)),
                title,
                id,
            })),
            (e, None) => out_events.push(e),
            (_, Some(_)) => {}
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, out_events.into_iter());
    html
}

/// A diff of transcripts, `-` expected and `+` actual.
pub fn diff_html(diff: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    for line in diff.lines() {
        let class = match line.chars().next() {
            Some('-') => "del",
            Some('+') => "ins",
            _ => "eq",
        };
        out.push_str(&format!("<span class=\"{class}\">{}</span>", esc(line)));
    }
    out.push_str("</pre>");
    out
}

/// Each target's outcome for the scenario.
fn outcomes(s: &Scenario, targets: &[TargetOutcomes]) -> String {
    if targets.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<table class=\"outcomes\"><thead><tr><th>target</th><th>outcome</th><th>why</th></tr></thead><tbody>",
    );
    for t in targets {
        let cell = t.get(&s.id);
        let outcome = cell.map_or("none", |c| c.outcome.as_str());
        let why = cell
            .and_then(|c| c.reason.as_deref())
            .unwrap_or(match cell {
                None if t.error.is_some() => "the target could not run",
                None => "not in the report",
                Some(_) => "",
            });
        let detail = match cell {
            Some(Cell {
                diff: Some(d),
                outcome,
                ..
            }) if outcome != "pass" => format!(
                "<details class=\"diff\"><summary>expected (-) and actual (+)</summary>{}</details>",
                diff_html(d)
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "<tr data-target=\"{name}\"><td><b>{name}</b> <span class=\"impl\">{implementation} {version}</span></td><td class=\"o o-{outcome}\">{outcome}</td><td>{why}{detail}</td></tr>",
            name = esc(&t.name),
            implementation = esc(&t.implementation),
            version = esc(&t.version),
            why = esc(why),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// The whole `<article>` of a scenario; its `id` is the scenario's.
pub fn article(
    s: &Scenario,
    targets: &[TargetOutcomes],
    title_of: &dyn Fn(&str) -> Option<String>,
) -> String {
    let is_section = |a: &str| title_of(a).is_some();
    let mut badges = vec![format!(
        "<span class=\"badge side\">{}</span>",
        s.side.as_str()
    )];
    if s.strict {
        badges.push("<span class=\"badge strict\" title=\"behaviour Node shows but does not document; run with --strict\">strict</span>".into());
    }
    if s.deviation.is_some() {
        badges.push("<span class=\"badge deviation\" title=\"Node contradicts its docs here\">deviation</span>".into());
    }
    if let Some(v) = s.since {
        badges.push(format!("<span class=\"badge\">Node &gt;= {v}</span>"));
    }
    if let Some(v) = s.until {
        badges.push(format!("<span class=\"badge\">Node &lt; {v}</span>"));
    }
    if !s.split {
        badges.push("<span class=\"badge\" title=\"its transcript depends on how the bytes arrive: run --split leaves it whole\">not split</span>".into());
    }
    let others: Vec<String> = s.anchors[1..]
        .iter()
        .map(|a| {
            let title = title_of(a).unwrap_or_else(|| esc(a));
            format!("<a href=\"{}.html\">{title}</a>", esc(a))
        })
        .collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!("<p class=\"also\">Also checks: {}</p>", others.join(", "))
    };
    let deviation = s.deviation.as_deref().map_or(String::new(), |d| {
        format!(
            "<div class=\"deviation\"><b>Where Node contradicts its docs.</b> {}</div>",
            esc(d)
        )
    });
    format!(
        "<article class=\"scenario\" id=\"{id}\">\n<h3><a class=\"self\" href=\"#{id}\">{title}</a></h3>\n\
         <p class=\"meta\"><code class=\"id\">{id}</code> {badges} <span class=\"where\">{file}:{line}</span></p>\n\
         <p class=\"rule\"><b>Rule.</b> {rule}</p>\n{deviation}{also}\n{body}\n{outcomes}\n</article>\n",
        id = esc(&s.id),
        title = render_inline(&s.title),
        badges = badges.join(" "),
        file = esc(&s.file.display().to_string()),
        line = s.line,
        rule = esc(&s.rule),
        body = body(s, &is_section),
        outcomes = outcomes(s, targets),
    )
}
