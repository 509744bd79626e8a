//! PJSIP as a peer: `tests/pjsua/peer.py`, a small user agent on the `pjsua2`
//! module of the `pjsua2-python` wheel (PyPI), run as `python3 tests/pjsua/peer.py`.
//!
//! The script answers or places one call on 127.0.0.1 with the null audio device,
//! sends a looped WAV or a tone, records what it hears for the whole call (holds
//! included), and prints one flat JSON object per line on stdout: `ready`,
//! `incoming`, `state`, `media`, `connected`, `reinvite` (with the audio
//! `direction` of every re-INVITE/UPDATE offer it received), `hold_sent`,
//! `resume_sent`, the transfer events (`xfer_sent`, `consult_sent`,
//! `xfer_replaces_sent`, `transfer_status` for each NOTIFY about our REFER,
//! `transfer_request` for a REFER received, `replace_request`/`replaced` for an
//! INVITE with Replaces taken), `timeout`, `error`, and `ended` last, once the
//! recording is final. `state`, `media` and `connected` carry the `role` of the
//! call (`main`, `consult`, `referred`, `replacing`, `refused`). [`process::Peer`] runs it (time-bounded, killed on drop, stdout in a
//! file); a background thread follows that file and sends each parsed line down a
//! channel, which [`Pjsua::wait_for`] and [`Pjsua::events`] read.
//!
//! Facts found by running it (pjsua2-python 2.15.1.post1, PJSIP 2.15.1):
//! - The wheel has PCMU, PCMA, G.722, GSM, iLBC, Speex and L16, not Opus.
//! - A received `a=sendonly` re-INVITE is answered `recvonly`, and PJSIP keeps
//!   decoding the far end's RTP; the script records it (PJSIP recreates the stream
//!   on every re-INVITE, on a new conference slot, and the script reconnects the
//!   recorder each time, losing about one 20 ms frame at each change).
//! - A REFER is accepted with 202 by default (pjsua2's `onCallTransferRequest`);
//!   the referred call gets its own `Call` object (`prm.newCall`). An INVITE
//!   with Replaces is answered 200 by PJSIP itself (no `onIncomingCall`), the
//!   replaced call ends with BYE (reason 410 Gone on our side).
//! - `xferReplaces` puts `?Require=replaces&Replaces=...` in the Refer-To.
//! - PJSIP does not end a call it transferred: the script hangs it up on the
//!   final 2xx NOTIFY (RFC 5589).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::process::{Peer, Spawn};
use super::{repo_root, WorkDir};

/// Codec the script prefers (the other G.711 law stays offered, all else is off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    fn arg(self) -> &'static str {
        match self {
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
        }
    }
}

/// What the script sends on the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Silence.
    Silence,
    /// A WAV file, looped (`--play`).
    Play(PathBuf),
    /// A sine tone of this many Hz (`--tone`).
    Tone(f64),
}

/// How to start the script. [`Options::answer`] and [`Options::call`] give the
/// defaults; set the public fields for the rest.
#[derive(Clone, Debug)]
pub struct Options {
    /// UDP SIP port on 127.0.0.1.
    pub port: u16,
    /// `None`: answer the first incoming call with 200; `Some(uri)`: call it.
    pub call: Option<String>,
    /// Where to record what the call hears (WAV, 16-bit mono at `clock_rate`).
    pub record: Option<PathBuf>,
    /// What to send.
    pub source: Source,
    /// Hang up this long after the call is confirmed; `None`: wait for the far end.
    pub duration: Option<Duration>,
    /// Preferred codec.
    pub codec: Codec,
    /// Put the far end on hold (`a=sendonly`) this long after the confirm.
    pub hold_at: Option<Duration>,
    /// Take it off hold this long after the confirm.
    pub resume_at: Option<Duration>,
    /// Conference bridge and recording rate.
    pub clock_rate: u32,
    /// A REFER gets 202 and the referred call (PJSIP's default, `true`) or 603.
    pub accept_refer: bool,
    /// Blind-transfer the call (REFER) to this URI ...
    pub xfer_to: Option<String>,
    /// ... this long after the confirm (the script's default: 2 s).
    pub xfer_at: Option<Duration>,
    /// Place a consultation call to this URI ...
    pub consult: Option<String>,
    /// ... this long after the first call's confirm (the script's default: at once).
    pub consult_at: Option<Duration>,
    /// Transfer the first call to the consultation call with Replaces this long
    /// after the confirm (once the consultation call is confirmed).
    pub xfer_replaces_at: Option<Duration>,
    /// The script gives up (exit 3) after this long; the process is killed a few
    /// seconds later whatever happens.
    pub limit: Duration,
    /// SDES SRTP: `off`, `optional` or `mandatory` (PJSIP's `srtpUse`).
    pub srtp: &'static str,
}

