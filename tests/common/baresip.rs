//! baresip 1.0 (Debian `baresip-core`) as a peer: headless, playing a WAV through
//! its `aufile` source, recording both directions of each call with `sndfile`, and
//! driven over `ctrl_tcp`.
//!
//! What baresip 1.0.0 (Debian 1.0.0-4) needs, found by running it and reading its
//! v1.0.0 sources (`modules/aufile`, `modules/sndfile`, `src/audio.c`):
//! - `aufile` only plays a 16-bit WAV whose rate and channel count equal the audio
//!   source's; `ausrc_srate 48000` and `ausrc_channels 1` make that 48 kHz mono for
//!   every codec (baresip resamples after the source). It ends the call when the
//!   file runs out, so the file is padded with silence ([`write_padded_source`]).
//! - `sndfile` writes `dump-<time>-dec.wav` (what baresip heard) and
//!   `dump-<time>-enc.wav` (what it sent) at the codec's rate and channel count,
//!   and finishes both files when the call ends.
//! - `net_interface` must be an IP address; it binds SIP on UDP and TCP at
//!   `sip_listen`, TLS on the SIP port + 1, and RTP/RTCP on an even port of
//!   `rtp_ports` and the next one. It also opens DNS client sockets on ephemeral
//!   ports, which we cannot move.
//! - The Request-URI user must be the account user, or it answers 404.
//! - `ctrl_tcp` serves one connection and sends events only to it; its commands
//!   (`dial`, `hangup`) are the `menu` module's, so `menu` must be loaded.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentphone_audio::wav::{read_wav, write_wav, WavData};

use super::ports::{free_port, is_bound, wait_bound, Proto};
use super::process::{Peer, Spawn};
use super::{require_peer, WorkDir};

/// Codec a baresip account is limited to (its `audio_codecs` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// Opus as baresip's `opus` module offers it by default: `opus/48000/2`,
    /// `stereo=1;sprop-stereo=1`.
    Opus,
}

impl Codec {
    /// The entry in an account's codec list. baresip matches name, rate and
    /// channel count, and its Opus codec has 2 channels unless `opus_stereo no`.
    fn account_entry(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU/8000/1",
            Codec::Opus => "opus/48000/2",
        }
    }

    /// How baresip names the codec in its `Set audio decoder:` log line.
    pub fn baresip_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU 8000Hz 1ch",
            Codec::Opus => "opus 48000Hz 2ch",
        }
    }

    /// The rate of `sndfile`'s dumps with this codec.
    pub fn dump_rate(self) -> u32 {
        match self {
            Codec::Pcmu => 8_000,
            Codec::Opus => 48_000,
        }
    }
}

/// How to start baresip.
pub struct Options<'a> {
    /// Account user; the Request-URI of calls to it must carry this user.
    pub user: &'a str,
    /// The only codec the account offers and accepts.
    pub codec: Codec,
    /// WAV played as the microphone: 16-bit, 48 kHz, mono.
    pub source: &'a Path,
    /// Answer incoming calls at once (`answermode=auto`).
    pub auto_answer: bool,
    /// Hard limit on the process's life.
    pub limit: Duration,
}

/// A running baresip with its control connection.
pub struct Baresip {
    peer: Peer,
    sip_port: u16,
    user: String,
    recordings: PathBuf,
    ctrl: Ctrl,
}

/// The two files `sndfile` wrote for one call.
#[derive(Debug)]
pub struct Dumps {
    /// What baresip decoded from the network.
    pub heard: PathBuf,
    /// What baresip encoded and sent.
    pub sent: PathBuf,
}

impl Baresip {
    /// Writes a config dir under `dir` and starts baresip on it. `None` when
    /// baresip is not installed (skipped; a failure under `CI=true`).
    pub fn start(dir: &WorkDir, name: &str, opts: &Options<'_>) -> Option<Self> {
        Self::start_with_mediaenc(dir, name, opts, None)
    }

