//! `nodehttp-conformance corpus`: the fixtures as a fuzzing corpus.
//!
//! Every server scenario gives the raw bytes its client sends (the `>`
//! lines of its `wire` block, first connection only) and the bytes it
//! expects back (the `<` lines, with `{{date}}` replaced by a fixed
//! IMF-fixdate). The minimised finds kept in `fuzz/regressions/<target>/`
//! come along. Layout of the output directory:
//!
//! ```text
//! requests/<id>             raw request bytes, one file per scenario
//! responses/<id>            raw response bytes, one file per scenario
//! regressions/<target>/<f>  the finds, in each fuzz target's input format
//! differential/<f>          request streams on which the reference once
//!                           differed from Node (`fuzz/differential`)
//! differential/<f>.node     Node 23.5.0's answer to each: the bytes with
//!                           `Date` masked, then `<eof>` or `<open>`
//! seeds/connection/<id>     requests in the `connection` target's format
//! ```
//!
//! `<id>` is the scenario id with `/` replaced by `__`
//! (`server__messageheaders__duplicates`).

use std::io;
use std::path::{Path, PathBuf};

use crate::fixture::{Expected, Scenario, Side, Step, Suite};

/// The date that stands for `{{date}}` in exported responses.
pub const FIXED_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// One scenario's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The file name: the id with `/` as `__`.
    pub name: String,
    /// What the client sends.
    pub request: Vec<u8>,
    /// What the server must answer.
    pub response: Vec<u8>,
}

/// The bytes of a scenario's first connection.
pub fn exchange(s: &Scenario) -> Exchange {
    let mut request = Vec::new();
    let mut response = Vec::new();
    // The steps before any `! connect` / `! use` are the first connection's.
    let mut first = true;
    for w in &s.wire {
        match &w.step {
            Step::Connect(_) | Step::Use(_) => first = false,
            Step::Send(b) if first => request.extend_from_slice(b),
            Step::Expect(parts) if first => {
                for p in parts {
                    match p {
                        Expected::Bytes(b) => response.extend_from_slice(b),
                        Expected::Date => response.extend_from_slice(FIXED_DATE.as_bytes()),
                        // Placeholders of client scenarios only.
                        #[allow(unreachable_patterns)]
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Exchange {
        name: s.id.replace('/', "__"),
        request,
        response,
    }
}

/// The exchanges of every server scenario that sends something.
pub fn exchanges(suite: &Suite) -> Vec<Exchange> {
    suite
        .scenarios
        .iter()
        .filter(|s| s.side == Side::Server)
        .map(exchange)
        .filter(|e| !e.request.is_empty())
        .collect()
}

/// The files of `fuzz/regressions/`: `(target, file name, bytes)`, sorted.
pub fn regressions(dir: &Path) -> io::Result<Vec<(String, String, Vec<u8>)>> {
    let mut out = Vec::new();
    let Ok(targets) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for t in targets {
        let t = t?;
        if !t.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(t.path())? {
            let f = f?;
            if f.file_type()?.is_file() {
                out.push((
                    t.file_name().to_string_lossy().into_owned(),
                    f.file_name().to_string_lossy().into_owned(),
                    std::fs::read(f.path())?,
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The `regressions` directory beside a fixture directory's parent
/// (`<repo>/fuzz/regressions` for `<repo>/fixtures`).
pub fn regressions_dir(fixtures: &Path) -> PathBuf {
    fixtures.join("../fuzz/regressions")
}

/// Writes the corpus under `out`; returns how many files were written.
pub fn export(suite: &Suite, regressions_from: &Path, out: &Path) -> io::Result<usize> {
    let mut n = 0;
    let mut write = |sub: &str, name: &str, bytes: &[u8]| -> io::Result<()> {
        let dir = out.join(sub);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        n += 1;
        Ok(())
    };
    for e in exchanges(suite) {
        write("requests", &e.name, &e.request)?;
        if !e.response.is_empty() {
            write("responses", &e.name, &e.response)?;
        }
        write(
            "seeds/connection",
            &e.name,
            &nodehttp::fuzzing::connection_input(&e.request),
        )?;
    }
    for (target, name, bytes) in regressions(regressions_from)? {
        write(&format!("regressions/{target}"), &name, &bytes)?;
    }
    let differential = regressions_from.join("../differential/regressions");
    if differential.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&differential)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            write("differential", &name, &std::fs::read(&f)?)?;
        }
    }
    Ok(n)
}
