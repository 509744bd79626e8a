//! The recordings' disk thread: drains every recording's ring (filled by the
//! audio thread) into its WAV file, so the audio thread never touches the disk.

use agentphone_engine::RecordWriter;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// How often the rings are drained: far inside the rings' 4 s of room.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

struct Job {
    writer: RecordWriter,
    path: Option<std::path::PathBuf>,
    done: Option<oneshot::Sender<()>>,
}

/// The disk thread; ends once every recording is finished and the handle is
/// dropped.
pub(super) struct Disk {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Disk {
    pub(super) fn start() -> std::io::Result<Disk> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("agentphone-disk".into())
            .spawn(move || run(rx))?;
        Ok(Disk {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Writes `writer`'s recording until its tap is dropped; `done` fires once
    /// the file is complete on disk.
    pub(super) fn add(&self, writer: RecordWriter) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        if let Some(jobs) = &self.jobs {
            let path = writer.path().map(|p| p.to_path_buf());
            let _ = jobs.send(Job {
                writer,
                path,
                done: Some(done),
            });
        }
        rx
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(jobs: mpsc::Receiver<Job>) {
    let mut active: Vec<Job> = Vec::new();
    let mut open = true;
    while open || !active.is_empty() {
        // With nothing to drain the thread sleeps until a recording starts:
        // a timed wait would wake it 20 times a second for nothing, which on
        // a virtual machine costs about as much as a call's packet I/O.
        let next = if active.is_empty() {
            jobs.recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            jobs.recv_timeout(DRAIN_EVERY)
        };
        match next {
            Ok(job) => active.push(job),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                open = false;
                if active.is_empty() {
                    break;
                }
                std::thread::sleep(DRAIN_EVERY);
            }
        }
        active.retain_mut(|job| {
            let finished = match job.writer.drain() {
                Ok(finished) => finished,
                Err(e) => {
                    tracing::warn!("recording stopped: {e}");
                    true
                }
            };
            if finished {
                if let Some(path) = &job.path {
                    tracing::info!(path = %path.display(), "recording finished");
                }
                if let Some(done) = job.done.take() {
                    let _ = done.send(());
                }
            }
            !finished
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Context switches the thread `tid` of this process made of its own accord.
    fn voluntary_switches(tid: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap()
    }

    #[test]
    fn idle_thread_sleeps_until_a_recording_comes_and_ends_with_its_sender() {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (tid_tx, tid_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            // "/proc/thread-self" links to "PID/task/TID".
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            let tid = link.file_name().unwrap().to_string_lossy().into_owned();
            tid_tx.send(tid).unwrap();
            run(rx)
        });
        let tid = tid_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let before = voluntary_switches(&tid);
        // Six drain periods: a timed wait would have woken six times.
        std::thread::sleep(6 * DRAIN_EVERY);
        let after = voluntary_switches(&tid);
        assert!(
            after - before <= 1,
            "idle disk thread woke {} times",
            after - before
        );
        drop(jobs);
        thread.join().unwrap();
    }
}