    /// [`start`](Self::start) with the account's media encryption set to
    /// `mediaenc` (`srtp`: RTP/AVP with a=crypto, best effort; `srtp-mand`:
    /// RTP/SAVP only), the `srtp` module loaded for it.
    pub fn start_with_mediaenc(
        dir: &WorkDir,
        name: &str,
        opts: &Options<'_>,
        mediaenc: Option<&str>,
    ) -> Option<Self> {
        let program = require_peer("baresip")?;
        let ports = BaresipPorts::take();
        let config_dir = dir.file(&format!("{name}-config"));
        let recordings = dir.file(&format!("{name}-recordings"));
        for d in [&config_dir, &recordings] {
            std::fs::create_dir_all(d)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        }
        let mut config = config_text(&ports, opts.source, &recordings);
        let mut account = account_line(opts);
        if let Some(enc) = mediaenc {
            config.push_str("module\tsrtp.so\n");
            account = format!("{};mediaenc={enc}\n", account.trim_end());
        }
        write_file(&config_dir.join("config"), &config);
        write_file(&config_dir.join("accounts"), &account);
        let mut peer = Peer::spawn(
            dir,
            Spawn {
                name,
                program: &program,
                args: vec!["-f".into(), path_arg(&config_dir).into()],
                env: Vec::new(),
                limit: opts.limit,
            },
        );
        // ctrl_tcp is loaded last, after the SIP and RTP set-up it depends on.
        let ready = wait_bound(Proto::Tcp, ports.ctrl, Duration::from_secs(10));
        assert!(
            ready && peer.wait_for_output("baresip is ready", Duration::from_secs(5)),
            "baresip did not start:\n{}",
            peer.report()
        );
        let ctrl = Ctrl::connect(ports.ctrl)
            .unwrap_or_else(|e| panic!("ctrl_tcp connect: {e}\n{}", peer.report()));
        Some(Self {
            peer,
            sip_port: ports.sip,
            user: opts.user.to_string(),
            recordings,
            ctrl,
        })
    }

    /// The URI that reaches this baresip's account.
    pub fn uri(&self) -> String {
        format!("sip:{}@127.0.0.1:{}", self.user, self.sip_port)
    }

    /// Places a call through `ctrl_tcp`'s `dial`; panics if baresip refuses it.
    pub fn dial(&mut self, uri: &str) {
        self.command("dial", uri);
    }

    /// Hangs up the current call through `ctrl_tcp`'s `hangup`.
    pub fn hangup(&mut self) {
        self.command("hangup", "");
    }

    fn command(&mut self, command: &str, params: &str) {
        let result = self.ctrl.command(command, params, Duration::from_secs(5));
        if let Err(e) = result {
            panic!("baresip {command} {params}: {e}\n{}", self.peer.report());
        }
    }

    /// Waits up to `limit` for the event `kind` (`CALL_ESTABLISHED`,
    /// `CALL_CLOSED`, ...); returns its JSON text or panics with what came instead.
    pub fn wait_event(&mut self, kind: &str, limit: Duration) -> String {
        self.events_until(kind, limit).pop().unwrap_or_default()
    }

    /// Every event up to and including the first `kind`, in order; panics with
    /// what came when `kind` does not within `limit`.
    pub fn events_until(&mut self, kind: &str, limit: Duration) -> Vec<String> {
        match self.ctrl.events_until(kind, limit) {
            Ok(events) => events,
            Err(e) => panic!("baresip: {e}\n{}", self.peer.report()),
        }
    }

    /// Sends `digits` as DTMF on the current call (`ctrl_tcp`'s `sndcode`;
    /// baresip sends RFC 4733 events when the call agreed telephone-event).
    pub fn send_digits(&mut self, digits: &str) {
        self.command("sndcode", digits);
    }

    /// The `sndfile` dumps of the single call this baresip made or took.
    pub fn dumps(&self) -> Dumps {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.recordings)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.recordings.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let pick = |suffix: &str| {
            let found: Vec<&PathBuf> = files
                .iter()
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect();
            assert_eq!(found.len(), 1, "one *{suffix} per call: {files:?}");
            found[0].clone()
        };
        Dumps {
            heard: pick("-dec.wav"),
            sent: pick("-enc.wav"),
        }
    }

    /// Everything baresip logged so far.
    pub fn output(&self) -> String {
        self.peer.output()
    }

    /// The tail of baresip's log, for failure messages.
    pub fn report(&self) -> String {
        self.peer.report()
    }
}

