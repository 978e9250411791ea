//! `nodehttp-conformance compare OLD.json NEW.json`: what changed between
//! two reports of the suite (`run --format json` or `matrix --json`), for
//! regression CI: what newly fails, newly passes, appeared or vanished.
//!
//! A **new failure** is a scenario that fails (`fail` or `error`) in NEW
//! and did not in OLD: it passed, was skipped or unsupported, or was not
//! there at all; or a target that ran in OLD and could not run in NEW.
//! `compare` exits 1 when there is one.
//!
//! Targets pair up by name; two reports of one target each pair up
//! whatever their names (a `run` report names its target after the
//! implementation, which may change from release to release).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::outcomes::{Cell, Outcomes, TargetOutcomes};

/// How a scenario's result changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// It fails now and did not before.
    NewlyFailing,
    /// It passes now and did not before.
    NewlyPassing,
    /// It was not in OLD.
    Appeared,
    /// It is not in NEW.
    Vanished,
    /// Another change of outcome (`fail` to `error`, `pass` to `skip`...).
    Changed,
}

impl Change {
    /// The name used in every format.
    pub fn name(self) -> &'static str {
        match self {
            Change::NewlyFailing => "newly failing",
            Change::NewlyPassing => "newly passing",
            Change::Appeared => "appeared",
            Change::Vanished => "vanished",
            Change::Changed => "changed",
        }
    }

    /// Every kind, in the order reports list them.
    pub const ALL: [Change; 5] = [
        Change::NewlyFailing,
        Change::NewlyPassing,
        Change::Appeared,
        Change::Vanished,
        Change::Changed,
    ];
}

/// How one scenario's result moved between OLD and NEW (`None`: absent).
pub fn classify(old: Option<&Cell>, new: Option<&Cell>) -> Option<Change> {
    match (old, new) {
        (None, None) => None,
        (None, Some(_)) => Some(Change::Appeared),
        (Some(_), None) => Some(Change::Vanished),
        (Some(o), Some(n)) if o.outcome == n.outcome => None,
        (Some(o), Some(n)) if n.is_failure() && !o.is_failure() => Some(Change::NewlyFailing),
        (Some(_), Some(n)) if n.outcome == "pass" => Some(Change::NewlyPassing),
        _ => Some(Change::Changed),
    }
}

/// One scenario that changed on one target.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario id.
    pub id: String,
    /// Its section, as a report gives it.
    pub section: String,
    /// How it changed.
    pub change: Change,
    /// Its result in OLD.
    pub old: Option<Cell>,
    /// Its result in NEW.
    pub new: Option<Cell>,
}

impl Row {
    /// Whether this row is a new failure.
    pub fn is_new_failure(&self) -> bool {
        match self.change {
            Change::NewlyFailing => true,
            Change::Appeared => self.new.as_ref().is_some_and(Cell::is_failure),
            _ => false,
        }
    }

    fn outcome(cell: &Option<Cell>) -> &str {
        cell.as_ref().map_or("absent", |c| c.outcome.as_str())
    }
}

/// One target, in OLD and NEW.
#[derive(Debug, Clone)]
pub struct TargetDiff {
    /// Its name in NEW (in OLD for a target that vanished).
    pub name: String,
    /// Its name in OLD, when it differs (two one-target reports).
    pub old_name: Option<String>,
    /// Its label in OLD (`None`: not in OLD).
    pub old_label: Option<String>,
    /// Its label in NEW (`None`: not in NEW).
    pub new_label: Option<String>,
    /// Why it could not run in NEW, if it could not.
    pub new_error: Option<String>,
    /// Passes in OLD and in NEW.
    pub pass: (usize, usize),
    /// How many scenarios both reports have for it.
    pub compared: usize,
    /// The scenarios that changed, newly failing first.
    pub rows: Vec<Row>,
}

impl TargetDiff {
    /// How many rows are of this kind.
    pub fn count(&self, change: Change) -> usize {
        self.rows.iter().filter(|r| r.change == change).count()
    }

