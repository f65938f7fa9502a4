//! Per-shard counters, written only by their own shard (relaxed atomics: one writer, readers
//! only at scrape), summed over shards at scrape in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use sentientiq_core::Emotion;
use sentientiq_proto::ErrorCode;

/// Fsync latency buckets, µs.
pub const FSYNC_BUCKETS_US: [u64; 10] = [
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000,
];

/// Ack latency buckets (frame received → its ack released), ms. Receive times are kept in
/// whole milliseconds, so the first bucket is ≤ 1 ms.
pub const ACK_BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 1_000, 5_000];

#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub frames: AtomicU64,
    pub samples: AtomicU64,
    pub bytes: AtomicU64,
    pub detections: [AtomicU64; 5],
    pub interventions: AtomicU64,
    pub escalations: AtomicU64,
    pub acks: AtomicU64,
    pub duplicates: AtomicU64,
    pub conflicts: AtomicU64,
    pub gaps: AtomicU64,
    pub errors: [AtomicU64; 8],
    pub shed: AtomicU64,
    pub slow_readers: AtomicU64,
    pub profiles_loaded: AtomicU64,
    pub redacted: AtomicU64,
    pub dnt_dropped: AtomicU64,
    /// Frames of sessions identified as a user deleted through the control plane (GDPR).
    pub forgotten_dropped: AtomicU64,
    pub sessions: AtomicU64,
    pub forwarded: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// Spool fdatasync latency, µs ([`FSYNC_BUCKETS_US`]).
    pub fsync: Histogram,
    /// Frame received → ack released, ms ([`ACK_BUCKETS_MS`]).
    pub ack: Histogram,
    pub quic: QuicMetrics,
}

/// One shard's QUIC counters (rendered per shard).
#[derive(Debug, Default)]
pub struct QuicMetrics {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub handshakes: AtomicU64,
    pub handshake_failures: AtomicU64,
    pub zero_rtt_accepted: AtomicU64,
    pub refused: AtomicU64,
    pub streams: AtomicU64,
    pub streams_total: AtomicU64,
    pub rx_datagrams: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_datagrams: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub stream_bytes_in: AtomicU64,
    pub stream_bytes_out: AtomicU64,
    pub lost_packets: AtomicU64,
    pub forwarded_out: AtomicU64,
    pub forwarded_in: AtomicU64,
    pub forward_dropped: AtomicU64,
    pub send_errors: AtomicU64,
}

/// The QUIC counters of every shard, labelled with the shard's index.
pub fn render_quic(shards: &[std::sync::Arc<ShardMetrics>], edge: &str, region: &str) -> String {
    type Get = fn(&QuicMetrics) -> &AtomicU64;
    let rows: [(&str, &str, &str, Get); 19] = [
        ("quic_connections", "Open QUIC connections.", "gauge", |q| {
            &q.connections
        }),
        (
            "quic_connections_total",
            "QUIC connections accepted (handshake started).",
            "counter",
            |q| &q.connections_total,
        ),
        (
            "quic_handshakes_total",
            "QUIC handshakes completed.",
            "counter",
            |q| &q.handshakes,
        ),
        (
            "quic_handshake_failures_total",
            "QUIC connections lost or refused before their handshake completed.",
            "counter",
            |q| &q.handshake_failures,
        ),
        (
            "quic_zero_rtt_accepted_total",
            "QUIC connections whose 0-RTT data was accepted.",
            "counter",
            |q| &q.zero_rtt_accepted,
        ),
        (
            "quic_refused_total",
            "QUIC connections refused at the per-shard cap.",
            "counter",
            |q| &q.refused,
        ),
        (
            "quic_streams",
            "Open QUIC streams (sessions).",
            "gauge",
            |q| &q.streams,
        ),
        (
            "quic_streams_total",
            "QUIC streams opened by clients.",
            "counter",
            |q| &q.streams_total,
        ),
        (
            "quic_received_datagrams_total",
            "UDP datagrams received on the QUIC port.",
            "counter",
            |q| &q.rx_datagrams,
        ),
        (
            "quic_received_bytes_total",
            "UDP payload bytes received on the QUIC port.",
            "counter",
            |q| &q.rx_bytes,
        ),
        (
            "quic_sent_datagrams_total",
            "UDP datagrams sent from the QUIC port.",
            "counter",
            |q| &q.tx_datagrams,
        ),
        (
            "quic_sent_bytes_total",
            "UDP payload bytes sent from the QUIC port.",
            "counter",
            |q| &q.tx_bytes,
        ),
        (
            "quic_stream_received_bytes_total",
            "Stream bytes received (frames and their prefixes).",
            "counter",
            |q| &q.stream_bytes_in,
        ),
        (
            "quic_stream_sent_bytes_total",
            "Stream bytes sent (frames and their prefixes).",
            "counter",
            |q| &q.stream_bytes_out,
        ),
        (
            "quic_lost_packets_total",
            "Packets QUIC declared lost (and resent).",
            "counter",
            |q| &q.lost_packets,
        ),
        (
            "quic_forwarded_out_total",
            "Datagrams handed to the shard that owns their connection.",
            "counter",
            |q| &q.forwarded_out,
        ),
        (
            "quic_forwarded_in_total",
            "Datagrams received from another shard.",
            "counter",
            |q| &q.forwarded_in,
        ),
        (
            "quic_forward_dropped_total",
            "Datagrams dropped because the owner shard's queue was full.",
            "counter",
            |q| &q.forward_dropped,
        ),
        (
            "quic_send_errors_total",
            "Datagrams the socket refused to send.",
            "counter",
            |q| &q.send_errors,
        ),
    ];
    let mut o = String::new();
    for (name, help, kind, get) in rows {
        let _ = writeln!(o, "# HELP siq_{name} {help}\n# TYPE siq_{name} {kind}");
        for (i, s) in shards.iter().enumerate() {
            let _ = writeln!(
                o,
                "siq_{name}{{edge=\"{edge}\",region=\"{region}\",shard=\"{i}\"}} {}",
                get(&s.quic).load(Relaxed)
            );
        }
    }
    o
}

