//! The compatibility matrix: the suite against several targets (Node
//! versions, Bun, Deno, the embedded reference, a third party's adapter),
//! as one JSON document and one self-contained HTML page, with an
//! expected-failure baseline per target for regression CI.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::fixture::Scenario;
use crate::report::diff;
use crate::result::{Counts, Outcome, Report, ScenarioResult};
use crate::run::{run, RunConfig};
use crate::sections::Sections;

/// The command that names the embedded reference in `--target NAME=embedded`.
pub const EMBEDDED: &str = "embedded";

/// One column of the matrix: `NAME=CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its name: a column title and a key of the baseline.
    pub name: String,
    /// The adapter command (run through `sh -c`), or [`EMBEDDED`].
    pub command: String,
}

impl Target {
    /// Parses `NAME=CMD`. Names are letters, digits and `.`, `_`, `+`, `-`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let Some((name, command)) = s.split_once('=') else {
            return Err(format!(
                "`{s}` is not NAME=CMD (e.g. bun=\"bun adapters/node/adapter.mjs\", reference=embedded)"
            ));
        };
        let name = name.trim();
        let command = command.trim();
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
        if name.is_empty() || !valid {
            return Err(format!(
                "target name `{name}`: use letters, digits and . _ + - only"
            ));
        }
        if command.is_empty() {
            return Err(format!("target `{name}` has no command"));
        }
        Ok(Target {
            name: name.to_owned(),
            command: command.to_owned(),
        })
    }

    /// Whether it is the embedded reference.
    pub fn is_embedded(&self) -> bool {
        self.command == EMBEDDED
    }
}

/// A target after its run: its report, or why it could not run at all.
#[derive(Debug, Clone)]
pub struct TargetRun {
    /// The target.
    pub target: Target,
    /// The run's report, or the reason there is none.
    pub report: Result<Report, String>,
}

impl TargetRun {
    /// Its result for scenario `id`.
    pub fn result(&self, id: &str) -> Option<&ScenarioResult> {
        self.report
            .as_ref()
            .ok()?
            .results
            .iter()
            .find(|r| r.id == id)
    }

    /// Outcome counts (all zero when it could not run).
    pub fn counts(&self) -> Counts {
        self.report.as_ref().map(Report::counts).unwrap_or_default()
    }
}

/// The whole matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// The scenarios, in suite order.
    pub scenarios: Vec<Scenario>,
    /// One run per target, in the order given.
    pub runs: Vec<TargetRun>,
    /// Whether strict scenarios ran.
    pub strict: bool,
    /// Wall time of all runs.
    pub duration: Duration,
}

/// How to run each target.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    /// The command that runs the embedded reference as an adapter.
    pub embedded_command: String,
    /// Adapters in parallel per target (targets run one after the other).
    pub jobs: usize,
    /// Adapters in parallel for the embedded reference.
    pub embedded_jobs: usize,
    /// Run strict scenarios too.
    pub strict: bool,
}

/// Runs `scenarios` against every target, one target after the other (each
/// with `jobs` adapters), calling `done` after each target.
pub async fn run_matrix(
    targets: &[Target],
    scenarios: Vec<Scenario>,
    config: &MatrixConfig,
    done: &dyn Fn(&TargetRun),
) -> Matrix {
    let started = Instant::now();
    let mut runs = Vec::new();
    for target in targets {
        let (adapter, jobs) = if target.is_embedded() {
            (config.embedded_command.clone(), config.embedded_jobs)
        } else {
            (target.command.clone(), config.jobs)
        };
        let run_config = RunConfig {
            adapter,
            jobs,
            strict: config.strict,
            split: None,
        };
        let report = run(
            scenarios.clone(),
            &run_config,
            Arc::new(|_: &ScenarioResult| {}),
        )
        .await
        .map(|mut r| {
            if target.is_embedded() {
                r.adapter = EMBEDDED.to_owned();
            }
            r
        })
        .map_err(|e| e.0);
        let target_run = TargetRun {
            target: target.clone(),
            report,
        };
        done(&target_run);
        runs.push(target_run);
    }
    Matrix {
        scenarios,
        runs,
        strict: config.strict,
        duration: started.elapsed(),
    }
}

// ---------------------------------------------------------------- baseline