    /// How many new failures: rows, and the target itself when it ran in
    /// OLD but could not in NEW.
    pub fn new_failures(&self) -> usize {
        let broke = self.new_error.is_some() && self.old_label.is_some();
        self.rows.iter().filter(|r| r.is_new_failure()).count() + usize::from(broke)
    }
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// OLD's file name, as given.
    pub old_file: String,
    /// NEW's file name, as given.
    pub new_file: String,
    /// The targets.
    pub targets: Vec<TargetDiff>,
}

fn diff_target(old: Option<&TargetOutcomes>, new: Option<&TargetOutcomes>) -> TargetDiff {
    let empty = TargetOutcomes::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut rows = Vec::new();
    let mut compared = 0;
    // NEW's order, then what only OLD has.
    let ids = n.results.iter().map(|(id, _)| id).chain(
        o.results
            .iter()
            .map(|(id, _)| id)
            .filter(|id| n.get(id).is_none()),
    );
    for id in ids {
        let (oc, nc) = (o.get(id), n.get(id));
        compared += usize::from(oc.is_some() && nc.is_some());
        if let Some(change) = classify(oc, nc) {
            let section = nc
                .or(oc)
                .and_then(|c| c.section.clone())
                .unwrap_or_default();
            rows.push(Row {
                id: id.clone(),
                section,
                change,
                old: oc.cloned(),
                new: nc.cloned(),
            });
        }
    }
    rows.sort_by_key(|r| r.change);
    let name = new.or(old).map_or_else(String::new, |t| t.name.clone());
    TargetDiff {
        old_name: old
            .filter(|o| new.is_some() && o.name != name)
            .map(|o| o.name.clone()),
        name,
        old_label: old.map(TargetOutcomes::label),
        new_label: new.map(TargetOutcomes::label),
        new_error: new.and_then(|t| t.error.clone()),
        pass: (o.count("pass"), n.count("pass")),
        compared,
        rows,
    }
}

/// Compares two reports.
pub fn compare(old: &Outcomes, new: &Outcomes, old_file: &str, new_file: &str) -> Comparison {
    let mut targets = Vec::new();
    if old.targets.len() == 1 && new.targets.len() == 1 {
        targets.push(diff_target(Some(&old.targets[0]), Some(&new.targets[0])));
    } else {
        for n in &new.targets {
            let o = old.targets.iter().find(|o| o.name == n.name);
            targets.push(diff_target(o, Some(n)));
        }
        for o in &old.targets {
            if !new.targets.iter().any(|n| n.name == o.name) {
                targets.push(diff_target(Some(o), None));
            }
        }
    }
    Comparison {
        old_file: old_file.to_owned(),
        new_file: new_file.to_owned(),
        targets,
    }
}

impl Comparison {
    /// How many new failures, over all targets.
    pub fn new_failures(&self) -> usize {
        self.targets.iter().map(TargetDiff::new_failures).sum()
    }

    fn verdict(&self) -> String {
        match self.new_failures() {
            0 => "no new failure".to_owned(),
            1 => "1 new failure".to_owned(),
            n => format!("{n} new failures"),
        }
    }

