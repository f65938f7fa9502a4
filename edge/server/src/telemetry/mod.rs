//! Telemetry: per-shard counters, written only by their own shard (relaxed atomics: one writer,
//! readers only at scrape), summed over shards at scrape; the lake shipper's counters; and the
//! Prometheus text they render to ([`prom`]). The control link renders its own families
//! (`control::status`) with the same writer.

pub mod prom;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use sentientiq_core::Emotion;
use sentientiq_proto::ErrorCode;

pub use prom::{Exposition, Kind};

/// Fsync latency buckets, µs.
pub const FSYNC_BUCKETS_US: [u64; 10] = [
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000,
];

/// Ack latency buckets (frame received → its ack released), ms. Receive times are kept in
/// whole milliseconds, so the first bucket is ≤ 1 ms. 15 and 20 sit below the 25 ms ack p99
/// goal (issue 20), where one core's p99 lies near its knee (10–25 ms in
/// `bench/runs/2026-12-06-vm/`): without them a p99 there reads only "between 10 and 25".
pub const ACK_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 50, 100, 250, 1_000, 5_000];

/// Why an acknowledged frame was not kept (`siq_dropped_frames_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// A Do-Not-Track session under the tenant's `dnt = "drop"`.
    Dnt = 0,
    /// A session identified as a user deleted through the control plane (GDPR).
    ForgottenUser = 1,
}

impl Dropped {
    pub const ALL: [Dropped; 2] = [Dropped::Dnt, Dropped::ForgottenUser];

    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Dnt => "dnt",
            Dropped::ForgottenUser => "forgotten_user",
        }
    }
}

/// The outcomes experiments count, as the labels of `siq_experiment_outcomes_total` (indexes of
/// `ShardMetrics::experiment_outcomes`).
pub const EXPERIMENT_OUTCOMES: [&str; 5] =
    ["shown", "clicked", "dismissed", "converted", "purchase"];

