//! `nodehttp-conformance site`: the spec as a static site. An index of
//! the spec's sections in the spec's order, with each target's passes;
//! one page per section with the spec's text for it, the scenarios filed
//! under it (their rule, prose, setup, exchange on the wire and events,
//! their `deviation` notes) and each target's outcome with its diff; links
//! between sections and scenarios; a search by id or text.
//!
//! Plain files, no server and nothing fetched: it opens from `file://`
//! (the search index is a script, `search.js`, since a page opened from
//! the file system may not fetch a JSON file).

pub mod markdown;
pub mod scenario;

use std::collections::HashMap;
use std::io;
use std::path::Path;

use serde_json::json;

use crate::fixture::{Scenario, Suite};
use crate::outcomes::{Outcomes, TargetOutcomes};
use crate::sections::Sections;
use markdown::{esc, plain, render, render_inline, SpecSection};

const CSS: &str = include_str!("site.css");
const JS: &str = include_str!("site.js");

/// What a site is made of.
pub struct SiteInput<'a> {
    /// The scenarios.
    pub suite: &'a Suite,
    /// The spec's sections (`sections.tsv`).
    pub sections: &'a Sections,
    /// The spec's Markdown text.
    pub spec: &'a str,
    /// Targets' results (`--matrix`), if any.
    pub outcomes: Option<&'a Outcomes>,
}

/// One file of the site: its name in the output folder and its text.
pub type File = (String, String);

/// A section's page name.
pub fn page(anchor: &str) -> String {
    format!("{anchor}.html")
}

struct Site<'a> {
    input: &'a SiteInput<'a>,
    /// The spec's sections, in order, with their text.
    spec: Vec<SpecSection>,
    /// Position of each anchor in `spec`.
    index: HashMap<&'a str, usize>,
    targets: &'a [TargetOutcomes],
}