/// Expected failures, per target name: what a CI compares a run against, so
/// that only new failures fail it.
///
/// ```toml
/// [bun]
/// fail = ["server/event-request/pipelined-in-order"]   # fails (or errors) today
/// flaky = []                                           # may pass or fail
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Target name to its expectations.
    pub targets: BTreeMap<String, Expected>,
}

/// One target's expectations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Scenarios expected to fail (outcome `fail` or `error`).
    #[serde(default)]
    pub fail: BTreeSet<String>,
    /// Scenarios that may pass or fail.
    #[serde(default)]
    pub flaky: BTreeSet<String>,
}

impl Baseline {
    /// Parses a baseline; every id must be one of `known` (the suite's).
    pub fn parse(text: &str, known: &BTreeSet<&str>) -> Result<Baseline, String> {
        let targets: BTreeMap<String, Expected> =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let mut errors = Vec::new();
        for (name, expected) in &targets {
            for id in expected.fail.iter().chain(&expected.flaky) {
                if !known.contains(id.as_str()) {
                    errors.push(format!("[{name}]: `{id}` is not a scenario of the suite"));
                }
            }
            for id in expected.fail.intersection(&expected.flaky) {
                errors.push(format!("[{name}]: `{id}` is listed both in fail and flaky"));
            }
        }
        if errors.is_empty() {
            Ok(Baseline { targets })
        } else {
            Err(errors.join("\n"))
        }
    }

    /// The baseline this matrix would pass: its failures, per target.
    pub fn from_matrix(m: &Matrix) -> Baseline {
        let targets = m
            .runs
            .iter()
            .filter_map(|run| {
                let report = run.report.as_ref().ok()?;
                let fail = report
                    .results
                    .iter()
                    .filter(|r| r.outcome.is_failure())
                    .map(|r| r.id.clone())
                    .collect();
                Some((
                    run.target.name.clone(),
                    Expected {
                        fail,
                        flaky: BTreeSet::new(),
                    },
                ))
            })
            .collect();
        Baseline { targets }
    }

    /// As TOML, one id a line.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Expected failures per target of `nodehttp-conformance matrix --baseline`.\n\
             # fail: fails (or errors) today; flaky: may pass or fail. A failure not\n\
             # listed here fails the run; a listed scenario that passes is reported.\n",
        );
        let quote = |s: &str| serde_json::to_string(s).expect("strings serialise");
        for (name, expected) in &self.targets {
            let _ = writeln!(out, "\n[{}]", quote(name));
            for (key, ids) in [("fail", &expected.fail), ("flaky", &expected.flaky)] {
                if ids.is_empty() {
                    let _ = writeln!(out, "{key} = []");
                    continue;
                }
                let _ = writeln!(out, "{key} = [");
                for id in ids {
                    let _ = writeln!(out, "  {},", quote(id));
                }
                out.push_str("]\n");
            }
        }
        out
    }

    /// Compares each run with its expectations.
    pub fn check(&self, m: &Matrix) -> Vec<TargetCheck> {
        let none = Expected::default();
        m.runs
            .iter()
            .map(|run| {
                let expected = self.targets.get(&run.target.name).unwrap_or(&none);
                let mut check = TargetCheck {
                    target: run.target.name.clone(),
                    in_baseline: self.targets.contains_key(&run.target.name),
                    ..TargetCheck::default()
                };
                let Ok(report) = &run.report else {
                    return check;
                };
                for r in &report.results {
                    let listed = expected.fail.contains(&r.id);
                    if r.outcome.is_failure() {
                        if listed {
                            check.expected_failures.push(r.id.clone());
                        } else if !expected.flaky.contains(&r.id) {
                            check.new_failures.push(r.id.clone());
                        }
                    } else if listed && r.outcome == Outcome::Pass {
                        check.now_pass.push(r.id.clone());
                    }
                }
                check
            })
            .collect()
    }
}

/// A run against its baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TargetCheck {
    /// The target's name.
    pub target: String,
    /// Whether the baseline has an entry for it.
    pub in_baseline: bool,
    /// Failures the baseline does not expect: these fail the run.
    pub new_failures: Vec<String>,
    /// Failures it expects.
    pub expected_failures: Vec<String>,
    /// Expected failures that pass now (the baseline can drop them).
    pub now_pass: Vec<String>,
}