/// The ports one baresip binds on 127.0.0.1.
struct BaresipPorts {
    /// SIP over UDP and TCP; TLS takes `sip + 1`.
    sip: u16,
    /// RTP (even): two calls take `rtp` to `rtp + 3`.
    rtp: u16,
    /// `ctrl_tcp`.
    ctrl: u16,
}

impl BaresipPorts {
    /// Takes ports whose neighbours baresip also binds: free_port hands out single
    /// ports, so draw until the neighbour is unbound too (bounded: a busy machine
    /// fails here rather than looping).
    fn take() -> Self {
        // `count` ports from the one drawn: SIP and TLS; two calls' RTP and
        // RTCP (a transferee's referred call while the old one is up).
        let run = |count: u16, even: bool, proto: Proto| {
            (0..200)
                .map(|_| free_port())
                .find(|&p| {
                    (!even || p % 2 == 0)
                        && p < u16::MAX - count
                        && (1..count).all(|i| !is_bound(proto, p + i))
                })
                .expect("no free loopback ports for baresip")
        };
        Self {
            sip: run(2, false, Proto::Tcp),
            rtp: run(4, true, Proto::Udp),
            ctrl: free_port(),
        }
    }
}

fn config_text(ports: &BaresipPorts, source: &Path, recordings: &Path) -> String {
    format!(
        "# written by the interop test harness (tests/common/baresip.rs)\n\
         poll_method\tepoll\n\
         sip_listen\t127.0.0.1:{sip}\n\
         net_interface\t127.0.0.1\n\
         call_local_timeout\t20\n\
         call_max_calls\t4\n\
         audio_player\t\n\
         audio_alert\t\n\
         audio_source\taufile,{source}\n\
         ausrc_srate\t48000\n\
         ausrc_channels\t1\n\
         audio_level\tno\n\
         rtp_ports\t{rtp}-{rtp_last}\n\
         rtcp_mux\tno\n\
         jitter_buffer_delay\t5-10\n\
         snd_path\t{recordings}\n\
         ctrl_tcp_listen\t127.0.0.1:{ctrl}\n\
         module_path\t/usr/lib/baresip/modules\n\
         module\tg711.so\n\
         module\topus.so\n\
         module\taufile.so\n\
         module\tsndfile.so\n\
         module_app\taccount.so\n\
         module_app\tmenu.so\n\
         module_app\tctrl_tcp.so\n",
        sip = ports.sip,
        rtp = ports.rtp,
        rtp_last = ports.rtp + 3,
        ctrl = ports.ctrl,
        source = path_arg(source),
        recordings = path_arg(recordings),
    )
}

fn account_line(opts: &Options<'_>) -> String {
    // regint=0: no registrar, calls go straight to the Request-URI's host.
    let answer = if opts.auto_answer {
        ";answermode=auto"
    } else {
        ""
    };
    format!(
        "<sip:{user}@127.0.0.1>;regint=0{answer};audio_codecs={codec}\n",
        user = opts.user,
        codec = opts.codec.account_entry(),
    )
}

