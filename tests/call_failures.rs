//! `agentphone call` failing for reasons of the network, as a tester sees them:
//! at once, with the reason, not after Timer B's 32 s of silence.

mod common;

use common::{agentphone, ports::free_port, WorkDir};
use std::time::Duration;

/// Nothing listens on the TCP port: the connection is refused, the INVITE's
/// transaction fails with a transport error (RFC 3261 §8.1.3.1) and the call
/// command exits non-zero within a few seconds saying so.
#[test]
fn call_to_a_closed_tcp_port_fails_at_once_with_a_transport_error() {
    let dir = WorkDir::new("call-refused-tcp");
    let target = format!("sip:bob@127.0.0.1:{}", free_port());
    let limit = Duration::from_secs(40);
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &["call", &target, "--transport", "tcp"],
        &[],
        limit,
    );
    let status = caller.wait(limit);
    let elapsed = caller.elapsed();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the call must fail:\n{}",
        caller.report()
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "failed after {elapsed:?}, not at once:\n{}",
        caller.report()
    );
    let out = caller.output();
    assert!(
        out.contains("call failed: transport error") && out.contains("Connection refused"),
        "{out}"
    );
}
