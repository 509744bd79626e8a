//! `agentphone run`: the agent's phone. The I/O shell around the desk core
//! (`agentphone-desk`): it registers, feeds the desk what happens on SIP
//! (`sip_in.rs`) and what the agent asks through the control API, and carries
//! out the desk's actions on the SIP endpoint and the media engine
//! (`act.rs`, `rooms.rs`). No call rule lives here.

mod act;
mod legs;
mod quality;
mod rooms;
pub mod settings;
mod sip_in;

use crate::api::{ApiRequest, DeskPort};
use crate::cmd::account::{register_request, AccountArgs};
use crate::config::Account;
use crate::media::{CleanAudio, MediaEngine, MediaSettings, RtpTimeout};
use crate::net::SipDriver;
use agentphone_desk::{CallInput, Desk, DeskEvent, ReferRef};
use agentphone_sip::{CallId, RegId, TransferId};
use anyhow::{bail, Result};
use legs::Legs;
use rooms::{AgentVoice, Rooms};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant as TokioInstant;

/// Flags of `agentphone run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Address for SIP (UDP and TCP). With an account it may be left out.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub account: AccountArgs,
    /// Sound card for the agent's microphone and speaker (`default` or part of
    /// a name from `agentphone devices`).
    #[arg(long)]
    pub audio_device: Option<String>,
    /// Without a sound card: the agent's voice from a WAV file (looped) or
    /// `tone:FREQ` (default: silence).
    #[arg(long, conflicts_with = "audio_device")]
    pub play: Option<PathBuf>,
    /// Record what the agent hears, whichever call it is on, to this WAV.
    #[arg(long)]
    pub record_heard: Option<PathBuf>,
    /// Control API address (overrides `[api] listen`).
    #[arg(long)]
    pub api: Option<SocketAddr>,
    /// Codec to prefer.
    #[arg(long, value_parser = ["pcmu", "pcma", "opus"])]
    pub codec: Option<String>,
    /// SRTP for the calls (over `[media] srtp`): off, optional or mandatory.
    #[arg(long, value_parser = ["off", "optional", "mandatory"])]
    pub srtp: Option<String>,
    /// Concurrent calls at most (default: `[sip] max_concurrent_calls`, 200).
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    #[command(flatten)]
    pub tls: crate::cmd::tls_server::TlsServerArgs,
}

use crate::cmd::signals::STOP_LIMIT;

/// After a failed registration refresh, the next attempt.
const REREGISTER_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// An incoming REFER the desk decides on.
struct Refer {
    call: CallId,
    transfer: TransferId,
    target: agentphone_sip::ReferTarget,
    referred_by: Option<String>,
    /// 202 sent: a refusal is a NOTIFY now.
    accepted: bool,
    /// The call placed for it, once followed.
    placed: Option<agentphone_desk::CallRef>,
}

/// Everything the loop owns.
struct Shell {
    sip: SipDriver,
    desk: Desk,
    legs: Legs,
    rooms: Rooms,
    engine: MediaEngine,
    media: MediaSettings,
    account: Option<Account>,
    clean: CleanAudio,
    refers: HashMap<ReferRef, Refer>,
    next_refer: u64,
    reg: Option<RegId>,
    /// The first registration succeeded: a later failure does not end the run.
    registered: bool,
    reregister_at: Option<TokioInstant>,
    /// A stop (SIGTERM, logout) is under way.
    stopping: bool,
    events: broadcast::Sender<Arc<str>>,
    dead: mpsc::UnboundedSender<RtpTimeout>,
    /// SIP calls to hang up later (the transferee's grace, RFC 5589).
    hangups: BTreeMap<(TokioInstant, CallId), ()>,
    /// Media being stopped and recordings being finished beside the loop.
    ending: tokio::task::JoinSet<()>,
    exit: bool,
    /// Each leg's recent loss, for the quality events.
    loss: quality::LossWindows,
    /// Looks the registrar up again before a registration starts anew.
    dns: Arc<crate::net::dns::Resolver>,
    /// What the admission policy is made from, to make it again when the
    /// registrar's addresses change.
    admission: (
        (crate::config::AcceptFrom, usize),
        Option<usize>,
        crate::net::Limits,
    ),
}