impl Options {
    /// Answers the first incoming call, records it to `record`, sends silence.
    pub fn answer(port: u16, record: &Path) -> Self {
        Self {
            port,
            call: None,
            record: Some(record.to_path_buf()),
            source: Source::Silence,
            duration: None,
            codec: Codec::Pcmu,
            hold_at: None,
            resume_at: None,
            clock_rate: 8_000,
            accept_refer: true,
            xfer_to: None,
            xfer_at: None,
            consult: None,
            consult_at: None,
            xfer_replaces_at: None,
            limit: Duration::from_secs(60),
            srtp: "off",
        }
    }

    /// Calls `uri` from `port`; no recording, sends silence.
    pub fn call(port: u16, uri: &str) -> Self {
        Self {
            call: Some(uri.to_string()),
            record: None,
            ..Self::answer(port, Path::new(""))
        }
    }

    fn args(&self, script: &Path) -> Vec<String> {
        let secs = |d: Duration| format!("{:.3}", d.as_secs_f64());
        let mut args = vec![
            path_arg(script),
            "--port".into(),
            self.port.to_string(),
            "--codec".into(),
            self.codec.arg().into(),
            "--clock-rate".into(),
            self.clock_rate.to_string(),
            "--timeout".into(),
            secs(self.limit),
            "--srtp".into(),
            self.srtp.into(),
        ];
        match &self.call {
            Some(uri) => args.extend(["--call".into(), uri.clone()]),
            None => args.push("--answer".into()),
        }
        if let Some(record) = &self.record {
            args.extend(["--record".into(), path_arg(record)]);
        }
        match &self.source {
            Source::Silence => {}
            Source::Play(wav) => args.extend(["--play".into(), path_arg(wav)]),
            Source::Tone(hz) => args.extend(["--tone".into(), hz.to_string()]),
        }
        if !self.accept_refer {
            args.extend(["--refer".into(), "reject".into()]);
        }
        for (flag, value) in [("--xfer-to", &self.xfer_to), ("--consult", &self.consult)] {
            if let Some(value) = value {
                args.extend([flag.into(), value.clone()]);
            }
        }
        for (flag, value) in [
            ("--duration", self.duration),
            ("--hold-at", self.hold_at),
            ("--resume-at", self.resume_at),
            ("--xfer-at", self.xfer_at),
            ("--consult-at", self.consult_at),
            ("--xfer-replaces-at", self.xfer_replaces_at),
        ] {
            if let Some(value) = value {
                args.extend([flag.into(), secs(value)]);
            }
        }
        args
    }
}

/// One line the script printed: its `event` and its other fields, as text.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The line as printed.
    pub line: String,
    fields: Vec<(String, String)>,
}

impl Event {
    /// Parses a flat JSON object; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        Some(Self {
            line: line.to_string(),
            fields: parse_flat_json(line)?,
        })
    }

    /// The `event` field (`state`, `media`, `reinvite`, ...).
    pub fn kind(&self) -> &str {
        self.get("event").unwrap_or("")
    }

    /// A field's value: a string's contents, or a number or literal as written.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is event `kind` with `key` equal to `value`
    /// (e.g. `is("state", "state", "CONFIRMED")`).
    pub fn is(&self, kind: &str, key: &str, value: &str) -> bool {
        self.kind() == kind && self.get(key) == Some(value)
    }
}