// ---------------------------------------------------------------- verdict

/// Whether the matrix fails a CI: a target that could not run, or (with a
/// baseline) a failure it does not expect, or (without) any failure.
pub fn failed(m: &Matrix, checks: Option<&[TargetCheck]>) -> bool {
    if m.runs.iter().any(|r| r.report.is_err()) {
        return true;
    }
    match checks {
        Some(checks) => checks.iter().any(|c| !c.new_failures.is_empty()),
        None => m
            .runs
            .iter()
            .any(|r| r.report.as_ref().is_ok_and(Report::failed)),
    }
}

// ---------------------------------------------------------------- reports

fn section_order<'a>(m: &'a Matrix, sections: &Sections) -> Vec<&'a str> {
    let mut anchors: Vec<&str> = m.scenarios.iter().map(Scenario::section).collect();
    anchors.sort_by_key(|a| (sections.position(a), *a));
    anchors.dedup();
    anchors
}

fn counts_by_section(run: &TargetRun) -> BTreeMap<&str, Counts> {
    let mut map: BTreeMap<&str, Counts> = BTreeMap::new();
    if let Ok(report) = &run.report {
        for r in &report.results {
            map.entry(r.section.as_str()).or_default().add(&r.outcome);
        }
    }
    map
}

fn outcome_reason(o: &Outcome) -> Option<&str> {
    match o {
        Outcome::Pass => None,
        Outcome::Fail(s) | Outcome::Skip(s) | Outcome::Unsupported(s) | Outcome::Error(s) => {
            Some(s)
        }
    }
}

/// The machine-readable matrix: targets with counts (overall and per
/// section) and baseline verdicts, sections in spec order, and per scenario
/// per target the outcome, duration and, unless it passed, the expected and
/// actual transcripts and their diff.
pub fn json(m: &Matrix, sections: &Sections, checks: Option<&[TargetCheck]>) -> Value {
    let targets: Vec<Value> = m
        .runs
        .iter()
        .map(|run| {
            let mut t = json!({
                "name": run.target.name,
                "command": run.target.command,
            });
            let obj = t.as_object_mut().expect("an object");
            match &run.report {
                Ok(report) => {
                    obj.insert(
                        "implementation".into(),
                        report.target.implementation.clone().into(),
                    );
                    obj.insert("version".into(), report.target.version.clone().into());
                    obj.insert(
                        "duration_ms".into(),
                        (report.duration.as_millis() as u64).into(),
                    );
                    obj.insert("counts".into(), json!(report.counts()));
                    let per: Map<String, Value> = counts_by_section(run)
                        .into_iter()
                        .map(|(s, c)| (s.to_owned(), json!(c)))
                        .collect();
                    obj.insert("sections".into(), per.into());
                }
                Err(e) => {
                    obj.insert("error".into(), e.clone().into());
                }
            }
            if let Some(check) =
                checks.and_then(|cs| cs.iter().find(|c| c.target == run.target.name))
            {
                obj.insert("baseline".into(), json!(check));
            }
            t
        })
        .collect();
    let section_list: Vec<Value> = section_order(m, sections)
        .into_iter()
        .map(|a| json!({"anchor": a, "title": sections.get(a).map_or("", |s| s.title.as_str())}))
        .collect();
    let scenarios: Vec<Value> = m
        .scenarios
        .iter()
        .map(|s| {
            let mut results = Map::new();
            let mut transcript: Option<&[String]> = None;
            for run in &m.runs {
                let Some(r) = run.result(&s.id) else { continue };
                let mut cell = json!({
                    "outcome": r.outcome.name(),
                    "duration_ms": r.duration.as_millis() as u64,
                });
                let c = cell.as_object_mut().expect("an object");
                if let Some(reason) = outcome_reason(&r.outcome) {
                    c.insert("reason".into(), reason.into());
                }
                if r.outcome == Outcome::Pass {
                    if transcript.is_none() && !r.expected.is_empty() {
                        transcript = Some(&r.expected);
                    }
                } else if !r.expected.is_empty() || !r.actual.is_empty() {
                    c.insert("expected".into(), json!(r.expected));
                    c.insert("actual".into(), json!(r.actual));
                    c.insert("diff".into(), diff(&r.expected, &r.actual, false).into());
                }
                if !r.stderr.trim().is_empty() && r.outcome.is_failure() {
                    c.insert("stderr".into(), r.stderr.clone().into());
                }
                results.insert(run.target.name.clone(), cell);
            }
            json!({
                "id": s.id,
                "side": s.side,
                "section": s.section(),
                "anchors": s.anchors,
                "title": s.title,
                "rule": s.rule,
                "location": format!("{}:{}", s.file.display(), s.line),
                "strict": s.strict,
                "deviation": s.deviation,
                "transcript": transcript.unwrap_or_default(),
                "results": results,
            })
        })
        .collect();
    json!({
        "suite": "nodehttp-conformance",
        "version": env!("CARGO_PKG_VERSION"),
        "strict": m.strict,
        "duration_ms": m.duration.as_millis() as u64,
        "targets": targets,
        "sections": section_list,
        "scenarios": scenarios,
    })
}

