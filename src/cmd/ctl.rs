//! `agentphone ctl`: drive a running desk through its control API. Each verb
//! is one `AgentCommand` (or a read: status, wrap-up reasons, events).
//! Exit codes: 0 done, 3 refused by a rule, 1 any other failure.

use crate::api::client::{Client, ClientError};
use crate::api::{config, Token};
use agentphone_desk::noise::NoiseTarget;
use agentphone_desk::{AgentCommand, CallRef, ReferRef, RequestedState};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of a command a rule refused.
pub const EXIT_REFUSED: u8 = 3;

/// Drive a running desk (`agentphone run`) through its control API.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The API's URL (default: `listen` of [api] in the config, else
    /// http://127.0.0.1:7480).
    #[arg(long, global = true, env = "AGENTPHONE_API", value_name = "URL")]
    api: Option<String>,
    /// The API token file (default: `token_file` of [api], else
    /// agentphone-api.token next to the config file or in the current
    /// directory).
    #[arg(
        long,
        global = true,
        env = "AGENTPHONE_TOKEN_FILE",
        value_name = "FILE"
    )]
    token_file: Option<PathBuf>,
    /// Print the API's JSON as it is.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Show the agent state, the offers and the calls.
    Status,
    /// Become available, or idle with a reason.
    State {
        #[command(subcommand)]
        state: StateArg,
    },
    /// Answer an offer (the earliest by default), or all of them.
    Answer {
        #[arg(long, value_name = "ID", conflicts_with = "all")]
        call: Option<u64>,
        /// Answer every offer: the earliest talks, the others are held.
        #[arg(long)]
        all: bool,
    },
    /// Decline an offer (the earliest by default).
    Decline(CallOpt),
    /// Place a call: SIP URI, extension or number.
    Dial { target: String },
    /// Hold a call.
    Hold(CallOpt),
    /// Take a held call back.
    Resume(CallOpt),
    /// Consult a target: the call is held and the consult call placed.
    Consult {
        target: String,
        #[arg(long, value_name = "ID")]
        call: Option<u64>,
        /// From a conference: keep the conference talking meanwhile.
        #[arg(long)]
        keep_conference_talking: bool,
    },
    /// Swap between the held customer and the consult call.
    Toggle,
    /// Transfer a call: blind to a target, or to the consulted party.
    #[command(group(clap::ArgGroup::new("how").required(true).args(["blind", "consult"])))]
    Transfer {
        /// Blind transfer to TARGET.
        #[arg(long, value_name = "TARGET")]
        blind: Option<String>,
        /// Attended transfer to the party consulted.
        #[arg(long)]
        consult: bool,
        #[arg(long, value_name = "ID")]
        call: Option<u64>,
    },
    /// Merge the consult call into the customer's call.
    Conference(CallOpt),
    /// Hang up one party of a conference.
    Remove { party: u64 },
    /// Mute the microphone (--off: unmute).
    Mute {
        #[arg(long)]
        off: bool,
    },
    /// Leave the conference; the others go on.
    Leave(CallOpt),
    /// End a call.
    Hangup(CallOpt),
    /// Submit the wrap-up reason of an ended call.
    Wrapup {
        reason: String,
        #[arg(long, value_name = "ID")]
        call: Option<u64>,
    },
    /// List the wrap-up reasons (those matching QUERY).
    WrapupReasons { query: Option<String> },
    /// Pause or resume the recording.
    Record {
        action: RecordAction,
        #[arg(long, value_name = "ID")]
        call: Option<u64>,
    },
    /// Send DTMF digits (0-9 * # A-D).
    Dtmf {
        digits: String,
        #[arg(long, value_name = "ID")]
        call: Option<u64>,
    },
    /// Switch noise removal on what the agent hears (--mic: on the microphone).
    Denoise {
        switch: OnOff,
        #[arg(long)]
        mic: bool,
    },
    /// Accept or decline a REFER the far end sent.
    Refer { decision: ReferDecision, refer: u64 },
    /// Log out: unregister and stop the desk.
    Logout,
    /// Follow the desk's events, one line each, until interrupted.
    Events {
        /// Stop after N events (the first status snapshot counts).
        #[arg(long, value_name = "N")]
        count: Option<usize>,
        /// Stop after the first event of this kind (`offer`, `call`, ...).
        #[arg(long, value_name = "EVENT_KIND")]
        until: Option<String>,
        /// Give up after S seconds: exit 1 if --count/--until was not met,
        /// else stop quietly.
        #[arg(long, value_name = "S")]
        timeout: Option<f64>,
    },
}

