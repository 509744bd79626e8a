//! The desk's rooms in the media engine, the agent's own audio end
//! (microphone and speaker, or a file and null device) that moves between
//! them, and each room's recording.

use crate::media::{MediaEngine, MediaSettings};
use agentphone_desk::RoomRef;
use agentphone_engine::clean::Cleaner;
use agentphone_engine::local::{LocalAudio, LocalInput};
use agentphone_engine::room::Room;
use agentphone_engine::{record, Command, PartId, RecordTarget, RoomId};
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

/// Where the agent's voice comes from and what the agent hears goes to.
pub enum AgentVoice {
    /// The sound card (the engine's clock).
    Device,
    /// A WAV file or tone, looped (testers, the demo); what the agent hears
    /// goes nowhere unless recorded.
    Source(Box<dyn agentphone_audio::source::AudioSource + Send>),
}

/// The engine side of the desk.
pub struct Rooms {
    engine: MediaEngine,
    agent: PartId,
    rooms: HashMap<RoomRef, RoomId>,
    recordings: HashMap<RoomRef, (PathBuf, oneshot::Receiver<()>)>,
    record_dir: PathBuf,
    /// What the agent hears, recorded (`run --record-heard`).
    heard: Option<oneshot::Receiver<()>>,
}

impl Rooms {
    /// Adds the agent's end to the engine, in no room yet.
    pub fn new(
        engine: &MediaEngine,
        voice: AgentVoice,
        (settings, clean_mic): (&MediaSettings, bool),
        heard: Option<&Path>,
        record_dir: PathBuf,
    ) -> Result<Rooms> {
        let (input, to_device) = match voice {
            AgentVoice::Device => (LocalInput::Device, true),
            AgentVoice::Source(s) => (LocalInput::Source(s), false),
        };
        // Always with a cleaner, so the agent can switch it on later (R-NR-2).
        let mut end = LocalAudio::new(input, to_device)
            .with_cleaner(Cleaner::new(settings.denoise_model.clone(), clean_mic));
        let heard = match heard {
            Some(path) => {
                let recorder = agentphone_audio::wav::WavRecorder::create(path, 1)
                    .map_err(|e| anyhow!("cannot record to {}: {e}", path.display()))?;
                let (tap, writer) = record(recorder);
                end = end.with_recorder(tap);
                Some(engine.write_recording(writer))
            }
            None => None,
        };
        let agent = PartId(engine.new_id());
        engine.send(Command::AddLocal {
            part: agent,
            audio: Box::new(end),
        })?;
        Ok(Rooms {
            engine: engine.clone(),
            agent,
            rooms: HashMap::new(),
            recordings: HashMap::new(),
            record_dir,
            heard,
        })
    }

    /// The engine's id of a desk room.
    pub fn id(&self, room: RoomRef) -> Option<RoomId> {
        self.rooms.get(&room).copied()
    }

    /// The agent's end.
    pub fn agent(&self) -> PartId {
        self.agent
    }

    pub fn open(&mut self, room: RoomRef) -> Result<()> {
        let id = RoomId(self.engine.new_id());
        self.engine.send(Command::AddRoom {
            room: id,
            audio: Box::new(Room::new()),
        })?;
        self.rooms.insert(room, id);
        Ok(())
    }

    /// Closes a room; its recording finishes beside the loop.
    pub fn close(&mut self, room: RoomRef) -> Result<Option<oneshot::Receiver<()>>> {
        let done = self.stop_recording(room)?;
        if let Some(id) = self.rooms.remove(&room) {
            self.engine.send(Command::CloseRoom { room: id })?;
        }
        Ok(done)
    }

    pub fn agent_join(&self, room: RoomRef) -> Result<()> {
        let room = self.known(room)?;
        self.engine.send(Command::Join {
            part: self.agent,
            room,
        })
    }

    pub fn agent_leave(&self) -> Result<()> {
        self.engine.send(Command::Leave { part: self.agent })
    }

    pub fn agent_mute(&self, muted: bool) -> Result<()> {
        self.engine.send(Command::Mute {
            part: self.agent,
            muted,
        })
    }

    pub fn move_leg(&self, part: PartId, room: RoomRef) -> Result<()> {
        let room = self.known(room)?;
        self.engine.send(Command::Join { part, room })
    }

    pub fn denoise(&self, part: PartId, on: bool) -> Result<()> {
        self.engine.send(Command::Denoise { part, on })
    }

    /// Starts recording a room's mix to `record_dir/<time>_<name>.wav`.
    pub fn start_recording(&mut self, room: RoomRef, name: &str) -> Result<PathBuf> {
        let id = self.known(room)?;
        std::fs::create_dir_all(&self.record_dir)
            .map_err(|e| anyhow!("cannot create {}: {e}", self.record_dir.display()))?;
        let path = self
            .record_dir
            .join(agentphone_audio::wav::recording_file_name(
                SystemTime::now(),
                name,
            ));
        let recorder = agentphone_audio::wav::WavRecorder::create(&path, 1)
            .map_err(|e| anyhow!("cannot record to {}: {e}", path.display()))?;
        let (tap, writer) = record(recorder);
        self.engine.send(Command::Record {
            target: RecordTarget::Room(id),
            tap: Some(tap),
        })?;
        let done = self.engine.write_recording(writer);
        self.recordings.insert(room, (path.clone(), done));
        Ok(path)
    }

    pub fn pause_recording(&self, room: RoomRef, paused: bool) -> Result<()> {
        let id = self.known(room)?;
        self.engine.send(Command::PauseRecording {
            target: RecordTarget::Room(id),
            paused,
        })
    }

    /// Stops a room's recording: the receiver fires once the file is on disk.
    pub fn stop_recording(&mut self, room: RoomRef) -> Result<Option<oneshot::Receiver<()>>> {
        let Some((path, done)) = self.recordings.remove(&room) else {
            return Ok(None);
        };
        if let Some(id) = self.rooms.get(&room) {
            self.engine.send(Command::Record {
                target: RecordTarget::Room(*id),
                tap: None,
            })?;
        }
        tracing::info!("recording {} stopped", path.display());
        Ok(Some(done))
    }

    /// Closes every room and the agent's end, waiting (at most 5 s each)
    /// until every recording is on disk.
    pub async fn close_all(mut self) {
        let rooms: Vec<RoomRef> = self.rooms.keys().copied().collect();
        let mut pending = Vec::new();
        for r in rooms {
            if let Ok(Some(done)) = self.close(r) {
                pending.push(done);
            }
        }
        let _ = self.engine.remove(self.agent).await;
        pending.extend(self.heard.take());
        for done in pending {
            if tokio::time::timeout(Duration::from_secs(5), done)
                .await
                .is_err()
            {
                tracing::warn!("a recording did not finish within 5 s");
            }
        }
    }

    fn known(&self, room: RoomRef) -> Result<RoomId> {
        self.id(room)
            .ok_or_else(|| anyhow!("room {} is not open", room.0))
    }
}
