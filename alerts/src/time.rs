//! Calendar arithmetic on milliseconds since the Unix epoch (UTC). Pure: no clock is read here.

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31). Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 / ISO 8601 in UTC with milliseconds: `2024-03-01T12:00:00.000Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        ms % 1000
    )
}

/// RFC 2822 in UTC, as Twilio writes `date_created`: `Thu, 24 Aug 2023 05:01:45 +0000`.
pub fn rfc2822(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let sod = secs.rem_euclid(86_400);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(mo - 1) as usize],
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // The Standard Webhooks test vector's timestamp.
        assert_eq!(rfc3339_ms(1_614_265_330_000), "2021-02-25T15:02:10.000Z");
        // A leap day and milliseconds.
        assert_eq!(rfc3339_ms(1_709_208_000_123), "2024-02-29T12:00:00.123Z");
    }

    #[test]
    fn formats_twilio_dates() {
        // The spec's example: "Thu, 24 Aug 2023 05:01:45 +0000".
        assert_eq!(
            rfc2822(1_692_853_305_000),
            "Thu, 24 Aug 2023 05:01:45 +0000"
        );
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
