//! A minimal but honest CLAP host on `clack-host`: loads a `.clap`, exposes the plugin's params,
//! state, latency and audio-port extensions, and processes audio on a separate audio thread the
//! way a DAW does (activate on the main thread, start/process/stop on the audio thread).

use anyhow::{Context, Result, anyhow, bail, ensure};
use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer,
    ParamRescanFlags, PluginParams,
};
use clack_extensions::state::{HostState, HostStateImpl, PluginState};
use clack_extensions::track_info::{HostTrackInfo, HostTrackInfoImpl, TrackInfo, TrackInfoWriter};
use clack_host::events::EventFlags;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::prelude::*;
use clack_host::utils::Color;
use clack_host::utils::{BeatTime, SecondsTime};
use std::ffi::{CStr, CString};
use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Plugin extensions queried once while the plugin initialises.
#[derive(Clone, Copy)]
pub struct Extensions {
    pub params: Option<PluginParams>,
    pub state: Option<PluginState>,
    pub latency: Option<PluginLatency>,
    pub ports: Option<PluginAudioPorts>,
    pub ports_config: Option<PluginAudioPortsConfig>,
}

/// Thread-safe host side.
#[derive(Default)]
pub struct Shared {
    ext: OnceLock<Extensions>,
    callback_requested: AtomicBool,
    restart_requested: AtomicBool,
    /// How often the plugin called `clap_host_latency.changed` (kept for the latency checks of
    /// plugins whose latency depends on settings).
    pub latency_changed: AtomicU32,
    /// Calls of `clap_host_latency.changed` outside `clap_plugin.activate`, which the CLAP spec
    /// forbids (`[main-thread & being-activated]`; an active plugin must `request_restart`).
    pub latency_changed_outside_activate: AtomicU32,
    /// True while the host is inside `clap_plugin.activate`.
    activating: AtomicBool,
    /// Track name and RGB colour the host reports through `clap_host_track_info`.
    pub track: Option<Track>,
}

/// The track a plugin instance sits on.
#[derive(Debug, Clone)]
pub struct Track {
    /// Track name.
    pub name: String,
    /// Track colour (RGB).
    pub rgb: [u8; 3],
}

impl<'a> SharedHandler<'a> for Shared {
    fn initializing(&self, instance: InitializingPluginHandle<'a>) {
        let _ = self.ext.set(Extensions {
            params: instance.get_extension(),
            state: instance.get_extension(),
            latency: instance.get_extension(),
            ports: instance.get_extension(),
            ports_config: instance.get_extension(),
        });
    }
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostLogImpl for Shared {
    fn log(&self, severity: LogSeverity, message: &str) {
        eprintln!("    [plugin {severity}] {message}");
    }
}

impl HostParamsImplShared for Shared {
    fn request_flush(&self) {}
}

/// Main-thread host side.
pub struct MainThread<'a> {
    shared: &'a Shared,
}

impl<'a> MainThreadHandler<'a> for MainThread<'a> {}

impl HostParamsImplMainThread for MainThread<'_> {
    fn rescan(&self, _flags: ParamRescanFlags) {}
    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostLatencyImpl for MainThread<'_> {
    fn changed(&self) {
        self.shared.latency_changed.fetch_add(1, Ordering::SeqCst);
        if !self.shared.activating.load(Ordering::SeqCst) {
            self.shared
                .latency_changed_outside_activate
                .fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl HostTrackInfoImpl for MainThread<'_> {
    fn get<'a>(&'a self, writer: &mut TrackInfoWriter<'_, 'a>) {
        if let Some(track) = &self.shared.track {
            let [red, green, blue] = track.rgb;
            writer.set(
                &TrackInfo::new()
                    .with_name(Some(track.name.as_bytes()))
                    .with_color(Some(Color {
                        alpha: 255,
                        red,
                        green,
                        blue,
                    })),
            );
        }
    }
}

impl HostStateImpl for MainThread<'_> {
    fn mark_dirty(&self) {}
}

/// The host type tying the handlers together.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread<'a>;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostLog>()
            .register::<HostParams>()
            .register::<HostLatency>()
            .register::<HostState>()
            .register::<HostTrackInfo>();
    }
}

/// What a plugin descriptor says about itself.
#[derive(Debug, Clone)]
pub struct Descriptor {
    pub id: String,
    pub name: String,
    pub vendor: String,
    pub version: String,
    pub url: String,
    pub features: Vec<String>,
}