/// Writes `speech` followed by `silence_s` seconds of silence as 16-bit 48 kHz mono,
/// the only shape `aufile` plays here; the silence keeps `aufile` from ending the
/// call when the speech is over.
pub fn write_padded_source(speech: &Path, silence_s: f64, out: &Path) {
    let wav: WavData =
        read_wav(speech).unwrap_or_else(|e| panic!("read {}: {e}", speech.display()));
    assert!(
        wav.rate == 48_000 && wav.channels == 1,
        "{} must be 48 kHz mono, is {} Hz × {}",
        speech.display(),
        wav.rate,
        wav.channels
    );
    let mut samples = wav.samples;
    samples.resize(samples.len() + (silence_s * 48_000.0) as usize, 0.0);
    write_wav(out, 48_000, 1, &samples).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn path_arg(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// A `ctrl_tcp` client: netstring-framed JSON (`LEN:{...},`) both ways.
struct Ctrl {
    stream: TcpStream,
    /// Bytes read but not yet framed.
    buffer: Vec<u8>,
    /// Events read while waiting for something else, oldest first.
    events: Vec<String>,
    next_token: u32,
}

impl Ctrl {
    fn connect(port: u16) -> std::io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        // Short reads so every wait below checks its deadline.
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Self {
            stream,
            buffer: Vec::new(),
            events: Vec::new(),
            next_token: 1,
        })
    }

    /// Sends a command and waits for the response carrying its token.
    fn command(&mut self, command: &str, params: &str, limit: Duration) -> Result<(), String> {
        let token = format!("t{}", self.next_token);
        self.next_token += 1;
        let body = format!(
            "{{\"command\":\"{}\",\"params\":\"{}\",\"token\":\"{token}\"}}",
            json_escape(command),
            json_escape(params)
        );
        let frame = format!("{}:{body},", body.len());
        self.stream
            .write_all(frame.as_bytes())
            .map_err(|e| format!("ctrl_tcp write: {e}"))?;
        let deadline = Instant::now() + limit;
        loop {
            let message = self.next_message(deadline)?;
            if json_field(&message, "event").is_some() {
                self.events.push(message);
            } else if json_field(&message, "token").as_deref() == Some(token.as_str()) {
                return match json_field(&message, "ok").as_deref() {
                    Some("true") => Ok(()),
                    _ => Err(format!("refused: {message}")),
                };
            }
        }
    }

    /// Every event up to and including the first of type `kind`, in order.
    fn events_until(&mut self, kind: &str, limit: Duration) -> Result<Vec<String>, String> {
        let is_kind = |m: &String| json_field(m, "type").as_deref() == Some(kind);
        if let Some(at) = self.events.iter().position(is_kind) {
            return Ok(self.events.drain(..=at).collect());
        }
        let mut seen = std::mem::take(&mut self.events);
        let deadline = Instant::now() + limit;
        loop {
            let message = self
                .next_message(deadline)
                .map_err(|e| format!("waiting for {kind}: {e}; events seen: {seen:?}"))?;
            let found = is_kind(&message);
            seen.push(message);
            if found {
                return Ok(seen);
            }
        }
    }

    /// The next complete netstring payload, reading until `deadline`.
    fn next_message(&mut self, deadline: Instant) -> Result<String, String> {
        loop {
            if let Some(message) = take_netstring(&mut self.buffer)? {
                return Ok(message);
            }
            if Instant::now() >= deadline {
                return Err("timed out".to_string());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("ctrl_tcp connection closed".to_string()),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("ctrl_tcp read: {e}")),
            }
        }
    }
}

/// Removes one `LEN:PAYLOAD,` frame from the front of `buffer`, if it is complete.
pub fn take_netstring(buffer: &mut Vec<u8>) -> Result<Option<String>, String> {
    let Some(colon) = buffer.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    let len: usize = std::str::from_utf8(&buffer[..colon])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "bad netstring length in {:?}",
                String::from_utf8_lossy(buffer)
            )
        })?;
    let end = colon + 1 + len;
    if buffer.len() <= end {
        return Ok(None);
    }
    if buffer[end] != b',' {
        return Err("netstring not ended by ','".to_string());
    }
    let payload = String::from_utf8_lossy(&buffer[colon + 1..end]).into_owned();
    buffer.drain(..=end);
    Ok(Some(payload))
}

/// The value of `"key":` in a flat JSON object as baresip's encoder writes it (no
/// spaces): a string's contents unescaped only for `\"`, or a bare literal.
pub fn json_field(message: &str, key: &str) -> Option<String> {
    let at = message.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &message[at..];
    if let Some(string) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = string.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '"' => return Some(value),
                c => value.push(c),
            }
        }
        None
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }
}

fn json_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
