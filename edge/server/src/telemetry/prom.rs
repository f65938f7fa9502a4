//! Prometheus / OpenMetrics text exposition: families with HELP and TYPE, label values escaped,
//! the node's own labels (`edge`, `region`) on every sample.
//!
//! Naming (Prometheus conventions, and OpenMetrics' rule that a counter `x_total` belongs to
//! family `x`, so no gauge may be called `x`): `siq_<what>_<unit>_total` for counters, no
//! gauge/counter pairs sharing a stem, reasons and transports as labels, not in names.

use std::fmt::Write;

/// Escapes a label value: backslash, double quote and line feed (exposition format).
pub fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut s = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    std::borrow::Cow::Owned(s)
}

/// What a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A text exposition being written.
#[derive(Debug)]
pub struct Exposition {
    out: String,
    /// The node's labels, escaped and joined: `edge="…",region="…"`.
    base: String,
}

impl Exposition {
    /// An exposition whose samples all carry `base` labels.
    pub fn new(base: &[(&str, &str)]) -> Exposition {
        let mut b = String::new();
        push_labels(&mut b, base);
        Exposition {
            out: String::new(),
            base: b,
        }
    }

    /// Starts a family. `name` is the full metric name (`siq_…`); counters end in `_total`.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) -> &mut Exposition {
        debug_assert!(
            (kind == Kind::Counter) == name.ends_with("_total"),
            "{name}: counters and only counters end in _total"
        );
        let _ = writeln!(
            self.out,
            "# HELP {name} {help}\n# TYPE {name} {}",
            kind.as_str()
        );
        self
    }

    /// One sample of `name` with the base labels and `labels`.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        v: impl std::fmt::Display,
    ) -> &mut Exposition {
        self.out.push_str(name);
        if !self.base.is_empty() || !labels.is_empty() {
            self.out.push('{');
            self.out.push_str(&self.base);
            if !labels.is_empty() {
                if !self.base.is_empty() {
                    self.out.push(',');
                }
                push_labels(&mut self.out, labels);
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {v}");
        self
    }

    /// A family with one sample and no labels of its own.
    pub fn single(&mut self, name: &str, help: &str, kind: Kind, v: u64) -> &mut Exposition {
        self.family(name, help, kind).sample(name, &[], v)
    }

    /// A histogram from per-bucket (not cumulative) counts: `bounds[i]` / `per_unit` is the
    /// `le` of bucket i; `count` includes observations above the last bound.
    #[allow(clippy::too_many_arguments)]
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        bounds: &[u64],
        buckets: &[u64],
        count: u64,
        sum: u64,
        per_unit: f64,
    ) -> &mut Exposition {
        self.family(name, help, Kind::Histogram);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (b, n) in bounds.iter().zip(buckets) {
            cumulative += n;
            let le = format!("{}", *b as f64 / per_unit);
            self.sample(&bucket, &[("le", &le)], cumulative);
        }
        self.sample(&bucket, &[("le", "+Inf")], count);
        self.sample(&format!("{name}_sum"), &[], sum as f64 / per_unit);
        self.sample(&format!("{name}_count"), &[], count)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn push_labels(out: &mut String, labels: &[(&str, &str)]) {
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut e = Exposition::new(&[("edge", "e\"1"), ("region", "r")]);
        e.single("siq_x_total", "X.", Kind::Counter, 3);
        e.family("siq_y", "Y.", Kind::Gauge)
            .sample("siq_y", &[("reason", "a\nb")], 1);
        let text = e.finish();
        assert!(
            text.contains("siq_x_total{edge=\"e\\\"1\",region=\"r\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("siq_y{edge=\"e\\\"1\",region=\"r\",reason=\"a\\nb\"} 1\n"));
        assert!(text.contains("# TYPE siq_x_total counter\n"));
    }

    #[test]
    fn an_exposition_without_base_labels_has_no_stray_comma() {
        let mut e = Exposition::new(&[]);
        e.family("siq_z", "Z.", Kind::Gauge)
            .sample("siq_z", &[("a", "1")], 2)
            .sample("siq_z", &[], 3);
        assert_eq!(
            e.finish(),
            "# HELP siq_z Z.\n# TYPE siq_z gauge\nsiq_z{a=\"1\"} 2\nsiq_z 3\n"
        );
    }
}
