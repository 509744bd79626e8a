//! Real-time scheduling for the media threads, as audio servers give their
//! mixing and I/O threads. Both threads sleep between short bursts of work
//! (a tick, a socket read), so a real-time level cannot starve the rest; the
//! kernel's real-time throttling bounds them even if one loops by mistake.
//!
//! The audio thread sits above the network thread: a tick must start on time,
//! and the network thread must still run ahead of every normal thread so that
//! a packet read before a tick is in its ring for that tick: at normal
//! priority it shares a core with every runnable task, and on a loaded
//! machine may wait several milliseconds, longer than the read pacer's lead.

/// The audio thread's level.
pub(super) const AUDIO: i32 = 10;
/// The network thread's level: below the audio thread, above every normal one.
pub(super) const NETWORK: i32 = 5;
const _: () = assert!(
    NETWORK < AUDIO,
    "the audio tick must preempt the network thread"
);

/// Puts the calling thread under SCHED_FIFO at `level`. Without the
/// privilege (no root, no RLIMIT_RTPRIO) it fails with PermissionDenied and
/// the thread keeps normal priority.
pub(super) fn raise(level: i32) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: level,
    };
    // SAFETY: `sched_setscheduler` reads the `sched_param` behind the pointer
    // during the call only; `param` is a live, initialised local. pid 0 means
    // the calling thread. No memory is shared or kept by the kernel.
    os_status(unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) })
}

/// A libc call's status (0, or -1 with `errno` set) as a `Result`.
pub(super) fn os_status(rc: i32) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy and level of the calling thread.
    fn current() -> (i32, i32) {
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: both calls only read the calling thread's settings; the
        // second writes into `param`, a live local it does not keep.
        let policy = unsafe { libc::sched_getscheduler(0) };
        unsafe { libc::sched_getparam(0, &mut param) };
        (policy, param.sched_priority)
    }

    #[test]
    fn raising_works_at_each_level_or_says_why() {
        for level in [AUDIO, NETWORK] {
            // On a thread of its own: the policy stays with that thread.
            let (result, now) = std::thread::spawn(move || (raise(level), current()))
                .join()
                .expect("thread");
            match result {
                Ok(()) => assert_eq!(now, (libc::SCHED_FIFO, level)),
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
                    assert_eq!(now.0, libc::SCHED_OTHER);
                }
            }
        }
    }
}
