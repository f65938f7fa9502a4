//! Redaction before anything is stored: strings that look like an email address or a
//! Luhn-valid payment card number are replaced, everywhere in a frame except the `id` frame's
//! `uid` and `email` (which exist to carry identity). Deterministic, so a re-sent frame redacts
//! to the same bytes and dedup still recognises it.

use sentientiq_proto::{ClientFrame, StrTable, Value};

pub const EMAIL: &str = "[email]";
pub const CARD: &str = "[card]";

/// Redacts `frame` in place; returns whether anything changed. Frames without a match are not
/// touched and nothing is allocated for them.
pub fn redact(frame: &mut ClientFrame) -> bool {
    match frame {
        ClientFrame::Batch(b) => {
            if !b.s.iter().any(needs) {
                return false;
            }
            let mut t = StrTable::default();
            for s in b.s.iter() {
                t.push(&scrub(s));
            }
            b.s = t;
            true
        }
        ClientFrame::Identify(id) => map(&mut id.traits),
        ClientFrame::Track(t) => {
            let mut changed = false;
            if needs(&t.name) {
                t.name = scrub(&t.name);
                changed = true;
            }
            map(&mut t.props) | changed
        }
        ClientFrame::Outcome(o) => {
            if needs(&o.iid) {
                o.iid = scrub(&o.iid);
                return true;
            }
            false
        }
        ClientFrame::Hello(h) => {
            let mut changed = false;
            for s in [Some(&mut h.url), h.referrer.as_mut(), h.title.as_mut()]
                .into_iter()
                .flatten()
            {
                if needs(s) {
                    *s = scrub(s);
                    changed = true;
                }
            }
            changed
        }
        ClientFrame::Bye { .. } => false,
    }
}

fn map(m: &mut [(String, Value)]) -> bool {
    let mut changed = false;
    for (k, v) in m.iter_mut() {
        if needs(k) {
            *k = scrub(k);
            changed = true;
        }
        changed |= value(v);
    }
    changed
}

fn value(v: &mut Value) -> bool {
    match v {
        Value::Str(s) if needs(s) => {
            *s = scrub(s);
            true
        }
        Value::Array(a) => a.iter_mut().fold(false, |c, v| value(v) | c),
        Value::Map(m) => map(m),
        _ => false,
    }
}

fn needs(s: &str) -> bool {
    scrub_ranges(s).next().is_some()
}

/// `s` with every email address and card number replaced.
pub fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (a, b, what) in scrub_ranges(s) {
        out.push_str(&s[at..a]);
        out.push_str(what);
        at = b;
    }
    out.push_str(&s[at..]);
    out
}

fn local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// Byte ranges to replace, in order, non-overlapping.
fn scrub_ranges(s: &str) -> impl Iterator<Item = (usize, usize, &'static str)> + '_ {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            let c = b[i];
            if c == b'@' {
                let mut l = i;
                while l > 0 && local_char(b[l - 1]) {
                    l -= 1;
                }
                let mut r = i + 1;
                while r < b.len() && domain_char(b[r]) {
                    r += 1;
                }
                let domain = s[i + 1..r].trim_end_matches(['.', '-']);
                let r = i + 1 + domain.len();
                let tld_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
                    !host.is_empty()
                        && tld.len() >= 2
                        && tld.bytes().all(|c| c.is_ascii_alphabetic())
                });
                if l < i && tld_ok {
                    i = r;
                    return Some((l, r, EMAIL));
                }
            } else if c.is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
                // Digits with single spaces or dashes between them: 13..=19 digits, Luhn-valid.
                // A fixed buffer: scanning labels allocates nothing.
                let (mut j, mut last_digit_end) = (i, i);
                let (mut digits, mut n) = ([0u8; 20], 0usize);
                while j < b.len() && n < digits.len() {
                    if b[j].is_ascii_digit() {
                        digits[n] = b[j] - b'0';
                        n += 1;
                        j += 1;
                        last_digit_end = j;
                    } else if matches!(b[j], b' ' | b'-')
                        && j + 1 < b.len()
                        && b[j + 1].is_ascii_digit()
                        && j > i
                        && b[j - 1].is_ascii_digit()
                    {
                        j += 1;
                    } else {
                        break;
                    }
                }
                let end_ok =
                    last_digit_end == b.len() || !b[last_digit_end].is_ascii_alphanumeric();
                if (13..=19).contains(&n) && end_ok && luhn(&digits[..n]) {
                    let start = i;
                    i = last_digit_end;
                    return Some((start, last_digit_end, CARD));
                }
                // Skip this run of digits.
                i = last_digit_end.max(i + 1);
                continue;
            }
            i += 1;
        }
        None
    })
}

/// The Luhn checksum (ISO/IEC 7812-1) over `digits`.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_cards_are_replaced_and_nothing_else() {
        for (input, want) in [
            ("contact dana@acme.example now", "contact [email] now"),
            ("a.b+c@mail.co.uk.", "[email]."),
            ("4111 1111 1111 1111", "[card]"),
            ("card: 4111-1111-1111-1111!", "card: [card]!"),
            ("5500005555555559", "[card]"),
            // Not Luhn-valid, too short, or part of a longer token: kept.
            ("4111 1111 1111 1112", "4111 1111 1111 1112"),
            ("order 123456789012", "order 123456789012"),
            ("ref 41111111111111111111111", "ref 41111111111111111111111"),
            ("id x4111111111111111", "id x4111111111111111"),
            ("@handle and a@b", "@handle and a@b"),
            ("button#save", "button#save"),
            ("", ""),
        ] {
            assert_eq!(scrub(input), want, "{input:?}");
        }
    }

    #[test]
    fn luhn_matches_known_numbers() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&d("79927398713")));
        assert!(!luhn(&d("79927398710")));
        assert!(luhn(&d("4111111111111111")));
    }
}