/// A fixed-bucket histogram written by one shard: one bucket incremented per observation
/// (the cumulative `le` counts Prometheus wants are summed at scrape, off the hot path).
#[derive(Debug, Default)]
pub struct Histogram {
    pub count: AtomicU64,
    pub sum: AtomicU64,
    /// Observations in (bound[i-1], bound[i]]; above the last bound only `count` grows.
    pub buckets: [AtomicU64; 10],
}

impl Histogram {
    pub fn record(&self, v: u64, bounds: &[u64; 10]) {
        ShardMetrics::inc(&self.count);
        ShardMetrics::add(&self.sum, v);
        if let Some(i) = bounds.iter().position(|b| v <= *b) {
            ShardMetrics::inc(&self.buckets[i]);
        }
    }
}

impl ShardMetrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub fn error(&self, code: ErrorCode) {
        let i = ErrorCode::ALL.iter().position(|c| *c == code).unwrap_or(7);
        Self::inc(&self.errors[i]);
    }

    pub fn detection(&self, e: Emotion) {
        Self::inc(&self.detections[e.index()]);
    }

    /// One frame's ack released `ms` after the frame was received.
    pub fn ack_latency(&self, ms: u64) {
        self.ack.record(ms, &ACK_BUCKETS_MS);
    }

    pub fn fsync(&self, us: u64) {
        self.fsync.record(us, &FSYNC_BUCKETS_US);
    }
}

fn sum(shards: &[std::sync::Arc<ShardMetrics>], f: impl Fn(&ShardMetrics) -> &AtomicU64) -> u64 {
    shards.iter().map(|s| f(s).load(Relaxed)).sum()
}

/// One histogram over all shards, in seconds (`per_s` units of the recorded values per second),
/// with cumulative `le` buckets.
#[allow(clippy::too_many_arguments)]
fn histogram(
    o: &mut String,
    labels: &str,
    name: &str,
    help: &str,
    shards: &[std::sync::Arc<ShardMetrics>],
    h: impl Fn(&ShardMetrics) -> &Histogram,
    bounds: &[u64; 10],
    per_s: f64,
) {
    let _ = writeln!(o, "# HELP siq_{name} {help}\n# TYPE siq_{name} histogram");
    let mut cumulative = 0u64;
    for (i, b) in bounds.iter().enumerate() {
        cumulative += shards
            .iter()
            .map(|s| h(s).buckets[i].load(Relaxed))
            .sum::<u64>();
        let _ = writeln!(
            o,
            "siq_{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
            *b as f64 / per_s
        );
    }
    let n: u64 = shards.iter().map(|s| h(s).count.load(Relaxed)).sum();
    let sum: u64 = shards.iter().map(|s| h(s).sum.load(Relaxed)).sum();
    let _ = writeln!(o, "siq_{name}_bucket{{{labels},le=\"+Inf\"}} {n}");
    let _ = writeln!(o, "siq_{name}_sum{{{labels}}} {}", sum as f64 / per_s);
    let _ = writeln!(o, "siq_{name}_count{{{labels}}} {n}");
}

/// One metric without labels of its own: HELP, TYPE and the value under the edge's labels `l`.
fn metric(o: &mut String, l: &str, name: &str, help: &str, kind: &str, v: u64) {
    let _ = writeln!(
        o,
        "# HELP siq_{name} {help}\n# TYPE siq_{name} {kind}\nsiq_{name}{{{l}}} {v}"
    );
}

