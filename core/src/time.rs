//! Time as an input: a monotonic [`Time`] and wall-clock [`WallClock`] values.
//!
//! The core never reads a clock. The runtime passes `now` into every `handle_*`
//! call; tests and the model make any time they need. Wall-clock dates (for the
//! `Date` of a stored session when the INVITE carries none) are a separate input so
//! that monotonic timers are never disturbed by clock steps.

use std::fmt;

/// Milliseconds from an arbitrary origin chosen by whoever drives the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Time(u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);

    /// A point `ms` milliseconds after the origin.
    pub const fn from_ms(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_ms(self) -> u64 {
        self.0
    }

    /// This point plus `ms` milliseconds (saturating: timers far in the future stay
    /// far in the future).
    pub const fn plus_ms(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A wall-clock instant: whole seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct WallClock(u64);

impl WallClock {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub const fn from_unix_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn unix_secs(self) -> u64 {
        self.0
    }

    /// RFC 5322 / RFC 3261 `Date` form, always GMT:
    /// `Thu, 26 Nov 2026 12:00:00 GMT`.
    pub fn to_http_date(self) -> String {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let days = self.0 / 86_400;
        let secs_of_day = self.0 % 86_400;
        let (year, month, day) = civil_from_days(days);
        let weekday = DAYS[(days % 7) as usize];
        // Printed piece by piece, not with `format!` (every 2xx to an INVITE
        // carries a Date: ~2,900 instructions per session, `bench/core_ir.sh`).
        let mut out = String::with_capacity(32);
        out.push_str(weekday);
        out.push_str(", ");
        push_two_digits(&mut out, day);
        out.push(' ');
        out.push_str(MONTHS[(month - 1) as usize]);
        out.push(' ');
        crate::decimal::push_decimal(&mut out, year);
        out.push(' ');
        push_two_digits(&mut out, secs_of_day / 3600);
        out.push(':');
        push_two_digits(&mut out, secs_of_day / 60 % 60);
        out.push(':');
        push_two_digits(&mut out, secs_of_day % 60);
        out.push_str(" GMT");
        out
    }

    /// RFC 3339 form (CPIM `DateTime`, RFC 3862), always UTC:
    /// `2026-11-26T12:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        let (year, month, day) = civil_from_days(self.0 / 86_400);
        let secs_of_day = self.0 % 86_400;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }
}

/// Days since the epoch to (year, month 1..=12, day 1..=31): Howard Hinnant's
/// `civil_from_days`, restricted to dates after 1970.
/// `n` with at least two digits, as `{n:02}` prints it.
fn push_two_digits(out: &mut String, n: u64) {
    if n < 10 {
        out.push('0');
    }
    crate::decimal::push_decimal(out, n);
}

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
    fn rfc3339_matches_a_known_instant() {
        assert_eq!(
            WallClock::from_unix_secs(1_795_694_400).to_rfc3339(),
            "2026-11-26T12:00:00Z"
        );
    }

    proptest::proptest! {
        /// The hand-printed date is what the `format!` it replaced printed, over
        /// instants from 1970 to past 9999 (a five-digit year).
        #[test]
        fn http_date_prints_as_format_did(secs in 0u64..300_000_000_000) {
            let days = secs / 86_400;
            let s = secs % 86_400;
            let (year, month, day) = civil_from_days(days);
            let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
            let months = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let expected = format!(
                "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
                months[(month - 1) as usize],
                s / 3600,
                s / 60 % 60,
                s % 60
            );
            proptest::prop_assert_eq!(WallClock::from_unix_secs(secs).to_http_date(), expected);
        }
    }

    #[test]
    fn http_date_matches_known_instants() {
        assert_eq!(
            WallClock::from_unix_secs(0).to_http_date(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        // 2026-11-26T12:00:00Z, a fixed instant.
        assert_eq!(
            WallClock::from_unix_secs(1_795_694_400).to_http_date(),
            "Thu, 26 Nov 2026 12:00:00 GMT"
        );
        // Leap day.
        assert_eq!(
            WallClock::from_unix_secs(951_782_400).to_http_date(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }
}
