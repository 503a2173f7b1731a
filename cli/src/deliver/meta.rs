//! Release metadata for `lathe deliver`: from flags or a TOML file, with ISRC and UPC/EAN
//! validated before anything is written.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::Path;

/// What a deliverable says about itself. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    /// ISRC as given (`CC-XXX-YY-NNNNN` or the 12 characters without hyphens).
    pub isrc: Option<String>,
    /// Track number and total, `N` or `N/M` (`track = 3` also reads).
    #[serde(default, deserialize_with = "text_or_number")]
    pub track: Option<String>,
    /// `year = 2026` or `year = "2026"`.
    #[serde(default, deserialize_with = "text_or_number")]
    pub year: Option<String>,
    /// UPC-A (12 digits) or EAN-13 (13 digits).
    pub upc: Option<String>,
    pub composer: Option<String>,
}

/// A TOML string or integer, as text.
pub(crate) fn text_or_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(i64),
    }
    Ok(Option::<Either>::deserialize(d)?.map(|e| match e {
        Either::Text(t) => t,
        Either::Number(n) => n.to_string(),
    }))
}

impl Metadata {
    /// Reads a TOML file with the same keys as the flags.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid metadata", path.display()))
    }

    /// `other`'s fields where set, else ours.
    pub fn overlaid_by(self, other: Metadata) -> Metadata {
        Metadata {
            title: other.title.or(self.title),
            artist: other.artist.or(self.artist),
            album: other.album.or(self.album),
            isrc: other.isrc.or(self.isrc),
            track: other.track.or(self.track),
            year: other.year.or(self.year),
            upc: other.upc.or(self.upc),
            composer: other.composer.or(self.composer),
        }
    }

    /// Checks every field that has a format, and puts ISRC and UPC in their stored form (the
    /// 12 ISRC characters without hyphens, as ID3 `TSRC`, Vorbis `ISRC` and the CD subcode
    /// carry it; the barcode's digits).
    pub fn validated(mut self) -> Result<Self> {
        if let Some(isrc) = &self.isrc {
            self.isrc = Some(normalise_isrc(isrc)?);
        }
        if let Some(upc) = &self.upc {
            self.upc = Some(check_upc(upc)?);
        }
        if let Some(track) = &self.track {
            parse_track(track)?;
        }
        if let Some(year) = &self.year
            && !(year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()))
        {
            bail!("year {year:?}: expected four digits, e.g. 2026");
        }
        for (name, v) in [
            ("title", &self.title),
            ("artist", &self.artist),
            ("album", &self.album),
            ("composer", &self.composer),
        ] {
            if let Some(v) = v
                && (v.trim().is_empty() || v.chars().any(char::is_control))
            {
                bail!("{name} {v:?}: empty or holds control characters");
            }
        }
        Ok(self)
    }

    /// Track number and total, when given.
    pub fn track_numbers(&self) -> Option<(u32, Option<u32>)> {
        self.track.as_deref().and_then(|t| parse_track(t).ok())
    }

    /// The ISRC in its display form `CC-XXX-YY-NNNNN`.
    pub fn isrc_display(&self) -> Option<String> {
        self.isrc
            .as_ref()
            .map(|i| format!("{}-{}-{}-{}", &i[0..2], &i[2..5], &i[5..7], &i[7..12]))
    }
}

/// `N` or `N/M`, 1 ≤ N ≤ M.
fn parse_track(text: &str) -> Result<(u32, Option<u32>)> {
    let bad = || anyhow::anyhow!("track {text:?}: expected N or N/M, e.g. 3/12");
    let (n, m) = match text.split_once('/') {
        Some((n, m)) => (n, Some(m)),
        None => (text, None),
    };
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let m = m
        .map(|m| m.trim().parse::<u32>().map_err(|_| bad()))
        .transpose()?;
    if n == 0 || m.is_some_and(|m| m < n) {
        return Err(bad());
    }
    Ok((n, m))
}

