//! The session registry: every Lathe Meter instance publishes its readings into a small shared
//! memory file, so any instance's editor (and `lathe session`) can show all of them, whether the
//! host runs the plugins in one process or sandboxes each in its own.
//!
//! - [`Registry`] maps the file (once per process) and keeps the process's slots alive with a
//!   heartbeat thread (every [`HEARTBEAT_MS`]); a slot whose heartbeat stops (plugin removed,
//!   process crashed or killed) drops out of every view after [`STALE_MS`].
//! - [`Registration`] is one instance's slot. [`Registration::publish`] is the audio thread's
//!   part: relaxed atomic stores inside a seqlock, no locks, no syscalls, no allocation.
//! - [`Registry::entries`] reads every live slot (retrying a slot that changed while it was
//!   copied, so readings are never torn).
//!
//! Instances join a named session group so two DAW projects open at once do not mix; the
//! default group names the host process ([`default_group`]).

pub mod export;
mod group;
pub mod region;
pub mod slot;

pub use group::default_group;
use region::Region;
use slot::{DATA_WORDS, Slot, decode_name, load_name, seq_read, seq_write, store_name};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

/// How often an owning process stamps its slots' heartbeats (ms).
pub const HEARTBEAT_MS: u64 = 100;
/// A slot whose heartbeat is older than this is not shown (ms). Twelve missed heartbeats: a
/// loaded machine does not make live instances flicker, a dead one is gone well within 2 s.
pub const STALE_MS: u64 = 1200;
/// A stale slot may be taken over by a new instance after this long (ms).
pub const RECLAIM_MS: u64 = 3000;
/// An instance counts as receiving audio if it published an audible block this recently (ms).
pub const AUDIBLE_WINDOW_MS: u64 = 500;
/// Registry file name; the number changes whenever the slot layout does.
pub const FILE_NAME: &str = "lathe-session-v1";
/// Environment variable that moves the registry file to another folder (tests, sandboxes).
pub const DIR_ENV: &str = "LATHE_SESSION_DIR";
/// Copies of a slot a reader tries before skipping it for this read.
const READ_ATTEMPTS: u32 = 1000;

/// One instance's readings, as published by its audio thread. Absent values are NaN or −∞
/// (−∞ for loudness that has not been measured yet, as the meter itself shows it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Momentary loudness (LUFS).
    pub momentary_lufs: f32,
    /// Short-term loudness (LUFS).
    pub short_term_lufs: f32,
    /// Integrated loudness since the instance's last reset (LUFS).
    pub integrated_lufs: f32,
    /// Loudness range (LU).
    pub loudness_range_lu: f32,
    /// Highest true peak since reset (dBTP).
    pub true_peak_max_dbtp: f32,
    /// Peak-to-loudness ratio (dB).
    pub plr_db: f32,
    /// Momentary L/R correlation (−1…+1).
    pub correlation: f32,
    /// The instance's target loudness (LUFS); NaN without one.
    pub target_lufs: f32,
    /// Tolerance around the target loudness (LU).
    pub target_tolerance_lu: f32,
    /// The target's true-peak limit (dBTP).
    pub target_true_peak_dbtp: f32,
    /// True-peak overs (stretches above the target's limit) since reset.
    pub overs: u32,
    /// Channels metered.
    pub channels: u32,
    /// Sample rate (Hz).
    pub sample_rate_hz: u32,
}

impl Default for Reading {
    fn default() -> Self {
        Self {
            momentary_lufs: f32::NEG_INFINITY,
            short_term_lufs: f32::NEG_INFINITY,
            integrated_lufs: f32::NEG_INFINITY,
            loudness_range_lu: 0.0,
            true_peak_max_dbtp: f32::NEG_INFINITY,
            plr_db: f32::NAN,
            correlation: f32::NAN,
            target_lufs: f32::NAN,
            target_tolerance_lu: 0.0,
            target_true_peak_dbtp: f32::NAN,
            overs: 0,
            channels: 0,
            sample_rate_hz: 0,
        }
    }
}

impl Reading {
    fn to_words(self) -> [u32; DATA_WORDS] {
        let mut w = [0u32; DATA_WORDS];
        let floats = [
            self.momentary_lufs,
            self.short_term_lufs,
            self.integrated_lufs,
            self.loudness_range_lu,
            self.true_peak_max_dbtp,
            self.plr_db,
            self.correlation,
            self.target_lufs,
            self.target_tolerance_lu,
            self.target_true_peak_dbtp,
        ];
        for (w, f) in w.iter_mut().zip(floats) {
            *w = f.to_bits();
        }
        w[10] = self.overs;
        w[11] = self.channels;
        w[12] = self.sample_rate_hz;
        w
    }

