//! Headless Chromium driven through chromedriver (WebDriver, spoken here
//! over a plain TCP socket), for the tests that open the HTML the runner
//! writes (the matrix report, the spec site) from the file system.
//!
//! Chromium and chromedriver come from `just browser` (Debian's `chromium`
//! and `chromium-driver`), installed on first use when missing;
//! `$CHROMIUM` and `$CHROMEDRIVER` override the binaries found on the PATH.
#![allow(dead_code)] // each test file uses its own part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The project installs what its tests need: when Chromium or chromedriver
/// is missing, `scripts/browser.sh` (Debian's packages) runs once.
fn install_browser() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/browser.sh");
        let _ = Command::new("bash").arg(script).status();
    });
}

fn find_binary(env: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    if let Some(p) = on_path(names) {
        return p;
    }
    install_browser();
    if let Some(p) = on_path(names) {
        return p;
    }
    panic!(
        "this test needs headless Chromium and chromedriver: run `just browser` \
         (apt-get install -y chromium chromium-driver), or set ${env}; looked for {names:?} on the PATH"
    );
}

/// One HTTP/1.1 exchange with chromedriver; returns the answer's `value`.
fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver listens");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver keeps the connection open whatever we ask: read the head,
    // then Content-Length bytes (or chunks up to the last one).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let complete = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let head = head.to_ascii_lowercase();
        match head.lines().find_map(|l| l.strip_prefix("content-length:")) {
            Some(n) => body.len() >= n.trim().parse::<usize>().unwrap_or(0),
            None => body.ends_with("0\r\n\r\n"),
        }
    };
    while !complete(&raw) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{method} {path}: chromedriver closed the connection");
        raw.extend_from_slice(&buf[..n]);
    }
    let raw = String::from_utf8_lossy(&raw);
    let (head, mut payload) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let chunked;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        chunked = dechunk(payload);
        payload = &chunked;
    }
    let v: Value = serde_json::from_str(payload)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {raw}"));
    if v["value"].get("error").is_some() {
        panic!("{method} {path} {body}: {}", v["value"]);
    }
    v["value"].clone()
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// A chromedriver process and one browser session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: PathBuf,
}

impl Browser {
    pub fn start() -> Browser {
        let chromium = find_binary(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = find_binary("CHROMEDRIVER", &["chromedriver"]);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        // Killed even if the session never starts.
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            profile: std::env::temp_dir().join(format!("nodehttp-chromium-{}", std::process::id())),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let profile =
            std::env::temp_dir().join(format!("nodehttp-chromium-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        // The flags of ../shared/RUNTIMES.md: no sandbox (root in a
        // container), no GPU, nothing fetched in the background.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", browser.profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        browser.session = webdriver(port, "POST", "/session", Some(&caps))["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        webdriver(self.port, method, &path, body.as_ref())
    }

    pub fn open(&self, file: &Path) {
        let url = format!("file://{}", file.display());
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    pub fn click(&self, css: &str) {
        let el = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = el[ELEMENT].as_str().expect("an element").to_owned();
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types `text` into the element matching `css`, as a user would.
    pub fn type_text(&self, css: &str, text: &str) {
        let el = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = el[ELEMENT].as_str().expect("an element").to_owned();
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Waits (up to 10 s) until `script` returns true.
    pub fn wait_for(&self, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.eval(script) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "still false after 10 s: {script}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The text of every element matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let v = self.call(
            "POST",
            "/execute/sync",
            Some(json!({
                "script": "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent);",
                "args": [css],
            })),
        );
        serde_json::from_value(v).unwrap()
    }

    /// The ids of the scenario rows a user can see.
    pub fn visible_rows(&self) -> Vec<String> {
        let v = self.eval(
            "return [...document.querySelectorAll('tr.scenario')]\
             .filter((r) => r.offsetParent !== null).map((r) => r.dataset.id);",
        );
        serde_json::from_value(v).unwrap()
    }

    pub fn screenshot(&self, to: &Path) {
        let b64 = self.call("GET", "/screenshot", None);
        std::fs::write(to, base64_decode(b64.as_str().unwrap())).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(|| webdriver(self.port, "DELETE", &path, None));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| !b"=\r\n".contains(c))
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