/// A running `peer.py`.
pub struct Pjsua {
    peer: Peer,
    port: u16,
    events: Receiver<Event>,
    /// Everything received so far, in order.
    seen: Vec<Event>,
    /// [`Pjsua::wait_for`] looks at `seen[cursor..]`.
    cursor: usize,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Pjsua {
    /// Whether `pjsua2` can be imported by `python3`. When it cannot, this is a
    /// failure under `CI=true` (panics with the install hint), as for every other
    /// peer ([`super::require_peer`]); elsewhere it prints a loud SKIP line and
    /// returns false, and the test returns early.
    pub fn available() -> bool {
        static IMPORTS: OnceLock<bool> = OnceLock::new();
        let imports = *IMPORTS.get_or_init(|| {
            Command::new("python3")
                .args(["-c", "import pjsua2"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if imports {
            return true;
        }
        let hint = "interop peer PJSIP (`python3 -c \"import pjsua2\"`) is not installed; \
                    run `bash scripts/install-peers.sh` (PyPI package pjsua2-python)";
        if super::peers_required() {
            panic!("{hint}: a missing peer fails the run (CI=true or AGENTPHONE_REQUIRE_PEERS=1)");
        }
        eprintln!("\n********** SKIP: {hint} **********\n");
        false
    }

    /// Answers the first call to `sip:pjsua@127.0.0.1:port` and records it to
    /// `record`; `None` when PJSIP is not installed (see [`Pjsua::available`]).
    pub fn answer(dir: &WorkDir, port: u16, record: &Path) -> Option<Self> {
        Self::start(dir, "pjsua-answer", &Options::answer(port, record))
    }

    /// Calls `uri` from `port`, hanging up after `duration` (`None`: when the far
    /// end does), recording to `record` if given.
    pub fn call(
        dir: &WorkDir,
        port: u16,
        uri: &str,
        duration: Option<Duration>,
        record: Option<&Path>,
    ) -> Option<Self> {
        let opts = Options {
            duration,
            record: record.map(Path::to_path_buf),
            ..Options::call(port, uri)
        };
        Self::start(dir, "pjsua-call", &opts)
    }

    /// Starts the script as `name` (unique in `dir`) and waits until its SIP
    /// socket is bound (`ready`); panics if it does not start.
    pub fn start(dir: &WorkDir, name: &str, opts: &Options) -> Option<Self> {
        if !Self::available() {
            return None;
        }
        let script = repo_root().join("tests").join("pjsua").join("peer.py");
        let peer = Peer::spawn(
            dir,
            Spawn {
                name,
                program: Path::new("python3"),
                args: opts.args(&script),
                env: vec![("PYTHONUNBUFFERED".into(), "1".into())],
                limit: opts.limit + Duration::from_secs(20),
            },
        );
        // process::Peer writes stdout to `<name>.stdout` in the work dir.
        let stdout = dir.file(&format!("{name}.stdout"));
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || follow(&stdout, &tx, &stop))
        };
        let mut this = Self {
            peer,
            port: opts.port,
            events: rx,
            seen: Vec::new(),
            cursor: 0,
            stop,
            reader: Some(reader),
        };
        this.expect(|e| e.kind() == "ready", Duration::from_secs(10), "ready");
        Some(this)
    }

    /// The script's SIP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URI that reaches it.
    pub fn uri(&self) -> String {
        format!("sip:pjsua@127.0.0.1:{}", self.port)
    }

    /// Waits up to `limit` for the first event after the last one this returned
    /// that satisfies `pred`; returns it (and moves past it), or `None`. Returns
    /// early when the script has ended without printing it.
    pub fn wait_for(&mut self, pred: impl Fn(&Event) -> bool, limit: Duration) -> Option<Event> {
        let deadline = Instant::now() + limit;
        loop {
            self.drain();
            if let Some(at) = self.seen[self.cursor..].iter().position(&pred) {
                let at = self.cursor + at;
                self.cursor = at + 1;
                return Some(self.seen[at].clone());
            }
            let now = Instant::now();
            // After `ended` nothing more comes.
            if now >= deadline || self.seen.iter().any(|e| e.kind() == "ended") {
                return None;
            }
            let wait = (deadline - now).min(Duration::from_millis(100));
            match self.events.recv_timeout(wait) {
                Ok(event) => self.seen.push(event),
                Err(RecvTimeoutError::Timeout) => {
                    // The process may have died without `ended` (killed, crashed).
                    if self.peer.try_status().is_some() {
                        std::thread::sleep(Duration::from_millis(50));
                        self.drain();
                        if !self.seen[self.cursor..].iter().any(&pred) {
                            return None;
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.drain();
                    if !self.seen[self.cursor..].iter().any(&pred) {
                        return None;
                    }
                }
            }
        }
    }

    /// [`Pjsua::wait_for`], panicking with the events and the log when nothing
    /// matches; `what` names the awaited event in the message.
    pub fn expect(&mut self, pred: impl Fn(&Event) -> bool, limit: Duration, what: &str) -> Event {
        match self.wait_for(pred, limit) {
            Some(event) => event,
            None => panic!(
                "pjsua: no `{what}` within {limit:?}; events: {:#?}\n{}",
                self.events().iter().map(|e| &e.line).collect::<Vec<_>>(),
                self.peer.report()
            ),
        }
    }

    /// Every event received so far, in order.
    pub fn events(&mut self) -> Vec<Event> {
        self.drain();
        self.seen.clone()
    }

    /// The `direction` of every re-INVITE/UPDATE offer received so far, in order.
    pub fn reinvite_directions(&mut self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e.kind() == "reinvite")
            .filter_map(|e| e.get("direction").map(str::to_string))
            .collect()
    }

    /// Every event of `kind` received so far, in order.
    pub fn events_of(&mut self, kind: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.kind() == kind)
            .collect()
    }

    /// The `t` (seconds since the script started) of the first event so far
    /// that satisfies `pred`.
    pub fn time_of(&mut self, pred: impl Fn(&Event) -> bool) -> Option<f64> {
        self.events()
            .iter()
            .find(|e| pred(e))
            .and_then(|e| e.get("t"))
            .and_then(|t| t.parse().ok())
    }

    /// Asks the script to end (SIGTERM, as Ctrl-C would): it hangs up every
    /// call, finishes the recording and prints `ended`.
    pub fn terminate(&self) {
        self.peer.terminate();
    }

    /// Waits up to `limit` for the script to exit (after `ended`, the recording
    /// is complete); `None` if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.peer.wait(limit)
    }

    /// The script's stdout and PJSIP's log, for failure messages.
    pub fn report(&self) -> String {
        self.peer.report()
    }

    fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.seen.push(event);
        }
    }
}

