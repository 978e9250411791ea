//! The `nodehttp-conformance` command line: flags only; the work is in the
//! library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use nodehttp_conformance::bundle::{self, Runtime, RuntimeAdapter};
use nodehttp_conformance::fixture::{Scenario, Suite};
use nodehttp_conformance::matrix::{self, Baseline, MatrixConfig, Target};
use nodehttp_conformance::report;
use nodehttp_conformance::result::ScenarioResult;
use nodehttp_conformance::run::{run, RunConfig};
use nodehttp_conformance::sections::Sections;

/// Spec-driven conformance suite for implementations of Node.js's `node:http`.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CompareFormat {
    Human,
    Markdown,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Human,
    Json,
}

#[derive(clap::Args)]
struct Selection {
    /// A fixture directory to use instead of the embedded fixtures
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// Only scenarios whose id matches this glob (repeatable), e.g. 'server/messageheaders/*'
    #[arg(long, value_name = "GLOB")]
    only: Vec<String>,
    /// Only scenarios citing this section anchor (repeatable)
    #[arg(long, value_name = "ANCHOR")]
    section: Vec<String>,
}

/// How scenarios run: `run` and `matrix` (which runs its targets one after
/// the other, each with -j adapters).
#[derive(clap::Args)]
struct How {
    /// Also run scenarios marked strict (behaviour Node shows but does not document)
    #[arg(long)]
    strict: bool,
    /// Scenarios in parallel (one adapter process each) [default: CPU count; 8 or more for the embedded reference]
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against an implementation
    Run {
        /// The adapter command, run through `sh -c` (see conformance/PROTOCOL.md),
        /// e.g. "node adapters/node/adapter.mjs" [default: the embedded reference]
        #[arg(long, value_name = "CMD", conflicts_with = "target")]
        adapter: Option<String>,
        /// Run the embedded Node adapter with this runtime (`node`, `bun`,
        /// or `deno run -A`), found on the PATH unless --runtime is given
        #[arg(long, value_enum, value_name = "RUNTIME")]
        target: Option<Runtime>,
        /// The runtime's binary, for --target
        #[arg(long, value_name = "PATH", requires = "target")]
        runtime: Option<PathBuf>,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        how: How,
        /// Write every send in pieces of N bytes, each read on its own: a conforming
        /// server answers the same however the bytes are split
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        split: Option<u32>,
        /// Report format: on stdout, or in the --report file
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Write the report (in --format) to FILE; the human summary still goes to stdout
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Run the suite against several targets: a compatibility matrix (JSON,
    /// HTML), checked against an expected-failure baseline
    Matrix {
        /// A target, NAME=CMD (repeatable): CMD is an adapter command, or
        /// `embedded` for the embedded reference [default: reference=embedded]
        #[arg(long = "target", value_name = "NAME=CMD", value_parser = Target::parse)]
        targets: Vec<Target>,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        how: How,
        /// Expected failures per target (TOML: [NAME] fail = [ids], flaky = [ids]):
        /// exit 1 only for failures it does not list
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Write this run's failures as a baseline to FILE
        #[arg(long, value_name = "FILE")]
        write_baseline: Option<PathBuf>,
        /// Write the machine-readable matrix to FILE
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the self-contained HTML report to FILE
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// List scenarios
    List {
        #[command(flatten)]
        selection: Selection,
        /// Output format (json: an array of {id, side, anchors, rule})
        #[arg(long, value_enum, default_value = "human")]
        format: ListFormat,
    },
    /// Show one scenario as written, with its rule and its section
    Show {
        /// The scenario id
        id: String,
        /// The fixture directory
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// Print the embedded adapter for a runtime (`--print node > adapter.mjs`);
    /// without --print, speak the adapter protocol on stdin/stdout, backed by
    /// the embedded reference (what `run` uses when no --adapter is given)
    Adapter {
        /// Print the adapter's source for this runtime instead
        #[arg(long, value_enum, value_name = "RUNTIME")]
        print: Option<Runtime>,
    },
    /// What changed between two reports (`run --format json` or `matrix
    /// --json`): newly failing, newly passing, appeared, vanished; exit 1 on
    /// a new failure
    Compare {
        /// The earlier report (the baseline: the last release, the main branch)
        old: PathBuf,
        /// The later report (this change)
        new: PathBuf,
        /// Output format (markdown: for a pull-request comment)
        #[arg(long, value_enum, default_value = "human")]
        format: CompareFormat,
    },
    /// Write the spec as a static site: a page per section with its text, its
    /// scenarios as transcripts and each target's outcome
    Site {
        /// The folder to write into (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Each target's results: a `matrix --json` or `run --format json` report
        #[arg(long, value_name = "FILE")]
        matrix: Option<PathBuf>,
        /// A fixture directory to use instead of the embedded fixtures
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// For each section of the spec, the scenarios citing it
    Coverage {
        /// The fixture directory
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value = "human")]
        format: ListFormat,
        /// A target's results, NAME=FILE (a `run --format json` report;
        /// repeatable): its pass counts per section are added
        #[arg(long = "results", value_name = "NAME=FILE")]
        results: Vec<String>,
        /// Exit 1 if a section has no scenario and is not in
        /// untestable.toml, or if untestable.toml lists more than 8 sections
        #[arg(long)]
        check: bool,
    },
    /// Run scenarios against real Node and write what it did into their
    /// fixtures (wire and events), for review in the diff
    Record {
        /// Ids or globs of the scenarios to record, e.g. 'client/agentdestroy/*'
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// The adapter command of the implementation to record from: real
        /// Node, e.g. ".runtimes/node-23.5.0/node_modules/.bin/node adapters/node/adapter.mjs"
        #[arg(long, value_name = "CMD", required = true)]
        adapter: String,
        /// The fixture directory
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
}

/// How many embedded adapters run scenarios at once by default.
const EMBEDDED_JOBS: usize = 8;

/// The command that runs this binary as the embedded adapter.
#[cfg(not(feature = "reference"))]
fn embedded_command() -> Result<String, Usage> {
    Err(Usage(NO_REFERENCE.into()))
}

/// What a build without the embedded reference says when it is asked for.
#[cfg(not(feature = "reference"))]
const NO_REFERENCE: &str =
    "error: this build has no embedded reference (cargo feature `reference`): \
     give --adapter CMD or --target RUNTIME";

/// The command that runs this binary as the embedded adapter.
#[cfg(feature = "reference")]
fn embedded_command() -> Result<String, Usage> {
    let exe = std::env::current_exe().map_err(|e| {
        Usage(format!(
            "error: cannot find this program to run the embedded target: {e}"
        ))
    })?;
    let exe = exe.to_string_lossy();
    // Quoted for `sh -c`: single quotes, with any single quote spliced in.
    Ok(format!("'{}' adapter", exe.replace('\'', "'\\''")))
}

/// A usage or fixture error: printed, exit 2.
struct Usage(String);

/// The fixtures of `--fixtures DIR`, else the embedded ones.
fn load(dir: Option<&Path>, sections: &Sections) -> Result<Suite, Usage> {
    let loaded = match dir {
        Some(dir) => Suite::load(dir, sections),
        None => bundle::load_suite(sections),
    };
    loaded.map_err(|errors| {
        let n = errors.len();
        let mut msg: Vec<String> = errors.iter().map(|e| format!("error: {e}")).collect();
        msg.push(format!(
            "{n} fixture error{}",
            if n == 1 { "" } else { "s" }
        ));
        Usage(msg.join("\n"))
    })
}

fn select(suite: Suite, sel: &Selection, sections: &Sections) -> Result<Vec<Scenario>, Usage> {
    let mut globs = Vec::new();
    for g in &sel.only {
        globs.push(glob::Pattern::new(g).map_err(|e| Usage(format!("error: --only `{g}`: {e}")))?);
    }
    for s in &sel.section {
        if !sections.contains(s) {
            return Err(Usage(format!(
                "error: --section `{s}` is not a section anchor of sections.tsv"
            )));
        }
    }
    let chosen: Vec<Scenario> = suite
        .scenarios
        .into_iter()
        .filter(|s| globs.is_empty() || globs.iter().any(|g| g.matches(&s.id)))
        .filter(|s| sel.section.is_empty() || s.anchors.iter().any(|a| sel.section.contains(a)))
        .collect();
    if chosen.is_empty() && (!globs.is_empty() || !sel.section.is_empty()) {
        return Err(Usage("error: the selection matches no scenario".into()));
    }
    Ok(chosen)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sections = Sections::embedded();
    let result = match cli.command {
        Command::Run {
            adapter,
            target,
            runtime,
            selection,
            how,
            split,
            format,
            report,
        } => cmd_run(
            Implementation {
                adapter,
                target,
                runtime,
            },
            &selection,
            RunFlags {
                strict: how.strict,
                jobs: how.jobs,
                split,
            },
            format,
            report,
            &sections,
        ),
        Command::Matrix {
            targets,
            selection,
            how,
            baseline,
            write_baseline,
            json,
            html,
        } => cmd_matrix(
            targets,
            &selection,
            &how,
            MatrixFiles {
                baseline,
                write_baseline,
                json,
                html,
            },
            &sections,
        ),
        Command::List { selection, format } => cmd_list(&selection, format, &sections),
        #[cfg(feature = "reference")]
        Command::Adapter { print: None } => return nodehttp_adapter::main(),
        #[cfg(not(feature = "reference"))]
        Command::Adapter { print: None } => Err(Usage(NO_REFERENCE.into())),
        Command::Adapter {
            print: Some(runtime),
        } => {
            print!("{}", runtime.adapter_source());
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id, fixtures } => cmd_show(&id, fixtures.as_deref(), &sections),
        Command::Coverage {
            fixtures,
            format,
            results,
            check,
        } => cmd_coverage(fixtures.as_deref(), format, &results, check, &sections),
        Command::Record {
            ids,
            adapter,
            fixtures,
        } => cmd_record(&ids, &adapter, fixtures.as_deref(), &sections),
        Command::Compare { old, new, format } => cmd_compare(&old, &new, format),
        Command::Site {
            out,
            matrix,
            fixtures,
        } => cmd_site(&out, matrix.as_deref(), fixtures.as_deref(), &sections),
    };
    match result {
        Ok(code) => code,
        Err(Usage(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}

fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The flags of `run` that name the implementation under test.
struct Implementation {
    adapter: Option<String>,
    target: Option<Runtime>,
    runtime: Option<PathBuf>,
}

/// The flags of `run` that shape the run itself.
struct RunFlags {
    strict: bool,
    jobs: Option<u16>,
    split: Option<u32>,
}

fn cmd_run(
    implementation: Implementation,
    selection: &Selection,
    RunFlags {
        strict,
        jobs,
        split,
    }: RunFlags,
    format: Format,
    report_file: Option<PathBuf>,
    sections: &Sections,
) -> Result<ExitCode, Usage> {
    // The embedded target is light (a few MB, mostly waiting on the
    // scenarios' timers): it runs more scenarios at once than a runtime.
    // The embedded adapter of --target is written to a file that lives
    // until the run ends.
    let mut _written = None;
    let (adapter, default_jobs) = match implementation {
        Implementation {
            adapter: Some(a), ..
        } => (a, None),
        Implementation {
            target: Some(runtime),
            runtime: program,
            ..
        } => {
            let written = RuntimeAdapter::prepare(runtime, program.as_deref())
                .map_err(|e| Usage(format!("error: --target {}: {e}", runtime.name())))?;
            let command = written.command.clone();
            _written = Some(written);
            (command, None)
        }
        _ => (embedded_command()?, Some(EMBEDDED_JOBS)),
    };
    let suite = load(selection.fixtures.as_deref(), sections)?;
    let scenarios = select(suite, selection, sections)?;
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let jobs = jobs.map_or_else(|| default_jobs.map_or(cpus, |j| j.max(cpus)), usize::from);
    let config = RunConfig {
        adapter,
        jobs,
        strict,
        split: split.map(|n| n as usize),
    };

    let bar = ProgressBar::new(scenarios.len() as u64);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {elapsed} {wide_msg}")
                .expect("valid template"),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress_bar = bar.clone();
    let progress = Arc::new(move |r: &ScenarioResult| {
        if r.outcome.is_failure() {
            progress_bar.println(format!("{} {}", r.outcome.name().to_uppercase(), r.id));
        }
        progress_bar.set_message(r.id.clone());
        progress_bar.inc(1);
    });

    let runtime = tokio::runtime::Runtime::new().map_err(|e| Usage(format!("error: {e}")))?;
    let report = runtime
        .block_on(run(scenarios, &config, progress))
        .map_err(|e| Usage(format!("error: {e}")))?;
    bar.finish_and_clear();

    let formatted = |f: Format, color: bool| match f {
        Format::Human => report::human(&report, sections, color),
        Format::Json => report::json(&report, sections),
        Format::Junit => report::junit(&report, sections),
    };
    match report_file {
        Some(path) => {
            std::fs::write(&path, formatted(format, false))
                .map_err(|e| Usage(format!("error: cannot write {}: {e}", path.display())))?;
            print!("{}", formatted(Format::Human, color_stdout()));
        }
        None => print!(
            "{}",
            formatted(format, format == Format::Human && color_stdout())
        ),
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The files `matrix` reads and writes.
struct MatrixFiles {
    baseline: Option<PathBuf>,
    write_baseline: Option<PathBuf>,
    json: Option<PathBuf>,
    html: Option<PathBuf>,
}

fn write_file(path: &Path, text: &str) -> Result<(), Usage> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Usage(format!("error: cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|e| Usage(format!("error: cannot write {}: {e}", path.display())))
}

fn cmd_matrix(
    mut targets: Vec<Target>,
    selection: &Selection,
    &How { strict, jobs }: &How,
    files: MatrixFiles,
    sections: &Sections,
) -> Result<ExitCode, Usage> {
    if targets.is_empty() {
        targets.push(Target {
            name: "reference".into(),
            command: matrix::EMBEDDED.into(),
        });
    }
    let mut names = std::collections::BTreeSet::new();
    for t in &targets {
        if !names.insert(t.name.as_str()) {
            return Err(Usage(format!(
                "error: --target: the name `{}` is given twice",
                t.name
            )));
        }
    }
    let suite = load(selection.fixtures.as_deref(), sections)?;
    // The baseline is checked against the whole suite, before anything runs.
    let baseline = match &files.baseline {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Usage(format!("error: cannot read {}: {e}", path.display())))?;
            let known = suite.scenarios.iter().map(|s| s.id.as_str()).collect();
            Some(
                Baseline::parse(&text, &known)
                    .map_err(|e| Usage(format!("error: baseline {}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let scenarios = select(suite, selection, sections)?;
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let config = MatrixConfig {
        embedded_command: if targets.iter().any(Target::is_embedded) {
            embedded_command()?
        } else {
            String::new()
        },
        jobs: jobs.map_or(cpus, usize::from),
        embedded_jobs: jobs.map_or(EMBEDDED_JOBS.max(cpus), usize::from),
        strict,
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Usage(format!("error: {e}")))?;
    let done = |run: &matrix::TargetRun| match &run.report {
        Ok(r) => {
            let c = r.counts();
            eprintln!(
                "{}: {} passed, {} failed, {} unsupported, {} errors ({:.1} s)",
                run.target.name,
                c.pass,
                c.fail,
                c.unsupported,
                c.error,
                r.duration.as_secs_f64()
            );
        }
        Err(e) => eprintln!("{}: could not run: {e}", run.target.name),
    };
    let m = runtime.block_on(matrix::run_matrix(&targets, scenarios, &config, &done));
    let checks = baseline.as_ref().map(|b| b.check(&m));
    let data = matrix::json(&m, sections, checks.as_deref());
    if let Some(path) = &files.json {
        let mut text = serde_json::to_string_pretty(&data).expect("values serialise");
        text.push('\n');
        write_file(path, &text)?;
    }
    if let Some(path) = &files.html {
        write_file(path, &matrix::html(&data))?;
    }
    if let Some(path) = &files.write_baseline {
        write_file(path, &Baseline::from_matrix(&m).to_toml())?;
    }
    print!("{}", matrix::human(&m, sections, checks.as_deref()));
    Ok(if matrix::failed(&m, checks.as_deref()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn cmd_list(
    selection: &Selection,
    format: ListFormat,
    sections: &Sections,
) -> Result<ExitCode, Usage> {
    let suite = load(selection.fixtures.as_deref(), sections)?;
    let scenarios = select(suite, selection, sections)?;
    match format {
        ListFormat::Json => {
            let list: Vec<serde_json::Value> = scenarios
                .iter()
                .map(|s| serde_json::json!({"id": s.id, "side": s.side, "anchors": s.anchors, "rule": s.rule}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&list).expect("serialises")
            );
        }
        ListFormat::Human => {
            for s in &scenarios {
                let mut marks = String::new();
                if s.strict {
                    marks.push_str(" [strict]");
                }
                if s.deviation.is_some() {
                    marks.push_str(" [deviation]");
                }
                println!("{}{marks}\n    {}", s.id, s.rule);
            }
            println!("{} scenarios", scenarios.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_show(id: &str, dir: Option<&Path>, sections: &Sections) -> Result<ExitCode, Usage> {
    let suite = load(dir, sections)?;
    let Some(s) = suite.scenarios.iter().find(|s| s.id == id) else {
        return Err(Usage(format!(
            "error: no scenario `{id}` (see `nodehttp-conformance list`)"
        )));
    };
    println!("{}  ({}:{})", s.id, s.file.display(), s.line);
    for a in &s.anchors {
        let title = sections.get(a).map_or("", |t| t.title.as_str());
        println!("section: {a}  {title}");
    }
    println!("rule: {}", s.rule);
    if let Some(d) = &s.deviation {
        println!("deviation: {d}");
    }
    println!("\n{}", s.source);
    Ok(ExitCode::SUCCESS)
}

/// The most sections `untestable.toml` may list.
const MAX_UNTESTABLE: usize = 8;

fn cmd_coverage(
    dir: Option<&Path>,
    format: ListFormat,
    results: &[String],
    check: bool,
    sections: &Sections,
) -> Result<ExitCode, Usage> {
    let suite = load(dir, sections)?;
    // Per target: its per-section counts, from a run report.
    let mut targets: Vec<(String, serde_json::Value)> = Vec::new();
    for r in results {
        let (name, file) = r
            .split_once('=')
            .filter(|(n, f)| !n.is_empty() && !f.is_empty())
            .ok_or_else(|| Usage(format!("error: --results `{r}`: expected NAME=FILE")))?;
        let text = std::fs::read_to_string(file)
            .map_err(|e| Usage(format!("error: cannot read {file}: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Usage(format!("error: {file} is not JSON: {e}")))?;
        let per_section = v.get("sections").filter(|s| s.is_object()).ok_or_else(|| {
            Usage(format!(
                "error: {file} is not a `run --format json` report (no `sections`)"
            ))
        })?;
        targets.push((name.to_owned(), per_section.clone()));
    }
    let rows: Vec<(&str, &str, Vec<&str>, Option<&str>)> = sections
        .iter()
        .map(|sec| {
            let ids = suite
                .scenarios
                .iter()
                .filter(|s| s.anchors.iter().any(|a| a == &sec.anchor))
                .map(|s| s.id.as_str())
                .collect();
            (
                sec.anchor.as_str(),
                sec.title.as_str(),
                ids,
                suite.untestable.get(&sec.anchor).map(String::as_str),
            )
        })
        .collect();
    let uncovered: Vec<&str> = rows
        .iter()
        .filter(|(_, _, ids, why)| ids.is_empty() && why.is_none())
        .map(|r| r.0)
        .collect();
    match format {
        ListFormat::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|(a, t, ids, why)| {
                    let per_target: serde_json::Map<String, serde_json::Value> = targets
                        .iter()
                        .map(|(name, per)| {
                            (name.clone(), per.get(*a).cloned().unwrap_or(serde_json::Value::Null))
                        })
                        .collect();
                    serde_json::json!({"anchor": a, "title": t, "count": ids.len(), "scenarios": ids, "untestable": why, "targets": per_target})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v).expect("serialises"));
        }
        ListFormat::Human => {
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
            let (mut covered, mut untestable, mut missing) = (0, 0, 0);
            for (anchor, _, ids, why) in &rows {
                let status = if !ids.is_empty() {
                    covered += 1;
                    let mut st = format!(
                        "{} scenario{}",
                        ids.len(),
                        if ids.len() == 1 { "" } else { "s" }
                    );
                    for (name, per) in &targets {
                        let c = per.get(*anchor);
                        let n = |k: &str| {
                            c.and_then(|c| c.get(k))
                                .and_then(serde_json::Value::as_u64)
                                .unwrap_or(0)
                        };
                        st.push_str(&format!("; {name}: {} pass, {} fail", n("pass"), n("fail")));
                    }
                    st
                } else if let Some(why) = why {
                    untestable += 1;
                    format!("untestable: {why}")
                } else {
                    missing += 1;
                    "none yet".to_owned()
                };
                println!("{anchor:<width$}  {status}");
                for id in ids {
                    println!("{:<width$}    {id}", "");
                }
            }
            println!(
                "\n{} sections: {covered} covered, {untestable} untestable (fixtures/untestable.toml), {missing} without scenarios; {} scenarios",
                rows.len(),
                suite.scenarios.len()
            );
        }
    }
    if check {
        let mut problems = Vec::new();
        if !uncovered.is_empty() {
            problems.push(format!(
                "{} section{} without a scenario and not in untestable.toml: {}",
                uncovered.len(),
                if uncovered.len() == 1 { "" } else { "s" },
                uncovered.join(", ")
            ));
        }
        if suite.untestable.len() > MAX_UNTESTABLE {
            problems.push(format!(
                "untestable.toml lists {} sections; at most {MAX_UNTESTABLE}",
                suite.untestable.len()
            ));
        }
        if !problems.is_empty() {
            for p in problems {
                eprintln!("coverage: {p}");
            }
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_record(
    ids: &[String],
    adapter_cmd: &str,
    dir: Option<&Path>,
    sections: &Sections,
) -> Result<ExitCode, Usage> {
    use nodehttp_conformance::adapter::Adapter;
    use nodehttp_conformance::exec::{record_scenario, AdapterState};
    use nodehttp_conformance::record::rewrite;

    if adapter_cmd.trim() == matrix::EMBEDDED || adapter_cmd.trim().ends_with(" adapter") {
        return Err(Usage(
            "error: the recorder records real Node, never the reference: give --adapter a Node command".into(),
        ));
    }
    // The recorder writes fixture files: those of --fixtures, or of the
    // checkout it runs in (never the copy carried by this binary).
    let dir = match dir {
        Some(d) => d.to_owned(),
        None if Path::new("fixtures/sections.tsv").is_file() => PathBuf::from("fixtures"),
        None => {
            return Err(Usage(
                "error: the recorder writes fixture files: run it in a checkout, or give --fixtures DIR".into(),
            ))
        }
    };
    let dir = Some(dir.as_path());
    let suite = load(dir, sections)?;
    let selection = Selection {
        fixtures: dir.map(Path::to_owned),
        only: ids.to_vec(),
        section: Vec::new(),
    };
    let scenarios = select(suite, &selection, sections)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Usage(format!("error: {e}")))?;
    runtime.block_on(async {
        let mut adapter = Adapter::spawn(adapter_cmd)
            .await
            .map_err(|e| Usage(format!("error: {e}")))?;
        if adapter.info.implementation.starts_with("nodehttp") {
            return Err(Usage(format!(
                "error: the recorder records real Node, not `{}`",
                adapter.info.implementation
            )));
        }
        // Per file, the new text; scenarios rewritten from the last up, so
        // that the line numbers of the earlier ones still hold.
        let mut by_file: std::collections::BTreeMap<
            PathBuf,
            Vec<(Scenario, nodehttp_conformance::exec::Recording)>,
        > = Default::default();
        let mut failed = 0;
        for s in &scenarios {
            if let Some(why) = nodehttp_conformance::run::skip_reason(s, &adapter.info, true) {
                println!("skipped {}: {why}", s.id);
                continue;
            }
            let (outcome, state) = record_scenario(&mut adapter, s).await;
            match outcome {
                Ok(rec) => {
                    println!("recorded {}", s.id);
                    by_file
                        .entry(s.file.clone())
                        .or_default()
                        .push((s.clone(), rec));
                }
                Err(result) => {
                    failed += 1;
                    println!(
                        "NOT recorded {}: {}",
                        s.id,
                        result.outcome.name().to_owned()
                            + ": "
                            + result.outcome.reason().unwrap_or_default()
                    );
                }
            }
            if state == AdapterState::Broken {
                adapter = Adapter::spawn(adapter_cmd)
                    .await
                    .map_err(|e| Usage(format!("error: {e}")))?;
            }
        }
        let recorded: usize = by_file.values().map(Vec::len).sum();
        for (file, mut recs) in by_file {
            let mut text = std::fs::read_to_string(&file)
                .map_err(|e| Usage(format!("error: cannot read {}: {e}", file.display())))?;
            recs.sort_by_key(|(s, _)| std::cmp::Reverse(s.line));
            for (s, rec) in &recs {
                text = rewrite(&text, s, rec);
            }
            write_file(&file, &text)?;
        }
        println!("{recorded} recorded, {failed} not; review the fixtures with `git diff`");
        Ok(if failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn cmd_compare(old: &Path, new: &Path, format: CompareFormat) -> Result<ExitCode, Usage> {
    use nodehttp_conformance::compare::compare;
    use nodehttp_conformance::outcomes::Outcomes;
    let read = |path: &Path| {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Usage(format!("error: cannot read {}: {e}", path.display())))?;
        Outcomes::parse(&text).map_err(|e| Usage(format!("error: {}: {e}", path.display())))
    };
    let (o, n) = (read(old)?, read(new)?);
    let cmp = compare(
        &o,
        &n,
        &old.display().to_string(),
        &new.display().to_string(),
    );
    match format {
        CompareFormat::Human => print!("{}", cmp.human()),
        CompareFormat::Markdown => print!("{}", cmp.markdown()),
        CompareFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&cmp.json()).expect("values serialise")
        ),
    }
    Ok(if cmp.new_failures() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn cmd_site(
    out: &Path,
    matrix: Option<&Path>,
    dir: Option<&Path>,
    sections: &Sections,
) -> Result<ExitCode, Usage> {
    use nodehttp_conformance::outcomes::Outcomes;
    use nodehttp_conformance::site;
    let suite = load(dir, sections)?;
    let outcomes = match matrix {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Usage(format!("error: cannot read {}: {e}", path.display())))?;
            Some(
                Outcomes::parse(&text)
                    .map_err(|e| Usage(format!("error: {}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let files = site::build(&site::SiteInput {
        suite: &suite,
        sections,
        spec: bundle::spec(),
        outcomes: outcomes.as_ref(),
    });
    site::write(out, &files)
        .map_err(|e| Usage(format!("error: cannot write {}: {e}", out.display())))?;
    let pages = files.iter().filter(|(n, _)| n.ends_with(".html")).count();
    println!(
        "{pages} pages in {} (open {})",
        out.display(),
        out.join("index.html").display()
    );
    Ok(ExitCode::SUCCESS)
}
