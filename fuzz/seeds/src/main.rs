//! `nodehttp-fuzz-seeds --out DIR`: export the fixtures' raw requests and
//! responses, and the fuzzing finds, as a corpus for the fuzz targets
//! (layout: see the library's documentation).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use nodehttp_conformance::fixture::Suite;
use nodehttp_conformance::sections::Sections;

/// Export the fixtures and the fuzzing finds as a seed corpus.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The directory to write into (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The fixture directory [default: the repository's fixtures/]
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let fixtures = cli
        .fixtures
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures"));
    let suite = match Suite::load(&fixtures, &Sections::embedded()) {
        Ok(suite) => suite,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "{} fixture error(s) in {}",
                errors.len(),
                fixtures.display()
            );
            return ExitCode::from(2);
        }
    };
    let regressions = nodehttp_fuzz_seeds::regressions_dir(&fixtures);
    match nodehttp_fuzz_seeds::export(&suite, &regressions, &cli.out) {
        Ok(n) => {
            println!("{n} files in {}", cli.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", cli.out.display());
            ExitCode::FAILURE
        }
    }
}