/// The HTML page's template: [`html`] puts the JSON in it.
const TEMPLATE: &str = include_str!("matrix.html");
/// Where the data goes in [`TEMPLATE`].
const DATA_MARK: &str = "/*MATRIX-DATA*/";

/// The self-contained HTML report (inline CSS and script, no network): the
/// JSON of [`json`] inside a page that renders it.
pub fn html(data: &Value) -> String {
    // Inside <script>, "</script" or "<!--" would end or confuse the element:
    // `<` as \u003c is the same JSON.
    let text = serde_json::to_string(data)
        .expect("values serialise")
        .replace('<', "\\u003c");
    TEMPLATE.replacen(DATA_MARK, &text, 1)
}

/// The human summary: one line per target and section table, then the
/// failures (the new ones, with a baseline) and the baseline's stale entries.
pub fn human(m: &Matrix, sections: &Sections, checks: Option<&[TargetCheck]>) -> String {
    let mut out = String::new();
    let width = m
        .runs
        .iter()
        .map(|r| r.target.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let what = |r: &Report| format!("{} {}", r.target.implementation, r.target.version);
    let iw = m
        .runs
        .iter()
        .filter_map(|r| r.report.as_ref().ok().map(|r| what(r).len()))
        .max()
        .unwrap_or(14)
        .max(14);
    let _ = writeln!(
        out,
        "{:<width$}  {:<iw$}  pass  fail  unsup  skip  error",
        "target", "implementation"
    );
    for run in &m.runs {
        let name = &run.target.name;
        match &run.report {
            Ok(report) => {
                let c = report.counts();
                let _ = writeln!(
                    out,
                    "{name:<width$}  {:<iw$}  {:>4}  {:>4}  {:>5}  {:>4}  {:>5}",
                    what(report),
                    c.pass,
                    c.fail,
                    c.unsupported,
                    c.skip,
                    c.error
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{name:<width$}  could not run: {e}");
            }
        }
    }

    // Sections where some target does not pass everything it ran.
    let anchors = section_order(m, sections);
    let per: Vec<BTreeMap<&str, Counts>> = m.runs.iter().map(counts_by_section).collect();
    let uneven: Vec<&str> = anchors
        .into_iter()
        .filter(|a| {
            per.iter().any(|p| {
                p.get(a)
                    .is_some_and(|c| c.fail + c.error + c.unsupported > 0)
            })
        })
        .collect();
    if !uneven.is_empty() {
        let sw = uneven.iter().map(|a| a.len()).max().unwrap_or(7);
        let _ = writeln!(
            out,
            "\nSections where a target fails or lacks an API (passed/ran)"
        );
        let _ = write!(out, "{:<sw$}", "section");
        for run in &m.runs {
            let _ = write!(
                out,
                "  {:>w$}",
                run.target.name,
                w = run.target.name.len().max(7)
            );
        }
        out.push('\n');
        for a in uneven {
            let _ = write!(out, "{a:<sw$}");
            for (run, p) in m.runs.iter().zip(&per) {
                let c = p.get(a).copied().unwrap_or_default();
                let cell = format!("{}/{}", c.pass, c.total() - c.skip);
                let _ = write!(out, "  {cell:>w$}", w = run.target.name.len().max(7));
            }
            out.push('\n');
        }
    }

    let by_target: HashMap<&str, &TargetCheck> = checks
        .unwrap_or_default()
        .iter()
        .map(|c| (c.target.as_str(), c))
        .collect();
    for run in &m.runs {
        let Ok(report) = &run.report else { continue };
        let check = by_target.get(run.target.name.as_str());
        let failing: Vec<&ScenarioResult> = report
            .results
            .iter()
            .filter(|r| r.outcome.is_failure())
            .filter(|r| check.is_none_or(|c| c.new_failures.contains(&r.id)))
            .collect();
        if !failing.is_empty() {
            let n = failing.len();
            let plural = if n == 1 { "" } else { "s" };
            let what = if checks.is_some() {
                " not in the baseline"
            } else {
                ""
            };
            let _ = writeln!(out, "\n{}: {n} failure{plural}{what}", run.target.name);
            for r in failing {
                let _ = writeln!(
                    out,
                    "  {} {}: {}",
                    r.outcome.name().to_uppercase(),
                    r.id,
                    outcome_reason(&r.outcome).unwrap_or_default()
                );
            }
        }
        if let Some(c) = check {
            if !c.now_pass.is_empty() {
                let _ = writeln!(
                    out,
                    "\n{}: {} expected failure{} pass{} now (drop them from the baseline)",
                    c.target,
                    c.now_pass.len(),
                    if c.now_pass.len() == 1 { "" } else { "s" },
                    if c.now_pass.len() == 1 { "es" } else { "" },
                );
                for id in &c.now_pass {
                    let _ = writeln!(out, "  PASS {id}");
                }
            }
            if !c.in_baseline {
                let _ = writeln!(
                    out,
                    "\n{}: not in the baseline (no failure expected)",
                    c.target
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} scenarios, {} targets in {:.1} s",
        m.scenarios.len(),
        m.runs.len(),
        m.duration.as_secs_f64()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<&'static str> {
        ["server/a/one", "server/a/two", "client/b/three"]
            .into_iter()
            .collect()
    }

    #[test]
    fn targets_parse_name_equals_command() {
        assert_eq!(
            Target::parse("bun=bun adapters/node/adapter.mjs --x=1").unwrap(),
            Target {
                name: "bun".into(),
                command: "bun adapters/node/adapter.mjs --x=1".into()
            }
        );
        assert!(Target::parse("reference=embedded").unwrap().is_embedded());
        for bad in ["bun", "=cmd", "b un=cmd", "bun=", "bun=  ", "a/b=cmd"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_baseline_parses_and_round_trips() {
        let text = r#"
            ["node-23.5.0"]
            fail = []
            [bun]
            fail = ["server/a/one"]
            flaky = ["client/b/three"]
        "#;
        let b = Baseline::parse(text, &known()).unwrap();
        assert_eq!(b.targets["bun"].fail.len(), 1);
        assert_eq!(b.targets["bun"].flaky.len(), 1);
        assert!(b.targets["node-23.5.0"].fail.is_empty());
        assert_eq!(Baseline::parse(&b.to_toml(), &known()).unwrap(), b);
    }

    #[test]
    fn bad_baselines_say_what_is_wrong() {
        let e = Baseline::parse("[bun]\nfail = [\"server/a/nope\"]\n", &known()).unwrap_err();
        assert!(e.contains("`server/a/nope` is not a scenario"), "{e}");
        let e = Baseline::parse("[bun]\nfails = []\n", &known()).unwrap_err();
        assert!(e.contains("unknown field `fails`"), "{e}");
        let e = Baseline::parse("[bun]\nfail = \"server/a/one\"\n", &known()).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = Baseline::parse(
            "[bun]\nfail = [\"server/a/one\"]\nflaky = [\"server/a/one\"]\n",
            &known(),
        )
        .unwrap_err();
        assert!(e.contains("both in fail and flaky"), "{e}");
        assert!(Baseline::parse("bun = 1", &known()).is_err());
    }

    #[test]
    fn html_data_cannot_close_its_script_element() {
        let page = html(&json!({"x": "</script><!--"}));
        assert!(!page.contains("</script><!--"));
        assert!(page.contains(r#"\u003c/script>\u003c!--"#));
        assert!(!page.contains(DATA_MARK));
    }
}
