//! The matrix's HTML report in a real browser: headless Chromium driven
//! through chromedriver (`browser/mod.rs`). The report comes from a real
//! run (the embedded reference and Node, on a scenario that passes and one
//! that fails), is opened from the file system, and must render its table,
//! filter by outcome and open a diff view.

mod browser;
mod common;

use std::path::Path;

use serde_json::json;

use browser::Browser;
use common::{pass_and_fail, TempFixtures};

#[test]
fn the_html_report_renders_filters_and_opens_a_diff_in_chromium() {
    let f = TempFixtures::new("browser", "responsestatuscode", &pass_and_fail());
    let html = f.0.join("matrix.html");
    common::pass_and_fail_matrix(&f, "--html", &html);

    let browser = Browser::start();
    browser.open(&html);

    // The table: one section row, two scenarios, a column per target, and
    // the summary's counts.
    let head = browser.eval(
        "return [...document.querySelectorAll('#matrix thead th')].map((th) => th.textContent);",
    );
    assert_eq!(head, json!(["scenario", "reference", "node"]));
    assert_eq!(
        browser.eval("return document.querySelectorAll('tr.section-row').length;"),
        json!(1)
    );
    assert_eq!(
        browser.visible_rows(),
        [
            "server/responsestatuscode/teapot",
            "server/responsestatuscode/wrong"
        ]
    );
    assert_eq!(
        browser.eval(
            "return document.querySelector('#summary tr[data-target=\"node\"] td.o-fail').textContent;"
        ),
        json!("1")
    );
    assert_eq!(
        browser.eval("return document.querySelector('tr.section-row td.count').textContent;"),
        json!("1/2")
    );

    // The outcome filter, chosen as a user would.
    browser.click("#outcome option[value='fail']");
    browser.wait_for(
        "return document.getElementById('shown').textContent === '1 of 2 scenarios shown';",
    );
    assert_eq!(browser.visible_rows(), ["server/responsestatuscode/wrong"]);
    browser.click("#outcome option[value='pass']");
    browser.wait_for("return location.hash === '#outcome=pass';");
    assert_eq!(browser.visible_rows(), ["server/responsestatuscode/teapot"]);
    browser.click("#outcome option[value='all']");
    browser.wait_for(
        "return document.getElementById('shown').textContent === '2 of 2 scenarios shown';",
    );

    // A failing cell opens the diff: expected in red, actual in green.
    browser.click("tr[data-id='server/responsestatuscode/wrong'] td[data-target='node'] a");
    browser.wait_for("return document.querySelector('tr.detail pre.diff') !== null;");
    let deleted = browser.texts("tr.detail pre.diff span.del");
    let inserted = browser.texts("tr.detail pre.diff span.ins");
    assert!(
        deleted[0].starts_with(r#"- {"event":"request","method":"PUT""#),
        "{deleted:?}"
    );
    assert!(
        inserted[0].starts_with(r#"+ {"event":"request","method":"GET""#),
        "{inserted:?}"
    );
    assert!(browser
        .eval("return location.hash;")
        .as_str()
        .unwrap()
        .contains("open=node%7Cserver%2Fresponsestatuscode%2Fwrong"),);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("matrix-browser.png");
    browser.screenshot(&shot);
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));

    // Closing it removes it; a passing cell shows the transcript.
    browser.click("tr.detail a.close");
    browser.wait_for("return document.querySelector('tr.detail') === null;");
    browser.click("tr[data-id='server/responsestatuscode/teapot'] td[data-target='reference'] a");
    browser.wait_for("return document.querySelector('tr.detail pre.expected') !== null;");
    let transcript =
        browser.eval("return document.querySelector('tr.detail pre.expected').textContent;");
    assert!(
        transcript
            .as_str()
            .unwrap()
            .contains("< HTTP/1.1 418 I'm a Teapot"),
        "{transcript}"
    );
}
