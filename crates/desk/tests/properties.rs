//! Random command and input sequences: no panic, and the invariants of the
//! rules hold after every step (R-HOLD-3/4, R-CONF-2, R-ANS).
mod common;
use agentphone_desk::*;
use common::H;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Offer(Option<u8>),
    Answered(u8),
    Failed(u8),
    Ended(u8),
    RemoteHold(u8, bool),
    HoldFailed(u8),
    XferProgress(u8),
    XferOk(u8),
    XferFail(u8),
    Refer(u8, u8),
    Advance(u16),
    Cmd(AgentCommand),
}

fn call() -> impl Strategy<Value = u8> {
    0u8..8
}

fn cref(n: u8) -> CallRef {
    CallRef(u64::from(n) + 1)
}

fn opt_call() -> impl Strategy<Value = Option<CallRef>> {
    prop::option::of(call().prop_map(cref))
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2001".to_string()),
        Just("sip:x@pbx.example".to_string()),
        Just("12".to_string()),
    ]
}

fn command() -> impl Strategy<Value = AgentCommand> {
    use AgentCommand as C;
    prop_oneof![
        Just(C::State(RequestedState::Available)),
        Just(C::State(RequestedState::Idle {
            reason: "Break".into()
        })),
        opt_call().prop_map(|call| C::Answer { call }),
        Just(C::AnswerAll),
        opt_call().prop_map(|call| C::Decline { call }),
        target().prop_map(|target| C::Dial { target }),
        opt_call().prop_map(|call| C::Hold { call }),
        opt_call().prop_map(|call| C::Resume { call }),
        (opt_call(), target(), prop::option::of(any::<bool>())).prop_map(
            |(call, target, hold_conference)| C::Consult {
                call,
                target,
                hold_conference
            }
        ),
        Just(C::Toggle),
        (opt_call(), target()).prop_map(|(call, target)| C::TransferBlind { call, target }),
        opt_call().prop_map(|call| C::TransferConsult { call }),
        opt_call().prop_map(|call| C::Conference { call }),
        call().prop_map(|p| C::Remove { party: cref(p) }),
        opt_call().prop_map(|call| C::Leave { call }),
        opt_call().prop_map(|call| C::Hangup { call }),
        opt_call().prop_map(|call| C::WrapUp {
            call,
            reason: "Sale".into()
        }),
        (opt_call(), any::<bool>()).prop_map(|(call, pause)| C::Record { call, pause }),
        (0u64..3, any::<bool>()).prop_map(|(r, accept)| C::Refer {
            refer: ReferRef(r),
            accept
        }),
        Just(C::Logout),
        any::<bool>().prop_map(|on| C::Mute { on }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::option::weighted(0.15, call()).prop_map(Op::Offer),
        6 => call().prop_map(Op::Answered),
        1 => call().prop_map(Op::Failed),
        2 => call().prop_map(Op::Ended),
        1 => (call(), any::<bool>()).prop_map(|(c, h)| Op::RemoteHold(c, h)),
        1 => call().prop_map(Op::HoldFailed),
        1 => call().prop_map(Op::XferProgress),
        1 => call().prop_map(Op::XferOk),
        1 => call().prop_map(Op::XferFail),
        1 => (call(), 0u8..3).prop_map(|(c, r)| Op::Refer(c, r)),
        1 => (0u16..40).prop_map(Op::Advance),
        10 => command().prop_map(Op::Cmd),
        // the deep states (consult, conference, transfer) more often
        3 => prop::option::of(any::<bool>()).prop_map(|hold_conference| Op::Cmd(
            AgentCommand::Consult {
                call: None,
                target: "2001".into(),
                hold_conference
            }
        )),
        2 => Just(Op::Cmd(AgentCommand::Conference { call: None })),
        1 => Just(Op::Cmd(AgentCommand::TransferConsult { call: None })),
        2 => Just(Op::Cmd(AgentCommand::Answer { call: None })),
    ]
}

/// The `n`-th call the desk knows now (offers, then calls), so random
/// sequences reach deep states; an unknown handle when it knows none.
fn pick(h: &H, n: u8) -> CallRef {
    let s = h.status();
    let known: Vec<CallRef> = s
        .offers
        .iter()
        .map(|o| o.call)
        .chain(s.calls.iter().map(|c| c.call))
        .collect();
    match known.len() {
        0 => cref(n),
        len => known[usize::from(n) % len],
    }
}

/// The command with its `call` / `party` handles picked among known calls.
fn remap(h: &H, cmd: AgentCommand) -> AgentCommand {
    let mut v = serde_json::to_value(&cmd).expect("commands serialize");
    for key in ["call", "party"] {
        if let Some(x) = v.get_mut(key) {
            if let Some(n) = x.as_u64() {
                *x = serde_json::json!(pick(h, (n - 1) as u8).0);
            }
        }
    }
    serde_json::from_value(v).expect("commands deserialize")
}

struct Track {
    /// Answer or Reject per offered call.
    answered_or_rejected: HashMap<CallRef, u32>,
    offered: HashSet<CallRef>,
    /// Offers the caller cancelled: no final response from the desk.
    cancelled: HashSet<CallRef>,
}

impl Track {
    fn see(&mut self, actions: &[Action]) {
        for a in actions {
            if let Action::Answer { call, .. } | Action::Reject { call, .. } = a {
                *self.answered_or_rejected.entry(*call).or_default() += 1;
                assert!(
                    self.answered_or_rejected[call] <= 1,
                    "call {call} got two of Answer/Reject"
                );
            }
        }
    }
}

fn check_invariants(h: &H, max: usize) {
    let s = h.status();
    let active: Vec<&CallView> = s.calls.iter().filter(|c| c.active).collect();
    let rooms: HashSet<RoomRef> = active.iter().map(|c| c.room).collect();
    assert!(rooms.len() <= 1, "the agent talks in two rooms: {active:?}");
    let two_party = active
        .iter()
        .filter(|c| !matches!(c.state, CallState::Conference | CallState::PostCall))
        .count();
    assert!(two_party <= 1, "two calls talk with the agent: {active:?}");
    let mut confs: HashMap<CallRef, usize> = HashMap::new();
    for c in &s.calls {
        if let Some(p) = c.conference {
            *confs.entry(p).or_default() += 1;
        }
    }
    if std::env::var("DESK_COVERAGE").is_ok() {
        for c in &s.calls {
            eprintln!("COVER {:?}", c.state);
        }
    }
    for (p, n) in confs {
        assert!(n < max, "conference {p} has {} participants", n + 1);
    }
}

fn run(ops: Vec<Op>, auto_answer: bool) {
    let max = 4;
    let mut h = H::new(DeskConfig {
        wrapup_reasons: vec!["Sale".into()],
        record: true,
        max_participants: max,
        auto_answer,
        refer_policy: ReferPolicy::Ask,
        ..DeskConfig::default()
    });
    let mut t = Track {
        answered_or_rejected: HashMap::new(),
        offered: HashSet::new(),
        cancelled: HashSet::new(),
    };
    for op in ops {
        let offers: HashSet<CallRef> = h.status().offers.iter().map(|o| o.call).collect();
        let held_customers: HashSet<CallRef> = h
            .status()
            .calls
            .iter()
            .filter(|c| c.state == CallState::Held && c.kind != CallKind::Consult)
            .map(|c| c.call)
            .collect();
        let mut by_agent = false;
        match op {
            Op::Offer(replaces) => {
                let c = h.offered_with(common::CUSTOMER, vec![], replaces.map(cref));
                t.offered.insert(c);
            }
            Op::Answered(c) => h.input(CallInput::Answered { call: pick(&h, c) }),
            Op::Failed(c) | Op::Ended(c) => {
                let c = pick(&h, c);
                if offers.contains(&c) {
                    t.cancelled.insert(c);
                }
                let reason = "gone".to_string();
                h.input(match op {
                    Op::Failed(_) => CallInput::Failed {
                        call: c,
                        code: None,
                        reason,
                    },
                    _ => CallInput::Ended { call: c, reason },
                });
            }
            Op::RemoteHold(c, held) => h.input(CallInput::RemoteHold {
                call: pick(&h, c),
                held,
            }),
            Op::HoldFailed(c) => h.input(CallInput::HoldFailed {
                call: pick(&h, c),
                code: 488,
            }),
            Op::XferProgress(c) => h.input(CallInput::TransferProgress {
                call: pick(&h, c),
                status: "SIP/2.0 100 Trying".into(),
            }),
            Op::XferOk(c) => h.input(CallInput::TransferSucceeded { call: pick(&h, c) }),
            Op::XferFail(c) => h.input(CallInput::TransferFailed {
                call: pick(&h, c),
                reason: "no".into(),
            }),
            Op::Refer(c, r) => h.input(CallInput::ReferReceived {
                call: pick(&h, c),
                refer: ReferRef(u64::from(r)),
                target: "sip:z@pbx.example".into(),
                replaces: false,
            }),
            Op::Advance(s) => h.advance(Duration::from_secs(u64::from(s))),
            Op::Cmd(c) => {
                by_agent = true;
                let c = remap(&h, c);
                let _ = h.cmd(c);
            }
        }
        let actions = h.actions();
        h.events();
        t.see(&actions);
        if by_agent {
            for a in &actions {
                if let Action::Hangup { call } = a {
                    assert!(
                        !held_customers.contains(call),
                        "an agent command hung up held call {call}"
                    );
                }
            }
        }
        check_invariants(&h, max);
    }
    h.input(CallInput::Shutdown);
    let actions = h.actions();
    t.see(&actions);
    for c in &t.offered {
        let n = t.answered_or_rejected.get(c).copied().unwrap_or(0);
        if !t.cancelled.contains(c) {
            assert_eq!(n, 1, "offered call {c} got {n} of Answer/Reject");
        }
    }
    assert!(h.status().calls.is_empty() && h.status().offers.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_never_panic_and_keep_the_invariants(
        ops in prop::collection::vec(op(), 1..80),
        auto in any::<bool>(),
    ) {
        run(ops, auto);
    }
}
