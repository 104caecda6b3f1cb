//! Conversions of Unix times (seconds) to the encodings Sigstore formats use:
//! X.509 `Time` and RFC 3339 strings.
//!
//! The testkit never reads the clock: every time comes from the caller.

use der::asn1::{GeneralizedTime, UtcTime};
use std::time::Duration;
use x509_cert::time::Time;

/// Seconds in a day.
const DAY: u64 = 86_400;

/// First second of 2050-01-01T00:00:00Z: RFC 5280 §4.1.2.5 requires UTCTime
/// before it and GeneralizedTime from it on.
const YEAR_2050: u64 = 2_524_608_000;

/// X.509 `Time` for a Unix time, UTCTime or GeneralizedTime as RFC 5280
/// §4.1.2.5 requires.
pub(crate) fn x509_time(unix: u64) -> Time {
    let duration = Duration::from_secs(unix);
    if unix < YEAR_2050 {
        Time::UtcTime(UtcTime::from_unix_duration(duration).expect("time before 2050"))
    } else {
        Time::GeneralTime(
            GeneralizedTime::from_unix_duration(duration).expect("time before year 10000"),
        )
    }
}

/// RFC 3339 UTC string (`2024-03-19T17:26:26Z`) for a Unix time.
pub(crate) fn rfc3339(unix: u64) -> String {
    let days = unix / DAY;
    let secs = unix % DAY;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to non-negative inputs).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_710_869_186), "2024-03-19T17:26:26Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(YEAR_2050), "2050-01-01T00:00:00Z");
    }

    #[test]
    fn picks_utctime_before_2050() {
        assert!(matches!(x509_time(YEAR_2050 - 1), Time::UtcTime(_)));
        assert!(matches!(x509_time(YEAR_2050), Time::GeneralTime(_)));
    }
}
