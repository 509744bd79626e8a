//! agentphone: SIP/RTP softphone for contact-center agents.
//!
//! The binary is the I/O shell: CLI, config, tokio sockets, audio devices. All
//! protocol logic lives in the `agentphone-sip`, `-media` and `-audio` crates.

mod agent;
mod api;
mod audio_io;
mod cmd;
mod config;
mod media;
mod net;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// SIP/RTP softphone for contact-center agents.
#[derive(Parser)]
#[command(name = "agentphone", version, about)]
struct Cli {
    /// Configuration file (default: $XDG_CONFIG_HOME/agentphone/config.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Show every SIP message sent and received (-vv: everything).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Place a call and hang up after --duration seconds.
    Call(cmd::call::CallArgs),
    /// Answer incoming calls.
    Answer(cmd::answer::AnswerArgs),
    /// The agent's phone: register, take offers and drive calls from the
    /// control API (`agentphone ctl`) until SIGTERM.
    Run(agent::RunArgs),
    /// Register to a registrar and keep the binding until Ctrl-C / SIGTERM.
    Register(cmd::register::RegisterArgs),
    /// Demo: two endpoints on loopback, one calls the other.
    Demo(cmd::demo::DemoArgs),
    /// Remove background noise from a WAV file.
    Denoise(cmd::denoise::DenoiseArgs),
    /// List audio devices.
    Devices,
    /// Drive a running desk through its control API.
    Ctl(cmd::ctl::CtlArgs),
}

fn init_logs(verbose: u8) {
    let filter = match verbose {
        0 => "warn,agentphone=info",
        1 => "warn,agentphone=debug,agentphone_sip=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTPHONE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.verbose);
    let result = match cli.command {
        // ctl has exit codes of its own (3: refused by a rule).
        Command::Ctl(args) => return cmd::ctl::main(args, cli.config.as_deref()),
        Command::Denoise(args) => cmd::denoise::run(&args),
        Command::Devices => {
            audio_io::list_devices().map(|d| print!("{}", audio_io::format_devices(&d)))
        }
        command => run_async(command, cli.config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentphone: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_async(command: Command, config: Option<PathBuf>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match command {
            Command::Call(a) => cmd::call::run(a, config.as_deref()).await,
            Command::Answer(a) => cmd::answer::run(a, config.as_deref()).await,
            Command::Run(a) => agent::run(a, config.as_deref()).await,
            Command::Register(a) => cmd::register::run(a, config.as_deref()).await,
            Command::Demo(a) => cmd::demo::run(a).await,
            Command::Denoise(_) | Command::Devices | Command::Ctl(_) => {
                unreachable!("handled synchronously")
            }
        }
    })
}
