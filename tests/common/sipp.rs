//! SIPp as a peer: start a UAS or UAC scenario, wait for it, read its statistics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use super::ports::{wait_bound, Proto};
use super::process::{tail, Peer, Spawn};
use super::{fixture, WorkDir};

/// Which scenario SIPp plays.
#[derive(Clone, Copy, Debug)]
pub enum Scenario {
    /// One of SIPp's built-in scenarios (`-sn uas`, `-sn uac`).
    Builtin(&'static str),
    /// An XML file in `fixtures/sipp/`.
    File(&'static str),
}

/// SIP transport for SIPp (`-t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP, one socket (`-t u1`).
    Udp,
    /// TCP, one connection for all calls (`-t t1`).
    Tcp,
}

impl Transport {
    fn flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    fn proto(self) -> Proto {
        match self {
            Transport::Udp => Proto::Udp,
            Transport::Tcp => Proto::Tcp,
        }
    }
}

/// A SIPp command line being built.
pub struct SippCmd {
    name: String,
    scenario: Scenario,
    remote: Option<String>,
    port: u16,
    transport: Transport,
    extra: Vec<String>,
    limit: Duration,
}

impl SippCmd {
    /// SIPp waiting for calls on 127.0.0.1:`port`.
    pub fn uas(name: &str, scenario: Scenario, port: u16) -> Self {
        Self::new(name, scenario, None, port)
    }

    /// SIPp placing calls to `remote` (`host:port`) from 127.0.0.1:`port`.
    pub fn uac(name: &str, scenario: Scenario, remote: &str, port: u16) -> Self {
        Self::new(name, scenario, Some(remote.to_string()), port)
    }

    fn new(name: &str, scenario: Scenario, remote: Option<String>, port: u16) -> Self {
        Self {
            name: name.to_string(),
            scenario,
            remote,
            port,
            transport: Transport::Udp,
            extra: Vec::new(),
            limit: Duration::from_secs(60),
        }
    }

    /// Adds SIPp options (`-m`, `-l`, `-r`, `-d`, `-s`, `-key` ...).
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.extra
            .extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// SIPp's RTP (`play_pcap_audio`, `rtp_echo`) on 127.0.0.1 at a free port
    /// (`-mi`, `-mp`), so `[media_ip]`/`[media_port]` in its SDP are loopback.
    pub fn media_on_loopback(self) -> Self {
        let port = super::ports::free_port().to_string();
        self.args(&["-mi", "127.0.0.1", "-mp", &port])
    }

    /// Selects the transport (UDP by default).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// SIPp's own overall timeout (it then fails); the process limit is a bit longer.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Starts SIPp. A UAS is waited for until its port is bound.
    pub fn start(self, sipp: &Path, dir: &WorkDir) -> Sipp {
        let stat_path = dir.file(&format!("{}_stat.csv", self.name));
        let error_path = dir.file(&format!("{}_errors.log", self.name));
        let mut args = Vec::new();
        if let Some(remote) = &self.remote {
            args.push(remote.clone());
        }
        match self.scenario {
            Scenario::Builtin(name) => args.extend(["-sn".to_string(), name.to_string()]),
            Scenario::File(file) => args.extend([
                "-sf".to_string(),
                fixture(&format!("sipp/{file}")).display().to_string(),
            ]),
        }
        let port = self.port.to_string();
        let timeout = format!("{}s", self.limit.as_secs().max(1));
        let stat = stat_path.display().to_string();
        let errors = error_path.display().to_string();
        args.extend(
            [
                "-i",
                "127.0.0.1",
                "-p",
                &port,
                "-t",
                self.transport.flag(),
                // No terminal: no keyboard input, no screen refresh to a tty.
                "-nostdin",
                "-timeout",
                &timeout,
                "-timeout_error",
                "-trace_stat",
                "-stf",
                &stat,
                "-trace_err",
                "-error_file",
                &errors,
            ]
            .map(String::from),
        );
        args.extend(self.extra);
        let peer = Peer::spawn(
            dir,
            Spawn {
                name: &self.name,
                program: sipp,
                args,
                env: Vec::new(),
                limit: self.limit + Duration::from_secs(10),
            },
        );
        let mut sipp = Sipp {
            peer,
            stat_path,
            error_path,
        };
        if self.remote.is_none() {
            sipp.wait_listening(self.transport.proto(), self.port);
        }
        sipp
    }
}

/// A running SIPp.
pub struct Sipp {
    peer: Peer,
    stat_path: PathBuf,
    error_path: PathBuf,
}

impl Sipp {
    fn wait_listening(&mut self, proto: Proto, port: u16) {
        if !wait_bound(proto, port, Duration::from_secs(10)) {
            let status = self.peer.stop(Duration::from_secs(1));
            panic!(
                "SIPp did not bind 127.0.0.1:{port} ({proto:?}) within 10 s (exit {status:?})\n{}",
                self.peer.report()
            );
        }
    }

