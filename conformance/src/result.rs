//! Results of a run: what reporters consume.

use std::time::Duration;

use serde::Serialize;

use crate::adapter::AdapterInfo;
use crate::fixture::Scenario;

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    /// Everything matched.
    Pass,
    /// Something differed; the reason is the first difference.
    Fail(String),
    /// Not selected for this implementation (strict, since/until).
    Skip(String),
    /// The adapter said it cannot run the scenario.
    Unsupported(String),
    /// The adapter broke the protocol, crashed or hung.
    Error(String),
}

impl Outcome {
    /// Short lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Skip(_) => "skip",
            Outcome::Unsupported(_) => "unsupported",
            Outcome::Error(_) => "error",
        }
    }

    /// The reason given with it (none for a pass).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Pass => None,
            Outcome::Fail(r) | Outcome::Skip(r) | Outcome::Unsupported(r) | Outcome::Error(r) => {
                Some(r)
            }
        }
    }

    /// Whether the run should exit non-zero because of it.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Fail(_) | Outcome::Error(_))
    }
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Scenario id.
    pub id: String,
    /// Its section (first anchor).
    pub section: String,
    /// All its anchors.
    pub anchors: Vec<String>,
    /// Its heading.
    pub title: String,
    /// Its rule.
    pub rule: String,
    /// `file:line` of its heading.
    pub location: String,
    /// Its deviation note, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deviation: Option<String>,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall time.
    #[serde(serialize_with = "as_millis", rename = "duration_ms")]
    pub duration: Duration,
    /// The expected transcript (wire lines, then events).
    pub expected: Vec<String>,
    /// The actual transcript, aligned with `expected`.
    pub actual: Vec<String>,
    /// What the adapter wrote on stderr during the scenario.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl ScenarioResult {
    /// A result with no transcript (skips, setup errors).
    pub fn bare(s: &Scenario, outcome: Outcome) -> ScenarioResult {
        ScenarioResult {
            id: s.id.clone(),
            section: s.section().to_owned(),
            anchors: s.anchors.clone(),
            title: s.title.clone(),
            rule: s.rule.clone(),
            location: format!("{}:{}", s.file.display(), s.line),
            deviation: s.deviation.clone(),
            outcome,
            duration: Duration::ZERO,
            expected: Vec::new(),
            actual: Vec::new(),
            stderr: String::new(),
        }
    }
}

/// Everything a reporter needs.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The adapter command (or `embedded reference`).
    pub adapter: String,
    /// What the adapter said about itself.
    pub target: AdapterInfo,
    /// Protocol version.
    pub protocol: u64,
    /// Results in suite order.
    pub results: Vec<ScenarioResult>,
    /// Wall time of the run.
    #[serde(serialize_with = "as_millis", rename = "duration_ms")]
    pub duration: Duration,
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
    /// Unsupported.
    pub unsupported: usize,
    /// Errors.
    pub error: usize,
}

impl Counts {
    /// Adds one outcome.
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail(_) => self.fail += 1,
            Outcome::Skip(_) => self.skip += 1,
            Outcome::Unsupported(_) => self.unsupported += 1,
            Outcome::Error(_) => self.error += 1,
        }
    }

    /// Total.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip + self.unsupported + self.error
    }
}

impl Report {
    /// Counts over all results.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.results {
            c.add(&r.outcome);
        }
        c
    }

    /// Whether the run failed.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.outcome.is_failure())
    }
}