impl Site<'_> {
    fn title_html(&self, anchor: &str) -> Option<String> {
        self.index
            .get(anchor)
            .map(|&i| render_inline(&self.spec[i].title))
    }

    /// Scenarios filed under `anchor` (their first anchor).
    fn filed(&self, anchor: &str) -> Vec<&Scenario> {
        self.input
            .suite
            .scenarios
            .iter()
            .filter(|s| s.section() == anchor)
            .collect()
    }

    /// Scenarios that also cite `anchor`, filed elsewhere.
    fn citing(&self, anchor: &str) -> Vec<&Scenario> {
        self.input
            .suite
            .scenarios
            .iter()
            .filter(|s| s.section() != anchor && s.anchors.iter().any(|a| a == anchor))
            .collect()
    }

    /// `pass/ran` of these scenarios on a target (skips left out), and a
    /// class for its colour.
    fn tally(&self, t: &TargetOutcomes, scenarios: &[&Scenario]) -> String {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for s in scenarios {
            let outcome = t.get(&s.id).map_or("none", |c| c.outcome.as_str());
            *counts.entry(outcome).or_default() += 1;
        }
        let get = |k: &str| counts.get(k).copied().unwrap_or(0);
        let ran = get("pass") + get("fail") + get("error") + get("unsupported");
        if ran == 0 {
            let title = if scenarios.is_empty() {
                "no scenario"
            } else {
                "none ran"
            };
            return format!("<td class=\"tally t-none\" title=\"{title}\">–</td>");
        }
        let class = if get("fail") + get("error") > 0 {
            "t-fail"
        } else if get("unsupported") > 0 {
            "t-unsupported"
        } else {
            "t-pass"
        };
        let detail: Vec<String> = ["pass", "fail", "error", "unsupported", "skip", "none"]
            .iter()
            .filter(|k| get(k) > 0)
            .map(|k| format!("{} {k}", get(k)))
            .collect();
        format!(
            "<td class=\"tally {class}\" data-target=\"{}\" title=\"{}\">{}/{ran}</td>",
            esc(&t.name),
            detail.join(", "),
            get("pass")
        )
    }

    fn layout(&self, title: &str, body: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<link rel=\"stylesheet\" href=\"site.css\">\n\
             <script src=\"search.js\" defer></script>\n<script src=\"site.js\" defer></script>\n\
             </head>\n<body>\n<header class=\"top\"><a class=\"home\" href=\"index.html\">node:http, the executable spec</a>\
             <div class=\"search\"><input id=\"q\" type=\"search\" placeholder=\"Search by id or text\" autocomplete=\"off\" aria-label=\"search\">\
             <ol id=\"results\" hidden></ol></div></header>\n<main>\n{body}</main>\n\
             <footer>Written by nodehttp-conformance {version} from its fixtures and the Node.js v23.5 <code>http</code> documentation (French translation).</footer>\n\
             </body>\n</html>\n",
            version = env!("CARGO_PKG_VERSION"),
        )
    }

    fn target_summary(&self) -> String {
        if self.targets.is_empty() {
            return "<p class=\"note\">No results shown: <code>site --matrix FILE</code> adds each target's outcome (a <code>matrix --json</code> or <code>run --format json</code> report).</p>\n".into();
        }
        let mut out = String::from(
            "<table class=\"targets\"><thead><tr><th>target</th><th>implementation</th><th>pass</th><th>fail</th><th>unsupported</th><th>skip</th><th>error</th></tr></thead><tbody>",
        );
        for t in self.targets {
            let implementation = match &t.error {
                Some(e) => format!("could not run: {e}"),
                None => format!("{} {}", t.implementation, t.version),
            };
            out.push_str(&format!(
                "<tr data-target=\"{}\"><td>{}</td><td>{}</td>",
                esc(&t.name),
                esc(&t.name),
                esc(&implementation)
            ));
            for o in ["pass", "fail", "unsupported", "skip", "error"] {
                out.push_str(&format!("<td class=\"num o-{o}\">{}</td>", t.count(o)));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>\n");
        out
    }

    fn index_page(&self) -> String {
        let n = self.input.suite.scenarios.len();
        let mut body = format!(
            "<h1>node:http, the executable spec</h1>\n\
             <p class=\"lead\">The Node.js v23.5 <code>http</code> documentation, section by section, \
             with the {n} scenarios that check it: what a client sends, what must come back on the wire, \
             and the events the implementation must report. Real Node 23.5.0 passes every one; where Node \
             contradicts its docs, the scenario follows Node and says so.</p>\n{}\
             <h2>Sections</h2>\n<table class=\"sections\"><thead><tr><th>section</th><th>scenarios</th>",
            self.target_summary()
        );
        for t in self.targets {
            body.push_str(&format!("<th>{}</th>", esc(&t.name)));
        }
        body.push_str("</tr></thead><tbody>\n");
        for s in &self.spec {
            let filed = self.filed(&s.anchor);
            let count = if filed.is_empty() {
                match self.input.suite.untestable.get(&s.anchor) {
                    Some(why) => format!(
                        "<td class=\"num untestable\" title=\"{}\">untestable</td>",
                        esc(why)
                    ),
                    None => "<td class=\"num\">0</td>".into(),
                }
            } else {
                format!("<td class=\"num\">{}</td>", filed.len())
            };
            body.push_str(&format!(
                "<tr class=\"lvl-{}\" data-anchor=\"{a}\"><td><a href=\"{p}\">{}</a></td>{count}",
                s.level,
                render_inline(&s.title),
                a = esc(&s.anchor),
                p = esc(&page(&s.anchor)),
            ));
            for t in self.targets {
                body.push_str(&self.tally(t, &filed));
            }
            body.push_str("</tr>\n");
        }
        body.push_str("</tbody></table>\n");
        self.layout("node:http, the executable spec", &body)
    }

    /// The sections above `i`, outermost first.
    fn ancestors(&self, i: usize) -> Vec<&SpecSection> {
        let mut out = Vec::new();
        let mut level = self.spec[i].level;
        for s in self.spec[..i].iter().rev() {
            if s.level < level {
                out.push(s);
                level = s.level;
            }
        }
        out.reverse();
        out
    }

    /// The sections right below `i`.
    fn children(&self, i: usize) -> Vec<&SpecSection> {
        let level = self.spec[i].level;
        self.spec[i + 1..]
            .iter()
            .take_while(|s| s.level > level)
            .filter(|s| s.level == level + 1)
            .collect()
    }

    fn link_to(&self, s: &SpecSection) -> String {
        format!(
            "<a href=\"{}\">{}</a>",
            esc(&page(&s.anchor)),
            render_inline(&s.title)
        )
    }

    fn section_page(&self, i: usize) -> String {
        let sec = &self.spec[i];
        let is_section = |a: &str| self.index.contains_key(a);
        let title_of = |a: &str| self.title_html(a);
        let mut crumbs: Vec<String> = vec!["<a href=\"index.html\">Sections</a>".into()];
        crumbs.extend(self.ancestors(i).into_iter().map(|s| self.link_to(s)));
        let filed = self.filed(&sec.anchor);
        let mut body = format!(
            "<nav class=\"crumbs\">{}</nav>\n<h1 id=\"{a}\">{}</h1>\n<p class=\"anchor\"><code>#{a}</code> · {} scenario{}</p>\n",
            crumbs.join(" › "),
            render_inline(&sec.title),
            filed.len(),
            if filed.len() == 1 { "" } else { "s" },
            a = esc(&sec.anchor),
        );
        if !self.targets.is_empty() && !filed.is_empty() {
            body.push_str("<table class=\"tallies\"><thead><tr>");
            for t in self.targets {
                body.push_str(&format!("<th>{}</th>", esc(&t.name)));
            }
            body.push_str("</tr></thead><tbody><tr>");
            for t in self.targets {
                body.push_str(&self.tally(t, &filed));
            }
            body.push_str("</tr></tbody></table>\n");
        }
        body.push_str(&format!(
            "<section class=\"spec\"><h2>The spec</h2>\n{}</section>\n",
            render(&sec.body, &is_section)
        ));
        let children = self.children(i);
        if !children.is_empty() {
            let items: Vec<String> = children
                .iter()
                .map(|c| {
                    format!(
                        "<li>{} <span class=\"count\">({})</span></li>",
                        self.link_to(c),
                        self.filed(&c.anchor).len()
                    )
                })
                .collect();
            body.push_str(&format!(
                "<section class=\"children\"><h2>In this section</h2><ul>{}</ul></section>\n",
                items.join("")
            ));
        }
        body.push_str("<section class=\"scenarios\">\n");
        if filed.is_empty() {
            let why = match self.input.suite.untestable.get(&sec.anchor) {
                Some(why) => format!(
                    "No scenario: nothing here can be observed from outside a process. {}",
                    esc(why)
                ),
                None if children.is_empty() => "No scenario yet.".to_owned(),
                None => "No scenario of its own: see the sections it holds.".to_owned(),
            };
            body.push_str(&format!(
                "<h2>Scenarios</h2>\n<p class=\"note\">{why}</p>\n"
            ));
        } else {
            body.push_str(&format!("<h2>Scenarios ({})</h2>\n", filed.len()));
            for s in &filed {
                body.push_str(&scenario::article(s, self.targets, &title_of));
            }
        }
        let citing = self.citing(&sec.anchor);
        if !citing.is_empty() {
            let items: Vec<String> = citing
                .iter()
                .map(|s| {
                    format!(
                        "<li><a href=\"{}#{id}\"><code>{id}</code></a>: {}</li>",
                        esc(&page(s.section())),
                        esc(&s.rule),
                        id = esc(&s.id)
                    )
                })
                .collect();
            body.push_str(&format!(
                "<h2>Also checked from other sections</h2><ul class=\"citing\">{}</ul>\n",
                items.join("")
            ));
        }
        body.push_str("</section>\n<nav class=\"pager\">");
        if i > 0 {
            body.push_str(&format!(
                "<span class=\"prev\">← {}</span>",
                self.link_to(&self.spec[i - 1])
            ));
        }
        if let Some(next) = self.spec.get(i + 1) {
            body.push_str(&format!(
                "<span class=\"next\">{} →</span>",
                self.link_to(next)
            ));
        }
        body.push_str("</nav>\n");
        self.layout(&format!("{} · node:http spec", plain(&sec.title)), &body)
    }

    /// `search.js`: every section and scenario, for the search box.
    fn search_index(&self) -> String {
        let mut entries = Vec::new();
        for s in &self.spec {
            entries.push(json!({
                "k": "section",
                "i": s.anchor,
                "t": plain(&s.title),
                "u": page(&s.anchor),
                "x": plain(&s.body),
            }));
        }
        for s in &self.input.suite.scenarios {
            entries.push(json!({
                "k": "scenario",
                "i": s.id,
                "t": plain(&s.title),
                "u": format!("{}#{}", page(s.section()), s.id),
                "x": format!("{} {}", s.rule, s.deviation.as_deref().unwrap_or("")),
            }));
        }
        let text = serde_json::to_string(&entries)
            .expect("values serialise")
            .replace('<', "\\u003c");
        format!("window.NODEHTTP_SEARCH = {text};\n")
    }
}

/// Every file of the site: `index.html`, one page per section of the spec
/// (`<anchor>.html`), `site.css`, `site.js` and `search.js`.
pub fn build(input: &SiteInput) -> Vec<File> {
    let spec = markdown::split(input.spec);
    let index = spec
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            input
                .sections
                .get(&s.anchor)
                .map(|sec| (sec.anchor.as_str(), i))
        })
        .collect();
    let site = Site {
        input,
        spec,
        index,
        targets: input.outcomes.map_or(&[], |o| o.targets.as_slice()),
    };
    let mut files = vec![("index.html".to_owned(), site.index_page())];
    for (i, s) in site.spec.iter().enumerate() {
        files.push((page(&s.anchor), site.section_page(i)));
    }
    files.push(("site.css".into(), CSS.into()));
    files.push(("site.js".into(), JS.into()));
    files.push(("search.js".into(), site.search_index()));
    files
}