    /// For a terminal: a line per target, then each change.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "OLD {}\nNEW {}\n", self.old_file, self.new_file);
        for t in &self.targets {
            let _ = writeln!(out, "{}", target_heading(t));
            if let Some(e) = &t.new_error {
                let _ = writeln!(out, "  could not run in NEW: {e}");
            }
            let counts: Vec<String> = Change::ALL
                .iter()
                .map(|&c| format!("{} {}", t.count(c), c.name()))
                .collect();
            let _ = writeln!(
                out,
                "  {}; passed {} -> {} ({} compared)",
                counts.join(", "),
                t.pass.0,
                t.pass.1,
                t.compared
            );
            let width = t.rows.iter().map(|r| r.id.len()).max().unwrap_or(0);
            for r in &t.rows {
                let mut line = format!(
                    "  {:<13}  {:<width$}  {} -> {}",
                    r.change.name(),
                    r.id,
                    Row::outcome(&r.old),
                    Row::outcome(&r.new)
                );
                if let Some(reason) = r
                    .new
                    .as_ref()
                    .filter(|c| c.is_failure())
                    .and_then(|c| c.reason.as_deref())
                {
                    let _ = write!(line, ": {reason}");
                }
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{}", self.verdict());
        out
    }

    /// For a pull-request comment: a table per kind of change, and the
    /// diffs of the new failures (the first [`MARKDOWN_DIFFS`], each cut at
    /// [`MARKDOWN_DIFF_LINES`] lines) in collapsed blocks.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.new_failures() == 0 {
            "✅"
        } else {
            "❌"
        };
        let _ = writeln!(out, "### {icon} nodehttp-conformance: {}\n", self.verdict());
        let _ = writeln!(
            out,
            "`{}` → `{}`\n",
            md_code(&self.old_file),
            md_code(&self.new_file)
        );
        out.push_str(
            "| target | passed | newly failing | newly passing | appeared | vanished | changed |\n",
        );
        out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for t in &self.targets {
            let mut name = md_cell(&t.name);
            if t.new_label.is_none() {
                name.push_str(" (not in NEW)");
            } else if t.old_label.is_none() {
                name.push_str(" (not in OLD)");
            } else if t.new_error.is_some() {
                name.push_str(" (could not run)");
            }
            let _ = write!(out, "| {name} | {} → {} |", t.pass.0, t.pass.1);
            for c in Change::ALL {
                let _ = write!(out, " {} |", t.count(c));
            }
            out.push('\n');
        }
        for change in Change::ALL {
            let rows: Vec<(&TargetDiff, &Row)> = self
                .targets
                .iter()
                .flat_map(|t| {
                    t.rows
                        .iter()
                        .filter(move |r| r.change == change)
                        .map(move |r| (t, r))
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "\n#### {} ({})\n",
                capitalise(change.name()),
                rows.len()
            );
            out.push_str("| target | scenario | section | was | now | why |\n");
            out.push_str("| --- | --- | --- | --- | --- | --- |\n");
            for (t, r) in rows {
                let why = r
                    .new
                    .as_ref()
                    .filter(|c| c.outcome != "pass")
                    .and_then(|c| c.reason.as_deref())
                    .unwrap_or("");
                let _ = writeln!(
                    out,
                    "| {} | `{}` | `{}` | {} | {} | {} |",
                    md_cell(&t.name),
                    md_code(&r.id),
                    md_code(&r.section),
                    Row::outcome(&r.old),
                    Row::outcome(&r.new),
                    md_cell(why)
                );
            }
        }
        let failing: Vec<(&TargetDiff, &Row)> = self
            .targets
            .iter()
            .flat_map(|t| {
                t.rows
                    .iter()
                    .filter(|r| r.is_new_failure())
                    .map(move |r| (t, r))
            })
            .filter(|(_, r)| r.new.as_ref().is_some_and(|c| c.diff.is_some()))
            .collect();
        for (t, r) in failing.iter().take(MARKDOWN_DIFFS) {
            let diff = r.new.as_ref().and_then(|c| c.diff.as_deref()).unwrap_or("");
            let lines: Vec<&str> = diff.lines().collect();
            let mut shown = lines[..lines.len().min(MARKDOWN_DIFF_LINES)].join("\n");
            if lines.len() > MARKDOWN_DIFF_LINES {
                let _ = write!(
                    shown,
                    "\n  ({} more lines)",
                    lines.len() - MARKDOWN_DIFF_LINES
                );
            }
            let _ = writeln!(
                out,
                "\n<details><summary><code>{}</code> on {}: expected (-) and actual (+)</summary>\n\n```diff\n{}\n```\n\n</details>",
                html_escape(&r.id),
                html_escape(&t.name),
                shown.replace("```", "`\u{200b}``")
            );
        }
        if failing.len() > MARKDOWN_DIFFS {
            let _ = writeln!(
                out,
                "\n({} more diffs in `compare --format human` and the reports)",
                failing.len() - MARKDOWN_DIFFS
            );
        }
        out
    }