/// A loaded `.clap` file.
pub struct Bundle {
    entry: PluginEntry,
    /// Every plugin the bundle's factory lists.
    pub descriptors: Vec<Descriptor>,
}

fn cstr_or_empty(s: Option<&CStr>) -> String {
    s.map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Bundle {
    /// Loads the `.clap` at `path` (on Linux the bundle is the shared library itself).
    pub fn load(path: &Path) -> Result<Self> {
        // SAFETY: loading a plugin runs its code; that is what this host is for.
        let entry = unsafe { PluginEntry::load(path) }
            .map_err(|e| anyhow!("cannot load {}: {e:?}", path.display()))?;
        let factory = entry
            .get_plugin_factory()
            .context("the bundle has no plugin factory")?;
        let descriptors = factory
            .plugin_descriptors()
            .map(|d| Descriptor {
                id: cstr_or_empty(d.id()),
                name: cstr_or_empty(d.name()),
                vendor: cstr_or_empty(d.vendor()),
                version: cstr_or_empty(d.version()),
                url: cstr_or_empty(d.url()),
                features: d
                    .features()
                    .map(|f| f.to_string_lossy().into_owned())
                    .collect(),
            })
            .collect();
        Ok(Self { entry, descriptors })
    }

    /// Creates an instance of the plugin with the given ID.
    pub fn instantiate(&self, id: &str) -> Result<Plugin> {
        self.instantiate_on_track(id, None)
    }

    /// Creates an instance on a track with the given name and colour.
    pub fn instantiate_on_track(&self, id: &str, track: Option<Track>) -> Result<Plugin> {
        let host_info = HostInfo::new(
            "Lathe test host",
            "Lathe",
            "https://github.com/lathe-audio/lathe",
            env!("CARGO_PKG_VERSION"),
        )
        .map_err(|e| anyhow!("host info: {e:?}"))?;
        let id = CString::new(id)?;
        let instance = PluginInstance::<TestHost>::new(
            |_| Shared {
                track,
                ..Shared::default()
            },
            |shared| MainThread { shared },
            &self.entry,
            &id,
            &host_info,
        )
        .map_err(|e| anyhow!("cannot instantiate: {e:?}"))?;
        Ok(Plugin {
            instance,
            resets: Vec::new(),
            transport_jumps: None,
        })
    }
}

/// A parameter as the plugin describes it.
#[derive(Debug, Clone)]
pub struct ParamDesc {
    pub id: u32,
    pub name: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    /// Stepped (integer/enum/bool) parameter.
    pub stepped: bool,
    /// The host's bypass parameter (`CLAP_PARAM_IS_BYPASS`).
    pub bypass: bool,
}

/// A parameter change at an absolute frame position of a render.
#[derive(Debug, Clone, Copy)]
pub struct ParamChange {
    pub frame: u64,
    pub id: u32,
    pub value: f64,
}

/// One plugin instance.
pub struct Plugin {
    instance: PluginInstance<TestHost>,
    /// Frames at which the next streams call the plugin's `reset` (before that block).
    pub resets: Vec<u64>,
    /// Give the next streams a playing transport whose song position jumps (seeded).
    pub transport_jumps: Option<u64>,
}

impl Plugin {
    fn ext(&self) -> Extensions {
        *self
            .instance
            .access_shared_handler(|s| s.ext.get())
            .expect("extensions are queried during initialisation")
    }

    /// Every parameter, in the plugin's order.
    pub fn params(&mut self) -> Result<Vec<ParamDesc>> {
        let ext = self.ext().params.context("no params extension")?;
        let handle = self.instance.plugin_handle();
        let mut out = Vec::new();
        for i in 0..ext.count(&handle) {
            let mut buf = ParamInfoBuffer::new();
            let info = ext
                .get_info(&handle, i, &mut buf)
                .with_context(|| format!("param info {i}"))?;
            out.push(ParamDesc {
                id: info.id.get(),
                name: String::from_utf8_lossy(info.name).into_owned(),
                min: info.min_value,
                max: info.max_value,
                default: info.default_value,
                stepped: info
                    .flags
                    .contains(clack_extensions::params::ParamInfoFlags::IS_STEPPED),
                bypass: info
                    .flags
                    .contains(clack_extensions::params::ParamInfoFlags::IS_BYPASS),
            });
        }
        Ok(out)
    }

    /// Current value of a parameter.
    pub fn get(&mut self, id: u32) -> Result<f64> {
        let ext = self.ext().params.context("no params extension")?;
        ext.get_value(&self.instance.plugin_handle(), ClapId::new(id))
            .with_context(|| format!("get_value({id})"))
    }

    /// The plugin's text for a value.
    pub fn value_to_text(&mut self, id: u32, value: f64) -> Result<String> {
        let ext = self.ext().params.context("no params extension")?;
        let mut buf = [0u8; 256];
        let text = ext
            .value_to_text(
                &self.instance.plugin_handle(),
                ClapId::new(id),
                value,
                &mut buf,
            )
            .map_err(|_| anyhow!("value_to_text({id}, {value}) failed"))?;
        Ok(String::from_utf8_lossy(text).into_owned())
    }

    /// The plugin's value for a text.
    pub fn text_to_value(&mut self, id: u32, text: &str) -> Result<f64> {
        let ext = self.ext().params.context("no params extension")?;
        let c = CString::new(text)?;
        ext.text_to_value(&self.instance.plugin_handle(), ClapId::new(id), &c)
            .with_context(|| format!("text_to_value({id}, {text:?}) failed"))
    }

    /// Sets parameters while the plugin is inactive, through `params.flush`.
    pub fn set_params(&mut self, values: &[(u32, f64)]) -> Result<()> {
        let ext = self.ext().params.context("no params extension")?;
        let mut events = EventBuffer::new();
        for &(id, value) in values {
            events.push(&ParamValueEvent::new(
                0,
                ClapId::new(id),
                Pckn::match_all(),
                value,
            ));
        }
        let mut out = EventBuffer::new();
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .context("set_params needs an inactive plugin")?;
        ext.flush(
            &mut handle,
            &InputEvents::from_buffer(&events),
            &mut OutputEvents::from_buffer(&mut out),
        );
        self.main_thread_idle()
    }

    /// Saves the plugin's state.
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let ext = self.ext().state.context("no state extension")?;
        let mut buf = Vec::new();
        ext.save(&self.instance.plugin_handle(), &mut buf)
            .map_err(|e| anyhow!("state save: {e}"))?;
        Ok(buf)
    }

    /// Loads a state blob.
    pub fn load_state(&mut self, data: &[u8]) -> Result<()> {
        let ext = self.ext().state.context("no state extension")?;
        ext.load(&self.instance.plugin_handle(), &mut Cursor::new(data))
            .map_err(|e| anyhow!("state load: {e}"))?;
        self.main_thread_idle()
    }

    /// How often the plugin has called `clap_host_latency.changed` so far.
    pub fn latency_changed_calls(&mut self) -> u32 {
        self.instance
            .access_shared_handler(|s| s.latency_changed.load(Ordering::SeqCst))
    }

    /// Whether the plugin asked for a restart (`clap_host.request_restart`) since the last call;
    /// clears the request.
    pub fn take_restart_request(&mut self) -> bool {
        self.instance
            .access_shared_handler(|s| s.restart_requested.swap(false, Ordering::SeqCst))
    }

    /// Runs the main-thread callback if the plugin asked for one, then fails if the plugin has
    /// ever called `clap_host_latency.changed` outside `activate` (a rule clap-validator checks).
    pub fn main_thread_idle(&mut self) -> Result<()> {
        if self
            .instance
            .access_shared_handler(|s| s.callback_requested.swap(false, Ordering::SeqCst))
        {
            self.instance.call_on_main_thread_callback();
        }
        let outside = self
            .instance
            .access_shared_handler(|s| s.latency_changed_outside_activate.load(Ordering::SeqCst));
        ensure!(
            outside == 0,
            "the plugin called clap_host_latency.changed {outside} time(s) outside activate \
             (CLAP allows it only while being activated; an active plugin must request_restart)"
        );
        Ok(())
    }

    /// The latency the plugin reports now (samples).
    pub fn latency(&mut self) -> Result<u32> {
        let ext = self.ext().latency.context("no latency extension")?;
        Ok(ext.get(&self.instance.plugin_handle()))
    }

    /// Channel count of the main input and output ports.
    pub fn main_channels(&mut self) -> Result<(u32, u32)> {
        let ext = self.ext().ports.context("no audio-ports extension")?;
        let handle = self.instance.plugin_handle();
        let count = |is_input| -> Result<u32> {
            let mut buf = AudioPortInfoBuffer::default();
            let n = ext.count(&handle, is_input);
            if n == 0 {
                bail!("no {} port", if is_input { "input" } else { "output" });
            }
            let info = ext
                .get(&handle, 0, is_input, &mut buf)
                .context("port info")?;
            Ok(info.channel_count)
        };
        Ok((count(true)?, count(false)?))
    }

    /// Lists the audio-port configurations as (id, input channels, output channels).
    pub fn port_configs(&mut self) -> Result<Vec<(u32, u32, u32)>> {
        let ext = self
            .ext()
            .ports_config
            .context("no audio-ports-config extension")?;
        let handle = self.instance.plugin_handle();
        let mut out = Vec::new();
        for i in 0..ext.count(&handle) {
            let mut buf = AudioPortsConfigBuffer::new();
            let c = ext.get(&handle, i, &mut buf).context("port config")?;
            out.push((
                c.id.get(),
                c.main_input.map_or(0, |p| p.channel_count),
                c.main_output.map_or(0, |p| p.channel_count),
            ));
        }
        Ok(out)
    }

    /// Selects the port configuration with one input and one output channel (plugin must be
    /// inactive).
    pub fn select_mono(&mut self) -> Result<()> {
        let configs = self.port_configs()?;
        let mono = configs
            .iter()
            .find(|c| (c.1, c.2) == (1, 1))
            .with_context(|| format!("no mono layout among {configs:?}"))?;
        let ext = self
            .ext()
            .ports_config
            .context("no audio-ports-config extension")?;
        ext.select(&self.instance.plugin_handle(), ClapId::new(mono.0))
            .map_err(|_| anyhow!("selecting the mono layout was refused"))
    }

    /// Activates at `sample_rate`, processes `input` (planar) on an audio thread in blocks whose
    /// sizes come from `next_block` (0-length blocks allowed), applies `changes` at their frames,
    /// deactivates, and returns the output. Returns the latency reported while active, too.
    pub fn render(
        &mut self,
        sample_rate: f64,
        max_block: u32,
        input: &[Vec<f32>],
        changes: &[ParamChange],
        mut next_block: impl FnMut() -> usize + Send,
    ) -> Result<(Vec<Vec<f32>>, u32)> {
        let channels = input.len();
        let frames = input.first().map_or(0, Vec::len);
        let mut sorted: Vec<ParamChange> = changes.to_vec();
        sorted.sort_by_key(|c| c.frame);
        let mut next_change = 0;
        let mut output = vec![vec![0.0f32; frames]; channels];
        let out_ref = &mut output;
        let latency = self.stream(
            sample_rate,
            max_block,
            channels,
            move |in_block, events, pos| {
                let pos = pos as usize;
                if pos >= frames {
                    return None;
                }
                let n = next_block().min(max_block as usize).min(frames - pos);
                for c in 0..channels {
                    in_block[c][..n].copy_from_slice(&input[c][pos..pos + n]);
                }
                while n > 0
                    && next_change < sorted.len()
                    && sorted[next_change].frame < (pos + n) as u64
                {
                    let c = sorted[next_change];
                    let t = c.frame.saturating_sub(pos as u64) as u32;
                    events.push(&ParamValueEvent::new(
                        t,
                        ClapId::new(c.id),
                        Pckn::match_all(),
                        c.value,
                    ));
                    next_change += 1;
                }
                Some(n)
            },
            |out_block, n, pos| {
                let pos = pos as usize;
                for c in 0..channels {
                    out_ref[c][pos..pos + n].copy_from_slice(&out_block[c][..n]);
                }
            },
        )?;
        Ok((output, latency))
    }

    /// Activates at `sample_rate` and processes on an audio thread until `source` returns
    /// `None`. `source` fills the input block (planar, `max_block` frames per channel) and the
    /// block's events for the block starting at the given frame and returns its length; `sink`
    /// gets each output block. Deactivates at the end and returns the latency reported while
    /// active.
    pub fn stream(
        &mut self,
        sample_rate: f64,
        max_block: u32,
        channels: usize,
        mut source: impl FnMut(&mut [Vec<f32>], &mut EventBuffer, u64) -> Option<usize> + Send,
        mut sink: impl FnMut(&[Vec<f32>], usize, u64) + Send,
    ) -> Result<u32> {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block,
        };
        self.instance
            .access_shared_handler(|s| s.activating.store(true, Ordering::SeqCst));
        let processor = self.instance.activate(|_, _| (), config);
        self.instance
            .access_shared_handler(|s| s.activating.store(false, Ordering::SeqCst));
        let processor = processor.map_err(|e| anyhow!("activate at {sample_rate} Hz: {e:?}"))?;
        let latency = self.latency().unwrap_or(0);
        let mut resets = self.resets.clone();
        resets.sort_unstable();
        let jumps = self.transport_jumps;

        let (processor, result) = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let mut started = match processor.start_processing() {
                        Ok(p) => p,
                        Err(e) => {
                            return (
                                e.into_stopped_processor(),
                                Err(anyhow!("start_processing failed")),
                            );
                        }
                    };
                    let mut in_ports = AudioPorts::with_capacity(channels, 1);
                    let mut out_ports = AudioPorts::with_capacity(channels, 1);
                    let mut in_block = vec![vec![0.0f32; max_block as usize]; channels];
                    let mut out_block = vec![vec![0.0f32; max_block as usize]; channels];
                    let mut events = EventBuffer::with_capacity(64);
                    let mut out_events = EventBuffer::with_capacity(64);
                    let mut pos = 0u64;
                    let mut result = Ok(());
                    let mut next_reset = 0;
                    let mut jump_rng = jumps.map(|seed| {
                        use rand::SeedableRng;
                        rand::rngs::SmallRng::seed_from_u64(seed)
                    });
                    let mut song_seconds = 0.0f64;
                    loop {
                        events.clear();
                        out_events.clear();
                        let Some(n) = source(&mut in_block, &mut events, pos) else {
                            break;
                        };
                        let n = n.min(max_block as usize);
                        while next_reset < resets.len() && resets[next_reset] <= pos {
                            started.reset();
                            next_reset += 1;
                        }
                        let transport = jump_rng.as_mut().map(|rng| {
                            use rand::Rng;
                            // Now and then the user clicks somewhere else on the timeline,
                            // or stops and starts again.
                            if rng.random_range(0..20) == 0 {
                                song_seconds = rng.random_range(0.0..600.0);
                            }
                            let playing = rng.random_range(0..30) != 0;
                            let beats = song_seconds * 2.0;
                            let event = TransportEvent {
                                header: EventHeader::new_core(0, EventFlags::empty()),
                                flags: TransportFlags::HAS_TEMPO
                                    | TransportFlags::HAS_BEATS_TIMELINE
                                    | TransportFlags::HAS_SECONDS_TIMELINE
                                    | TransportFlags::HAS_TIME_SIGNATURE
                                    | if playing {
                                        TransportFlags::IS_PLAYING
                                    } else {
                                        TransportFlags::empty()
                                    },
                                song_pos_beats: BeatTime::from_float(beats),
                                song_pos_seconds: SecondsTime::from_float(song_seconds),
                                tempo: 120.0,
                                tempo_inc: 0.0,
                                loop_start_beats: BeatTime::from_float(0.0),
                                loop_end_beats: BeatTime::from_float(0.0),
                                loop_start_seconds: SecondsTime::from_float(0.0),
                                loop_end_seconds: SecondsTime::from_float(0.0),
                                bar_start: BeatTime::from_float((beats / 4.0).floor() * 4.0),
                                bar_number: (beats / 4.0) as i32,
                                time_signature_numerator: 4,
                                time_signature_denominator: 4,
                            };
                            song_seconds += n as f64 / sample_rate;
                            event
                        });
                        for b in &mut out_block {
                            b[..n].fill(0.0);
                        }
                        let in_audio = in_ports.with_input_buffers([AudioPortBuffer {
                            latency: 0,
                            channels: AudioPortBufferType::f32_input_only(
                                in_block
                                    .iter_mut()
                                    .map(|b| InputChannel::variable(&mut b[..n])),
                            ),
                        }]);
                        let mut out_audio = out_ports.with_output_buffers([AudioPortBuffer {
                            latency: 0,
                            channels: AudioPortBufferType::f32_output_only(
                                out_block.iter_mut().map(|b| &mut b[..n]),
                            ),
                        }]);
                        if let Err(e) = started.process(
                            &in_audio,
                            &mut out_audio,
                            &InputEvents::from_buffer(&events),
                            &mut OutputEvents::from_buffer(&mut out_events),
                            Some(pos),
                            transport.as_ref(),
                        ) {
                            result = Err(anyhow!("process failed at frame {pos}: {e:?}"));
                            break;
                        }
                        sink(&out_block, n, pos);
                        pos += n as u64;
                    }
                    (started.stop_processing(), result)
                })
                .join()
                .expect("audio thread panicked")
        });
        self.instance.deactivate(processor);
        self.main_thread_idle()?;
        result?;
        Ok(latency)
    }
}
