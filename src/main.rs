//! agentphone: SIP/RTP softphone for contact-center agents.
mod audio_io;
mod cmd;

fn main() {}