    fn from_words(w: &[u32; DATA_WORDS]) -> Self {
        let f = |i: usize| f32::from_bits(w[i]);
        Self {
            momentary_lufs: f(0),
            short_term_lufs: f(1),
            integrated_lufs: f(2),
            loudness_range_lu: f(3),
            true_peak_max_dbtp: f(4),
            plr_db: f(5),
            correlation: f(6),
            target_lufs: f(7),
            target_tolerance_lu: f(8),
            target_true_peak_dbtp: f(9),
            overs: w[10],
            channels: w[11],
            sample_rate_hz: w[12],
        }
    }
}

/// One live instance, as a reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Slot index (stable while the instance lives).
    pub slot: usize,
    /// Process the instance runs in.
    pub pid: u32,
    /// Session group.
    pub group: String,
    /// Track name or user label.
    pub name: String,
    /// Track colour 0xRRGGBBAA, if the host gave one.
    pub color_rgba: Option<u32>,
    /// Latest readings.
    pub reading: Reading,
    /// Whether audible blocks arrived within [`AUDIBLE_WINDOW_MS`].
    pub receiving_audio: bool,
    /// Time since the instance last published (ms).
    pub age_ms: u64,
}

impl Entry {
    /// Louder than the target allows: integrated loudness (or, before there is any, short-term)
    /// above target + tolerance.
    pub fn over_target(&self) -> bool {
        let r = &self.reading;
        if !r.target_lufs.is_finite() {
            return false;
        }
        let level = if r.integrated_lufs.is_finite() {
            r.integrated_lufs
        } else {
            r.short_term_lufs
        };
        level.is_finite() && level > r.target_lufs + r.target_tolerance_lu.max(0.0)
    }

    /// True-peak overs since reset.
    pub fn has_overs(&self) -> bool {
        self.reading.overs > 0
    }
}

/// Milliseconds on a clock shared by every process of the machine (monotonic where available,
/// so wall-clock adjustments do not make live instances look dead).
pub fn now_ms() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes into the timespec we pass; CLOCK_MONOTONIC always exists.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
    }
    #[cfg(not(unix))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// Where POSIX shared memory lives on Linux: a tmpfs, never backed by a disk.
#[cfg(target_os = "linux")]
pub const SHM_DIR: &str = "/dev/shm";

/// The registry every process of this user uses: `$LATHE_SESSION_DIR` (for tests), else
/// `$XDG_RUNTIME_DIR` (the user's private tmpfs under systemd), else POSIX shared memory
/// (`/dev/shm`, a tmpfs) – never a disk the audio thread could fault into – else the temp
/// folder. The user ID is in the name where the folder is shared between users.
pub fn default_path() -> PathBuf {
    if let Some(dir) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join(FILE_NAME);
    }
    system_path()
}

/// [`default_path`] without the `LATHE_SESSION_DIR` override.
pub fn system_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join(FILE_NAME);
    }
    #[cfg(unix)]
    // SAFETY: getuid has no preconditions.
    let user = unsafe { libc::getuid() }.to_string();
    #[cfg(not(unix))]
    let user = std::env::var("USERNAME").unwrap_or_default();
    #[cfg(target_os = "linux")]
    if std::path::Path::new(SHM_DIR).is_dir() {
        return PathBuf::from(SHM_DIR).join(format!("{FILE_NAME}-{user}"));
    }
    std::env::temp_dir().join(format!("{FILE_NAME}-{user}"))
}

/// A slot this process owns.
struct Owned {
    index: usize,
    token: u64,
    /// `publishes` when the heartbeat last looked.
    publishes: u32,
    /// `audible_blocks` when the heartbeat last looked.
    audible_blocks: u32,
}

struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

#[derive(Default)]
struct Inner {
    owned: Vec<Owned>,
    heartbeat: Option<Heartbeat>,
    /// Low half of the next token.
    next_token: u32,
}

/// A mapped registry plus this process's bookkeeping of the slots it owns.
pub struct Registry {
    region: Region,
    inner: Mutex<Inner>,
}

/// The process-wide registry at [`default_path`], shared by every instance in the process.
static SHARED: Mutex<Weak<Registry>> = Mutex::new(Weak::new());

