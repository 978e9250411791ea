//! Reports read back: the outcomes of a `run --format json` report (one
//! target) or of a `matrix --json` report (one per target), in one shape,
//! for `compare` and for the site.

use serde_json::Value;

use crate::report::diff;

/// One scenario's result on one target, as a report gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// `pass`, `fail`, `skip`, `unsupported` or `error`.
    pub outcome: String,
    /// Why, unless it passed (the first difference, the skip's reason...).
    pub reason: Option<String>,
    /// The scenario's section (its first anchor), when the report says.
    pub section: Option<String>,
    /// Expected against actual transcripts, when it did not pass.
    pub diff: Option<String>,
}

impl Cell {
    /// Whether the outcome fails a run (`fail` or `error`).
    pub fn is_failure(&self) -> bool {
        is_failure(&self.outcome)
    }
}

/// Whether an outcome's name fails a run (`fail` or `error`).
pub fn is_failure(outcome: &str) -> bool {
    matches!(outcome, "fail" | "error")
}

/// One target's results.
#[derive(Debug, Clone, Default)]
pub struct TargetOutcomes {
    /// Its name: the matrix's target name, or for a run report the
    /// implementation it claimed.
    pub name: String,
    /// The implementation it claimed (empty if it could not run).
    pub implementation: String,
    /// The version it claimed.
    pub version: String,
    /// Why it could not run at all (a matrix target whose adapter failed).
    pub error: Option<String>,
    /// Scenario id and result, in the report's order.
    pub results: Vec<(String, Cell)>,
}

impl TargetOutcomes {
    /// Its result for `id`.
    pub fn get(&self, id: &str) -> Option<&Cell> {
        self.results.iter().find(|(i, _)| i == id).map(|(_, c)| c)
    }

    /// How many results have this outcome.
    pub fn count(&self, outcome: &str) -> usize {
        self.results
            .iter()
            .filter(|(_, c)| c.outcome == outcome)
            .count()
    }

    /// `name (implementation version)`, or the name alone.
    pub fn label(&self) -> String {
        if self.implementation.is_empty() || self.implementation == self.name {
            if self.version.is_empty() {
                self.name.clone()
            } else {
                format!("{} {}", self.name, self.version)
            }
        } else {
            format!("{} ({} {})", self.name, self.implementation, self.version)
        }
    }
}

/// Which command wrote a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `run --format json`.
    Run,
    /// `matrix --json`.
    Matrix,
}

