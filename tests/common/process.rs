//! A child process guard: bounded in time, output kept in files, killed on drop.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::WorkDir;

/// How a peer is started: program, arguments, environment and its time limit.
pub struct Spawn<'a> {
    /// Name for logs and file names (unique within the work dir).
    pub name: &'a str,
    /// Program to run.
    pub program: &'a Path,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Hard limit: `timeout` ends the process after this long whatever happens.
    pub limit: Duration,
}

/// A running (or finished) child process.
///
/// It runs as `timeout -k 8 LIMIT program args...` in a new process group: `timeout`
/// bounds it even if this test process dies, and the group lets [`Drop`] kill
/// everything the peer forked (Kamailio's workers). Stdout and stderr go to files in
/// the test's work dir, so a chatty peer can never block on a full pipe.
pub struct Peer {
    name: String,
    child: Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    status: Option<ExitStatus>,
    started: Instant,
}

impl Peer {
    /// Starts the process; panics (failing the test) if it cannot be started.
    pub fn spawn(dir: &WorkDir, spec: Spawn<'_>) -> Self {
        let stdout_path = dir.file(&format!("{}.stdout", spec.name));
        let stderr_path = dir.file(&format!("{}.stderr", spec.name));
        let open = |p: &Path| {
            File::create(p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()))
        };
        let mut cmd = Command::new("timeout");
        // Room for a clean stop (agentphone gives far ends 4 s) before KILL.
        cmd.arg("-k")
            .arg("8")
            .arg(format!("{}", spec.limit.as_secs().max(1)))
            .arg(spec.program)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(open(&stdout_path))
            .stderr(open(&stderr_path))
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({}): {e}",
                spec.name,
                spec.program.display()
            )
        });
        Self {
            name: spec.name.to_string(),
            child,
            stdout_path,
            stderr_path,
            status: None,
            started: Instant::now(),
        }
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time since the process was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `limit` for the process to end; `None` if it is still running.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// Stdout followed by stderr: for lines a program may print on either.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }

    /// Waits up to `limit` until stdout or stderr contains `needle`. Returns early
    /// (false) when the process ends without printing it.
    pub fn wait_for_output(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.output().contains(needle) {
                return true;
            }
            let ended = self.try_status().is_some();
            if ended || Instant::now() >= deadline {
                // The text may have landed between the read and the exit check.
                return self.output().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM to the process (through `timeout`, which passes it on to the
    /// program, which thus sees exactly one), as Ctrl-C or a service manager would.
    pub fn terminate(&self) {
        send_signal("TERM", &self.child.id().to_string());
    }

    /// The program's own process id (the child of `timeout`), once started.
    pub fn program_pid(&self) -> Option<u32> {
        let id = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// Sends `signal` to the program itself, not through `timeout` (which
    /// passes on only the first signal it gets).
    pub fn signal_program(&self, signal: &str) {
        if let Some(pid) = self.program_pid() {
            send_signal(signal, &pid.to_string());
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM` ...) to the whole process group:
    /// a peer frozen with STOP neither answers nor refuses, like a registrar
    /// whose host went away.
    pub fn signal_group(&self, signal: &str) {
        send_signal(signal, &format!("-{}", self.child.id()));
    }

    /// Stops the whole process group: SIGTERM, up to `grace` to exit, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.try_status().is_some() {
            return self.status;
        }
        let group = format!("-{}", self.child.id());
        send_signal("TERM", &group);
        if self.wait(grace).is_none() {
            send_signal("KILL", &group);
            self.status = self.child.wait().ok();
        }
        self.status
    }

    /// The SIP requests of `method` this peer sent, whole, from its `-v` log
    /// (agentphone's "sent to" / "received from" lines).
    pub fn sent_requests(&self, method: &str) -> Vec<String> {
        let log = self.output();
        log.split("sent to ")
            .skip(1)
            .filter_map(|m| m.split_once('\n').map(|(_, rest)| rest))
            .filter(|m| m.starts_with(&format!("{method} ")))
            .map(|m| m.split("received from ").next().unwrap_or(m).to_owned())
            .collect()
    }

    /// The last lines of stdout and stderr, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "--- {name} stdout ({out}) ---\n{}\n--- {name} stderr ({err}) ---\n{}",
            tail(&self.stdout(), 40),
            tail(&self.stderr(), 40),
            name = self.name,
            out = self.stdout_path.display(),
            err = self.stderr_path.display(),
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}

fn send_signal(signal: &str, target: &str) {
    // `kill` from procps/util-linux: std has no portable way to signal a group.
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Numbers `N` of lines `call N<rest>` where `<rest>` contains `needle`, in order,
/// wherever the line starts (a log prefix may come before `call`).
pub fn call_lines(text: &str, needle: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|line| {
            let at = line.find("call ")?;
            let rest = &line[at + "call ".len()..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let n = rest[..digits].parse().ok()?;
            rest[digits..].contains(needle).then_some(n)
        })
        .collect()
}
