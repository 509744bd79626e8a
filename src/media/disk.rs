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
        match jobs.recv_timeout(DRAIN_EVERY) {
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