#[derive(Debug, Default)]
pub struct ShardMetrics {
    /// Open TCP connections (WebSocket, beacons, scrapes).
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub frames: AtomicU64,
    /// Frames handed to this shard's pipeline, whatever became of them (accepted, a duplicate,
    /// refused): the work its sleep policy measures (`shard/gather.rs`). Not exported.
    pub handled: AtomicU64,
    pub samples: AtomicU64,
    pub bytes: AtomicU64,
    pub detections: [AtomicU64; 5],
    pub interventions: AtomicU64,
    /// Interventions not shown because the session is in an experiment's holdout.
    pub held_out: AtomicU64,
    /// Sessions assigned to an experiment's arm: [holdout, a variant].
    pub experiment_assignments: [AtomicU64; 2],
    /// Experiment outcomes counted (once per session and enrolment, inside the attribution
    /// window), by [`EXPERIMENT_OUTCOMES`].
    pub experiment_outcomes: [AtomicU64; 5],
    pub escalations: AtomicU64,
    pub acks: AtomicU64,
    pub duplicates: AtomicU64,
    pub conflicts: AtomicU64,
    pub gaps: AtomicU64,
    pub errors: [AtomicU64; 8],
    pub shed: AtomicU64,
    pub slow_readers: AtomicU64,
    pub profiles_loaded: AtomicU64,
    /// Frames refused because their tenant is past its hard monthly quota.
    pub quota_refused: AtomicU64,
    pub redacted: AtomicU64,
    /// Acknowledged frames not kept, by [`Dropped`].
    pub dropped: [AtomicU64; 2],
    /// Detections or actions that could not be serialised for the lake (their frame is kept).
    pub unserialisable: AtomicU64,
    pub sessions: AtomicU64,
    pub forwarded: AtomicU64,
    /// WebSocket connections this shard gave to the shard owning their session.
    pub handed_over: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// Syncs of the spool directory: one per new segment, before its first acks.
    pub spool_dir_syncs: AtomicU64,
    /// Spool writes (and the steps around them: a new segment, its directory's sync, a cut
    /// back) that failed; each is retried until it holds, and nothing a write held is acked
    /// before it does.
    pub spool_write_errors: AtomicU64,
    /// Spool commit latency, µs ([`FSYNC_BUCKETS_US`]): a commit's synchronous (`O_DSYNC`)
    /// write, which is its fdatasync (the name is kept for dashboards), and for a new
    /// segment's first commit the fsync of its directory.
    pub fsync: Histogram<10>,
    /// Frame received → ack released, ms ([`ACK_BUCKETS_MS`]).
    pub ack: Histogram<12>,
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

/// A fixed-bucket histogram written by one shard: one bucket incremented per observation
/// (the cumulative `le` counts Prometheus wants are summed at scrape, off the hot path).
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    pub count: AtomicU64,
    pub sum: AtomicU64,
    /// Observations in (bound[i-1], bound[i]]; above the last bound only `count` grows.
    pub buckets: [AtomicU64; N],
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl<const N: usize> Histogram<N> {
    pub fn record(&self, v: u64, bounds: &[u64; N]) {
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

    pub fn dropped(&self, why: Dropped) {
        Self::inc(&self.dropped[why as usize]);
    }

    /// One frame's ack released `ms` after the frame was received.
    pub fn ack_latency(&self, ms: u64) {
        self.ack.record(ms, &ACK_BUCKETS_MS);
    }

    pub fn fsync(&self, us: u64) {
        self.fsync.record(us, &FSYNC_BUCKETS_US);
    }
}

/// The lake shipper's counters (one writer: the shipper thread).
#[derive(Debug, Default)]
pub struct LakeMetrics {
    pub files: AtomicU64,
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
    pub errors: AtomicU64,
    /// Spool records of a kind this binary does not know, kept beside the spool.
    pub unknown_records: AtomicU64,
    /// Spool records of a known kind whose body does not decode (skipped; never expected).
    pub undecodable_records: AtomicU64,
    /// Records of frames already shipped (or twice in one segment), skipped (never expected).
    pub duplicate_records: AtomicU64,
    /// Failed writes of the shipped floors (retried; the segment is deleted anyway).
    pub floor_failures: AtomicU64,
    /// Shipped seqs too far above a session's floor to be recorded (never expected).
    pub floor_overflow: AtomicU64,
    /// Bytes of lake pages kept in memory because the data directory refused their temporary
    /// files (a full disk; the files are written all the same).
    pub spill_refused_bytes: AtomicU64,
    /// Spool bytes waiting to be shipped (all shards).
    pub backlog_bytes: AtomicU64,
    /// Age of the oldest spool segment waiting, seconds.
    pub backlog_age_s: AtomicU64,
}

fn sum(shards: &[Arc<ShardMetrics>], f: impl Fn(&ShardMetrics) -> &AtomicU64) -> u64 {
    shards.iter().map(|s| f(s).load(Relaxed)).sum()
}

/// One histogram over all shards.
fn histogram<const N: usize>(
    e: &mut Exposition,
    name: &str,
    help: &str,
    shards: &[Arc<ShardMetrics>],
    h: impl Fn(&ShardMetrics) -> &Histogram<N>,
    bounds: &[u64; N],
    per_unit: f64,
) {
    let buckets: Vec<u64> = (0..bounds.len())
        .map(|i| shards.iter().map(|s| h(s).buckets[i].load(Relaxed)).sum())
        .collect();
    let count = shards.iter().map(|s| h(s).count.load(Relaxed)).sum();
    let total = shards.iter().map(|s| h(s).sum.load(Relaxed)).sum();
    e.histogram(name, help, bounds, &buckets, count, total, per_unit);
}

/// The shards' families: sessions, frames, acks, connections (both transports), errors,
/// detections, latencies, and QUIC's own per shard.
pub fn render_shards(e: &mut Exposition, shards: &[Arc<ShardMetrics>]) {
    use Kind::{Counter, Gauge};
    let q = |f: fn(&QuicMetrics) -> &AtomicU64| -> u64 {
        shards.iter().map(|s| f(&s.quic).load(Relaxed)).sum()
    };
    e.family(
        "siq_open_connections",
        "Open connections, by transport (tcp: WebSocket, beacons and scrapes; quic).",
        Gauge,
    )
    .sample(
        "siq_open_connections",
        &[("transport", "tcp")],
        sum(shards, |s| &s.connections),
    )
    .sample(
        "siq_open_connections",
        &[("transport", "quic")],
        q(|q| &q.connections),
    );
    e.family(
        "siq_accepted_connections_total",
        "Connections accepted, by transport (QUIC: handshake started).",
        Counter,
    )
    .sample(
        "siq_accepted_connections_total",
        &[("transport", "tcp")],
        sum(shards, |s| &s.connections_total),
    )
    .sample(
        "siq_accepted_connections_total",
        &[("transport", "quic")],
        q(|q| &q.connections_total),
    );
    let rows: [(&str, &str, Kind, u64); 18] = [
        (
            "siq_live_sessions",
            "Sessions in memory.",
            Gauge,
            sum(shards, |s| &s.sessions),
        ),
        (
            "siq_frames_total",
            "Client frames accepted (new).",
            Counter,
            sum(shards, |s| &s.frames),
        ),
        (
            "siq_samples_total",
            "Samples in accepted batches.",
            Counter,
            sum(shards, |s| &s.samples),
        ),
        (
            "siq_received_bytes_total",
            "Frame bytes received.",
            Counter,
            sum(shards, |s| &s.bytes),
        ),
        (
            "siq_acks_total",
            "Acks sent.",
            Counter,
            sum(shards, |s| &s.acks),
        ),
        (
            "siq_seq_duplicates_total",
            "Frames already held (re-acked).",
            Counter,
            sum(shards, |s| &s.duplicates),
        ),
        (
            "siq_seq_conflicts_total",
            "Different payload under a held seq.",
            Counter,
            sum(shards, |s| &s.conflicts),
        ),
        (
            "siq_seq_gaps_total",
            "Seqs skipped over.",
            Counter,
            sum(shards, |s| &s.gaps),
        ),
        (
            "siq_interventions_total",
            "Interventions sent to pages.",
            Counter,
            sum(shards, |s| &s.interventions),
        ),
        (
            "siq_interventions_held_out_total",
            "Interventions not shown: the session is in the experiment's holdout (recorded as would have shown).",
            Counter,
            sum(shards, |s| &s.held_out),
        ),
        (
            "siq_escalations_total",
            "Escalations to people.",
            Counter,
            sum(shards, |s| &s.escalations),
        ),
        (
            "siq_shed_sessions_total",
            "Sessions refused or closed as overloaded.",
            Counter,
            sum(shards, |s| &s.shed),
        ),
        (
            "siq_slow_reader_closes_total",
            "Sessions dropped because they did not read what the edge sent (WebSocket: within the write timeout, or with its outbound queue full; QUIC: more than write_buffer_bytes waiting).",
            Counter,
            sum(shards, |s| &s.slow_readers),
        ),
        (
            "siq_redacted_frames_total",
            "Frames in which an email address or card number was redacted before storage.",
            Counter,
            sum(shards, |s| &s.redacted),
        ),
        (
            "siq_quota_refused_total",
            "Frames refused (rate_limited, HTTP 429) because their tenant is past its hard monthly quota of events.",
            Counter,
            sum(shards, |s| &s.quota_refused),
        ),
        (
            "siq_profiles_loaded_total",
            "User profiles read from the identity store after an id frame.",
            Counter,
            sum(shards, |s| &s.profiles_loaded),
        ),
        (
            "siq_forwarded_frames_total",
            "Frames forwarded to their owner shard.",
            Counter,
            sum(shards, |s| &s.forwarded),
        ),
        (
            "siq_ws_handoffs_total",
            "WebSocket connections given, after their hello, to the shard that owns their session.",
            Counter,
            sum(shards, |s| &s.handed_over),
        ),
    ];
    for (name, help, kind, v) in rows {
        e.single(name, help, kind, v);
    }
    e.single(
        "siq_spool_bytes_total",
        "Bytes appended to the spool.",
        Counter,
        sum(shards, |s| &s.spool_bytes),
    );
    e.single(
        "siq_spool_dir_syncs_total",
        "Syncs of a shard's spool directory: one per new segment, before the segment's first acks, so the entry naming it survives a power cut.",
        Counter,
        sum(shards, |s| &s.spool_dir_syncs),
    );
    e.single(
        "siq_spool_write_errors_total",
        "Failed spool writes and the steps around them (a new segment, its directory's sync, cutting a failed write back), on a full or failing disk: each is retried until it holds, and nothing a write held is acked before it does.",
        Counter,
        sum(shards, |s| &s.spool_write_errors),
    );
    e.single(
        "siq_unserialisable_outputs_total",
        "Detections or actions that could not be serialised for the lake (their frame is kept).",
        Counter,
        sum(shards, |s| &s.unserialisable),
    );
    e.family(
        "siq_dropped_frames_total",
        "Frames acknowledged and deliberately not kept, by reason (dnt: Do-Not-Track under dnt = \"drop\"; forgotten_user: a user deleted through the control plane).",
        Counter,
    );
    for d in Dropped::ALL {
        e.sample(
            "siq_dropped_frames_total",
            &[("reason", d.as_str())],
            sum(shards, |s| &s.dropped[d as usize]),
        );
    }
    e.family("siq_detections_total", "Detections by emotion.", Counter);
    for em in Emotion::ALL {
        e.sample(
            "siq_detections_total",
            &[("emotion", em.as_str())],
            sum(shards, |s| &s.detections[em.index()]),
        );
    }
    e.family(
        "siq_experiment_assignments_total",
        "Sessions assigned to an experiment's arm (once per session and experiment), by arm.",
        Counter,
    );
    for (i, arm) in ["holdout", "variant"].iter().enumerate() {
        e.sample(
            "siq_experiment_assignments_total",
            &[("arm", arm)],
            sum(shards, |s| &s.experiment_assignments[i]),
        );
    }
    e.family(
        "siq_experiment_outcomes_total",
        "Experiment outcomes counted (once per session and experiment, inside the attribution window), by outcome.",
        Counter,
    );
    for (i, o) in EXPERIMENT_OUTCOMES.iter().enumerate() {
        e.sample(
            "siq_experiment_outcomes_total",
            &[("outcome", o)],
            sum(shards, |s| &s.experiment_outcomes[i]),
        );
    }
    e.family("siq_errors_total", "Errors answered, by code.", Counter);
    for (i, c) in ErrorCode::ALL.iter().enumerate() {
        e.sample(
            "siq_errors_total",
            &[("code", c.as_str())],
            sum(shards, |s| &s.errors[i]),
        );
    }
    histogram(
        e,
        "siq_fsync_seconds",
        "Spool commit latency: the synchronous (O_DSYNC) write of a commit's records (and, for a new segment's first commit, the fsync of its directory).",
        shards,
        |s| &s.fsync,
        &FSYNC_BUCKETS_US,
        1e6,
    );
    histogram(
        e,
        "siq_ack_seconds",
        "Frame received to its ack released (spool durable; before the socket write).",
        shards,
        |s| &s.ack,
        &ACK_BUCKETS_MS,
        1e3,
    );
    render_quic(e, shards);
}

/// QUIC's own counters, per shard (label `shard`).
fn render_quic(e: &mut Exposition, shards: &[Arc<ShardMetrics>]) {
    type Get = fn(&QuicMetrics) -> &AtomicU64;
    let rows: [(&str, &str, Kind, Get); 17] = [
        (
            "siq_quic_handshakes_total",
            "QUIC handshakes completed.",
            Kind::Counter,
            |q| &q.handshakes,
        ),
        (
            "siq_quic_handshake_failures_total",
            "QUIC connections lost or refused before their handshake completed.",
            Kind::Counter,
            |q| &q.handshake_failures,
        ),
        (
            "siq_quic_zero_rtt_accepted_total",
            "QUIC connections whose 0-RTT data was accepted.",
            Kind::Counter,
            |q| &q.zero_rtt_accepted,
        ),
        (
            "siq_quic_refused_total",
            "QUIC connections refused at the per-shard cap.",
            Kind::Counter,
            |q| &q.refused,
        ),
        (
            "siq_quic_open_streams",
            "Open QUIC streams (sessions).",
            Kind::Gauge,
            |q| &q.streams,
        ),
        (
            "siq_quic_opened_streams_total",
            "QUIC streams opened by clients.",
            Kind::Counter,
            |q| &q.streams_total,
        ),
        (
            "siq_quic_received_datagrams_total",
            "UDP datagrams received on the QUIC port.",
            Kind::Counter,
            |q| &q.rx_datagrams,
        ),
        (
            "siq_quic_received_bytes_total",
            "UDP payload bytes received on the QUIC port.",
            Kind::Counter,
            |q| &q.rx_bytes,
        ),
        (
            "siq_quic_sent_datagrams_total",
            "UDP datagrams sent from the QUIC port.",
            Kind::Counter,
            |q| &q.tx_datagrams,
        ),
        (
            "siq_quic_sent_bytes_total",
            "UDP payload bytes sent from the QUIC port.",
            Kind::Counter,
            |q| &q.tx_bytes,
        ),
        (
            "siq_quic_stream_received_bytes_total",
            "Stream bytes received (frames and their prefixes).",
            Kind::Counter,
            |q| &q.stream_bytes_in,
        ),
        (
            "siq_quic_stream_sent_bytes_total",
            "Stream bytes sent (frames and their prefixes).",
            Kind::Counter,
            |q| &q.stream_bytes_out,
        ),
        (
            "siq_quic_lost_packets_total",
            "Packets QUIC declared lost (and resent).",
            Kind::Counter,
            |q| &q.lost_packets,
        ),
        (
            "siq_quic_forwarded_out_total",
            "Datagrams handed to the shard that owns their connection.",
            Kind::Counter,
            |q| &q.forwarded_out,
        ),
        (
            "siq_quic_forwarded_in_total",
            "Datagrams received from another shard.",
            Kind::Counter,
            |q| &q.forwarded_in,
        ),
        (
            "siq_quic_forward_dropped_total",
            "Datagrams dropped because the owner shard's queue was full.",
            Kind::Counter,
            |q| &q.forward_dropped,
        ),
        (
            "siq_quic_send_errors_total",
            "Datagrams the socket refused to send.",
            Kind::Counter,
            |q| &q.send_errors,
        ),
    ];
    for (name, help, kind, get) in rows {
        e.family(name, help, kind);
        for (i, s) in shards.iter().enumerate() {
            let shard = i.to_string();
            e.sample(name, &[("shard", &shard)], get(&s.quic).load(Relaxed));
        }
    }
}

/// The lake shipper's families.
pub fn render_lake(e: &mut Exposition, m: &LakeMetrics) {
    for (name, help, kind, v) in [
        (
            "siq_lake_files_total",
            "Parquet files stored.",
            Kind::Counter,
            &m.files,
        ),
        (
            "siq_lake_rows_total",
            "Rows written to the lake.",
            Kind::Counter,
            &m.rows,
        ),
        (
            "siq_lake_bytes_total",
            "Parquet bytes stored.",
            Kind::Counter,
            &m.bytes,
        ),
        (
            "siq_lake_segments_shipped_total",
            "Spool segments shipped and deleted.",
            Kind::Counter,
            &m.segments,
        ),
        (
            "siq_lake_errors_total",
            "Failed shipping attempts (retried).",
            Kind::Counter,
            &m.errors,
        ),
        (
            "siq_lake_unknown_records_total",
            "Spool records of a kind this binary does not know (written by a newer one): kept in their segment while it waits, skipped when shipped.",
            Kind::Counter,
            &m.unknown_records,
        ),
        (
            "siq_lake_undecodable_records_total",
            "Spool records whose body did not decode, skipped when shipped (never expected; logged).",
            Kind::Counter,
            &m.undecodable_records,
        ),
        (
            "siq_lake_duplicate_records_total",
            "Spool records of frames already shipped (or twice in one segment), skipped so the lake holds each frame once (never expected).",
            Kind::Counter,
            &m.duplicate_records,
        ),
        (
            "siq_lake_floor_failures_total",
            "Failed writes of shipped sessions' floors (retried; the segment is deleted anyway, which frees a full disk).",
            Kind::Counter,
            &m.floor_failures,
        ),
        (
            "siq_lake_floor_overflow_total",
            "Shipped seqs too far above a session's floor to be recorded (never expected).",
            Kind::Counter,
            &m.floor_overflow,
        ),
        (
            "siq_lake_spill_refused_bytes_total",
            "Bytes of lake pages kept in memory while a file was written because the data directory refused their temporary files (a full disk); the files are written all the same.",
            Kind::Counter,
            &m.spill_refused_bytes,
        ),
        (
            "siq_lake_backlog_bytes",
            "Spool bytes written and waiting to be shipped: their records, as lake.spool_max_bytes counts them (not the segments' files, which hold reserved space); records still buffered are not in it yet.",
            Kind::Gauge,
            &m.backlog_bytes,
        ),
        (
            "siq_lake_backlog_age_seconds",
            "Age of the oldest spool segment waiting to be shipped.",
            Kind::Gauge,
            &m.backlog_age_s,
        ),
    ] {
        e.single(name, help, kind, v.load(Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(m: Arc<ShardMetrics>) -> String {
        let mut e = Exposition::new(&[("edge", "e"), ("region", "r")]);
        render_shards(&mut e, &[m]);
        e.finish()
    }

    /// The cumulative count of `siq_ack_seconds`' bucket `le` in a rendering.
    fn ack_bucket(text: &str, le: &str) -> Option<String> {
        text.lines()
            .find(|l| {
                l.starts_with("siq_ack_seconds_bucket") && l.contains(&format!("le=\"{le}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    }

    #[test]
    fn histogram_buckets_are_cumulative_at_their_bounds() {
        let m = Arc::new(ShardMetrics::default());
        // Around the 2 ms bound: 1 and 2 fall at or under it, 3 over it; 6000 is past the last.
        for ms in [1, 2, 3, 6_000] {
            m.ack_latency(ms);
        }
        let text = render(m);
        let line = |le: &str| ack_bucket(&text, le);
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

    #[test]
    fn ack_buckets_resolve_the_p99_goal_at_15_20_and_25_ms() {
        let m = Arc::new(ShardMetrics::default());
        // Each bound at one below, at and one above it.
        for ms in [14, 15, 16, 19, 20, 21, 24, 25, 26] {
            m.ack_latency(ms);
        }
        let text = render(m);
        let line = |le: &str| ack_bucket(&text, le);
        assert_eq!(line("0.01").as_deref(), Some("0"));
        assert_eq!(line("0.015").as_deref(), Some("2"));
        assert_eq!(line("0.02").as_deref(), Some("5"));
        assert_eq!(line("0.025").as_deref(), Some("8"));
        assert_eq!(line("0.05").as_deref(), Some("9"));
        assert_eq!(line("+Inf").as_deref(), Some("9"));
    }

    #[test]
    fn no_family_is_both_a_gauge_and_a_counters_stem() {
        // OpenMetrics: counter `x_total` belongs to family `x`; a gauge named `x` would clash.
        let mut e = Exposition::new(&[("edge", "e"), ("region", "r")]);
        render_shards(&mut e, &[Arc::new(ShardMetrics::default())]);
        render_lake(&mut e, &LakeMetrics::default());
        let text = e.finish();
        let mut families = std::collections::HashMap::new();
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut p = l["# TYPE ".len()..].split(' ');
            let (name, kind) = (p.next().unwrap_or(""), p.next().unwrap_or(""));
            let stem = name.strip_suffix("_total").unwrap_or(name).to_string();
            assert!(
                families.insert(stem.clone(), kind.to_string()).is_none(),
                "two families named {stem}"
            );
            assert_eq!(
                kind == "counter",
                name.ends_with("_total"),
                "{name} is a {kind}"
            );
        }
        assert!(
            text.contains("siq_dropped_frames_total{edge=\"e\",region=\"r\",reason=\"dnt\"} 0")
        );
        assert!(
            text.contains("siq_open_connections{edge=\"e\",region=\"r\",transport=\"quic\"} 0")
        );
    }
}
