//! The load generator with ground truth: sessions that move like people (documented in
//! [`synth`]), personas that inject known episodes, an open-loop WebSocket driver that measures
//! latencies from intended send times ([`run`]), scoring against the truth ([`truth`]) and the
//! report ([`report`]); the alert sink and its expectations ([`alerts`]); sessions that answer
//! interventions with known per-variant conversion probabilities (`--uplift`, [`uplift`]).

pub mod alerts;
pub mod offline;
pub mod report;
pub mod rng;
pub mod run;
pub mod synth;
pub mod truth;
pub mod uplift;

/// Parses `30s`, `2m`, `500ms`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (30s, 2m, 500ms)"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