/// Prometheus text exposition of all shards.
pub fn render(shards: &[std::sync::Arc<ShardMetrics>], edge: &str, region: &str) -> String {
    let mut o = String::new();
    let l = format!("edge=\"{edge}\",region=\"{region}\"");
    let mut counter =
        |name: &str, help: &str, v: u64, kind: &str| metric(&mut o, &l, name, help, kind, v);
    counter(
        "connections",
        "Open connections.",
        sum(shards, |s| &s.connections),
        "gauge",
    );
    counter(
        "connections_total",
        "Accepted connections.",
        sum(shards, |s| &s.connections_total),
        "counter",
    );
    counter(
        "sessions",
        "Live sessions.",
        sum(shards, |s| &s.sessions),
        "gauge",
    );
    counter(
        "frames_total",
        "Client frames accepted (new).",
        sum(shards, |s| &s.frames),
        "counter",
    );
    counter(
        "samples_total",
        "Samples in accepted batches.",
        sum(shards, |s| &s.samples),
        "counter",
    );
    counter(
        "received_bytes_total",
        "Frame bytes received.",
        sum(shards, |s| &s.bytes),
        "counter",
    );
    counter(
        "acks_total",
        "Acks sent.",
        sum(shards, |s| &s.acks),
        "counter",
    );
    counter(
        "seq_duplicates_total",
        "Frames already held (re-acked).",
        sum(shards, |s| &s.duplicates),
        "counter",
    );
    counter(
        "seq_conflicts_total",
        "Different payload under a held seq.",
        sum(shards, |s| &s.conflicts),
        "counter",
    );
    counter(
        "seq_gaps_total",
        "Seqs skipped over.",
        sum(shards, |s| &s.gaps),
        "counter",
    );
    counter(
        "interventions_total",
        "Interventions sent to pages.",
        sum(shards, |s| &s.interventions),
        "counter",
    );
    counter(
        "escalations_total",
        "Escalations to people.",
        sum(shards, |s| &s.escalations),
        "counter",
    );
    counter(
        "shed_sessions_total",
        "Sessions refused or closed as overloaded.",
        sum(shards, |s| &s.shed),
        "counter",
    );
    counter(
        "slow_reader_closes_total",
        "Sessions dropped because they did not read what the edge sent (WebSocket: within the write timeout; QUIC: more than write_buffer_bytes waiting).",
        sum(shards, |s| &s.slow_readers),
        "counter",
    );
    counter(
        "dnt_dropped_frames_total",
        "Frames of Do-Not-Track sessions acknowledged and dropped (tenant dnt = \"drop\").",
        sum(shards, |s| &s.dnt_dropped),
        "counter",
    );
    counter(
        "forgotten_user_dropped_frames_total",
        "Frames of sessions identified as a deleted (GDPR) user, acknowledged and dropped.",
        sum(shards, |s| &s.forgotten_dropped),
        "counter",
    );
    counter(
        "redacted_frames_total",
        "Frames in which an email address or card number was redacted before storage.",
        sum(shards, |s| &s.redacted),
        "counter",
    );
    counter(
        "profiles_loaded_total",
        "User profiles read from the identity store after an id frame.",
        sum(shards, |s| &s.profiles_loaded),
        "counter",
    );
    counter(
        "forwarded_frames_total",
        "Frames forwarded to their owner shard.",
        sum(shards, |s| &s.forwarded),
        "counter",
    );
    counter(
        "spool_bytes_total",
        "Bytes appended to the spool.",
        sum(shards, |s| &s.spool_bytes),
        "counter",
    );
    let _ = writeln!(
        o,
        "# HELP siq_detections_total Detections by emotion.\n# TYPE siq_detections_total counter"
    );
    for e in Emotion::ALL {
        let v: u64 = shards
            .iter()
            .map(|s| s.detections[e.index()].load(Relaxed))
            .sum();
        let _ = writeln!(
            o,
            "siq_detections_total{{{l},emotion=\"{}\"}} {v}",
            e.as_str()
        );
    }
    let _ = writeln!(
        o,
        "# HELP siq_errors_total Errors answered, by code.\n# TYPE siq_errors_total counter"
    );
    for (i, c) in ErrorCode::ALL.iter().enumerate() {
        let v: u64 = shards.iter().map(|s| s.errors[i].load(Relaxed)).sum();
        let _ = writeln!(o, "siq_errors_total{{{l},code=\"{}\"}} {v}", c.as_str());
    }
    histogram(
        &mut o,
        &l,
        "fsync_seconds",
        "Spool fdatasync latency.",
        shards,
        |s| &s.fsync,
        &FSYNC_BUCKETS_US,
        1e6,
    );
    histogram(
        &mut o,
        &l,
        "ack_seconds",
        "Frame received to its ack released (spool durable; before the socket write).",
        shards,
        |s| &s.ack,
        &ACK_BUCKETS_MS,
        1e3,
    );
    o
}

