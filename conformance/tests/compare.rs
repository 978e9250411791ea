//! `compare` on real reports: a planted regression (a scenario that passes
//! in OLD and fails in NEW) exits 1 and is named; identical reports exit 0;
//! a file that is no report exits 2.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, text, TempFixtures, OK_SCENARIO};

/// `run --format json` of the embedded reference on `fixtures`, into `to`.
fn run_report(fixtures: &TempFixtures, to: &Path) {
    let o = bin()
        .args([
            "run",
            "--fixtures",
            fixtures.path(),
            "--format",
            "json",
            "--report",
        ])
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{:?}", text(&o));
}

fn compare(old: &Path, new: &Path, format: &str) -> (Option<i32>, String) {
    let o = bin()
        .arg("compare")
        .args([old, new])
        .args(["--format", format])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    (o.status.code(), out + &err)
}

struct Reports {
    _passing: TempFixtures,
    _failing: TempFixtures,
    old: PathBuf,
    new: PathBuf,
    matrix: PathBuf,
}

/// OLD: the teapot scenario passes; NEW: the same scenario, edited to
/// expect a 500, fails; MATRIX: OLD's run as a `matrix --json`.
fn reports(tag: &str) -> Reports {
    let passing = TempFixtures::new(
        &format!("compare-old-{tag}"),
        "responsestatuscode",
        OK_SCENARIO,
    );
    let failing = TempFixtures::new(
        &format!("compare-new-{tag}"),
        "responsestatuscode",
        &OK_SCENARIO.replace("418 I'm a Teapot", "500 Internal Server Error"),
    );
    let old = passing.0.join("old.json");
    let new = failing.0.join("new.json");
    run_report(&passing, &old);
    run_report(&failing, &new);
    let matrix = passing.0.join("matrix.json");
    let o = bin()
        .args(["matrix", "--fixtures", passing.path(), "--json"])
        .arg(&matrix)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    Reports {
        _passing: passing,
        _failing: failing,
        old,
        new,
        matrix,
    }
}

#[test]
fn a_planted_regression_exits_1_in_every_format() {
    let r = reports("planted");
    let (code, out) = compare(&r.old, &r.new, "human");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("newly failing  server/responsestatuscode/teapot  pass -> fail: line "),
        "{out}"
    );
    assert!(out.contains("1 newly failing, 0 newly passing"), "{out}");
    assert!(out.ends_with("1 new failure\n"), "{out}");

    let (code, md) = compare(&r.old, &r.new, "markdown");
    assert_eq!(code, Some(1), "{md}");
    assert!(
        md.starts_with("### ❌ nodehttp-conformance: 1 new failure"),
        "{md}"
    );
    assert!(
        md.contains("| `server/responsestatuscode/teapot` | `responsestatuscode` | pass | fail |"),
        "{md}"
    );
    assert!(
        md.contains("- < HTTP/1.1 500 Internal Server Error\n+ < HTTP/1.1 418 I'm a Teapot"),
        "{md}"
    );

    let (code, json) = compare(&r.old, &r.new, "json");
    assert_eq!(code, Some(1), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["new_failures"], 1);
    assert_eq!(
        v["targets"][0]["changes"][0]["id"],
        "server/responsestatuscode/teapot"
    );

    // The fix, the other way round: newly passing, exit 0.
    let (code, out) = compare(&r.new, &r.old, "human");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("newly passing  server/responsestatuscode/teapot  fail -> pass"),
        "{out}"
    );
}

#[test]
fn identical_reports_exit_0_and_a_matrix_compares_with_a_run() {
    let r = reports("identical");
    let (code, out) = compare(&r.old, &r.old, "human");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 newly failing, 0 newly passing, 0 appeared, 0 vanished, 0 changed"),
        "{out}"
    );
    assert!(out.ends_with("no new failure\n"), "{out}");
    // A matrix of one target against a run report: the one target pairs.
    let (code, out) = compare(&r.matrix, &r.new, "human");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("target nodehttp (embedded reference)"),
        "{out}"
    );
}

#[test]
fn what_is_no_report_exits_2() {
    let r = reports("junk");
    let junk = r.old.with_file_name("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    let (code, out) = compare(&r.old, &junk, "human");
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("junk.json: neither a `run --format json` nor a `matrix --json` report"),
        "{out}"
    );
    std::fs::write(&junk, "not json").unwrap();
    let (code, out) = compare(&junk, &r.old, "human");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("junk.json: not JSON"), "{out}");
    let (code, out) = compare(&r.old, Path::new("/no/such.json"), "human");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("cannot read /no/such.json"), "{out}");
}