impl Drop for Pjsua {
    fn drop(&mut self) {
        self.peer.stop(Duration::from_secs(3));
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Follows the growing file `path`, sending each complete line that parses as a
/// flat JSON object; ends when `stop` is set or the receiver is gone.
fn follow(path: &Path, tx: &Sender<Event>, stop: &AtomicBool) {
    let mut offset = 0u64;
    let mut pending = Vec::new();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if let Ok(mut file) = std::fs::File::open(path) {
            let mut chunk = Vec::new();
            if file.seek(SeekFrom::Start(offset)).is_ok() && file.read_to_end(&mut chunk).is_ok() {
                offset += chunk.len() as u64;
                pending.extend_from_slice(&chunk);
            }
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(event) = Event::parse(line.trim()) {
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
        if stopping {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Parses `{"k":v,...}` where every value is a string, number, boolean or null
/// (what `peer.py` prints). Strings are unescaped; other values kept as written.
pub fn parse_flat_json(text: &str) -> Option<Vec<(String, String)>> {
    let mut chars = text.trim().chars().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    };
    let string = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<String> {
        if chars.next()? != '"' {
            return None;
        }
        let mut out = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        let unit = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                    }
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
    };
    if chars.next()? != '{' {
        return None;
    }
    let mut fields = Vec::new();
    loop {
        skip_ws(&mut chars);
        if chars.peek() == Some(&'}') && fields.is_empty() {
            chars.next();
            break;
        }
        let key = string(&mut chars)?;
        skip_ws(&mut chars);
        if chars.next()? != ':' {
            return None;
        }
        skip_ws(&mut chars);
        let value = if chars.peek() == Some(&'"') {
            string(&mut chars)?
        } else {
            let mut literal = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' || c == '}' || c.is_whitespace() {
                    break;
                }
                literal.push(c);
                chars.next();
            }
            if literal.is_empty() {
                return None;
            }
            literal
        };
        fields.push((key, value));
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            '}' => break,
            _ => return None,
        }
    }
    Some(fields)
}

fn path_arg(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
        .to_string()
}
