//! Text a peer or a file gave, as a refusal or a log line shows it.

/// A name given by someone else (an edge's id, region or report id; an account's match) as a
/// refusal or a log line shows it: quoted and escaped, cut at 80 characters (what a peer sends
/// may be anything until it is checked).
pub fn shown_name(s: &str) -> String {
    const SHOWN: usize = 80;
    match s.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{:?}…", &s[..at]),
        None => format!("{s:?}"),
    }
}

/// `s` with each control character shown as `?` (never longer: a control character is one or
/// two bytes), as what edges report is shown on a page or a terminal.
pub fn shown_plain(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_shown_quoted_escaped_and_cut() {
        assert_eq!(shown_name("edge-1"), "\"edge-1\"");
        assert_eq!(shown_name("a\u{1b}[2J\n"), "\"a\\u{1b}[2J\\n\"");
        assert_eq!(shown_name(&"é".repeat(80)), format!("{:?}", "é".repeat(80)));
        assert_eq!(
            shown_name(&"é".repeat(81)),
            format!("{:?}…", "é".repeat(80))
        );
    }
}
