//! Calendar dates for keys and displays (the lake's `date=` partitions, `siqctl`'s UTC minutes).

/// Days since 1970-01-01 of (year, month, day) (proleptic Gregorian; H. Hinnant's
/// `days_from_civil`, the inverse of [`civil_date`]). `month` 1..=12, `day` 1..=31 (not checked
/// against the month's length).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The month of a day count since 1970-01-01, as months since 1970-01 (the month quotas count
/// in; UTC calendar months).
pub fn month_of_day(days: i64) -> i64 {
    let (y, m, _) = civil_date(days);
    (y - 1970) * 12 + i64::from(m) - 1
}

/// The first day (days since 1970-01-01) of a month counted as [`month_of_day`] counts it.
pub fn month_first_day(month: i64) -> i64 {
    let (y, m) = (1970 + month.div_euclid(12), month.rem_euclid(12) as u32 + 1);
    days_from_civil(y, m, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_inverts_civil_date() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_date(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 1), 20_788);
    }

    #[test]
    fn months_start_on_their_first_day() {
        assert_eq!(month_of_day(0), 0);
        assert_eq!(month_of_day(-1), -1);
        // 2026-12 is month 683: its first day and the day before, the last of November.
        assert_eq!(month_of_day(20_788), 683);
        assert_eq!(month_of_day(20_787), 682);
        assert_eq!(month_first_day(683), 20_788);
        for month in -30..800 {
            let first = month_first_day(month);
            assert_eq!(month_of_day(first), month);
            assert_eq!(month_of_day(first - 1), month - 1);
        }
    }
}
