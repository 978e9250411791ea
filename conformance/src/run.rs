//! Running a selection of scenarios on a pool of adapters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::adapter::{Adapter, AdapterInfo};
use crate::exec::{run_scenario, AdapterState, Split};
use crate::fixture::Scenario;
use crate::protocol::PROTOCOL_VERSION;
use crate::result::{Outcome, Report, ScenarioResult};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The adapter command, run through `sh -c`.
    pub adapter: String,
    /// Adapters (and so scenarios) in parallel.
    pub jobs: usize,
    /// Run `strict` scenarios too.
    pub strict: bool,
    /// Write every send in pieces of this many bytes.
    pub split: Option<usize>,
}

/// Why a run could not happen at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);

/// Whether a scenario is to be skipped, and why.
pub fn skip_reason(s: &Scenario, info: &AdapterInfo, strict: bool) -> Option<String> {
    if s.strict && !strict {
        return Some("strict (run with --strict)".into());
    }
    if !s.applies_to(info.node_version()) {
        let range = match (s.since, s.until) {
            (Some(a), Some(b)) => format!(">= {a}, < {b}"),
            (Some(a), None) => format!(">= {a}"),
            (None, Some(b)) => format!("< {b}"),
            (None, None) => String::new(),
        };
        return Some(format!(
            "applies to Node {range}; the target claims {}",
            info.version
        ));
    }
    None
}

/// Runs `scenarios` (in this order in the report) and calls `progress` after
/// each one, from whichever task finished it.
pub async fn run(
    scenarios: Vec<Scenario>,
    config: &RunConfig,
    progress: Arc<dyn Fn(&ScenarioResult) + Send + Sync>,
) -> Result<Report, RunError> {
    let started = Instant::now();
    // The first adapter tells who the target is; the others start meanwhile.
    let jobs = config.jobs.max(1).min(scenarios.len().max(1));
    let mut spawns = Vec::new();
    for _ in 0..jobs {
        let cmd = config.adapter.clone();
        spawns.push(tokio::spawn(async move { Adapter::spawn(&cmd).await }));
    }
    let mut adapters = Vec::new();
    for s in spawns {
        adapters.push(
            s.await
                .map_err(|e| RunError(e.to_string()))?
                .map_err(RunError)?,
        );
    }
    let info = adapters[0].info.clone();

    let total = scenarios.len();
    let mut results: Vec<Option<ScenarioResult>> = vec![None; total];
    let mut queue = VecDeque::new();
    for (i, s) in scenarios.iter().enumerate() {
        match skip_reason(s, &info, config.strict) {
            Some(why) => {
                let r = ScenarioResult::bare(s, Outcome::Skip(why));
                progress(&r);
                results[i] = Some(r);
            }
            None => queue.push_back(i),
        }
    }
    let scenarios = Arc::new(scenarios);
    let queue = Arc::new(Mutex::new(queue));
    let mut workers = Vec::new();
    for adapter in adapters {
        let scenarios = scenarios.clone();
        let queue = queue.clone();
        let progress = progress.clone();
        let cmd = config.adapter.clone();
        let split = config.split;
        workers.push(tokio::spawn(async move {
            let mut adapter = Some(adapter);
            let mut done = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some(i) = next else { break };
                let scenario = &scenarios[i];
                if adapter.is_none() {
                    match Adapter::spawn(&cmd).await {
                        Ok(a) => adapter = Some(a),
                        Err(e) => {
                            let r = ScenarioResult::bare(scenario, Outcome::Error(e));
                            progress(&r);
                            done.push((i, r));
                            continue;
                        }
                    }
                }
                let a = adapter.as_mut().expect("spawned above");
                let (r, state) = run_scenario(a, scenario, split.map(Split::Pieces)).await;
                if state == AdapterState::Broken {
                    if let Some(a) = adapter.take() {
                        a.kill().await;
                    }
                }
                progress(&r);
                done.push((i, r));
            }
            if let Some(a) = adapter {
                a.kill().await;
            }
            done
        }));
    }
    for w in workers {
        for (i, r) in w
            .await
            .map_err(|e| RunError(format!("a worker panicked: {e}")))?
        {
            results[i] = Some(r);
        }
    }
    Ok(Report {
        adapter: config.adapter.clone(),
        target: info,
        protocol: PROTOCOL_VERSION,
        results: results
            .into_iter()
            .map(|r| r.expect("every scenario has a result"))
            .collect(),
        duration: started.elapsed(),
    })
}
