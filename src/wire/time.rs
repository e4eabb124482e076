//! Udesk's time formats.
//!
//! One payload mixes `2019-07-24T15:23:14.000+08:00`, `2019-07-24 15:23:17
//! +0800` and `2022-03-03 14:27:10`; the last carries no offset and is read in
//! the deployment's default offset. A few near relatives (a `T` without an
//! offset, `Z`, Unix seconds or milliseconds) are accepted too, because a
//! receiver that rejects a time loses it, while one that reads it loses nothing.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

/// Formats that carry their own offset, tried in order.
const WITH_OFFSET: &[&str] = &[
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M:%S%.f %z",
    "%Y-%m-%d %H:%M:%S%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
];

/// Formats without an offset, read in the default offset.
const WITHOUT_OFFSET: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
];

/// Reads a time as Udesk writes it. `None` when no known format fits.
pub fn parse_time(text: &str, default_offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time);
    }
    for format in WITH_OFFSET {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Some(time);
        }
    }
    for format in WITHOUT_OFFSET {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return default_offset.from_local_datetime(&naive).single();
        }
    }
    None
}

/// Reads a Unix time given as a number: seconds, or milliseconds when the
/// value is too large to be seconds of this era.
pub fn from_unix(value: i64, default_offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let millis = if value.abs() >= 100_000_000_000 {
        value
    } else {
        value.checked_mul(1000)?
    };
    DateTime::from_timestamp_millis(millis).map(|t| t.with_timezone(&default_offset))
}

/// UTC+08:00, the offset Udesk's own times are written in, and the
/// service's default.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The stored and served form: RFC 3339, fractions only when present.
pub fn format_time(time: &DateTime<FixedOffset>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> String {
        format_time(&parse_time(text, beijing()).expect(text))
    }

    #[test]
    fn the_three_udesk_formats_name_the_same_instant_style() {
        assert_eq!(
            read("2019-07-24T15:23:14.000+08:00"),
            "2019-07-24T15:23:14+08:00"
        );
        assert_eq!(
            read("2019-07-24 15:23:17 +0800"),
            "2019-07-24T15:23:17+08:00"
        );
        assert_eq!(read("2022-03-03 14:27:10"), "2022-03-03T14:27:10+08:00");
    }

    #[test]
    fn an_offsetless_time_is_read_in_the_default_offset() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let time = parse_time("2022-03-03 14:27:10", utc).unwrap();
        assert_eq!(format_time(&time), "2022-03-03T14:27:10+00:00");
    }

    #[test]
    fn near_relatives_are_accepted() {
        assert_eq!(read("2019-07-24T15:23:14Z"), "2019-07-24T15:23:14+00:00");
        assert_eq!(read("2019-07-24T15:23:14"), "2019-07-24T15:23:14+08:00");
        assert_eq!(
            read("2019-07-24 15:23:14.250"),
            "2019-07-24T15:23:14.250+08:00"
        );
        assert_eq!(
            read(" 2019-07-24 15:23:17 +0800 "),
            "2019-07-24T15:23:17+08:00"
        );
    }

    #[test]
    fn nonsense_is_not_a_time() {
        for text in ["", "yesterday", "2019-13-40 25:61:61", "15:23:17"] {
            assert!(parse_time(text, beijing()).is_none(), "{text}");
        }
    }

    #[test]
    fn unix_seconds_and_milliseconds_are_told_apart() {
        let seconds = from_unix(1_563_952_997, beijing()).unwrap();
        let millis = from_unix(1_563_952_997_000, beijing()).unwrap();
        assert_eq!(seconds, millis);
        assert_eq!(format_time(&seconds), "2019-07-24T15:23:17+08:00");
    }
}