#[derive(Args, Debug)]
struct CallOpt {
    /// The call (default: the one the verb applies to now).
    #[arg(long, value_name = "ID")]
    call: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum StateArg {
    /// Ready for offers.
    Available,
    /// Not taking offers.
    Idle { reason: String },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum RecordAction {
    Pause,
    Resume,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum OnOff {
    On,
    Off,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ReferDecision {
    Accept,
    Decline,
}

impl Verb {
    /// The CLI's name of the verb, for output.
    fn name(&self) -> &'static str {
        match self {
            Verb::Status => "status",
            Verb::State { .. } => "state",
            Verb::Answer { .. } => "answer",
            Verb::Decline(_) => "decline",
            Verb::Dial { .. } => "dial",
            Verb::Hold(_) => "hold",
            Verb::Resume(_) => "resume",
            Verb::Consult { .. } => "consult",
            Verb::Toggle => "toggle",
            Verb::Transfer { .. } => "transfer",
            Verb::Conference(_) => "conference",
            Verb::Remove { .. } => "remove",
            Verb::Mute { .. } => "mute",
            Verb::Leave(_) => "leave",
            Verb::Hangup(_) => "hangup",
            Verb::Wrapup { .. } => "wrapup",
            Verb::WrapupReasons { .. } => "wrapup-reasons",
            Verb::Record { .. } => "record",
            Verb::Dtmf { .. } => "dtmf",
            Verb::Denoise { .. } => "denoise",
            Verb::Refer { .. } => "refer",
            Verb::Logout => "logout",
            Verb::Events { .. } => "events",
        }
    }

    /// The agent command of a verb that is one; None for the reads.
    fn command(&self) -> Option<AgentCommand> {
        let c = |id: &Option<u64>| id.map(CallRef);
        Some(match self {
            Verb::Status | Verb::WrapupReasons { .. } | Verb::Events { .. } => return None,
            Verb::State { state } => AgentCommand::State(match state {
                StateArg::Available => RequestedState::Available,
                StateArg::Idle { reason } => RequestedState::Idle {
                    reason: reason.clone(),
                },
            }),
            Verb::Answer { all: true, .. } => AgentCommand::AnswerAll,
            Verb::Answer { call, .. } => AgentCommand::Answer { call: c(call) },
            Verb::Decline(o) => AgentCommand::Decline { call: c(&o.call) },
            Verb::Dial { target } => AgentCommand::Dial {
                target: target.clone(),
            },
            Verb::Hold(o) => AgentCommand::Hold { call: c(&o.call) },
            Verb::Resume(o) => AgentCommand::Resume { call: c(&o.call) },
            Verb::Consult {
                target,
                call,
                keep_conference_talking,
            } => AgentCommand::Consult {
                call: c(call),
                target: target.clone(),
                hold_conference: keep_conference_talking.then_some(false),
            },
            Verb::Toggle => AgentCommand::Toggle,
            Verb::Transfer {
                blind: Some(target),
                call,
                ..
            } => AgentCommand::TransferBlind {
                call: c(call),
                target: target.clone(),
            },
            Verb::Transfer { call, .. } => AgentCommand::TransferConsult { call: c(call) },
            Verb::Conference(o) => AgentCommand::Conference { call: c(&o.call) },
            Verb::Remove { party } => AgentCommand::Remove {
                party: CallRef(*party),
            },
            Verb::Mute { off } => AgentCommand::Mute { on: !off },
            Verb::Leave(o) => AgentCommand::Leave { call: c(&o.call) },
            Verb::Hangup(o) => AgentCommand::Hangup { call: c(&o.call) },
            Verb::Wrapup { reason, call } => AgentCommand::WrapUp {
                call: c(call),
                reason: reason.clone(),
            },
            Verb::Record { action, call } => AgentCommand::Record {
                call: c(call),
                pause: matches!(action, RecordAction::Pause),
            },
            Verb::Dtmf { digits, call } => AgentCommand::Dtmf {
                call: c(call),
                digits: digits.clone(),
            },
            Verb::Denoise { switch, mic } => AgentCommand::Denoise {
                on: matches!(switch, OnOff::On),
                target: mic.then_some(NoiseTarget::Microphone),
            },
            Verb::Refer { decision, refer } => AgentCommand::Refer {
                refer: ReferRef(*refer),
                accept: matches!(decision, ReferDecision::Accept),
            },
            Verb::Logout => AgentCommand::Logout,
        })
    }
}

/// Runs `ctl` and turns the outcome into the exit code.
pub fn main(args: CtlArgs, config: Option<&Path>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentphone ctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(execute(
        &args,
        config,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ));
    ExitCode::from(code)
}

/// Everything `main` does but the runtime: output to `out`, messages to
/// `err`, the exit code returned.
async fn execute(
    args: &CtlArgs,
    config: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let result = async {
        let client = client_for(args, config)?;
        run(&client, &args.verb, args.json, out).await
    }
    .await;
    let Err(e) = result else { return 0 };
    // Nothing useful is left to do when the terminal is gone: writes to it
    // are best effort.
    if let Some(api @ ClientError::Api { body, .. }) = e.downcast_ref::<ClientError>() {
        if args.json {
            let _ = writeln!(out, "{body}");
        }
        if api.refusal().is_some() {
            let _ = writeln!(err, "{api}");
            return EXIT_REFUSED;
        }
    }
    let _ = writeln!(err, "agentphone ctl: {e:#}");
    exit_code(&e)
}

/// 3 for a refusal, 1 for everything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<ClientError>() {
        Some(c) if c.refusal().is_some() => EXIT_REFUSED,
        _ => 1,
    }
}

/// The client the flags, else the config's `[api]`, point at.
fn client_for(args: &CtlArgs, config: Option<&Path>) -> Result<Client> {
    let (api, path) = config::read_api_table(config)?;
    let resolved = api.resolve(path.as_deref())?;
    let url = args.api.clone().unwrap_or_else(|| resolved.client_url());
    let token_file = args.token_file.clone().unwrap_or(resolved.token_file);
    let token = match Token::load(&token_file) {
        Ok(t) => t,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
        {
            return Err(e).with_context(|| {
                format!(
                    "no API token: `agentphone run` writes {} when it starts (or give --token-file)",
                    token_file.display()
                )
            })
        }
        Err(e) => return Err(e),
    };
    Client::new(&url, token)
}

/// Carries out one verb, writing its output to `out`.
async fn run(client: &Client, verb: &Verb, json: bool, out: &mut dyn Write) -> Result<()> {
    if let Some(cmd) = verb.command() {
        let reply = client.command(&cmd).await?;
        let line = if json {
            reply.to_string()
        } else {
            format_reply(verb.name(), &reply)
        };
        writeln!(out, "{line}")?;
        return Ok(());
    }
    match verb {
        Verb::Status => {
            let status = client.status().await?;
            if json {
                writeln!(out, "{status}")?;
            } else {
                write!(out, "{}", format_status(&status))?;
            }
        }
        Verb::WrapupReasons { query } => {
            let reasons = client
                .wrapup_reasons(query.as_deref().unwrap_or(""))
                .await?;
            if json {
                writeln!(out, "{reasons}")?;
            } else {
                for r in reasons.as_array().into_iter().flatten() {
                    writeln!(out, "{}", r.as_str().unwrap_or_default())?;
                }
            }
        }
        Verb::Events {
            count,
            until,
            timeout,
        } => follow_events(client, *count, until.as_deref(), *timeout, json, out).await?,
        _ => bail!("internal: verb {} has no command", verb.name()),
    }
    Ok(())
}

async fn follow_events(
    client: &Client,
    count: Option<usize>,
    until: Option<&str>,
    timeout: Option<f64>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let deadline = match timeout {
        Some(s) if s.is_finite() && s >= 0.0 => {
            Some(tokio::time::Instant::now() + Duration::from_secs_f64(s))
        }
        Some(s) => bail!("--timeout {s}: give a number of seconds"),
        None => None,
    };
    let waiting = count.is_some() || until.is_some();
    let what = match (count, until) {
        (_, Some(kind)) => format!("a '{kind}' event"),
        (Some(n), None) => format!("{n} events"),
        (None, None) => String::new(),
    };
    let follow = async {
        let mut stream = client.events().await?;
        let mut seen = 0usize;
        while let Some(event) = stream.next().await? {
            seen += 1;
            let line = if json {
                event.to_string()
            } else {
                format_event(&event)
            };
            writeln!(out, "{line}")?;
            // Flushed per line: a script reading a pipe must see each event
            // as it happens.
            out.flush()?;
            let kind = event["event"].as_str().unwrap_or_default();
            if until.is_some_and(|u| u == kind) || count.is_some_and(|n| seen >= n) {
                return Ok(());
            }
        }
        if waiting {
            bail!("the event stream ended before {what}");
        }
        Ok::<(), anyhow::Error>(())
    };
    match deadline {
        None => follow.await,
        Some(d) => match tokio::time::timeout_at(d, follow).await {
            Ok(r) => r,
            Err(_) if waiting => bail!("timed out waiting for {what}"),
            Err(_) => Ok(()),
        },
    }
}

/// One line for a command's reply.
fn format_reply(verb: &str, reply: &Value) -> String {
    match reply["result"].as_str() {
        Some("ok") => format!("{verb}: ok"),
        Some("call") => format!("{verb}: call {}", reply["call"]),
        _ => format!("{verb}: {reply}"),
    }
}

/// The agent state of an `AgentStatus` JSON, in words.
fn agent_state(a: &Value) -> String {
    match a["state"].as_str() {
        Some("idle") => format!("idle ({})", a["reason"].as_str().unwrap_or("?")),
        Some("wrap-up") => format!("wrap-up for call {}", a["call"]),
        Some(s) => s.to_owned(),
        None => a.to_string(),
    }
}

fn variables(vars: &Value) -> String {
    vars.as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            format!(
                "{}={}",
                v["label"].as_str().unwrap_or("?"),
                v["value"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn seconds(ms: &Value) -> String {
    format!("{} s", ms.as_u64().unwrap_or(0) / 1000)
}

fn offer_line(o: &Value) -> String {
    let mut line = format!(
        "#{} call {} from {} rings {}",
        o["position"],
        o["call"],
        o["caller"].as_str().unwrap_or("?"),
        seconds(&o["ring_remaining_ms"])
    );
    let vars = variables(&o["variables"]);
    if !vars.is_empty() {
        line.push_str("  ");
        line.push_str(&vars);
    }
    line
}

/// The flags column of a call: everything but id, kind, state and peer.
fn call_flags(c: &Value) -> String {
    let mut flags = Vec::new();
    if c["active"] == true {
        flags.push("active".to_owned());
    }
    if c["remote_held"] == true {
        flags.push("remote-held".to_owned());
    }
    if let Some(of) = c.get("consult_of") {
        flags.push(format!("consult-of:{of}"));
    }
    if let Some(conf) = c.get("conference") {
        flags.push(format!("conference:{conf}"));
    }
    if let Some(r) = c["recording"].as_str() {
        if r != "off" {
            flags.push(format!("rec:{r}"));
        }
    }
    if let Some(ms) = c.get("connected_ms") {
        flags.push(seconds(ms));
    }
    let vars = variables(&c["variables"]);
    if !vars.is_empty() {
        flags.push(vars);
    }
    flags.join(" ")
}

fn on_off(v: &Value) -> &'static str {
    if *v == true {
        "on"
    } else {
        "off"
    }
}

/// `ctl status`: the agent, the offers and a table of the calls.
fn format_status(s: &Value) -> String {
    let mut out = String::new();
    let d = &s["denoise"];
    out.push_str(&format!(
        "agent:    {}\nmuted:    {}\ndenoise:  inbound {}, microphone {}{}\n",
        agent_state(&s["agent"]),
        if s["muted"] == true { "yes" } else { "no" },
        on_off(&d["inbound"]),
        on_off(&d["microphone"]),
        if d["locked"] == true { " (locked)" } else { "" },
    ));
    let offers = s["offers"].as_array().cloned().unwrap_or_default();
    if offers.is_empty() {
        out.push_str("offers:   none\n");
    } else {
        out.push_str("offers:\n");
        for o in &offers {
            out.push_str(&format!("  {}\n", offer_line(o)));
        }
    }
    let calls = s["calls"].as_array().cloned().unwrap_or_default();
    if calls.is_empty() {
        out.push_str("calls:    none\n");
    } else {
        let rows: Vec<[String; 5]> = calls
            .iter()
            .map(|c| {
                [
                    c["call"].to_string(),
                    c["kind"].as_str().unwrap_or("?").to_owned(),
                    c["state"].as_str().unwrap_or("?").to_owned(),
                    c["peer"].as_str().unwrap_or("?").to_owned(),
                    call_flags(c),
                ]
            })
            .collect();
        let header = ["CALL", "KIND", "STATE", "PEER", "FLAGS"].map(String::from);
        let mut width = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        out.push_str("calls:\n");
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "  {:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3]
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    let refers: Vec<String> = s["refers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Value::to_string)
        .collect();
    if !refers.is_empty() {
        out.push_str(&format!(
            "refers:   {} (answer: agentphone ctl refer accept|decline ID)\n",
            refers.join(", ")
        ));
    }
    out
}

/// One line for an event of the stream.
fn format_event(e: &Value) -> String {
    let kind = e["event"].as_str().unwrap_or("?");
    let text = |k: &str| e[k].as_str().unwrap_or("").to_owned();
    let detail = match kind {
        "status" => {
            let s = &e["status"];
            let n = |k: &str| s[k].as_array().map_or(0, Vec::len);
            format!(
                "agent {}, {} offers, {} calls",
                agent_state(&s["agent"]),
                n("offers"),
                n("calls")
            )
        }
        "agent" => match e["why"].as_str() {
            Some(why) => format!("{} ({why})", agent_state(&e["agent"])),
            None => agent_state(&e["agent"]),
        },
        "offer" => offer_line(&e["offer"]),
        "call" => {
            let c = &e["call"];
            format!(
                "{} {} {} {} {}",
                c["call"],
                c["kind"].as_str().unwrap_or("?"),
                c["state"].as_str().unwrap_or("?"),
                c["peer"].as_str().unwrap_or("?"),
                call_flags(c)
            )
            .trim_end()
            .to_owned()
        }
        "offer-gone" | "ended" | "consult-failed" => {
            format!("call {} ({})", e["call"], text("reason"))
        }
        "transfer" => format!(
            "call {} {} ({})",
            e["call"],
            text("outcome"),
            text("detail")
        ),
        "refer-ask" => format!(
            "refer {} on call {} to {} (answer: agentphone ctl refer accept|decline {})",
            e["refer"],
            e["call"],
            text("target"),
            e["refer"]
        ),
        "wrap-up" => format!(
            "call {} needs a reason: {}",
            e["call"],
            e["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "recording" => match (e["paused"] == true, e.get("resumes_in_ms")) {
            (true, Some(ms)) => format!("call {} paused (resumes in {})", e["call"], seconds(ms)),
            (true, None) => format!("call {} paused", e["call"]),
            (false, _) => format!("call {} recording", e["call"]),
        },
        "stopping" => text("reason"),
        _ => e.to_string(),
    };
    format!("{kind}: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{event_json, sample_status, start, TOKEN};
    use agentphone_desk::DeskEvent;
    use clap::Parser;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ctl: CtlArgs,
    }

    fn parse(argv: &str) -> CtlArgs {
        let args = std::iter::once("ctl").chain(argv.split_whitespace());
        Cli::try_parse_from(args)
            .unwrap_or_else(|e| panic!("{argv}: {e}"))
            .ctl
    }

    /// Each verb is the AgentCommand the API documents.
    #[test]
    fn verbs_map_to_agent_commands() {
        let cases = [
            (
                "state available",
                json!({"cmd":"state","state":"available"}),
            ),
            (
                "state idle lunch",
                json!({"cmd":"state","state":"idle","reason":"lunch"}),
            ),
            ("answer", json!({"cmd":"answer","call":null})),
            ("answer --call 5", json!({"cmd":"answer","call":5})),
            ("answer --all", json!({"cmd":"answer-all"})),
            ("decline", json!({"cmd":"decline","call":null})),
            ("dial 1002", json!({"cmd":"dial","target":"1002"})),
            ("hold --call 3", json!({"cmd":"hold","call":3})),
            ("resume", json!({"cmd":"resume","call":null})),
            (
                "consult 2001",
                json!({"cmd":"consult","call":null,"target":"2001","hold_conference":null}),
            ),
            (
                "consult 2001 --call 3 --keep-conference-talking",
                json!({"cmd":"consult","call":3,"target":"2001","hold_conference":false}),
            ),
            ("toggle", json!({"cmd":"toggle"})),
            (
                "transfer --blind 2001",
                json!({"cmd":"transfer-blind","call":null,"target":"2001"}),
            ),
            (
                "transfer --consult --call 3",
                json!({"cmd":"transfer-consult","call":3}),
            ),
            ("conference", json!({"cmd":"conference","call":null})),
            ("remove 4", json!({"cmd":"remove","party":4})),
            ("mute", json!({"cmd":"mute","on":true})),
            ("mute --off", json!({"cmd":"mute","on":false})),
            ("leave", json!({"cmd":"leave","call":null})),
            ("hangup --call 3", json!({"cmd":"hangup","call":3})),
            (
                "wrapup Sale --call 3",
                json!({"cmd":"wrap-up","call":3,"reason":"Sale"}),
            ),
            (
                "record pause",
                json!({"cmd":"record","call":null,"pause":true}),
            ),
            (
                "record resume --call 3",
                json!({"cmd":"record","call":3,"pause":false}),
            ),
            ("dtmf 12#", json!({"cmd":"dtmf","call":null,"digits":"12#"})),
            (
                "denoise off",
                json!({"cmd":"denoise","on":false,"target":null}),
            ),
            (
                "denoise on --mic",
                json!({"cmd":"denoise","on":true,"target":"microphone"}),
            ),
            (
                "refer accept 2",
                json!({"cmd":"refer","refer":2,"accept":true}),
            ),
            (
                "refer decline 2",
                json!({"cmd":"refer","refer":2,"accept":false}),
            ),
            ("logout", json!({"cmd":"logout"})),
        ];
        for (argv, want) in cases {
            let cmd = parse(argv)
                .verb
                .command()
                .unwrap_or_else(|| panic!("{argv}"));
            assert_eq!(serde_json::to_value(&cmd).unwrap(), want, "{argv}");
            // And the server side reads it back as the same command.
            let back: AgentCommand = serde_json::from_value(want).unwrap();
            assert_eq!(back, cmd, "{argv}");
        }
        for argv in ["status", "wrapup-reasons", "events --count 1"] {
            assert!(parse(argv).verb.command().is_none(), "{argv}");
        }
        let cli =
            |argv: &str| Cli::try_parse_from(std::iter::once("ctl").chain(argv.split_whitespace()));
        assert!(
            cli("transfer").is_err(),
            "transfer needs --blind or --consult"
        );
        assert!(cli("transfer --blind 1 --consult").is_err());
        assert!(cli("answer --all --call 3").is_err());
        assert!(cli("state idle").is_err(), "idle needs a reason");
    }

    #[test]
    fn status_is_a_readable_table() {
        let text = format_status(&serde_json::to_value(sample_status()).unwrap());
        assert!(text.contains("agent:    idle (lunch)"), "{text}");
        assert!(
            text.contains("denoise:  inbound on, microphone off (locked)"),
            "{text}"
        );
        assert!(
            text.contains("#1 call 5 from +33 1 ** ** 42 rings 12 s  Customer=ACME"),
            "{text}"
        );
        assert!(text.contains("CALL  KIND     STATE  PEER"), "{text}");
        assert!(
            text.contains("3     inbound  held   sip:bob@example.com  rec:on 65 s"),
            "{text}"
        );
    }

    #[test]
    fn events_read_as_one_line_each() {
        let line = |e: DeskEvent| format_event(&serde_json::from_str(&event_json(&e)).unwrap());
        assert_eq!(
            line(DeskEvent::Ended {
                call: CallRef(3),
                reason: "remote hangup".into()
            }),
            "ended: call 3 (remote hangup)"
        );
        assert_eq!(
            line(DeskEvent::WrapUp {
                call: CallRef(3),
                reasons: vec!["Sale".into(), "No sale".into()]
            }),
            "wrap-up: call 3 needs a reason: Sale, No sale"
        );
        assert_eq!(
            line(DeskEvent::Recording {
                call: CallRef(3),
                paused: true,
                resumes_in_ms: Some(30_000)
            }),
            "recording: call 3 paused (resumes in 30 s)"
        );
        assert_eq!(
            line(DeskEvent::Agent {
                agent: agentphone_desk::AgentStatus::Available,
                why: None
            }),
            "agent: available"
        );
    }

    fn token_file() -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "agentphone-ctl-test-{}-{}.token",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::write(&path, TOKEN).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// A config file whose `[api]` points at `url` with `token`, among
    /// tables ctl does not know.
    fn config_file(url: &str, token: &Path) -> PathBuf {
        let path = token.with_extension("toml");
        let listen = url.trim_start_matches("http://");
        let text = format!(
            "[accounts.a]\nuser = \"x\"\n[some_future_table]\nx = 1\n\
             [api]\nlisten = \"{listen}\"\ntoken_file = \"{}\"\n",
            token.display()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs ctl as `main` would: (exit code, stdout, stderr).
    async fn ctl(config: &Path, argv: &str) -> (u8, String, String) {
        let args = parse(argv);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = execute(&args, Some(config), &mut out, &mut err).await;
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[tokio::test]
    async fn ctl_against_a_running_server() {
        let mut s = start(true, 16).await;
        let token = token_file();
        let cfg = config_file(&s.url, &token);
        let cfg = cfg.as_path();

        let (code, out, err) = ctl(cfg, "hangup --call 3").await;
        assert_eq!(code, EXIT_REFUSED, "{err}");
        assert_eq!(out, "");
        assert_eq!(
            err,
            "refused by R-HOLD-3: call 3 is held: resume it before hanging up\n"
        );

        let (code, out, _) = ctl(cfg, "--json hangup --call 3").await;
        assert_eq!(code, EXIT_REFUSED);
        assert_eq!(out.trim(), json!({"error":"refused","rule":"R-HOLD-3","reason":"call 3 is held: resume it before hanging up"}).to_string());

        assert_eq!(ctl(cfg, "dial 1002").await.1, "dial: call 4\n");
        assert_eq!(ctl(cfg, "hold").await.1, "hold: ok\n");
        assert_eq!(ctl(cfg, "--json toggle").await.1, "{\"result\":\"ok\"}\n");
        let mut got = Vec::new();
        while let Ok(c) = s.commands.try_recv() {
            got.push(c);
        }
        assert!(got.contains(&AgentCommand::Toggle), "{got:?}");

        let (code, _, err) = ctl(cfg, "hold --call 99").await;
        assert_eq!(code, 1);
        assert_eq!(err, "agentphone ctl: no-such-call: no call 99\n");

        let (code, out, _) = ctl(cfg, "status").await;
        assert_eq!(code, 0);
        assert!(out.starts_with("agent:    idle (lunch)\n"), "{out}");
        let (_, out, _) = ctl(cfg, "wrapup-reasons sale").await;
        assert_eq!(out, "Sale\nNo sale\n");

        // events: the snapshot, then what the desk broadcasts, until the kind asked for.
        let events = s.events.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = events.send(event_json(&DeskEvent::Ended {
                    call: CallRef(3),
                    reason: "bye".into(),
                }));
            }
        });
        let (code, out, err) = ctl(cfg, "events --until ended --timeout 5").await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            "status: agent idle (lunch), 1 offers, 1 calls\nended: call 3 (bye)\n"
        );
        let (code, _, err) = ctl(cfg, "events --until offer --timeout 0.3").await;
        assert_eq!(code, 1);
        assert!(
            err.contains("timed out waiting for a 'offer' event"),
            "{err}"
        );

        let bad = token_file();
        std::fs::write(&bad, "nope").unwrap();
        let argv = format!("--token-file {} status", bad.display());
        let (code, _, err) = ctl(cfg, &argv).await;
        assert_eq!(
            (code, err.as_str()),
            (1, "agentphone ctl: unauthorized: wrong token\n")
        );
        std::fs::remove_file(bad).unwrap();

        s.shut_down();
        let _ = s.server.await;
        let (code, _, err) = ctl(cfg, "status").await;
        assert_eq!(code, 1);
        assert!(
            err.contains(&format!("cannot connect to the desk API at {}", s.url)),
            "{err}"
        );
        let (code, _, err) = ctl(cfg, "--api 127.0.0.1:9 status").await;
        assert_eq!(code, 1);
        assert!(
            err.contains("cannot connect to the desk API at http://127.0.0.1:9"),
            "{err}"
        );
        std::fs::remove_file(token).unwrap();
        std::fs::remove_file(cfg).unwrap();
    }
}
