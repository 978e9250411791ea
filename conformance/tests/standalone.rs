//! The binary copied alone into an empty directory, run from there: it
//! carries its fixtures, its spec and its Node adapter, and needs nothing
//! else from the repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An empty directory holding only a copy of the binary.
struct Alone(PathBuf);

impl Alone {
    fn new(name: &str) -> Alone {
        let dir =
            std::env::temp_dir().join(format!("nodehttp-alone-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            env!("CARGO_BIN_EXE_nodehttp-conformance"),
            dir.join("nodehttp-conformance"),
        )
        .unwrap();
        Alone(dir)
    }

    /// The copy, run with the directory as its working directory.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(self.0.join("nodehttp-conformance"))
            .args(args)
            .current_dir(&self.0)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Alone {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The system Node (or `$NODE`), as a path for --runtime.
fn node() -> PathBuf {
    match std::env::var_os("NODE") {
        Some(p) => PathBuf::from(p),
        None => nodehttp_conformance::bundle::find_on_path("node")
            .expect("these tests need `node` on the PATH (or $NODE)"),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn alone_the_whole_suite_passes_on_the_embedded_reference() {
    let alone = Alone::new("run");
    let o = alone.run(&["run"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    // Nothing was written beside it.
    assert_eq!(files_in(&alone.0), ["nodehttp-conformance"]);
}

#[test]
fn alone_the_embedded_adapter_runs_on_node() {
    let alone = Alone::new("node");
    let node = node();
    let o = alone.run(&[
        "run",
        "--target",
        "node",
        "--runtime",
        node.to_str().unwrap(),
        "--only",
        "server/event-checkexpectation/*",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert!(!out.contains("\n0 passed"), "{out}");
}

#[test]
fn alone_the_printed_adapter_is_one_run_accepts() {
    let alone = Alone::new("print");
    let o = alone.run(&["adapter", "--print", "node"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("node:http"));
    std::fs::write(alone.path("adapter.mjs"), &o.stdout).unwrap();
    let adapter = format!("'{}' adapter.mjs", node().display());
    let o = alone.run(&[
        "run",
        "--adapter",
        &adapter,
        "--only",
        "server/responsestatuscode/*",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn a_runtime_not_found_is_a_usage_error() {
    let alone = Alone::new("missing");
    let o = alone.run(&["run", "--target", "deno", "--runtime", "no-such-deno"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--runtime no-such-deno: no such file"));
    let o = alone.run(&["run", "--target", "node", "--adapter", "node x.mjs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn alone_the_site_has_a_page_per_section_and_an_index() {
    let alone = Alone::new("site");
    let o = alone.run(&["site", "--out", "s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(text(&o), "173 pages in s (open s/index.html)\n");
    let files = files_in(&alone.path("s"));
    let pages = files.iter().filter(|f| f.ends_with(".html")).count();
    assert_eq!(pages, 172 + 1);
    for f in [
        "index.html",
        "event-checkexpectation.html",
        "site.css",
        "site.js",
        "search.js",
    ] {
        assert!(files.iter().any(|n| n == f), "{f} in {files:?}");
    }
}
