//! Embeds what the suite needs into the binary, so that it runs from any
//! directory with nothing beside it: every file of `fixtures/`, the spec's
//! text (`spec/node-http.fr.md`) and the Node adapter
//! (`adapters/node/adapter.mjs`). Writes `$OUT_DIR/bundle_files.rs`, which
//! `src/bundle.rs` includes.
//!
//! Cargo reruns this script when a file under those folders changes (a
//! folder given to `rerun-if-changed` is scanned whole), and rustc rebuilds
//! the crate when an included file changes, so a fixture edited in the
//! repository is in the next `cargo run`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let crate_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = crate_dir.parent().expect("the crate is in the workspace");
    let fixtures = root.join("fixtures");
    let spec = root.join("spec/node-http.fr.md");
    let adapter = root.join("adapters/node/adapter.mjs");
    for p in [&fixtures, &spec, &adapter] {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    files_under(&fixtures, &mut files);
    files.sort();
    let mut code = String::from(
        "/// Every file of `fixtures/`: its path under `fixtures/` (with `/`), its bytes.\n\
         pub static FIXTURES: &[(&str, &[u8])] = &[\n",
    );
    for f in &files {
        let rel = f.strip_prefix(&fixtures).expect("under fixtures/");
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let _ = writeln!(
            code,
            "    ({:?}, include_bytes!({:?})),",
            rel.join("/"),
            f.display().to_string()
        );
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// `spec/node-http.fr.md`.\npub static SPEC: &str = include_str!({:?});",
        spec.display().to_string()
    );
    let _ = writeln!(
        code,
        "/// `adapters/node/adapter.mjs`.\npub static NODE_ADAPTER: &str = include_str!({:?});",
        adapter.display().to_string()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("bundle_files.rs"), code).expect("OUT_DIR is writable");
}