/// Runs `agentphone run`.
pub async fn run(args: RunArgs, config: Option<&Path>) -> Result<()> {
    let cfg = crate::config::load(config)?;
    let shown = crate::config::shown_path(config);
    let crate::cmd::RunConfig {
        account,
        media,
        session_timer,
        limits,
        admission,
        mut net,
        dns,
    } = crate::cmd::account_and_media(
        config,
        &args.account,
        (args.codec.as_deref(), args.srtp.as_deref()),
    )
    .await?;
    args.tls.apply(&mut net);
    let policy = account.as_ref().map(|a| a.noise).unwrap_or_default();
    let settings = cfg.desk.resolve(&shown, policy)?;
    // The token file sits next to the config file that was read.
    let read = config
        .map(Path::to_path_buf)
        .or_else(|| crate::config::default_path().filter(|p| p.is_file()));
    let mut api = cfg.api.resolve(read.as_deref())?;
    if let Some(addr) = args.api {
        api.listen = addr;
    }
    // Before SIP: a busy port or a bad token file stops the run at once.
    let (listener, token) = crate::api::bind(&api).await?;
    let voice = match (&args.audio_device, &args.play) {
        (Some(_), _) => AgentVoice::Device,
        (None, play) => AgentVoice::Source(crate::media::open_source(play.as_deref(), true)?),
    };
    let engine = crate::cmd::start_engine(args.audio_device.as_deref(), &media)?;
    let rooms = Rooms::new(
        &engine,
        voice,
        (&media, policy.microphone),
        args.record_heard.as_deref(),
        settings.record_dir.clone(),
    )?;
    let user = account
        .as_ref()
        .map(|a| a.user.clone())
        .unwrap_or_else(|| "agent".into());
    let listen = match (args.listen, &account) {
        (None, None) => {
            bail!("run needs --listen ADDR, or an account (--account) to register from")
        }
        (listen, Some(a)) => crate::net::listen_toward(listen, a.registrar)?,
        (Some(l), None) => l,
    };
    let mut sip = SipDriver::bind_full(listen, &user, session_timer, &limits, net).await?;
    crate::cmd::tls_server::print_listening(&sip);
    let admit = crate::cmd::admission(account.as_ref(), admission, args.max_concurrent, &limits);
    sip.ep().set_admission(admit);
    let api_addr = listener.local_addr()?;
    println!(
        "control API on http://{api_addr} (token in {})",
        api.token_file.display()
    );
    // The code signs one browser in, so the URL is not a standing secret.
    let login = crate::api::LoginCode::generate();
    println!(
        "desk: {}/#login={} (one-time link; afterwards sign in with the token)",
        desk_url(api_addr),
        login.as_str()
    );
    let (events, _) = broadcast::channel(1024);
    let (req_tx, req_rx) = mpsc::channel(64);
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api_task = tokio::spawn(crate::api::serve(
        listener,
        token,
        Some(login),
        DeskPort {
            requests: req_tx,
            events: events.clone(),
        },
        async move {
            let _ = api_stopped.await;
        },
    ));
    let (dead, dead_rx) = mpsc::unbounded_channel();
    let clean = CleanAudio {
        inbound: policy.inbound,
        microphone: policy.microphone,
        switchable: true,
    };
    let mut shell = Shell {
        sip,
        desk: Desk::new(settings.desk, Instant::now()),
        legs: Legs::default(),
        rooms,
        engine,
        media,
        account,
        clean,
        refers: HashMap::new(),
        next_refer: 1,
        reg: None,
        registered: false,
        reregister_at: None,
        stopping: false,
        events,
        dead,
        hangups: BTreeMap::new(),
        ending: tokio::task::JoinSet::new(),
        exit: false,
        loss: quality::LossWindows::default(),
        dns,
        admission: (admission, args.max_concurrent, limits),
    };
    if let Some(a) = &shell.account {
        shell.reg = Some(shell.sip.ep().register(Instant::now(), register_request(a)));
    }
    let served = shell.serve(req_rx, dead_rx).await;
    let _ = stop_api.send(());
    shell.close().await;
    match tokio::time::timeout(std::time::Duration::from_secs(2), api_task).await {
        Ok(Ok(Err(e))) => tracing::warn!("control API: {e:#}"),
        Ok(Err(e)) => tracing::warn!("control API task: {e}"),
        _ => {}
    }
    served
}

