//! Human sizes (`"64 MiB"`, or a number of bytes) and durations (`"60s"`, `"5m"`, or a number
//! of seconds) for config values.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A byte count written as `"64 MiB"`, `"1.5 GB"` or a plain integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanSize(pub u64);

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1 << 20;
        const KIB: u64 = 1 << 10;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} B"),
        }
    }
}

impl<'de> Deserialize<'de> for HumanSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64 MiB\" or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanSize, E> {
                Ok(HumanSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanSize, E> {
                u64::try_from(v)
                    .map(HumanSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanSize, E> {
                v.trim()
                    .parse::<bytesize::ByteSize>()
                    .map(|b| HumanSize(b.as_u64()))
                    .map_err(|_| {
                        E::custom(format!(
                            "invalid size {v:?}: expected a number and a unit, such as \"64 MiB\", \"512 KiB\" or \"1 GB\", or a number of bytes"
                        ))
                    })
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written as `"60s"`, `"5m"`, `"1h 30m"` or a plain number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(s: u64) -> Self {
        HumanDuration(Duration::from_secs(s))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"60s\" or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Ok(HumanDuration::from_secs(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                u64::try_from(v)
                    .map(HumanDuration::from_secs)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v.trim())
                    .map(HumanDuration)
                    .map_err(|_| {
                        E::custom(format!(
                            "invalid duration {v:?}: expected a number and a unit, such as \"60s\", \"5m\" or \"1h 30m\", or a number of seconds"
                        ))
                    })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_from_text_and_numbers() {
        let s: HumanSize = serde_json::from_str("\"64 MiB\"").unwrap();
        assert_eq!(s, HumanSize(64 << 20));
        assert_eq!(s.to_string(), "64 MiB");
        assert_eq!(
            serde_json::from_str::<HumanSize>("1024").unwrap(),
            HumanSize(1024)
        );
        for bad in ["\"lots\"", "\"MiB\"", "\"\""] {
            let e = serde_json::from_str::<HumanSize>(bad)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("expected a number and a unit, such as \"64 MiB\""),
                "{e}"
            );
            assert!(!e.contains("float"), "{e}");
        }
        let e = serde_json::from_str::<HumanDuration>("\"soon\"").unwrap_err();
        assert!(e.to_string().contains("such as \"60s\""), "{e}");
        let d: HumanDuration = serde_json::from_str("\"1m 30s\"").unwrap();
        assert_eq!(d.0, Duration::from_secs(90));
        assert_eq!(
            serde_json::from_str::<HumanDuration>("5").unwrap().0,
            Duration::from_secs(5)
        );
        assert!(serde_json::from_str::<HumanDuration>("-5").is_err());
    }
}