impl Registry {
    /// A registry over `region` (an in-memory one for tests, or a mapped file).
    pub fn new(region: Region) -> Arc<Self> {
        Arc::new(Self {
            region,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The process-wide registry at [`default_path`], mapped on first use and unmapped when the
    /// last user lets go.
    pub fn shared() -> io::Result<Arc<Self>> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(registry) = shared.upgrade() {
            return Ok(registry);
        }
        let registry = Self::new(Region::open(&default_path())?);
        *shared = Arc::downgrade(&registry);
        Ok(registry)
    }

    /// Whether other processes share these slots.
    pub fn is_shared(&self) -> bool {
        self.region.is_shared()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims a slot for a new instance; `None` when every slot is taken. Not for the audio
    /// thread (it locks, may spawn the heartbeat thread).
    pub fn register(
        self: &Arc<Self>,
        group: &str,
        name: &str,
        color_rgba: Option<u32>,
    ) -> Option<Registration> {
        let pid = std::process::id();
        let mut inner = self.lock();
        inner.next_token = inner.next_token.wrapping_add(1).max(1);
        let token = (u64::from(pid) << 32) | u64::from(inner.next_token);
        let now = now_ms();
        let index = self.region.slots().iter().position(|slot| {
            let owner = slot.owner.load(Ordering::Acquire);
            let heartbeat = slot.heartbeat_ms.load(Ordering::Acquire);
            if owner != 0 && now.saturating_sub(heartbeat) <= RECLAIM_MS {
                return false;
            }
            // Take the heartbeat first: of several processes eyeing the same free or dead slot,
            // only the one whose swap succeeds goes on, and a slot just claimed by somebody
            // else already carries a fresh heartbeat.
            slot.heartbeat_ms
                .compare_exchange(heartbeat, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
                && slot
                    .owner
                    .compare_exchange(owner, token, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
        })?;
        let slot = &self.region.slots()[index];
        slot.pid.store(pid, Ordering::Relaxed);
        slot.published_ms.store(now, Ordering::Relaxed);
        slot.audible_ms.store(0, Ordering::Relaxed);
        write_meta(slot, group, name, color_rgba);
        let words = Reading::default().to_words();
        seq_write(&slot.data_seq, || store_words(slot, &words));
        inner.owned.push(Owned {
            index,
            token,
            publishes: slot.publishes.load(Ordering::Relaxed),
            audible_blocks: slot.audible_blocks.load(Ordering::Relaxed),
        });
        if inner.heartbeat.is_none() {
            match self.spawn_heartbeat() {
                Some(heartbeat) => inner.heartbeat = Some(heartbeat),
                None => {
                    // No thread to keep the slot alive (the system refused one): give the slot
                    // back and run unlisted rather than fail the plugin.
                    inner.owned.pop();
                    slot.owner.store(0, Ordering::Release);
                    return None;
                }
            }
        }
        Some(Registration {
            registry: self.clone(),
            index,
            token,
            seen_resets: AtomicU32::new(slot.reset_requests.load(Ordering::Acquire)),
        })
    }

    fn spawn_heartbeat(self: &Arc<Self>) -> Option<Heartbeat> {
        let stop = Arc::new(AtomicBool::new(false));
        let registry = self.clone();
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lathe-session-heartbeat".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Acquire) {
                    registry.beat();
                    std::thread::park_timeout(std::time::Duration::from_millis(HEARTBEAT_MS));
                }
            })
            .ok()?;
        Some(Heartbeat { stop, thread })
    }

    /// One heartbeat: stamp every owned slot, note new publishes and audible blocks.
    fn beat(&self) {
        let now = now_ms();
        let mut inner = self.lock();
        for owned in &mut inner.owned {
            let slot = &self.region.slots()[owned.index];
            if slot.owner.load(Ordering::Acquire) != owned.token {
                // Taken over after this process stalled past RECLAIM_MS; publishes check the
                // owner too, so the instance just stops appearing.
                continue;
            }
            slot.heartbeat_ms.store(now, Ordering::Release);
            let publishes = slot.publishes.load(Ordering::Acquire);
            if publishes != owned.publishes {
                owned.publishes = publishes;
                slot.published_ms.store(now, Ordering::Release);
            }
            let audible = slot.audible_blocks.load(Ordering::Acquire);
            if audible != owned.audible_blocks {
                owned.audible_blocks = audible;
                slot.audible_ms.store(now, Ordering::Release);
            }
        }
    }

    fn release(&self, index: usize, token: u64) {
        let heartbeat = {
            let mut inner = self.lock();
            inner.owned.retain(|o| o.index != index || o.token != token);
            let slot = &self.region.slots()[index];
            let _ = slot
                .owner
                .compare_exchange(token, 0, Ordering::AcqRel, Ordering::Relaxed);
            if inner.owned.is_empty() {
                inner.heartbeat.take()
            } else {
                None
            }
        };
        // Stop the thread outside the lock (it takes the lock every beat) and wait for it: the
        // plugin library may be unloaded right after its last instance goes.
        if let Some(hb) = heartbeat {
            hb.stop.store(true, Ordering::Release);
            hb.thread.thread().unpark();
            let _ = hb.thread.join();
        }
    }

    /// Every live instance in every group.
    pub fn entries(&self) -> Vec<Entry> {
        let now = now_ms();
        let mut out = Vec::new();
        for (index, slot) in self.region.slots().iter().enumerate() {
            let owner = slot.owner.load(Ordering::Acquire);
            if owner == 0 {
                continue;
            }
            if now.saturating_sub(slot.heartbeat_ms.load(Ordering::Acquire)) > STALE_MS {
                continue;
            }
            let Some((color, group, name)) = seq_read(&slot.meta_seq, READ_ATTEMPTS, || {
                (
                    slot.color_rgba.load(Ordering::Relaxed),
                    load_name(&slot.group),
                    load_name(&slot.name),
                )
            }) else {
                continue;
            };
            let Some(words) = seq_read(&slot.data_seq, READ_ATTEMPTS, || {
                let mut w = [0u32; DATA_WORDS];
                for (w, a) in w.iter_mut().zip(&slot.data) {
                    *w = a.load(Ordering::Relaxed);
                }
                w
            }) else {
                continue;
            };
            let audible_ms = slot.audible_ms.load(Ordering::Acquire);
            let entry = Entry {
                slot: index,
                pid: slot.pid.load(Ordering::Relaxed),
                group: decode_name(&group),
                name: decode_name(&name),
                color_rgba: (color & 0xFF != 0).then_some(color),
                reading: Reading::from_words(&words),
                receiving_audio: audible_ms != 0
                    && now.saturating_sub(audible_ms) <= AUDIBLE_WINDOW_MS,
                age_ms: now.saturating_sub(slot.published_ms.load(Ordering::Acquire)),
            };
            // A new tenant moved in while we copied: skip rather than mix two instances.
            if slot.owner.load(Ordering::Acquire) == owner {
                out.push(entry);
            }
        }
        out
    }

    /// Live instances of one group.
    pub fn group_entries(&self, group: &str) -> Vec<Entry> {
        let mut entries = self.entries();
        entries.retain(|e| e.group == group);
        entries
    }

    /// Asks the instance in `slot` to reset its measurement.
    pub fn request_reset(&self, slot: usize) {
        if let Some(slot) = self.region.slots().get(slot) {
            slot.reset_requests.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Asks every live instance of `group` to reset.
    pub fn reset_group(&self, group: &str) {
        for entry in self.group_entries(group) {
            self.request_reset(entry.slot);
        }
    }
}

fn store_words(slot: &Slot, words: &[u32; DATA_WORDS]) {
    for (a, &w) in slot.data.iter().zip(words) {
        a.store(w, Ordering::Relaxed);
    }
}

fn write_meta(slot: &Slot, group: &str, name: &str, color_rgba: Option<u32>) {
    seq_write(&slot.meta_seq, || {
        slot.color_rgba
            .store(color_rgba.unwrap_or(0), Ordering::Relaxed);
        store_name(&slot.group, group);
        store_name(&slot.name, name);
    });
}

/// One instance's slot. Dropping it frees the slot.
pub struct Registration {
    registry: Arc<Registry>,
    index: usize,
    token: u64,
    /// `reset_requests` as last seen by the audio thread.
    seen_resets: AtomicU32,
}

impl Registration {
    fn slot(&self) -> &Slot {
        &self.registry.region.slots()[self.index]
    }

    /// The slot index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The registry this slot is in.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Whether the slot is still this instance's (it is lost only if the process stalled for
    /// longer than [`RECLAIM_MS`] and another instance took it over).
    pub fn is_valid(&self) -> bool {
        self.slot().owner.load(Ordering::Acquire) == self.token
    }

    /// Audio thread: publishes `reading`; `audible` says whether the block held audio. Atomic
    /// stores only – no locks, no syscalls, no allocation.
    #[inline]
    pub fn publish(&self, reading: &Reading, audible: bool) {
        let slot = self.slot();
        if slot.owner.load(Ordering::Relaxed) != self.token {
            return;
        }
        let words = reading.to_words();
        seq_write(&slot.data_seq, || store_words(slot, &words));
        // Single writer: a load and a store, no read-modify-write needed.
        let p = slot.publishes.load(Ordering::Relaxed);
        slot.publishes.store(p.wrapping_add(1), Ordering::Release);
        if audible {
            let a = slot.audible_blocks.load(Ordering::Relaxed);
            slot.audible_blocks
                .store(a.wrapping_add(1), Ordering::Release);
        }
    }

    /// Audio thread: whether somebody asked this instance to reset since the last call.
    #[inline]
    pub fn take_reset_request(&self) -> bool {
        let requests = self.slot().reset_requests.load(Ordering::Acquire);
        self.seen_resets.swap(requests, Ordering::Relaxed) != requests
    }

    /// Sets the label other views show (main or editor thread; not the audio thread).
    pub fn set_label(&self, group: &str, name: &str, color_rgba: Option<u32>) {
        // The registry lock serialises this process's label writers (the seqlock has one
        // writer at a time).
        let _inner = self.registry.lock();
        if self.is_valid() {
            write_meta(self.slot(), group, name, color_rgba);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.release(self.index, self.token);
    }
}

#[cfg(test)]
mod tests;
