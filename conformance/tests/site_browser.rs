//! The spec site in a real browser (headless Chromium, `browser/mod.rs`),
//! opened from the file system: the index lists the spec's sections with
//! each target's passes, a link opens a section's page with its spec text,
//! its scenarios and each target's outcome and diff, and the search finds a
//! scenario by id and a section by its text.
//!
//! The results come from a real run: the embedded reference and Node on a
//! scenario that passes and one that fails.

mod browser;
mod common;

use std::path::Path;

use serde_json::json;

use browser::Browser;
use common::{bin, pass_and_fail, text, TempFixtures};

#[test]
fn the_site_renders_links_and_searches_in_chromium() {
    let f = TempFixtures::new("site-browser", "responsestatuscode", &pass_and_fail());
    let matrix = f.0.join("matrix.json");
    common::pass_and_fail_matrix(&f, "--json", &matrix);
    let site = f.0.join("site");
    let o = bin()
        .args(["site", "--fixtures", f.path(), "--out"])
        .arg(&site)
        .arg("--matrix")
        .arg(&matrix)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    let browser = Browser::start();
    browser.open(&site.join("index.html"));

    // The index: every section of the spec in its order, the targets' passes.
    assert_eq!(
        browser.eval("return document.querySelectorAll('table.sections tbody tr').length;"),
        json!(172)
    );
    assert_eq!(
        browser.eval("return document.querySelector('table.sections tbody tr').dataset.anchor;"),
        json!("http")
    );
    let row = "table.sections tr[data-anchor='responsestatuscode']";
    assert_eq!(
        browser.texts(&format!("{row} td.tally")),
        ["1/2", "1/2"],
        "reference and node each pass one of the two"
    );

    // A link opens the section's page.
    browser.click(&format!("{row} a"));
    browser.wait_for("return location.pathname.endsWith('/responsestatuscode.html');");
    let h1 = browser.eval("return document.querySelector('h1').textContent;");
    assert!(h1.as_str().unwrap().contains("statusCode"), "{h1}");
    assert!(
        browser
            .eval("return document.querySelector('section.spec').textContent;")
            .as_str()
            .unwrap()
            .contains("404"),
        "the spec's text for the section"
    );
    let articles =
        browser.eval("return [...document.querySelectorAll('article.scenario')].map((a) => a.id);");
    assert_eq!(
        articles,
        json!([
            "server/responsestatuscode/teapot",
            "server/responsestatuscode/wrong"
        ])
    );
    let wire =
        browser.texts("article[id='server/responsestatuscode/teapot'] pre.wire span.w-expect");
    assert_eq!(wire[0], "< HTTP/1.1 418 I'm a Teapot");
    let wrong = "article[id='server/responsestatuscode/wrong']";
    assert_eq!(
        browser.texts(&format!("{wrong} tr[data-target='node'] td.o")),
        ["fail"]
    );
    browser.click(&format!(
        "{wrong} tr[data-target='node'] details.diff summary"
    ));
    browser.wait_for(&format!(
        "return document.querySelector(\"{wrong} tr[data-target='node'] details.diff\").open;"
    ));
    let deleted = browser.texts(&format!("{wrong} tr[data-target='node'] pre.diff span.del"));
    assert!(
        deleted[0].starts_with(r#"- {"event":"request","method":"PUT""#),
        "{deleted:?}"
    );
    // Back to the index by the header's link, there at any scroll.
    browser.click("header.top a.home");
    browser.wait_for("return location.pathname.endsWith('/index.html');");

    // The search: by id, then by the spec's text.
    browser.type_text("#q", "teapot");
    browser.wait_for("return !document.getElementById('results').hidden;");
    let first = browser.eval("return document.querySelector('#results a').getAttribute('href');");
    assert_eq!(
        first,
        json!("responsestatuscode.html#server/responsestatuscode/teapot")
    );
    browser.click("#results a");
    browser.wait_for("return location.hash === '#server/responsestatuscode/teapot';");
    assert_eq!(
        browser.eval("return document.querySelector('article.scenario:target').id;"),
        json!("server/responsestatuscode/teapot")
    );
    browser.type_text("#q", "Expectation Failed");
    browser.wait_for(
        "return [...document.querySelectorAll('#results a')]\
         .some((a) => a.getAttribute('href') === 'event-checkexpectation.html');",
    );
    browser.open(&site.join("index.html"));
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("site-browser.png");
    browser.screenshot(&shot);
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
}
