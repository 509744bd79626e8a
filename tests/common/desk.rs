//! `agentphone run` under test, driven the way an agent or a tester drives it:
//! through `agentphone ctl` against its control API.

use super::agentphone;
use super::ports::free_port;
use super::process::Peer;
use super::WorkDir;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A running desk and how to reach it.
pub struct Desk {
    /// The `run` process.
    pub peer: Peer,
    /// Its SIP port on 127.0.0.1.
    pub sip_port: u16,
    /// Its control API.
    pub api: String,
    /// The config file it runs with.
    pub config: PathBuf,
    dir: PathBuf,
}

/// What one `ctl` invocation gave.
#[derive(Debug)]
pub struct Ctl {
    /// Exit code (None: killed).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Ctl {
    /// The stdout as JSON (`--json`), or a panic showing what came.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("ctl printed no JSON ({e}): {self:?}"))
    }
}

impl Desk {
    /// Writes a config with `desk_toml` as its `[desk]` table (and whatever
    /// else it holds), starts `agentphone run` with `extra` flags and waits
    /// until its API answers.
    pub fn start(dir: &WorkDir, name: &str, desk_toml: &str, extra: &[&str]) -> Desk {
        Self::start_with(dir, name, desk_toml, extra, &[])
    }

    /// [`start`](Self::start) with environment variables (account passwords).
    pub fn start_with(
        dir: &WorkDir,
        name: &str,
        desk_toml: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Desk {
        let sip_port = free_port();
        let api_port = free_port();
        let config = dir.file(&format!("{name}.toml"));
        let token = dir.file(&format!("{name}.token"));
        let text = format!(
            "{desk_toml}\n\n[api]\nlisten = \"127.0.0.1:{api_port}\"\ntoken_file = \"{}\"\n",
            token.display()
        );
        std::fs::write(&config, text).expect("write desk config");
        let listen = format!("127.0.0.1:{sip_port}");
        let mut args = vec![
            "--config",
            agentphone::arg(&config),
            "run",
            "--listen",
            &listen,
        ];
        args.extend_from_slice(extra);
        let mut peer = agentphone::spawn(dir, name, &args, env, Duration::from_secs(170));
        assert!(
            peer.wait_for_output("control API on", Duration::from_secs(15)),
            "{name} did not start:\n{}",
            peer.report()
        );
        let desk = Desk {
            peer,
            sip_port,
            api: format!("http://127.0.0.1:{api_port}"),
            config,
            dir: dir.path().to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while desk.ctl(&["status"]).code != Some(0) {
            assert!(
                Instant::now() < deadline,
                "the control API never answered:\n{}",
                desk.peer.report()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        desk
    }

    /// The desk's SIP URI.
    pub fn uri(&self) -> String {
        format!("sip:agent@127.0.0.1:{}", self.sip_port)
    }

    /// Runs `agentphone --config CFG ctl --json ARGS...` (bounded to 20 s).
    pub fn ctl(&self, args: &[&str]) -> Ctl {
        let mut cmd = Command::new("timeout");
        cmd.arg("20")
            .arg(agentphone::binary())
            .arg("--config")
            .arg(&self.config)
            .arg("ctl")
            .arg("--json")
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1");
        let out = cmd.output().expect("run agentphone ctl");
        Ctl {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `ctl ARGS` must succeed; returns its JSON answer.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.ctl(args);
        assert_eq!(
            out.code,
            Some(0),
            "ctl {args:?} failed: {out:?}\n{}",
            self.peer.report()
        );
        out.json()
    }

    /// The desk's status (`ctl status`).
    pub fn status(&self) -> Value {
        self.ok(&["status"])
    }

    /// Polls the status until `pred` holds (at most `limit`); returns it, or
    /// panics with the last status and the desk's output.
    pub fn wait(&self, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "desk never reached: {what}\nlast status: {status:#}\n{}",
                    self.peer.report()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The calls of a status.
pub fn calls(status: &Value) -> Vec<Value> {
    status["calls"].as_array().cloned().unwrap_or_default()
}

/// The call with this id in a status.
pub fn call(status: &Value, id: u64) -> Option<Value> {
    calls(status)
        .into_iter()
        .find(|c| c["call"].as_u64() == Some(id))
}

/// The state of call `id` (`""` when it is gone).
pub fn state_of(status: &Value, id: u64) -> String {
    call(status, id)
        .and_then(|c| c["state"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The agent state's name (`available`, `idle`, `wrap-up`).
pub fn agent_state(status: &Value) -> String {
    status["agent"]["state"].as_str().unwrap_or("").to_owned()
}

/// The id of the first offer, if one rings.
pub fn first_offer(status: &Value) -> Option<u64> {
    status["offers"].as_array()?.first()?["call"].as_u64()
}
