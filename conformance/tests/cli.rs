//! The command line, end to end, against real Node (`node` on the PATH, or
//! `$NODE`): exit codes, error messages, reports, diffs.

mod common;

use std::process::Command;

use common::{bin, node_adapter, pass_and_fail, text, TempFixtures, OK_SCENARIO};

#[test]
fn a_passing_scenario_exits_0_and_writes_junit() {
    let f = TempFixtures::new("pass", "responsestatuscode", OK_SCENARIO);
    let report = f.0.join("report.xml");
    let o = bin()
        .args([
            "run",
            "--adapter",
            &node_adapter(),
            "--fixtures",
            f.path(),
            "--format",
            "junit",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.ends_with("1 passed, 0 failed, 0 skipped\n"), "{out}");
    let xml = std::fs::read_to_string(report).unwrap();
    assert!(
        xml.contains(
            r#"<testcase classname="responsestatuscode" name="server/responsestatuscode/teapot""#
        ),
        "{xml}"
    );
}

#[test]
fn a_wrong_status_fails_with_a_readable_diff() {
    let f = TempFixtures::new(
        "fail",
        "responsestatuscode",
        &OK_SCENARIO.replace("418 I'm a Teapot", "500 Internal Server Error"),
    );
    let o = bin()
        .args(["run", "--adapter", &node_adapter(), "--fixtures", f.path()])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("FAIL server/responsestatuscode/teapot"),
        "{out}"
    );
    assert!(out.contains("the bytes received differ"), "{out}");
    assert!(
        out.contains("  - < HTTP/1.1 500 Internal Server Error\n  + < HTTP/1.1 418 I'm a Teapot\n"),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 1 failed, 0 skipped\n"), "{out}");
}

#[test]
fn a_wrong_event_field_fails_and_shows_the_field() {
    let f = TempFixtures::new(
        "event",
        "responsestatuscode",
        &OK_SCENARIO.replace(r#""url": "/""#, r#""url": "/x""#),
    );
    let o = bin()
        .args([
            "run",
            "--adapter",
            &node_adapter(),
            "--fixtures",
            f.path(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["counts"]["fail"], 1);
    let r = &v["results"][0];
    assert_eq!(r["outcome"], "fail");
    assert_eq!(r["reason"], "line 26: event 1 (`request`) differs");
    assert!(r["actual"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains(r#""url":"/""#)));
}

#[test]
fn a_malformed_fixture_exits_2_naming_file_and_line() {
    let f = TempFixtures::new(
        "malformed",
        "responsestatuscode",
        &OK_SCENARIO.replace("! open for 20", "! open for twenty"),
    );
    for args in [
        vec!["list"],
        vec!["run", "--adapter", "true"],
        vec!["coverage"],
    ] {
        let o = bin()
            .args(&args)
            .args(["--fixtures", f.path()])
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}{err}");
        let want = format!(
            "{}/server/responsestatuscode.md:22: `twenty` is not a number of milliseconds",
            f.path()
        );
        assert!(err.contains(&want), "{args:?}: {err}");
    }
}

#[test]
fn an_unknown_anchor_is_rejected() {
    let f = TempFixtures::new(
        "anchor",
        "responsestatuscode",
        &OK_SCENARIO.replace(
            r#"["responsestatuscode"]"#,
            r#"["responsestatuscode", "not-a-section"]"#,
        ),
    );
    let o = bin()
        .args(["list", "--fixtures", f.path()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("responsestatuscode.md:7: unknown section anchor `not-a-section`"),
        "{}",
        text(&o).1
    );
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        vec!["run", "--format", "xml"],
        vec!["run", "-j", "0"],
        vec!["run", "--adapter", "true", "--section", "nope"],
        vec![
            "run",
            "--adapter",
            "true",
            "--only",
            "server/nothing-matches/*",
        ],
        vec!["show", "server/no/such"],
        vec!["frobnicate"],
    ] {
        let o = bin().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {:?}", text(&o));
    }
}

#[test]
fn an_adapter_that_is_not_one_is_a_clear_error() {
    let f = TempFixtures::new("notadapter", "responsestatuscode", OK_SCENARIO);
    let o = bin()
        .args([
            "run",
            "--fixtures",
            f.path(),
            "--adapter",
            "echo hello; echo oops >&2",
        ])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("did not start: expected a `ready` message, got not JSON"),
        "{err}"
    );
    assert!(err.contains("oops"), "{err}");
}

#[test]
fn an_adapter_of_protocol_1_is_refused_with_what_to_change() {
    let f = TempFixtures::new("v1", "responsestatuscode", OK_SCENARIO);
    let adapter = r#"echo '{"type":"ready","protocol":1,"implementation":"old","version":"23.5.0"}'; read line"#;
    let o = bin()
        .args(["run", "--fixtures", f.path(), "--adapter", adapter])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("speaks protocol 1; this runner speaks 2")
            && err.contains("Changes from version 1"),
        "{err}"
    );
}

#[test]
fn an_adapter_that_dies_mid_scenario_is_an_error_not_a_hang() {
    let f = TempFixtures::new("dies", "responsestatuscode", OK_SCENARIO);
    let adapter = r#"echo '{"type":"ready","protocol":2,"implementation":"fake","version":"23.5.0"}'; read line; exit 3"#;
    let o = bin()
        .args(["run", "--fixtures", f.path(), "--adapter", adapter])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("ERROR server/responsestatuscode/teapot"),
        "{out}"
    );
    assert!(out.contains("the adapter exited"), "{out}");
}

#[test]
fn list_json_lists_every_scenario_and_coverage_every_section() {
    let o = bin().args(["list", "--format", "json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(list.len() >= 80, "{}", list.len());
    for s in &list {
        assert!(
            s["id"].as_str().unwrap().starts_with("server/")
                || s["id"].as_str().unwrap().starts_with("client/")
        );
        assert!(!s["anchors"].as_array().unwrap().is_empty());
        assert!(s["rule"].is_string());
    }
    let o = bin()
        .args(["coverage", "--format", "json"])
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 172);
    let cited: usize = rows
        .iter()
        .map(|r| r["scenarios"].as_array().unwrap().len())
        .sum();
    assert!(cited >= list.len());
}

#[test]
fn show_prints_the_scenario_its_rule_and_section() {
    let f = TempFixtures::new("show", "responsestatuscode", OK_SCENARIO);
    let o = bin()
        .args([
            "show",
            "server/responsestatuscode/teapot",
            "--fixtures",
            f.path(),
        ])
        .output()
        .unwrap();
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.contains("section: responsestatuscode  `response.statusCode`"),
        "{out}"
    );
    assert!(out.contains("rule: The status code assigned"), "{out}");
    assert!(out.contains("```wire"), "{out}");
}

#[test]
fn without_adapter_the_embedded_reference_is_the_target() {
    let o = bin()
        .args([
            "run",
            "--strict",
            "--only",
            "server/event-checkexpectation/*",
        ])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("nodehttp (embedded reference) 23.5.0"),
        "{out}"
    );
    assert!(out.contains(" passed, 0 failed, 0 skipped"), "{out}");
}

#[test]
fn the_embedded_adapter_answers_the_protocol() {
    use std::io::{BufRead, BufReader, Write};
    let mut child = bin()
        .arg("adapter")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["protocol"], 2);
    let mut stdin = child.stdin.take().unwrap();
    // Garbage and unknown messages are answered with `error`, not a crash.
    writeln!(stdin, "not json").unwrap();
    let e: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(e["type"], "error");
    writeln!(stdin, r#"{{"type":"dance"}}"#).unwrap();
    let e: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(e["type"], "error");
    // An option the reference does not have is `unsupported`.
    writeln!(
        stdin,
        r#"{{"type":"start","id":"x","side":"server","options":{{"noSuchOption":1}}}}"#
    )
    .unwrap();
    let u: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(u["type"], "unsupported", "{u}");
    writeln!(stdin, r#"{{"type":"stop"}}"#).unwrap();
    let s: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(s["type"], "stopped");
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_runtime_lacking_an_api_gets_unsupported_not_fail() {
    // Node with res.writeEarlyHints() deleted by a preload, as a runtime
    // without that API: the adapter's feature test answers `unsupported`.
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let adapter = format!(
        "{node} --import ./conformance/tests/shims/without-write-early-hints.mjs adapters/node/adapter.mjs"
    );
    let o = bin()
        .args([
            "run",
            "--adapter",
            &adapter,
            "--only",
            "server/responsewriteearlyhintshints-callback/*",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let unsupported: Vec<&serde_json::Value> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "unsupported")
        .collect();
    assert!(!unsupported.is_empty(), "{out}");
    for r in unsupported {
        assert_eq!(
            r["reason"], "node has no ServerResponse.prototype.writeEarlyHints()",
            "{r}"
        );
    }
    assert_eq!(v["counts"]["fail"], 0, "{out}");
}

/// The matrix of `matrix_cmd` against a baseline file holding `baseline`.
fn matrix_with_baseline(f: &TempFixtures, baseline: &str) -> (Option<i32>, String) {
    let path = f.0.join("baseline.toml");
    std::fs::write(&path, baseline).unwrap();
    let o = matrix_cmd(f).arg("--baseline").arg(&path).output().unwrap();
    let (out, err) = text(&o);
    (o.status.code(), format!("{out}\n{err}"))
}

fn matrix_cmd(f: &TempFixtures) -> Command {
    let mut c = bin();
    c.args(["matrix", "--fixtures", f.path()])
        .args(["--target", "reference=embedded"])
        .arg("--target")
        .arg(format!("node={}", node_adapter()));
    c
}

#[test]
fn matrix_writes_json_html_and_a_baseline_that_then_passes() {
    let f = TempFixtures::new("matrix", "responsestatuscode", &pass_and_fail());
    let (json, html, baseline) = (
        f.0.join("out/m.json"),
        f.0.join("out/m.html"),
        f.0.join("b.toml"),
    );
    let o = matrix_cmd(&f)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .arg("--write-baseline")
        .arg(&baseline)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        out.contains("node: 1 failure\n  FAIL server/responsestatuscode/wrong"),
        "{out}"
    );
    assert!(err.contains("reference: 1 passed, 1 failed"), "{err}");

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["reference", "node"]);
    assert_eq!(v["targets"][1]["counts"]["fail"], 1);
    assert_eq!(v["targets"][1]["sections"]["responsestatuscode"]["pass"], 1);
    let wrong = &v["scenarios"][1];
    assert_eq!(wrong["id"], "server/responsestatuscode/wrong");
    let cell = &wrong["results"]["node"];
    assert_eq!(cell["outcome"], "fail");
    assert!(cell["duration_ms"].is_u64());
    let diff = cell["diff"].as_str().unwrap();
    assert!(
        diff.contains("\n- {\"event\":\"request\",\"method\":\"PUT\"")
            && diff.contains("\n+ {\"event\":\"request\",\"method\":\"GET\""),
        "{diff}"
    );
    let teapot = &v["scenarios"][0];
    assert_eq!(teapot["results"]["reference"]["outcome"], "pass");
    assert!(teapot["results"]["reference"].get("diff").is_none());
    assert!(teapot["transcript"].as_array().unwrap().len() > 5);

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(r#"<script type="application/json" id="matrix-data">{"#));
    assert!(page.contains("server/responsestatuscode/wrong"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no network"
    );

    // The written baseline expects exactly today's failures: the same run passes.
    let written = std::fs::read_to_string(&baseline).unwrap();
    assert!(
        written.contains("[\"node\"]\nfail = [\n  \"server/responsestatuscode/wrong\",\n]"),
        "{written}"
    );
    let (code, out) = matrix_with_baseline(&f, &written);
    assert_eq!(code, Some(0), "{out}");

    // Expecting the teapot to fail too: still 0, and it is reported as passing now.
    let (code, out) = matrix_with_baseline(
        &f,
        "[node]\nfail = [\"server/responsestatuscode/wrong\", \"server/responsestatuscode/teapot\"]\n\
         [reference]\nflaky = [\"server/responsestatuscode/wrong\"]\n",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("node: 1 expected failure passes now (drop them from the baseline)\n  PASS server/responsestatuscode/teapot"),
        "{out}"
    );

    // A baseline without the node target: its failure is new, exit 1.
    let (code, out) = matrix_with_baseline(
        &f,
        "[reference]\nfail = [\"server/responsestatuscode/wrong\"]\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("node: 1 failure not in the baseline"), "{out}");
}

#[test]
fn matrix_bad_targets_and_baselines_exit_2_with_a_reason() {
    let f = TempFixtures::new("matrixbad", "responsestatuscode", OK_SCENARIO);
    let bad = f.0.join("bad.toml");
    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        (
            vec!["--target".into(), "no-equals".into()],
            None,
            "is not NAME=CMD",
        ),
        (vec!["--target".into(), "a b=x".into()], None, "target name"),
        (
            vec![
                "--target".into(),
                "x=true".into(),
                "--target".into(),
                "x=true".into(),
            ],
            None,
            "the name `x` is given twice",
        ),
        (
            vec!["--baseline".into(), "/nonexistent/b.toml".into()],
            None,
            "cannot read /nonexistent/b.toml",
        ),
        (vec![], Some("[node\nfail = []"), "TOML parse error"),
        (
            vec![],
            Some("[node]\nfail = [\"server/no/such\"]"),
            "`server/no/such` is not a scenario of the suite",
        ),
        (
            vec![],
            Some("[node]\nexpected = []"),
            "unknown field `expected`",
        ),
    ];
    for (args, file, needle) in cases {
        let mut c = bin();
        c.args(["matrix", "--fixtures", f.path()]).args(&args);
        if let Some(text) = file {
            std::fs::write(&bad, text).unwrap();
            c.arg("--baseline").arg(&bad);
        }
        let o = c.output().unwrap();
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?} {file:?}: {out}\n{err}");
        assert!(err.contains(needle), "{args:?} {file:?}: {err}");
    }
}