/// A report's outcomes, per target.
#[derive(Debug, Clone)]
pub struct Outcomes {
    /// The command that wrote it.
    pub kind: Kind,
    /// Its targets, in the report's order.
    pub targets: Vec<TargetOutcomes>,
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn lines(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|l| l.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A cell from a run result or a matrix cell (`section` given apart for a
/// matrix, where it is the scenario's).
fn cell(v: &Value, section: Option<String>) -> Result<Cell, String> {
    let outcome = string(v, "outcome").ok_or("a result has no `outcome`")?;
    if !matches!(
        outcome.as_str(),
        "pass" | "fail" | "skip" | "unsupported" | "error"
    ) {
        return Err(format!("unknown outcome `{outcome}`"));
    }
    let (expected, actual) = (lines(v, "expected"), lines(v, "actual"));
    let diff = string(v, "diff").or_else(|| {
        (outcome != "pass" && !(expected.is_empty() && actual.is_empty()))
            .then(|| diff(&expected, &actual, false))
    });
    Ok(Cell {
        outcome,
        reason: string(v, "reason"),
        section: section.or_else(|| string(v, "section")),
        diff,
    })
}

impl Outcomes {
    /// Reads a report's JSON text.
    pub fn parse(text: &str) -> Result<Outcomes, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let shape_error = || {
            "neither a `run --format json` nor a `matrix --json` report of nodehttp-conformance"
                .to_owned()
        };
        if v.get("suite").and_then(Value::as_str) == Some("nodehttp-conformance") {
            Outcomes::from_matrix(&v).map_err(|e| format!("matrix report: {e}"))
        } else if v.get("results").is_some_and(Value::is_array) && v.get("target").is_some() {
            Outcomes::from_run(&v).map_err(|e| format!("run report: {e}"))
        } else {
            Err(shape_error())
        }
    }

    fn from_run(v: &Value) -> Result<Outcomes, String> {
        let target = &v["target"];
        let implementation = string(target, "implementation").unwrap_or_default();
        let mut t = TargetOutcomes {
            name: if implementation.is_empty() {
                "target".into()
            } else {
                implementation.clone()
            },
            version: string(target, "version").unwrap_or_default(),
            implementation,
            ..TargetOutcomes::default()
        };
        for r in v["results"].as_array().into_iter().flatten() {
            let id = string(r, "id").ok_or("a result has no `id`")?;
            let c = cell(r, None).map_err(|e| format!("{id}: {e}"))?;
            t.results.push((id, c));
        }
        Ok(Outcomes {
            kind: Kind::Run,
            targets: vec![t],
        })
    }

    fn from_matrix(v: &Value) -> Result<Outcomes, String> {
        let mut targets = Vec::new();
        for t in v["targets"].as_array().ok_or("no `targets` array")? {
            targets.push(TargetOutcomes {
                name: string(t, "name").ok_or("a target has no `name`")?,
                implementation: string(t, "implementation").unwrap_or_default(),
                version: string(t, "version").unwrap_or_default(),
                error: string(t, "error"),
                results: Vec::new(),
            });
        }
        for s in v["scenarios"].as_array().ok_or("no `scenarios` array")? {
            let id = string(s, "id").ok_or("a scenario has no `id`")?;
            let section = string(s, "section");
            let Some(results) = s.get("results").and_then(Value::as_object) else {
                continue;
            };
            for (name, r) in results {
                let Some(t) = targets.iter_mut().find(|t| &t.name == name) else {
                    return Err(format!("{id}: a result for `{name}`, which is no target"));
                };
                let c = cell(r, section.clone()).map_err(|e| format!("{id} on {name}: {e}"))?;
                t.results.push((id.clone(), c));
            }
        }
        Ok(Outcomes {
            kind: Kind::Matrix,
            targets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_report_is_one_target_named_after_its_implementation() {
        let text = json!({
            "adapter": "node adapter.mjs",
            "target": {"implementation": "node", "version": "23.5.0"},
            "results": [
                {"id": "server/a/ok", "section": "a", "outcome": "pass", "expected": [], "actual": []},
                {"id": "server/a/ko", "section": "a", "outcome": "fail", "reason": "line 3: differs",
                 "expected": ["< HTTP/1.1 200 OK"], "actual": ["< HTTP/1.1 500 Internal Server Error"]},
            ],
        })
        .to_string();
        let o = Outcomes::parse(&text).unwrap();
        assert_eq!(o.kind, Kind::Run);
        let t = &o.targets[0];
        assert_eq!((t.name.as_str(), t.version.as_str()), ("node", "23.5.0"));
        assert_eq!(t.get("server/a/ok").unwrap().diff, None);
        let ko = t.get("server/a/ko").unwrap();
        assert!(ko.is_failure());
        assert_eq!(ko.section.as_deref(), Some("a"));
        assert!(ko
            .diff
            .as_deref()
            .unwrap()
            .contains("- < HTTP/1.1 200 OK\n+ < HTTP/1.1 500"));
    }

    #[test]
    fn a_matrix_report_has_a_target_per_column() {
        let text = json!({
            "suite": "nodehttp-conformance",
            "targets": [{"name": "bun", "implementation": "bun", "version": "1.2"},
                        {"name": "gone", "error": "cannot start"}],
            "scenarios": [{"id": "server/a/x", "section": "a",
                           "results": {"bun": {"outcome": "fail", "diff": "- a\n+ b\n"}}}],
        })
        .to_string();
        let o = Outcomes::parse(&text).unwrap();
        assert_eq!(o.kind, Kind::Matrix);
        assert_eq!(o.targets.len(), 2);
        let x = o.targets[0].get("server/a/x").unwrap();
        assert_eq!(x.diff.as_deref(), Some("- a\n+ b\n"));
        assert_eq!(x.section.as_deref(), Some("a"));
        assert_eq!(o.targets[1].error.as_deref(), Some("cannot start"));
    }

    #[test]
    fn other_json_is_refused_with_a_reason() {
        assert!(Outcomes::parse("{").unwrap_err().starts_with("not JSON"));
        assert!(Outcomes::parse("[1]").unwrap_err().starts_with("neither"));
        let bad = json!({"target": {}, "results": [{"id": "x", "outcome": "maybe"}]}).to_string();
        assert_eq!(
            Outcomes::parse(&bad).unwrap_err(),
            "run report: x: unknown outcome `maybe`"
        );
    }
}