/// The URL a browser on this machine opens: an unspecified listen address
/// is reached on loopback.
fn desk_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(a) if a.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(a) if a.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Shell {
    async fn serve(
        &mut self,
        mut requests: mpsc::Receiver<ApiRequest>,
        mut dead: mpsc::UnboundedReceiver<RtpTimeout>,
    ) -> Result<()> {
        let mut shutdown = std::pin::pin!(crate::cmd::signals::shutdown());
        // However the far ends answer, a stop ends the run within this.
        let mut give_up: Option<TokioInstant> = None;
        let mut quality_at = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            let desk_at = self.desk.poll_timeout();
            let hangup_at = self.hangups.keys().next().map(|(t, _)| *t);
            tokio::select! {
                ev = self.sip.next_event() => self.on_sip(ev?).await?,
                Some(req) = requests.recv() => self.on_request(req),
                _ = crate::cmd::sleep_opt(desk_at.map(TokioInstant::from_std)) => {
                    self.desk.handle_timeout(Instant::now());
                }
                _ = crate::cmd::sleep_opt(hangup_at) => {
                    if let Some(((_, call), ())) = self.hangups.pop_first() {
                        let _ = self.sip.ep().hangup(Instant::now(), call);
                    }
                }
                _ = quality_at.tick() => self.publish_quality(),
                // A JoinSet keeps each finished task until it is joined: reap
                // them, or an agent's shift of calls accumulates.
                Some(_) = self.ending.join_next(), if !self.ending.is_empty() => {}
                Some(d) = dead.recv() => {
                    let sip = self.legs.get(agentphone_desk::CallRef(d.leg)).map(|l| l.sip);
                    if let Some(sip) = sip {
                        println!("call {}: no RTP from the peer for {:.0} s: hanging up", d.leg, d.silent_for.as_secs_f64());
                        let _ = self.sip.ep().hangup(Instant::now(), sip);
                    }
                }
                _ = crate::cmd::sleep_opt(self.reregister_at) => {
                    self.reregister_at = None;
                    if let (Some(a), false) = (self.account.as_mut(), self.stopping) {
                        if crate::cmd::account::relocate(a, &self.dns, &mut self.sip).await {
                            let (from, max, limits) = &self.admission;
                            let policy = crate::cmd::admission(Some(a), *from, *max, limits);
                            self.sip.ep().set_admission(policy);
                        }
                        self.reg = Some(self.sip.ep().register(Instant::now(), register_request(a)));
                    }
                }
                _ = &mut shutdown, if !self.stopping => {
                    self.stopping = true;
                    println!("stopping: pending offers declined, calls ended, registration removed");
                    self.desk.handle_input(Instant::now(), CallInput::Shutdown);
                }
                _ = crate::cmd::sleep_opt(give_up) => {
                    eprintln!("stopping: the far ends did not answer within {} s; leaving anyway", STOP_LIMIT.as_secs());
                    break;
                }
            }
            self.drain().await;
            // The desk asks to exit (logout, or shutdown once its calls are
            // ended); the run ends when the calls and the registration are gone.
            self.stopping |= self.exit;
            if self.stopping && give_up.is_none() {
                give_up = Some(TokioInstant::now() + STOP_LIMIT);
            }
            // `reg` clears on the Unregistered (or failed) event, which comes
            // after the endpoint dropped the binding.
            if self.stopping && self.legs.is_empty() && self.reg.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Carries out what the desk queued and tells the controls what changed.
    async fn drain(&mut self) {
        loop {
            let mut busy = false;
            while let Some(action) = self.desk.poll_action() {
                busy = true;
                self.act(action).await;
            }
            while let Some(ev) = self.desk.poll_event() {
                busy = true;
                self.publish(&ev);
            }
            if !busy {
                break;
            }
        }
    }

    fn publish(&self, ev: &DeskEvent) {
        match serde_json::to_string(ev) {
            Ok(json) => {
                println!("desk: {json}");
                let _ = self.events.send(Arc::from(json));
            }
            Err(e) => tracing::warn!("desk event not serialized: {e}"),
        }
    }

    fn on_request(&mut self, req: ApiRequest) {
        let now = Instant::now();
        match req {
            ApiRequest::Command { cmd, reply } => {
                let result = self.desk.handle_command(now, cmd);
                let _ = reply.send(result);
            }
            ApiRequest::Status { reply } => {
                let _ = reply.send(self.desk.status(now));
            }
            ApiRequest::WrapupReasons { query, reply } => {
                let _ = reply.send(self.desk.wrapup_reasons(&query));
            }
        }
    }

    /// Ends what is left: media stopped, recordings on disk, SIP flushed.
    async fn close(mut self) {
        for mut leg in self.legs.drain() {
            self.ending.spawn(async move {
                leg.media.stop().await;
            });
        }
        while self.ending.join_next().await.is_some() {}
        self.rooms.close_all().await;
        self.sip.close().await;
    }
}