/// ISO 3901 ISRC: country code (2 letters), registrant (3 letters or digits), year (2 digits),
/// designation (5 digits). Hyphens and spaces between the parts are accepted, as is lower case.
pub fn normalise_isrc(text: &str) -> Result<String> {
    let code: String = text
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    // "ISRC " written before the code (16 characters then); "IS-RC1-…" is Iceland's own code.
    let code = match code.strip_prefix("ISRC") {
        Some(rest) if rest.len() == 12 => rest.to_string(),
        _ => code,
    };
    let why = if code.len() != 12 || !code.is_ascii() {
        Some("it must have 12 characters: CC-XXX-YY-NNNNN")
    } else if !code[0..2].bytes().all(|b| b.is_ascii_uppercase()) {
        Some("the country code (first 2 characters) must be letters")
    } else if !code[2..5].bytes().all(|b| b.is_ascii_alphanumeric()) {
        Some("the registrant code (characters 3–5) must be letters or digits")
    } else if !code[5..7].bytes().all(|b| b.is_ascii_digit()) {
        Some("the year (characters 6–7) must be digits")
    } else if !code[7..12].bytes().all(|b| b.is_ascii_digit()) {
        Some("the designation code (last 5 characters) must be digits")
    } else {
        None
    };
    match why {
        Some(why) => bail!("ISRC {text:?} is invalid: {why}"),
        None => Ok(code),
    }
}

/// UPC-A (12 digits) or EAN-13 (13 digits) with a correct check digit (GS1: weights 3 and 1
/// alternating from the digit left of the check digit).
pub fn check_upc(text: &str) -> Result<String> {
    let digits: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if !(digits.len() == 12 || digits.len() == 13) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        bail!("UPC/EAN {text:?} is invalid: it must have 12 (UPC-A) or 13 (EAN-13) digits");
    }
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let (body, check) = d.split_at(d.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &v)| if i % 2 == 0 { 3 * v } else { v })
        .sum();
    let expected = (10 - sum % 10) % 10;
    if expected != check[0] {
        bail!(
            "UPC/EAN {text:?} is invalid: its check digit is {}, the digits before it give {expected}",
            check[0]
        );
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isrc_forms() {
        assert_eq!(normalise_isrc("GB-AAA-26-00001").unwrap(), "GBAAA2600001");
        assert_eq!(normalise_isrc("usrc17607839").unwrap(), "USRC17607839");
        assert_eq!(
            normalise_isrc("ISRC US-S1Z-99-00001").unwrap(),
            "USS1Z9900001"
        );
        for bad in [
            "GB-AAA-26-0001",
            "1B-AAA-26-00001",
            "GB-AAA-2X-00001",
            "GB-A_A-26-00001",
        ] {
            assert!(normalise_isrc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn barcodes() {
        // GS1 examples: EAN-13 4006381333931, UPC-A 036000291452.
        assert!(check_upc("4006381333931").is_ok());
        assert!(check_upc("036000291452").is_ok());
        assert!(check_upc("0123456789012").is_ok());
        assert!(check_upc("4006381333932").is_err());
        assert!(check_upc("036000291453").is_err());
        assert!(check_upc("12345").is_err());
    }

    #[test]
    fn toml_file() {
        let m: Metadata = toml::from_str(
            "title = \"Intro\"\nyear = 2026\ntrack = \"1/9\"\nisrc = \"GB-AAA-26-00001\"",
        )
        .unwrap();
        let m = m.validated().unwrap();
        assert_eq!(m.year.as_deref(), Some("2026"));
        assert_eq!(m.track_numbers(), Some((1, Some(9))));
        assert!(toml::from_str::<Metadata>("titel = \"typo\"").is_err());
    }

    #[test]
    fn tracks_and_years() {
        let m = Metadata {
            track: Some("3/12".into()),
            year: Some("2026".into()),
            ..Metadata::default()
        };
        assert_eq!(m.validated().unwrap().track_numbers(), Some((3, Some(12))));
        for t in ["0", "4/3", "x"] {
            let m = Metadata {
                track: Some(t.into()),
                ..Metadata::default()
            };
            assert!(m.validated().is_err(), "{t}");
        }
    }
}
