//! What the binary carries with it, so that it needs nothing else from the
//! repository: the fixtures, the spec's text and the Node adapter (embedded
//! by `build.rs` when the crate is built), and the runtimes that can run
//! that adapter (`run --target node|bun|deno`).
//!
//! Precedence of the fixtures: `--fixtures DIR` when given, else this
//! embedded copy, wherever the binary runs from (it is rebuilt by cargo
//! whenever a file of `fixtures/` changes).

use std::io;
use std::path::{Path, PathBuf};

use crate::fixture::{FixtureError, Suite};
use crate::sections::Sections;

mod files {
    include!(concat!(env!("OUT_DIR"), "/bundle_files.rs"));
}

/// The folder name the embedded fixtures are reported under
/// (`fixtures/server/event-request.md:12`), as in the repository.
pub const FIXTURES_NAME: &str = "fixtures";

/// Every embedded file of `fixtures/`: its path below `fixtures/` (with
/// `/` as separator) and its bytes, sorted by path.
pub fn fixture_files() -> &'static [(&'static str, &'static [u8])] {
    files::FIXTURES
}

/// The spec's text: the Node.js v23.5 `http` documentation (French
/// translation), `spec/node-http.fr.md`.
pub fn spec() -> &'static str {
    files::SPEC
}

/// Writes the embedded fixtures under `dir` (created if missing), as the
/// repository's `fixtures/` folder is laid out.
pub fn write_fixtures(dir: &Path) -> io::Result<()> {
    for (rel, bytes) in fixture_files() {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// Loads the embedded fixtures: [`Suite::load`] on a copy of them in a
/// temporary folder, with each scenario's file (and each error's) named as
/// in the repository (`fixtures/server/event-request.md`).
pub fn load_suite(sections: &Sections) -> Result<Suite, Vec<FixtureError>> {
    let io_error = |e: io::Error| {
        vec![FixtureError {
            file: PathBuf::from(FIXTURES_NAME),
            line: 0,
            message: format!("cannot unpack the embedded fixtures: {e}"),
        }]
    };
    let tmp = tempfile::Builder::new()
        .prefix("nodehttp-fixtures-")
        .tempdir()
        .map_err(io_error)?;
    let dir = tmp.path().join(FIXTURES_NAME);
    write_fixtures(&dir).map_err(io_error)?;
    let rename = |file: &Path| -> PathBuf {
        file.strip_prefix(tmp.path())
            .map_or_else(|_| file.to_owned(), Path::to_owned)
    };
    match Suite::load(&dir, sections) {
        Ok(mut suite) => {
            for s in &mut suite.scenarios {
                s.file = rename(&s.file);
            }
            Ok(suite)
        }
        Err(mut errors) => {
            for e in &mut errors {
                e.file = rename(&e.file);
            }
            Err(errors)
        }
    }
}

/// A JavaScript runtime that runs the embedded Node adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// Node.js: `node adapter.mjs`.
    Node,
    /// Bun: `bun adapter.mjs`.
    Bun,
    /// Deno: `deno run -A adapter.mjs`.
    Deno,
}

impl Runtime {
    /// Its name, which is also the program looked for on the PATH.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Node => "node",
            Runtime::Bun => "bun",
            Runtime::Deno => "deno",
        }
    }

    /// The adapter it runs: the same file for all three (Bun and Deno run
    /// `node:http` code as it is).
    pub fn adapter_source(self) -> &'static str {
        files::NODE_ADAPTER
    }

    /// The adapter command (for `sh -c`) that runs `adapter` with the
    /// runtime's binary `program`.
    pub fn command(self, program: &Path, adapter: &Path) -> String {
        let program = shell_quote(&program.to_string_lossy());
        let adapter = shell_quote(&adapter.to_string_lossy());
        match self {
            Runtime::Node | Runtime::Bun => format!("{program} {adapter}"),
            Runtime::Deno => format!("{program} run -A {adapter}"),
        }
    }
}

/// `s` quoted for `sh -c`: in single quotes, with any single quote spliced in.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The first `name` on the PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The embedded adapter written to a temporary file for a runtime, and the
/// command that runs it; the file goes when this is dropped.
#[derive(Debug)]
pub struct RuntimeAdapter {
    /// The adapter command, for `RunConfig::adapter`.
    pub command: String,
    _dir: tempfile::TempDir,
}

impl RuntimeAdapter {
    /// Writes the adapter of `runtime` and finds its binary: `program` when
    /// given, else the runtime's name on the PATH.
    pub fn prepare(runtime: Runtime, program: Option<&Path>) -> Result<RuntimeAdapter, String> {
        let program = match program {
            Some(p) if p.is_file() => p.to_owned(),
            Some(p) => return Err(format!("--runtime {}: no such file", p.display())),
            None => find_on_path(runtime.name()).ok_or_else(|| {
                format!(
                    "`{}` is not on the PATH: install it, or give its binary with --runtime PATH",
                    runtime.name()
                )
            })?,
        };
        let dir = tempfile::Builder::new()
            .prefix("nodehttp-adapter-")
            .tempdir()
            .map_err(|e| format!("cannot write the adapter: {e}"))?;
        let file = dir.path().join("adapter.mjs");
        std::fs::write(&file, runtime.adapter_source())
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        Ok(RuntimeAdapter {
            command: runtime.command(&program, &file),
            _dir: dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fixtures_load_as_from_the_repository() {
        let sections = Sections::embedded();
        let embedded = load_suite(&sections).expect("the embedded fixtures parse");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let on_disk = Suite::load(&dir, &sections).expect("the fixtures parse");
        let ids = |s: &Suite| s.scenarios.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&embedded), ids(&on_disk));
        assert_eq!(embedded.untestable, on_disk.untestable);
        let first = &embedded.scenarios[0];
        assert!(
            first.file.starts_with("fixtures/client") || first.file.starts_with("fixtures/server"),
            "{}",
            first.file.display()
        );
        assert!(fixture_files().iter().any(|(p, _)| *p == "sections.tsv"));
    }

    #[test]
    fn the_spec_and_the_adapter_are_embedded() {
        assert!(spec().contains("# HTTP {#http}"));
        assert!(Runtime::Bun.adapter_source().contains("node:http"));
    }

    #[test]
    fn runtime_commands_quote_their_paths() {
        let cmd = Runtime::Deno.command(Path::new("/opt/it's/deno"), Path::new("/tmp/a.mjs"));
        assert_eq!(cmd, r"'/opt/it'\''s/deno' run -A '/tmp/a.mjs'");
        let cmd = Runtime::Node.command(Path::new("node"), Path::new("/tmp/a.mjs"));
        assert_eq!(cmd, "'node' '/tmp/a.mjs'");
    }
}
