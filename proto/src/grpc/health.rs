//! What an edge's health report may carry of the tenants it refuses: the edge caps it before
//! sending, the plane again on receipt (it keeps what every edge sends, in memory, and shows it).

use super::EdgeHealth;

/// Refused tenants one report names at most; the rest are only counted
/// (`refused_tenant_count`) and the edge's log names them. 16 lines fit a regions page and keep
/// a report small.
pub const MAX_REFUSED_REPORTED: usize = 16;
/// Bytes of a refused tenant's id or reason at most: an id is at most 64 bytes (the tenant
/// model's `MAX_ID_LEN`); a reason quotes at most one shown value (up to 200 characters) and
/// says why. Longer text is cut on a character boundary and ends in `…`.
pub const MAX_REFUSED_TEXT: usize = 300;

impl EdgeHealth {
    /// Keeps the first [`MAX_REFUSED_REPORTED`] refused tenants, each id and reason cut at
    /// [`MAX_REFUSED_TEXT`] bytes; the count is left as sent.
    pub fn cap_refused(&mut self) {
        self.refused_tenants.truncate(MAX_REFUSED_REPORTED);
        for r in &mut self.refused_tenants {
            cut(&mut r.tenant_id);
            cut(&mut r.reason);
        }
    }
}

fn cut(s: &mut String) {
    if s.len() <= MAX_REFUSED_TEXT {
        return;
    }
    let mut end = MAX_REFUSED_TEXT - '…'.len_utf8();
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
    fn a_report_names_at_most_16_refused_tenants_the_first() {
        for n in [
            0,
            MAX_REFUSED_REPORTED - 1,
            MAX_REFUSED_REPORTED,
            MAX_REFUSED_REPORTED + 1,
        ] {
            let mut h = refused(n, "why");
            h.cap_refused();
            assert_eq!(h.refused_tenants.len(), n.min(MAX_REFUSED_REPORTED), "{n}");
            assert_eq!(
                h.refused_tenants,
                refused(n, "why").refused_tenants[..h.refused_tenants.len()],
                "the first, unchanged"
            );
            assert_eq!(h.refused_tenant_count, Some(n as u32), "the count as sent");
        }
    }

    #[test]
    fn a_long_reason_or_id_is_cut_on_a_character_boundary() {
        let at = |len: usize| "é".repeat(len / 2) + &"x".repeat(len % 2);
        for len in [MAX_REFUSED_TEXT - 1, MAX_REFUSED_TEXT] {
            let mut h = refused(1, &at(len));
            h.refused_tenants[0].tenant_id = at(len);
            h.cap_refused();
            assert_eq!(h.refused_tenants[0].reason, at(len), "{len}: kept whole");
            assert_eq!(h.refused_tenants[0].tenant_id, at(len), "{len}: kept whole");
        }
        for len in [MAX_REFUSED_TEXT + 1, MAX_REFUSED_TEXT + 2, 5000] {
            let mut h = refused(1, &at(len));
            h.refused_tenants[0].tenant_id = at(len);
            h.cap_refused();
            for s in [
                &h.refused_tenants[0].reason,
                &h.refused_tenants[0].tenant_id,
            ] {
                assert!(s.len() <= MAX_REFUSED_TEXT && s.ends_with('…'), "{len}");
                assert!(
                    s.len() >= MAX_REFUSED_TEXT - 4,
                    "{len}: no shorter than needed"
                );
            }
        }
    }
}
