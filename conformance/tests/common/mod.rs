//! What the runner's end-to-end tests share: the binary, the Node adapter,
//! a temporary fixture tree and two small scenarios.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nodehttp-conformance"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    c.env("NO_COLOR", "1");
    c
}

pub fn node_adapter() -> String {
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    format!("{node} adapters/node/adapter.mjs")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A fixture tree in a temporary directory with one server file.
pub struct TempFixtures(pub PathBuf);

impl TempFixtures {
    pub fn new(name: &str, anchor: &str, body: &str) -> TempFixtures {
        let dir = std::env::temp_dir().join(format!("nodehttp-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("server")).unwrap();
        std::fs::write(dir.join("server").join(format!("{anchor}.md")), body).unwrap();
        TempFixtures(dir)
    }
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFixtures {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const OK_SCENARIO: &str = r#"# statusCode

## A status code set before end() is sent

```toml
id = "server/responsestatuscode/teapot"
anchors = ["responsestatuscode"]
rule = "The status code assigned before the headers are sent is the one sent."
handler = [["set", "statusCode", 418], ["end"]]
```

```wire
> GET / HTTP/1.1
> Host: a
>
< HTTP/1.1 418 I'm a Teapot
< Date: {{date}}
< Connection: keep-alive
< Keep-Alive: timeout=5
< Content-Length: 0
<
! open for 20
```

```events
{"event": "request", "method": "GET", "url": "/", "rawHeaders": ["Host", "a"]}
{"event": "end", "complete": true}
```
"#;

/// The teapot scenario, and a copy of it expecting a PUT where a GET is
/// sent: it passes on every conforming target, the copy fails on every one
/// (on an event: the wire matches, so nothing waits after a difference).
pub fn pass_and_fail() -> String {
    let wrong = OK_SCENARIO
        .trim_start_matches("# statusCode\n")
        .replace("/teapot", "/wrong")
        .replace("## A status code", "## A wrong status code")
        .replace(r#""method": "GET""#, r#""method": "PUT""#);
    format!("{OK_SCENARIO}{wrong}")
}

/// `matrix` of the embedded reference and Node on [`pass_and_fail`] in
/// `f`, writing its report with `flag` (`--html`, `--json`) into `out`:
/// each target passes one scenario and fails the other.
pub fn pass_and_fail_matrix(f: &TempFixtures, flag: &str, out: &Path) {
    let o = bin()
        .args([
            "matrix",
            "--fixtures",
            f.path(),
            "--target",
            "reference=embedded",
        ])
        .arg("--target")
        .arg(format!("node={}", node_adapter()))
        .arg(flag)
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}
