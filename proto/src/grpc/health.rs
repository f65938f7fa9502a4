//! What an edge's health report may carry: the names it reports under ([`valid_edge_name`],
//! checked by the edge's config and by the plane on receipt, and [`valid_report_id`], the
//! boot's id its windows carry) and how much text of the tenants it
//! refuses, its report id and its build ([`EdgeHealth::cap`]: the edge caps it before sending,
//! the plane again on receipt; it keeps what every edge sends, in memory, and shows it).

use super::EdgeHealth;

/// Refused tenants one report names at most; the rest are only counted
/// (`refused_tenant_count`) and the edge's log names them. 16 lines fit a regions page and keep
/// a report small.
pub const MAX_REFUSED_REPORTED: usize = 16;
/// Bytes of a refused tenant's id or reason, a report id or a build at most: room for an id (at
/// most 64 bytes, the tenant model's `MAX_ID_LEN`) and a reason of a few lines on the regions
/// page; a chosen bound, not a measured one. Longer text is cut on a character boundary and ends
/// in `…`; the edge's log keeps the whole reason.
pub const MAX_HEALTH_TEXT: usize = 300;
/// Bytes of an edge's id or region at most ([`valid_edge_name`]). 64, as a tenant id: room for
/// `edge-eu-central-1-az3-07` twice over, and short enough to name lake files.
pub const MAX_EDGE_NAME_LEN: usize = 64;