/// Writes the files under `dir` (created if missing).
pub fn write(dir: &Path, files: &[File]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(outcomes: Option<&Outcomes>) -> Vec<File> {
        let sections = Sections::embedded();
        let suite = crate::bundle::load_suite(&sections).unwrap();
        build(&SiteInput {
            suite: &suite,
            sections: &sections,
            spec: crate::bundle::spec(),
            outcomes,
        })
    }

    fn file<'a>(files: &'a [File], name: &str) -> &'a str {
        &files.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn a_page_per_section_and_the_index() {
        let files = site(None);
        let pages = files.iter().filter(|(n, _)| n.ends_with(".html")).count();
        assert_eq!(pages, 172 + 1);
        let index = file(&files, "index.html");
        assert_eq!(index.matches("<tr class=\"lvl-").count(), 172);
        assert!(index.contains("<a href=\"event-checkexpectation.html\">Événement : <code>'checkExpectation'</code></a>"), "{index}");
        let page = file(&files, "event-checkexpectation.html");
        assert!(page.contains("id=\"server/event-checkexpectation/default-417\""));
        assert!(
            page.contains("<span class=\"w-expect\">&lt; HTTP/1.1 417 Expectation Failed</span>")
        );
        assert!(page.contains("<nav class=\"crumbs\"><a href=\"index.html\">Sections</a> › <a href=\"http.html\">HTTP</a> › <a href=\"class-httpserver.html\">"), "{page}");
        assert!(file(&files, "search.js").starts_with("window.NODEHTTP_SEARCH = [{"));
    }

    #[test]
    fn deviations_and_untestable_sections_are_said() {
        let files = site(None);
        let sections = Sections::embedded();
        let suite = crate::bundle::load_suite(&sections).unwrap();
        let s = suite
            .scenarios
            .iter()
            .find(|s| s.deviation.is_some())
            .unwrap();
        let text = file(&files, &page(s.section()));
        assert!(text.contains("<div class=\"deviation\"><b>Where Node contradicts its docs.</b>"));
        // Every section has scenarios today: a section whose scenarios are
        // taken out and that untestable.toml lists shows the manifest's
        // reason instead.
        let mut suite = suite;
        suite.scenarios.retain(|s| s.section() != "agentdestroy");
        suite.untestable.insert(
            "agentdestroy".into(),
            "A reason given in untestable.toml.".into(),
        );
        let files = build(&SiteInput {
            suite: &suite,
            sections: &sections,
            spec: crate::bundle::spec(),
            outcomes: None,
        });
        let text = file(&files, &page("agentdestroy"));
        assert!(text.contains(
            "nothing here can be observed from outside a process. A reason given in untestable.toml."
        ));
    }

    #[test]
    fn results_show_per_target_with_their_diff() {
        let sections = Sections::embedded();
        let suite = crate::bundle::load_suite(&sections).unwrap();
        let id = "server/event-checkexpectation/default-417";
        let report = json!({
            "suite": "nodehttp-conformance",
            "targets": [{"name": "mine", "implementation": "mine", "version": "1.0.0"}],
            "scenarios": [{"id": id, "section": "event-checkexpectation",
                "results": {"mine": {"outcome": "fail", "reason": "line 26: the bytes received differ",
                                     "diff": "- < HTTP/1.1 417 Expectation Failed\n+ < HTTP/1.1 400 Bad Request\n"}}}],
        });
        let outcomes = Outcomes::parse(&report.to_string()).unwrap();
        let files = build(&SiteInput {
            suite: &suite,
            sections: &sections,
            spec: crate::bundle::spec(),
            outcomes: Some(&outcomes),
        });
        let page = file(&files, "event-checkexpectation.html");
        assert!(page.contains("<td class=\"o o-fail\">fail</td><td>line 26: the bytes received differ<details class=\"diff\">"), "{page}");
        assert!(page.contains("<span class=\"del\">- &lt; HTTP/1.1 417 Expectation Failed</span>"));
        let index = file(&files, "index.html");
        assert!(
            index.contains("<td class=\"tally t-fail\" data-target=\"mine\" title=\"1 fail, "),
            "{index}"
        );
    }
}