/// The lake shipper's counters (one writer: the shipper thread).
#[derive(Debug, Default)]
pub struct LakeMetrics {
    pub files: AtomicU64,
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
    pub errors: AtomicU64,
    /// Spool bytes waiting to be shipped (all shards).
    pub backlog_bytes: AtomicU64,
    /// Age of the oldest spool segment waiting, seconds.
    pub backlog_age_s: AtomicU64,
}

/// Prometheus text for the lake shipper.
pub fn render_lake(m: &LakeMetrics, edge: &str, region: &str) -> String {
    let mut o = String::new();
    let l = format!("edge=\"{edge}\",region=\"{region}\"");
    for (name, help, kind, v) in [
        (
            "lake_files_total",
            "Parquet files stored.",
            "counter",
            &m.files,
        ),
        (
            "lake_rows_total",
            "Rows written to the lake.",
            "counter",
            &m.rows,
        ),
        (
            "lake_bytes_total",
            "Parquet bytes stored.",
            "counter",
            &m.bytes,
        ),
        (
            "lake_segments_shipped_total",
            "Spool segments shipped and deleted.",
            "counter",
            &m.segments,
        ),
        (
            "lake_errors_total",
            "Failed shipping attempts (retried).",
            "counter",
            &m.errors,
        ),
        (
            "lake_backlog_bytes",
            "Spool bytes waiting to be shipped.",
            "gauge",
            &m.backlog_bytes,
        ),
        (
            "lake_backlog_age_seconds",
            "Age of the oldest spool segment waiting to be shipped.",
            "gauge",
            &m.backlog_age_s,
        ),
    ] {
        metric(&mut o, &l, name, help, kind, v.load(Relaxed));
    }
    o
}

/// Prometheus text for the control-plane link.
pub fn render_control(
    c: &crate::control::Status,
    reports: Option<&crate::control::Reports>,
    edge: &str,
    region: &str,
) -> String {
    let mut o = String::new();
    let l = format!("edge=\"{edge}\",region=\"{region}\"");
    let pending = reports.map_or(0, |r| r.pending_len() as u64);
    let dropped = reports.map_or(0, |r| r.dropped());
    for (name, help, kind, v) in [
        (
            "control_connected",
            "1 while the edge follows the control plane's config stream.",
            "gauge",
            u64::from(c.connected.load(Relaxed)),
        ),
        (
            "control_config_version",
            "The control-plane config version this edge serves.",
            "gauge",
            c.version.load(Relaxed),
        ),
        (
            "control_versions_applied_total",
            "Config versions made durable and live.",
            "counter",
            c.applied.load(Relaxed),
        ),
        (
            "control_tenants_refused_total",
            "Tenants from the plane this edge could not use (logged).",
            "counter",
            c.rejected_tenants.load(Relaxed),
        ),
        (
            "control_windows_acked_total",
            "Aggregate windows the plane acknowledged.",
            "counter",
            c.reports_acked.load(Relaxed),
        ),
        (
            "control_report_failures_total",
            "Aggregate reports not (fully) acknowledged; their windows go again.",
            "counter",
            c.report_failures.load(Relaxed),
        ),
        (
            "control_windows_pending",
            "Aggregate windows waiting for an acknowledgement.",
            "gauge",
            pending,
        ),
        (
            "control_windows_dropped_total",
            "Aggregate windows dropped because too many were waiting.",
            "counter",
            dropped,
        ),
    ] {
        metric(&mut o, &l, name, help, kind, v);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_at_their_bounds() {
        let m = std::sync::Arc::new(ShardMetrics::default());
        // Around the 2 ms bound: 1 and 2 fall at or under it, 3 over it; 6000 is past the last.
        for ms in [1, 2, 3, 6_000] {
            m.ack_latency(ms);
        }
        let text = render(&[m], "e", "r");
        let line = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("siq_ack_seconds_bucket") && l.contains(&format!("le=\"{le}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_string)
        };
        assert_eq!(line("0.001").as_deref(), Some("1"));
        assert_eq!(line("0.002").as_deref(), Some("2"));
        assert_eq!(line("0.005").as_deref(), Some("3"));
        assert_eq!(line("5").as_deref(), Some("3"));
        assert_eq!(line("+Inf").as_deref(), Some("4"));
        assert!(
            text.contains("siq_ack_seconds_sum{edge=\"e\",region=\"r\"} 6.006"),
            "{text}"
        );
        assert!(text.contains("siq_ack_seconds_count{edge=\"e\",region=\"r\"} 4"));
    }
}
