//! The deliverables `--to` names: formats, rates, word lengths and presets.

use anyhow::{Result, bail};

/// File format of a deliverable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Wav,
    Flac,
    Mp3,
}

impl Container {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Flac => "flac",
            Self::Mp3 => "mp3",
        }
    }

    pub fn is_lossy(self) -> bool {
        self == Self::Mp3
    }
}

/// Sample rate of a deliverable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// The master's own rate.
    Native,
    /// A fixed rate (Hz).
    Hz(u32),
    /// MP3: 44.1 kHz for masters of the 44.1 kHz family, else 48 kHz (MPEG-1 Layer III at
    /// 320 kb/s exists only at 32, 44.1 and 48 kHz).
    Mp3Family,
    /// Hi-res: the master's rate, refused below 88.2 kHz unless forced.
    HiRes,
}

/// One requested deliverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// The `--to` name (also in the file name).
    pub name: String,
    pub container: Container,
    pub rate: Rate,
    /// PCM word length (16 or 24); 0 for MP3.
    pub bits: u32,
    /// Came from a preset: dropped (with a warning) where it does not apply, e.g. `flac-hires`
    /// of `all` for a master below 88.2 kHz.
    pub from_preset: bool,
}

impl OutputSpec {
    /// The rate this output is written at, for a master at `master_hz`.
    pub fn rate_hz(&self, master_hz: u32) -> u32 {
        match self.rate {
            Rate::Native | Rate::HiRes => master_hz,
            Rate::Hz(hz) => hz,
            Rate::Mp3Family => {
                if master_hz.is_multiple_of(11_025) {
                    44_100
                } else {
                    48_000
                }
            }
        }
    }
}

/// Named single outputs, for the error message and `all`.
pub const NAMED: &[&str] = &[
    "wav-44100-16",
    "wav-44100-24",
    "wav-48000-16",
    "wav-48000-24",
    "wav-native-24",
    "flac-hires",
    "flac-44100-16",
    "mp3-320",
];

/// Presets and what they expand to.
pub const PRESETS: &[(&str, &[&str])] = &[
    // What distributors ask for: the master's own rate at 24 bit (Apple Digital Masters and
    // hi-res stores), the CD-quality file every store accepts, and an MP3 for promo use.
    ("streaming", &["wav-native-24", "wav-44100-16", "mp3-320"]),
    ("cd-files", &["wav-44100-16"]),
    ("all", NAMED),
];

fn usage() -> String {
    format!(
        "valid names: {}, wav-RATE-BITS, flac-RATE-BITS (RATE 8000…384000 or \"native\", BITS 16 \
         or 24); presets: {}",
        NAMED.join(", "),
        PRESETS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Parses one name.
pub fn parse_one(name: &str) -> Result<OutputSpec> {
    let lower = name.trim().to_ascii_lowercase();
    let spec = |container, rate, bits| OutputSpec {
        name: lower.clone(),
        container,
        rate,
        bits,
        from_preset: false,
    };
    match lower.as_str() {
        "mp3-320" => return Ok(spec(Container::Mp3, Rate::Mp3Family, 0)),
        "flac-hires" => return Ok(spec(Container::Flac, Rate::HiRes, 24)),
        _ => {}
    }
    let parts: Vec<&str> = lower.split('-').collect();
    if let [kind, rate, bits] = parts[..] {
        let container = match kind {
            "wav" => Some(Container::Wav),
            "flac" => Some(Container::Flac),
            _ => None,
        };
        let rate = if rate == "native" {
            Some(Rate::Native)
        } else {
            rate.parse::<u32>()
                .ok()
                .filter(|r| (8_000..=384_000).contains(r))
                .map(Rate::Hz)
        };
        let bits = bits.parse::<u32>().ok().filter(|b| *b == 16 || *b == 24);
        if let (Some(c), Some(r), Some(b)) = (container, rate, bits) {
            return Ok(spec(c, r, b));
        }
    }
    bail!("unknown deliverable {name:?}; {}", usage())
}

/// Parses a comma-separated `--to` list (presets expanded, duplicates dropped, order kept).
pub fn parse_list(list: &str) -> Result<Vec<OutputSpec>> {
    let mut out: Vec<OutputSpec> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (names, from_preset): (Vec<&str>, bool) =
            match PRESETS.iter().find(|(p, _)| p.eq_ignore_ascii_case(item)) {
                Some((_, names)) => (names.to_vec(), true),
                None => (vec![item], false),
            };
        for n in names {
            let mut spec = parse_one(n)?;
            spec.from_preset = from_preset;
            if !out.iter().any(|o| o.name == spec.name) {
                out.push(spec);
            }
        }
    }
    if out.is_empty() {
        bail!("--to names no deliverable; {}", usage());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_presets() {
        let all = parse_list("all").unwrap();
        assert_eq!(all.len(), NAMED.len());
        let s = parse_list("streaming, wav-44100-16").unwrap();
        assert_eq!(s.len(), 3);
        let w = parse_one("WAV-96000-24").unwrap();
        assert_eq!(
            (w.container, w.rate, w.bits),
            (Container::Wav, Rate::Hz(96_000), 24)
        );
        assert_eq!(parse_one("flac-native-16").unwrap().rate, Rate::Native);
        for bad in ["wav-44100-20", "ogg-44100-16", "wav-1000-16", "mp3-128", ""] {
            assert!(parse_one(bad).is_err(), "{bad}");
        }
        let e = parse_list("wav-44100-20").unwrap_err().to_string();
        assert!(e.contains("wav-44100-16") && e.contains("streaming"), "{e}");
        let mp3 = parse_one("mp3-320").unwrap();
        assert_eq!(mp3.rate_hz(96_000), 48_000);
        assert_eq!(mp3.rate_hz(88_200), 44_100);
        assert_eq!(mp3.rate_hz(22_050), 44_100);
    }
}