    /// The process guard, e.g. to wait for a line or check elapsed time.
    pub fn peer(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Waits up to `limit` for SIPp to end (stopping it if it has not), then reads
    /// its exit status, final statistics and error log.
    pub fn finish(&mut self, limit: Duration) -> SippResult {
        let status = match self.peer.wait(limit) {
            Some(status) => Some(status),
            None => {
                self.peer.stop(Duration::from_secs(2));
                None
            }
        };
        let stats = std::fs::read_to_string(&self.stat_path)
            .ok()
            .and_then(|csv| SippStats::parse(&csv));
        let errors = std::fs::read_to_string(&self.error_path).unwrap_or_default();
        let report = format!(
            "{}\n--- SIPp error log ({}) ---\n{}",
            self.peer.report(),
            self.error_path.display(),
            tail(&errors, 60)
        );
        SippResult {
            status,
            stats,
            report,
        }
    }
}

/// How a SIPp run ended.
pub struct SippResult {
    /// Exit status; `None` when SIPp had to be stopped.
    pub status: Option<ExitStatus>,
    /// Final statistics, if SIPp wrote any.
    pub stats: Option<SippStats>,
    /// SIPp's output and error log, for failure messages.
    pub report: String,
}

impl SippResult {
    /// Asserts SIPp exited 0 (all calls succeeded) after exactly `calls` successful
    /// calls and no failed one. `context` goes into the failure message (e.g. the
    /// agentphone side's report).
    pub fn assert_all_succeeded(&self, calls: u64, context: &str) {
        let stats = self.stats.as_ref();
        let ok = self.status.is_some_and(|s| s.success())
            && stats.is_some_and(|s| s.successful == calls && s.failed == 0);
        assert!(
            ok,
            "SIPp: expected {calls} successful calls and exit 0, got exit {:?}, stats {:?}\n{}\n{}",
            self.status, stats, self.report, context
        );
    }
}

/// SIPp's cumulative statistics (`-trace_stat` CSV, last row).
#[derive(Debug, Clone)]
pub struct SippStats {
    /// `SuccessfulCall(C)`.
    pub successful: u64,
    /// `FailedCall(C)`.
    pub failed: u64,
    /// `TotalCallCreated`.
    pub created: u64,
    /// `Retransmissions(C)`.
    pub retransmissions: u64,
    /// Seconds from SIPp's start to the last row (`StartTime` .. `CurrentTime`).
    pub elapsed_s: f64,
    /// The non-zero `Failed...(C)` counters (e.g. `FailedTcpClosed(C)`), which
    /// say why calls failed when the message table shows no timeout.
    pub failure_causes: Vec<(String, u64)>,
}

impl SippStats {
    /// Parses SIPp's `;`-separated stat file: a header row, then one row per dump;
    /// the last row holds the final counts.
    pub fn parse(csv: &str) -> Option<Self> {
        let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines.next()?.split(';').collect();
        let last: Vec<&str> = lines.next_back()?.split(';').collect();
        let row: HashMap<&str, &str> = header.into_iter().zip(last).collect();
        let count = |key: &str| row.get(key)?.trim().parse::<u64>().ok();
        // Times look like "2024-01-01\t12:00:00.000000\t1704110400.000000".
        let epoch = |key: &str| row.get(key)?.split('\t').nth(2)?.trim().parse::<f64>().ok();
        Some(Self {
            successful: count("SuccessfulCall(C)")?,
            failed: count("FailedCall(C)")?,
            created: count("TotalCallCreated")?,
            retransmissions: count("Retransmissions(C)").unwrap_or(0),
            elapsed_s: epoch("CurrentTime")? - epoch("StartTime")?,
            failure_causes: row
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("Failed") && **k != "FailedCall(C)" && k.ends_with("(C)")
                })
                .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse::<u64>().ok()?)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SippStats;

    #[test]
    fn parses_last_row_of_sipp_stat_file() {
        let csv = "StartTime;CurrentTime;TotalCallCreated;SuccessfulCall(C);FailedCall(C);Retransmissions(C);FailedTcpClosed(C);FailedTimeoutOnRecv(C);FailedTcpClosed(P);\n\
                   2026-01-01\t10:00:00.0\t100.0;2026-01-01\t10:00:01.0\t101.0;1;0;0;0;0;0;0;\n\
                   2026-01-01\t10:00:00.0\t100.0;2026-01-01\t10:00:02.5\t102.5;20;19;1;3;1;0;1;\n";
        let stats = SippStats::parse(csv).expect("parses");
        assert_eq!((stats.created, stats.successful, stats.failed), (20, 19, 1));
        assert_eq!(stats.retransmissions, 3);
        assert!((stats.elapsed_s - 2.5).abs() < 1e-9);
        assert_eq!(
            stats.failure_causes,
            vec![("FailedTcpClosed(C)".to_string(), 1)]
        );
        assert!(SippStats::parse("StartTime;\n").is_none());
    }
}
