//! Keeping the audio thread and the RTP pacer on one CPU.
//!
//! With a clocked backend the pacer wakes the audio thread every tick and the
//! audio thread wakes the pacer after each tick that made packets
//! ([`super::pacer::TickClock`]). A wake-up of a thread on another CPU costs
//! an inter-processor interrupt and that CPU's way out of idle, and on the
//! VMs this project runs on both are exits to the hypervisor; a wake-up on
//! the waker's own CPU is a run-queue insertion, and the woken thread also
//! finds the ring bytes the other just wrote in that CPU's cache. The
//! scheduler does not keep the pair together by itself (a real-time wake-up
//! stays on the woken thread's previous CPU, and a preempted real-time
//! thread is pushed to an idle one), so both are pinned to the CPU the
//! audio thread started on (an eight-party G.711 bridge pinned to one CPU:
//! 1.86 / 1.83 / 1.99 % of a core against 2.13 / 1.89 / 2.19 % unpinned,
//! alternating).
//!
//! Only threads that got real-time priority are pinned: they preempt every
//! normal thread on their CPU, so the CPU being busy cannot hold them up,
//! while a normal-priority thread pinned to a busy CPU could not move away
//! from it.

/// The CPU the calling thread is running on.
pub(super) fn current_cpu() -> Option<usize> {
    // SAFETY: `sched_getcpu` takes no arguments and touches no memory of
    // ours; it answers -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// Restricts the calling thread to `cpu`.
pub(super) fn pin_to(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: `cpu_set_t` is a plain bit array for which all zeroes is the
    // empty set; CPU_ZERO/CPU_SET only write inside the local set (`cpu` is
    // below CPU_SETSIZE, checked above); `sched_setaffinity` reads
    // `size_of::<cpu_set_t>()` bytes of it during the call and keeps
    // nothing. pid 0 is the calling thread.
    super::priority::os_status(unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPUs the calling thread may run on.
    fn allowed() -> Vec<usize> {
        // SAFETY: as in `pin_to`; `sched_getaffinity` writes at most
        // `size_of::<cpu_set_t>()` bytes into the local set, CPU_ISSET reads
        // inside it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }

    #[test]
    fn a_pinned_thread_runs_on_that_cpu_only() {
        let before = allowed();
        let target = *before.last().expect("some CPU");
        let (pinned, on) = std::thread::spawn(move || {
            pin_to(target).expect("pin to an allowed CPU");
            std::thread::yield_now();
            (allowed(), current_cpu())
        })
        .join()
        .expect("thread");
        assert_eq!(pinned, vec![target]);
        assert_eq!(on, Some(target));
        // Only that thread: this one keeps its CPUs.
        assert_eq!(allowed(), before);
    }

    #[test]
    fn a_cpu_that_does_not_exist_is_refused() {
        let result =
            std::thread::spawn(|| pin_to(libc::CPU_SETSIZE as usize).map_err(|e| e.kind()))
                .join()
                .expect("thread");
        assert_eq!(result, Err(std::io::ErrorKind::InvalidInput));
    }
}