/// Whether `s` can be an edge's id or region: 1 to [`MAX_EDGE_NAME_LEN`] bytes of ASCII
/// letters, digits, `-`, `_` and `.`, the first a letter or a digit. Both become parts of the
/// lake's object keys (`region=<region>/<id>-<shard>-<lsn>.parquet`: a `/` would add a
/// directory, and a name beginning with `.` or `_` is a file Hive-style readers and the
/// compactor take for hidden or temporary), metric labels and the plane's regions page. The
/// edge's config refuses any other at start; the plane refuses a health report or a config
/// stream under one (what it keys its fleet and its streams by).
pub fn valid_edge_name(s: &str) -> bool {
    (1..=MAX_EDGE_NAME_LEN).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// [`EDGE_NAME_RULE`]'s text, for the rules that include it.
macro_rules! edge_name_rule {
    () => {
        "1 to 64 of a-z A-Z 0-9 - _ ., beginning with a letter or digit"
    };
}

/// What [`valid_edge_name`] asks, to say in a refusal.
pub const EDGE_NAME_RULE: &str = edge_name_rule!();

/// Digits of a report id's boot time at most: a `u64`'s.
pub const MAX_BOOT_DIGITS: usize = 20;

/// Whether `s` can be the id an edge boot reports its windows under: its edge id
/// ([`valid_edge_name`]), `@`, and its boot time in ms (1 to [`MAX_BOOT_DIGITS`] ASCII
/// digits), as every edge has written it (`edge@boot_ms`). The plane keys its windows and its
/// per-boot sums by it (with the region, `\0`-separated: no `\0` may be in either).
pub fn valid_report_id(s: &str) -> bool {
    s.split_once('@').is_some_and(|(name, boot)| {
        valid_edge_name(name)
            && (1..=MAX_BOOT_DIGITS).contains(&boot.len())
            && boot.bytes().all(|b| b.is_ascii_digit())
    })
}

/// What [`valid_report_id`] asks, to say in a refusal.
pub const REPORT_ID_RULE: &str = concat!(
    "the edge's id (",
    edge_name_rule!(),
    "), @, and its boot time in ms (1 to 20 digits)"
);

/// The id an edge boot reports its windows under: `edge@boot_ms` ([`valid_report_id`] for a
/// valid `edge`).
pub fn report_id(edge: &str, boot_ms: u64) -> String {
    format!("{edge}@{boot_ms}")
}

impl EdgeHealth {
    /// Counts the refused tenants (the count becomes at least the list's length, and is set
    /// when the list is not empty), then keeps the first [`MAX_REFUSED_REPORTED`]. Each refused
    /// tenant's id and reason, the report id and the build are cut at [`MAX_HEALTH_TEXT`] bytes,
    /// their control characters shown as `?` (what a terminal or a page would otherwise act
    /// on, and what JSON writes six bytes for). An edge builds its report with a count of 0 and
    /// this; the plane applies it to what it receives.
    pub fn cap(&mut self) {
        let listed = u32::try_from(self.refused_tenants.len()).unwrap_or(u32::MAX);
        if listed > 0 || self.refused_tenant_count.is_some() {
            self.refused_tenant_count = Some(self.refused_tenant_count.unwrap_or(0).max(listed));
        }
        self.refused_tenants.truncate(MAX_REFUSED_REPORTED);
        for r in &mut self.refused_tenants {
            text(&mut r.tenant_id);
            text(&mut r.reason);
        }
        text(&mut self.report_id);
        text(&mut self.build);
    }
}

/// Cuts `s` at [`MAX_HEALTH_TEXT`] bytes, then shows its control characters as `?`.
fn text(s: &mut String) {
    cut(s);
    if s.chars().any(char::is_control) {
        *s = crate::shown_plain(s);
    }
}

fn cut(s: &mut String) {
    if s.len() <= MAX_HEALTH_TEXT {
        return;
    }
    let mut end = MAX_HEALTH_TEXT - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

#[cfg(test)]
mod tests {
    use super::super::RefusedTenant;
    use super::*;

    fn refused(n: usize, reason: &str) -> EdgeHealth {
        EdgeHealth {
            refused_tenants: (0..n)
                .map(|i| RefusedTenant {
                    tenant_id: format!("t{i}"),
                    reason: reason.into(),
                    kept: i % 2 == 0,
                })
                .collect(),
            refused_tenant_count: Some(n as u32),
            ..EdgeHealth::default()
        }
    }

    #[test]
    fn a_report_names_at_most_16_refused_tenants_the_first_and_counts_them_all() {
        for n in [
            0,
            MAX_REFUSED_REPORTED - 1,
            MAX_REFUSED_REPORTED,
            MAX_REFUSED_REPORTED + 1,
        ] {
            // As an edge builds it: the list, a count of 0.
            let mut h = refused(n, "why");
            h.refused_tenant_count = Some(0);
            h.cap();
            assert_eq!(h.refused_tenants.len(), n.min(MAX_REFUSED_REPORTED), "{n}");
            assert_eq!(
                h.refused_tenants,
                refused(n, "why").refused_tenants[..h.refused_tenants.len()],
                "the first, unchanged"
            );
            assert_eq!(h.refused_tenant_count, Some(n as u32), "all counted");
        }
        // As received: a larger count is kept; a smaller one, or none with a list, is raised to
        // the list's length; none without a list (an edge too old to report) stays none.
        let mut h = refused(3, "why");
        h.refused_tenant_count = Some(40);
        h.cap();
        assert_eq!(h.refused_tenant_count, Some(40));
        for sent in [Some(1), None] {
            let mut h = refused(MAX_REFUSED_REPORTED + 4, "why");
            h.refused_tenant_count = sent;
            h.cap();
            assert_eq!(h.refused_tenant_count, Some(20), "{sent:?}");
        }
        let mut h = EdgeHealth::default();
        h.cap();
        assert_eq!(h.refused_tenant_count, None);
    }

    #[test]
    fn edge_names_are_safe_characters_up_to_the_cap_beginning_with_a_letter_or_digit() {
        assert!(EDGE_NAME_RULE.starts_with(&format!("1 to {MAX_EDGE_NAME_LEN} ")));
        for (name, ok) in [
            ("a".repeat(MAX_EDGE_NAME_LEN - 1), true),
            ("a".repeat(MAX_EDGE_NAME_LEN), true),
            ("a".repeat(MAX_EDGE_NAME_LEN + 1), false),
            ("9-us_east.1".into(), true),
            (String::new(), false),
            (".e".into(), false),
            ("_e".into(), false),
            ("-e".into(), false),
            ("a/b".into(), false),
            ("a b".into(), false),
            ("a@1".into(), false),
            ("é".into(), false),
        ] {
            assert_eq!(valid_edge_name(&name), ok, "{name:?}");
        }
    }

    #[test]
    fn report_ids_are_an_edge_name_at_and_up_to_20_digits() {
        assert!(REPORT_ID_RULE.contains(&format!("({EDGE_NAME_RULE})")));
        assert!(REPORT_ID_RULE.contains(&format!("1 to {MAX_BOOT_DIGITS} digits")));
        let name = |n: usize| "a".repeat(n);
        for (id, ok) in [
            (format!("{}@1", name(MAX_EDGE_NAME_LEN - 1)), true),
            (report_id(&name(MAX_EDGE_NAME_LEN), u64::MAX), true),
            (format!("{}@1", name(MAX_EDGE_NAME_LEN + 1)), false),
            (format!("e@{}", "9".repeat(MAX_BOOT_DIGITS - 1)), true),
            (format!("e@{}", "9".repeat(MAX_BOOT_DIGITS)), true),
            (format!("e@{}", "9".repeat(MAX_BOOT_DIGITS + 1)), false),
            ("us-east-1.e_2@1733000000000".into(), true),
            ("e1".into(), false),
            ("e1@".into(), false),
            ("@1".into(), false),
            ("e1@1@2".into(), false),
            ("e1@-1".into(), false),
            ("e1@1a".into(), false),
            ("e\u{0}x@1".into(), false),
            (".e@1".into(), false),
        ] {
            assert_eq!(valid_report_id(&id), ok, "{id:?}");
        }
    }

    #[test]
    fn a_long_report_id_or_build_is_cut_and_loses_its_control_characters() {
        let mut h = EdgeHealth {
            report_id: "r".repeat(5000),
            build: "\u{1b}".repeat(MAX_HEALTH_TEXT),
            ..EdgeHealth::default()
        };
        h.cap();
        assert_eq!(h.report_id, "r".repeat(MAX_HEALTH_TEXT - 3) + "…");
        assert_eq!(
            h.build,
            "?".repeat(MAX_HEALTH_TEXT),
            "at the cap: kept whole, shown"
        );
    }

    #[test]
    fn a_long_reason_or_id_is_cut_on_a_character_boundary() {
        let at = |len: usize| "é".repeat(len / 2) + &"x".repeat(len % 2);
        for len in [MAX_HEALTH_TEXT - 1, MAX_HEALTH_TEXT] {
            let mut h = refused(1, &at(len));
            h.refused_tenants[0].tenant_id = at(len);
            h.cap();
            assert_eq!(h.refused_tenants[0].reason, at(len), "{len}: kept whole");
            assert_eq!(h.refused_tenants[0].tenant_id, at(len), "{len}: kept whole");
        }
        for len in [MAX_HEALTH_TEXT + 1, MAX_HEALTH_TEXT + 2, 5000] {
            let mut h = refused(1, &at(len));
            h.refused_tenants[0].tenant_id = at(len);
            h.cap();
            for s in [
                &h.refused_tenants[0].reason,
                &h.refused_tenants[0].tenant_id,
            ] {
                assert!(s.len() <= MAX_HEALTH_TEXT && s.ends_with('…'), "{len}");
                assert!(
                    s.len() >= MAX_HEALTH_TEXT - 4,
                    "{len}: no shorter than needed"
                );
                assert!(
                    at(len).starts_with(s.trim_end_matches('…')),
                    "{len}: a prefix"
                );
            }
        }
        // ASCII: no backing off, exactly the cap.
        let mut h = refused(1, &"x".repeat(MAX_HEALTH_TEXT + 1));
        h.cap();
        let r = &h.refused_tenants[0].reason;
        assert_eq!(r.len(), MAX_HEALTH_TEXT);
        assert_eq!(r, &("x".repeat(MAX_HEALTH_TEXT - 3) + "…"));
    }
}
