//! Server processes and what /proc says about them, for `bench-load` and
//! `soak`.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process that printed `LISTENING <port>` (the examples,
/// `bench/*.mjs` and `hyper-hello` do), stopped on drop (SIGTERM, then
/// SIGKILL if it lingers).
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// Start `program args --port 0`; `nofile` sets its `RLIMIT_NOFILE`;
    /// its stderr goes to `stderr`.
    pub fn start(
        name: &str,
        program: &str,
        args: &[String],
        nofile: Option<u64>,
        stderr: Stdio,
    ) -> Result<Server, String> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(n) = nofile {
            // SAFETY: only setrlimit (async-signal-safe) runs between fork
            // and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let l = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot start {program}: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("{name}: {e}"))?;
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{name}: expected LISTENING <port>, got {line:?}"))?;
        Ok(Server { child, port })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 if absent.
pub fn status_kib(pid: u32, field: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// How many descriptors the process has open (`/proc/PID/fd`).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Fields 3.. of a `/proc/.../stat` file (after the command, which may
/// hold spaces), parsed as numbers (0 where not a number).
fn stat_fields(path: &str) -> Vec<f64> {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let rest = &s[s.rfind(')').map_or(0, |i| i + 2)..];
    rest.split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect()
}

/// The sum of two fields of a `stat` file (counted from 1 as in proc(5)),
/// in seconds.
fn stat_seconds(path: &str, a: usize, b: usize) -> f64 {
    let f = stat_fields(path);
    let get = |i: usize| f.get(i - 3).copied().unwrap_or(0.0);
    (get(a) + get(b)) / clk_tck()
}

/// utime + stime of a process, in seconds.
pub fn proc_cpu(pid: u32) -> f64 {
    stat_seconds(&format!("/proc/{pid}/stat"), 14, 15)
}

/// cutime + cstime of this process (children reaped so far), in seconds.
pub fn children_cpu() -> f64 {
    stat_seconds("/proc/self/stat", 16, 17)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Raise this process's soft descriptor limit to the hard one.
pub fn raise_fd_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// The first line `program arg` prints (stdout, then stderr).
pub fn version(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|_| "?".into())
}

/// Cores, CPU model and kernel, in one line.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{n} cores ({cpu}), Linux {kernel}")
}
