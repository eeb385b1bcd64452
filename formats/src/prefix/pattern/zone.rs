//! The zone a pattern is formatted in (UTC, or an IANA zone: Firehose's `CustomTimeZone`),
//! and the zone names Java prints for `z`, `zzzz`, `v` and `vvvv`, from Java's own data in
//! `java_zone_names.tsv`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono_tz::Tz;

/// The names Java prints for each zone id: see `PatternVectors.java`.
pub(super) const JAVA_ZONE_NAMES: &str = include_str!("java_zone_names.tsv");

/// The zone a pattern is formatted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// Java's `ZoneOffset.UTC`: `VV`, `z` and `v` print `Z`.
    #[default]
    Utc,
    /// Java's `ZoneId.of(id)` for an IANA id. `Zone::Region(Tz::UTC)` is `ZoneId.of("UTC")`,
    /// whose `VV` prints `UTC` and `zzzz` `Coordinated Universal Time`.
    Region(Tz),
}

/// A zone id that is neither `Z` nor an IANA zone id Java knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{0}`: expected an IANA zone id such as `America/New_York`, or `UTC`")]
pub struct UnknownZone(pub String);

impl Zone {
    /// The id Java's `VV` prints: `Z` or the IANA id.
    pub fn id(&self) -> &'static str {
        match self {
            Zone::Utc => "Z",
            Zone::Region(tz) => tz.name(),
        }
    }
}

impl FromStr for Zone {
    type Err = UnknownZone;

    /// As Java's `ZoneId.of`: `Z` is [`Zone::Utc`], anything else a region id Java 17 knows,
    /// matched case-sensitively. chrono-tz's `EST`, `HST`, `MST` and `ROC` are refused, as
    /// Java refuses them; `GMT+0` and `GMT-0` are `GMT`. Offsets such as `+05:30` or `UTC+5`,
    /// which Java also takes, are refused: Firehose's `CustomTimeZone` is a zone name.
    fn from_str(id: &str) -> Result<Self, Self::Err> {
        match id {
            "Z" => Ok(Zone::Utc),
            "GMT+0" | "GMT-0" => Ok(Zone::Region(Tz::GMT)),
            _ => match id.parse::<Tz>() {
                Ok(tz) if zone_names(id).is_some() => Ok(Zone::Region(tz)),
                _ => Err(UnknownZone(id.to_string())),
            },
        }
    }
}

/// CLDR gives these zones an explicit daylight offset, which recent Java 17 updates compare
/// the offset with instead of asking the zone rules. Aliases are listed with their zone.
const EXPLICIT_DAYLIGHT_OFFSETS: &[(&str, i32)] = &[
    ("Europe/Dublin", 3600),
    ("Eire", 3600),
    ("America/Inuvik", -6 * 3600),
    ("America/Edmonton", -6 * 3600),
    ("Canada/Mountain", -6 * 3600),
    ("America/Yellowknife", -6 * 3600),
    ("America/Winnipeg", -5 * 3600),
    ("Canada/Central", -5 * 3600),
    ("America/Rainy_River", -5 * 3600),
    ("America/Vancouver", -7 * 3600),
    ("Canada/Pacific", -7 * 3600),
];

/// Zones that tzdata writes with a negative daylight saving (chrono-tz's data) but Java's
/// "rearguard" data writes with a lower standard offset and positive daylight saving: from the
/// given Unix second, Java calls the given offset daylight time and any other standard.
const REARGUARD_DAYLIGHT: &[(&str, i64, i32)] = &[
    // Morocco since 2018-10-28 03:00 (+01): +01 is "summer time", Ramadan's +00 standard.
    ("Africa/Casablanca", 1_540_692_000, 3600),
    ("Africa/El_Aaiun", 1_540_692_000, 3600),
    // Namibia since 1994-03-21 00:00 (+02): +02 is daylight time, still after 2017.
    ("Africa/Windhoek", 764_200_800, 2 * 3600),
];

/// Whether Java's `z` / `zzzz` would print the daylight-saving name. `dst` is chrono-tz's
/// daylight saving in seconds; a negative one (Dublin's and Prague's winters) is standard
/// time for Java.
pub(super) fn java_daylight(tz: Tz, unix_seconds: i64, offset: i32, dst: i64) -> bool {
    let name = tz.name();
    if let Some(&(_, daylight)) = EXPLICIT_DAYLIGHT_OFFSETS.iter().find(|(id, _)| *id == name) {
        return offset == daylight;
    }
    let rearguard = REARGUARD_DAYLIGHT.iter().find(|(id, _, _)| *id == name);
    match rearguard {
        Some(&(_, since, daylight)) if unix_seconds >= since => offset == daylight,
        _ => dst > 0,
    }
}

/// `[z, zzzz, z daylight, zzzz daylight, v, vvvv]` for a zone id, from `java_zone_names.tsv`.
pub(super) fn zone_names(id: &str) -> Option<&'static [&'static str; 6]> {
    static TABLE: OnceLock<HashMap<&'static str, [&'static str; 6]>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let rows = JAVA_ZONE_NAMES.lines().skip(2).filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let &[id, short, long, short_dst, long_dst, short_generic, long_generic] =
                cols.as_slice()
            else {
                return None;
            };
            // A zone Java never saw in daylight time has no daylight names.
            let (short_dst, long_dst) = match short_dst {
                "" => (short, long),
                _ => (short_dst, long_dst),
            };
            let names = [
                short,
                long,
                short_dst,
                long_dst,
                short_generic,
                long_generic,
            ];
            Some((id, names))
        });
        rows.collect()
    });
    table.get(id)
}