    /// Machine-readable: the counts per target and every changed row.
    pub fn json(&self) -> Value {
        let cell = |c: &Option<Cell>| {
            c.as_ref()
                .map(|c| json!({"outcome": c.outcome, "reason": c.reason, "diff": c.diff}))
        };
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let mut counts = serde_json::Map::new();
                for c in Change::ALL {
                    counts.insert(c.name().replace(' ', "_"), t.count(c).into());
                }
                json!({
                    "name": t.name,
                    "old_name": t.old_name,
                    "old": t.old_label,
                    "new": t.new_label,
                    "new_error": t.new_error,
                    "passed": {"old": t.pass.0, "new": t.pass.1},
                    "compared": t.compared,
                    "new_failures": t.new_failures(),
                    "counts": counts,
                    "changes": t.rows.iter().map(|r| json!({
                        "id": r.id,
                        "section": r.section,
                        "change": r.change.name().replace(' ', "_"),
                        "new_failure": r.is_new_failure(),
                        "old": cell(&r.old),
                        "new": cell(&r.new),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "old": self.old_file,
            "new": self.new_file,
            "new_failures": self.new_failures(),
            "targets": targets,
        })
    }
}

/// How many new failures' diffs the Markdown shows.
pub const MARKDOWN_DIFFS: usize = 10;
/// How many lines of each diff the Markdown shows.
pub const MARKDOWN_DIFF_LINES: usize = 60;

fn target_heading(t: &TargetDiff) -> String {
    match (&t.old_label, &t.new_label) {
        (Some(o), Some(n)) if o == n => format!("target {n}"),
        (Some(o), Some(n)) => format!("target {n} (OLD: {o})"),
        (None, Some(n)) => format!("target {n}: not in OLD"),
        (Some(o), None) => format!("target {o}: not in NEW"),
        (None, None) => format!("target {}", t.name),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for a Markdown table cell: one line, no `|`, no HTML.
fn md_cell(s: &str) -> String {
    html_escape(s)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Text inside backticks in a table cell.
fn md_code(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn c(outcome: &str) -> Cell {
        Cell {
            outcome: outcome.into(),
            reason: (outcome != "pass").then(|| format!("why {outcome}")),
            section: Some("s".into()),
            diff: (outcome == "fail").then(|| "- a\n+ b\n".into()),
        }
    }

    #[rstest]
    #[case::same_pass(Some("pass"), Some("pass"), None, false)]
    #[case::same_fail(Some("fail"), Some("fail"), None, false)]
    #[case::pass_to_fail(Some("pass"), Some("fail"), Some(Change::NewlyFailing), true)]
    #[case::pass_to_error(Some("pass"), Some("error"), Some(Change::NewlyFailing), true)]
    #[case::skip_to_fail(Some("skip"), Some("fail"), Some(Change::NewlyFailing), true)]
    #[case::unsupported_to_fail(
        Some("unsupported"),
        Some("fail"),
        Some(Change::NewlyFailing),
        true
    )]
    #[case::fail_to_pass(Some("fail"), Some("pass"), Some(Change::NewlyPassing), false)]
    #[case::skip_to_pass(Some("skip"), Some("pass"), Some(Change::NewlyPassing), false)]
    #[case::fail_to_error(Some("fail"), Some("error"), Some(Change::Changed), false)]
    #[case::pass_to_unsupported(Some("pass"), Some("unsupported"), Some(Change::Changed), false)]
    #[case::pass_to_skip(Some("pass"), Some("skip"), Some(Change::Changed), false)]
    #[case::appeared_passing(None, Some("pass"), Some(Change::Appeared), false)]
    #[case::appeared_failing(None, Some("fail"), Some(Change::Appeared), true)]
    #[case::vanished(Some("fail"), None, Some(Change::Vanished), false)]
    fn classification(
        #[case] old: Option<&str>,
        #[case] new: Option<&str>,
        #[case] change: Option<Change>,
        #[case] new_failure: bool,
    ) {
        let (old, new) = (old.map(c), new.map(c));
        assert_eq!(classify(old.as_ref(), new.as_ref()), change);
        if let Some(change) = change {
            let row = Row {
                id: "x".into(),
                section: "s".into(),
                change,
                old,
                new,
            };
            assert_eq!(row.is_new_failure(), new_failure);
        }
    }

    fn target(name: &str, results: &[(&str, &str)]) -> TargetOutcomes {
        TargetOutcomes {
            name: name.into(),
            implementation: name.into(),
            version: "1".into(),
            error: None,
            results: results
                .iter()
                .map(|(id, o)| (id.to_string(), c(o)))
                .collect(),
        }
    }

    fn outcomes(targets: Vec<TargetOutcomes>) -> Outcomes {
        Outcomes {
            kind: crate::outcomes::Kind::Matrix,
            targets,
        }
    }

    #[test]
    fn one_target_reports_pair_whatever_their_names() {
        let old = outcomes(vec![target(
            "node",
            &[("a", "pass"), ("b", "fail"), ("gone", "pass")],
        )]);
        let new = outcomes(vec![target(
            "mine",
            &[("a", "fail"), ("b", "pass"), ("new", "pass")],
        )]);
        let cmp = compare(&old, &new, "old.json", "new.json");
        let t = &cmp.targets[0];
        assert_eq!(t.old_name.as_deref(), Some("node"));
        let got: Vec<(&str, Change)> = t.rows.iter().map(|r| (r.id.as_str(), r.change)).collect();
        assert_eq!(
            got,
            [
                ("a", Change::NewlyFailing),
                ("b", Change::NewlyPassing),
                ("new", Change::Appeared),
                ("gone", Change::Vanished)
            ]
        );
        assert_eq!((t.pass, t.compared), ((2, 2), 2));
        assert_eq!(cmp.new_failures(), 1);
        let human = cmp.human();
        assert!(
            human.contains("newly failing  a     pass -> fail: why fail"),
            "{human}"
        );
        assert!(human.ends_with("1 new failure\n"), "{human}");
        let md = cmp.markdown();
        assert!(
            md.starts_with("### ❌ nodehttp-conformance: 1 new failure"),
            "{md}"
        );
        assert!(md.contains("| mine | 2 → 2 | 1 | 1 | 1 | 1 | 0 |"), "{md}");
        assert!(
            md.contains("| mine | `a` | `s` | pass | fail | why fail |"),
            "{md}"
        );
        assert!(md.contains("```diff\n- a\n+ b\n```"), "{md}");
        let j = cmp.json();
        assert_eq!(j["new_failures"], 1);
        assert_eq!(j["targets"][0]["counts"]["newly_failing"], 1);
        assert_eq!(j["targets"][0]["changes"][0]["change"], "newly_failing");
    }

    #[test]
    fn matrix_targets_pair_by_name_and_a_broken_target_is_a_new_failure() {
        let old = outcomes(vec![
            target("bun", &[("a", "pass")]),
            target("deno", &[("a", "pass")]),
        ]);
        let mut deno = target("deno", &[]);
        deno.error = Some("cannot start deno".into());
        let new = outcomes(vec![
            deno,
            target("bun", &[("a", "pass")]),
            target("node", &[("a", "pass")]),
        ]);
        let cmp = compare(&old, &new, "o", "n");
        let names: Vec<&str> = cmp.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["deno", "bun", "node"]);
        assert_eq!(cmp.targets[0].new_failures(), 1, "the target, once");
        assert_eq!(cmp.targets[1].rows.len(), 0);
        assert_eq!(cmp.targets[2].new_failures(), 0, "a new target passing");
        assert!(cmp
            .human()
            .contains("could not run in NEW: cannot start deno"));
    }

    #[test]
    fn identical_reports_have_nothing_to_say() {
        let old = outcomes(vec![target("t", &[("a", "pass"), ("b", "fail")])]);
        let cmp = compare(&old, &old.clone(), "o", "n");
        assert_eq!(cmp.new_failures(), 0);
        assert!(cmp.targets[0].rows.is_empty());
        assert!(cmp
            .markdown()
            .starts_with("### ✅ nodehttp-conformance: no new failure"));
    }
}
