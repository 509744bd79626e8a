//! Proves that a tick allocates nothing: a counting global allocator watches
//! the test thread while a busy engine (eight legs decoding, cleaning, mixing,
//! encoding, one held with music, the room recorded) ticks.

mod sim;

use agentphone_audio::source::Tone;
use agentphone_audio::wav::WavRecorder;
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_engine::room::Room;
use agentphone_engine::{record, Command, PartId, RecordTarget, RoomId};
use sim::{tone, Sim, TICK};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Only this thread's allocations count: the test harness allocates on
    // others, and the tests run on threads of their own side by side.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count_allocation() {
    if WATCHING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// GlobalAlloc contract; the counter and the const thread-local never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same layout as the caller gave us, forwarded to System.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_allocation();
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded unchanged; `ptr` was allocated by System with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter itself must work, or a zero proves nothing; then from zero.
fn counter_works_then_reset() {
    WATCHING.with(|w| w.set(true));
    drop(std::hint::black_box(vec![0u8; 16]));
    WATCHING.with(|w| w.set(false));
    assert_eq!(allocations(), 2);
    ALLOCATIONS.with(|a| a.set(0));
}

/// One tick, with the counter watching only the engine's work (the command,
/// if any, and the tick): the fake remotes around it run unwatched.
fn watched_tick(sim: &mut Sim, command: Option<Command>) {
    let mic: Frame = [0.0; FRAME_SAMPLES];
    let mut out: Frame = [0.0; FRAME_SAMPLES];
    for r in &mut sim.remotes {
        r.send_due(sim.t0, sim.elapsed);
    }
    WATCHING.with(|w| w.set(true));
    if let Some(c) = command {
        sim.engine.handle(c);
    }
    sim.engine.tick(sim.t0 + sim.elapsed, &mic, &mut out);
    WATCHING.with(|w| w.set(false));
    for r in &mut sim.remotes {
        r.receive();
    }
    sim.elapsed += TICK;
}

#[test]
fn a_busy_tick_neither_allocates_nor_frees() {
    let mut sim = Sim::new();
    sim.engine.handle(Command::AddRoom {
        room: RoomId(1),
        audio: Box::new(Room::new()),
    });
    for i in 1..=8 {
        sim.add_remote(i, tone(200.0 + 97.0 * i as f64, 5_000.0));
        sim.engine.handle(Command::Join {
            part: PartId(i),
            room: RoomId(1),
        });
        sim.engine.handle(Command::Denoise {
            part: PartId(i),
            on: i % 2 == 0,
        });
    }
    sim.engine.handle(Command::MusicOnHold {
        source: Some(Box::new(Tone::new(300.0, -20.0).unwrap())),
    });
    sim.engine.handle(Command::Hold {
        part: PartId(3),
        held: true,
    });
    let path =
        std::env::temp_dir().join(format!("agentphone-tick-alloc-{}.wav", std::process::id()));
    let (tap, mut writer) = record(WavRecorder::create(&path, 1).unwrap());
    sim.engine.handle(Command::Record {
        target: RecordTarget::Room(RoomId(1)),
        tap: Some(tap),
    });
    // Warm up: chains arrive, buffers fill, first packets go out.
    sim.run(100);
    while sim.engine.poll_event().is_some() {}

    counter_works_then_reset();
    for _ in 0..300 {
        watched_tick(&mut sim, None);
        writer.drain().unwrap();
    }
    assert_eq!(allocations(), 0, "a tick allocated or freed");
    assert!(sim.remotes.iter().all(|r| r.heard.len() > 48_000 * 3));
    let _ = std::fs::remove_file(&path);
}

/// A local end (the agent's microphone, a file player) joining a busy room
/// and leaving it: the commands and ticks on the audio thread allocate and
/// free nothing (its voice frame comes built with it and leaves with it).
#[test]
fn a_local_end_joins_and_leaves_without_allocating() {
    use agentphone_engine::local::{LocalAudio, LocalInput};
    use agentphone_engine::Event;

    let mut sim = Sim::new();
    sim.engine.handle(Command::AddRoom {
        room: RoomId(1),
        audio: Box::new(Room::new()),
    });
    for i in 1..=3 {
        sim.add_remote(i, tone(300.0 + 111.0 * i as f64, 5_000.0));
        sim.engine.handle(Command::Join {
            part: PartId(i),
            room: RoomId(1),
        });
    }
    sim.run(100);
    while sim.engine.poll_event().is_some() {}
    counter_works_then_reset();

    // Built off the audio thread, as `MediaLeg` does.
    let local = Box::new(LocalAudio::new(
        LocalInput::Source(Box::new(Tone::new(700.0, -12.0).unwrap())),
        false,
    ));
    watched_tick(
        &mut sim,
        Some(Command::AddLocal {
            part: PartId(9),
            audio: local,
        }),
    );
    watched_tick(
        &mut sim,
        Some(Command::Join {
            part: PartId(9),
            room: RoomId(1),
        }),
    );
    for _ in 0..50 {
        watched_tick(&mut sim, None);
    }
    watched_tick(&mut sim, Some(Command::Remove { part: PartId(9) }));
    for _ in 0..20 {
        watched_tick(&mut sim, None);
    }
    assert_eq!(
        allocations(),
        0,
        "joining or leaving allocated or freed on the audio thread"
    );
    // It did leave (the count above covered a real join and departure).
    let mut removed = false;
    while let Some(ev) = sim.engine.poll_event() {
        removed |= matches!(
            ev,
            Event::Removed {
                part: PartId(9),
                ..
            }
        );
    }
    assert!(removed, "the local end was not removed");
}
