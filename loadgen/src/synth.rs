//! Sessions that move like people, with the truth of what each one does.
//!
//! The motion model (all times client time, in µs):
//! - **Reaches** between targets follow the minimum-jerk profile x(s) = 10s³ − 15s⁴ + 6s⁵
//!   (Flash & Hogan 1985), with a bell-shaped sideways bow of up to 6 % of the distance (hand
//!   paths are slightly curved) and an endpoint error of σ = W/4.133 (the effective-width
//!   convention of ISO 9241-9). Their duration is Fitts' law, MT = a + b·log₂(D/W + 1) with
//!   a = 100 ms and b = 220 ms/bit (mouse pointing throughput ≈ 4.5 bit/s, Soukoreff &
//!   MacKenzie 2004), times a log-normal factor (σ = 0.15) for trial-to-trial variation.
//! - **Physiological tremor**: an 8–12 Hz oscillation of 0.3–0.8 px (Elble & Koller 1990,
//!   scaled by a typical pointer gain), and **sensor jitter**: positions are integer CSS px.
//! - **Sampling**: pointer events only while moving, at the session's rate of 60, 75, 90 or
//!   120 Hz (browsers coalesce `pointermove` to the display's frame rate).
//! - **Reading**: pauses between actions are log-normal (median 1.8 s, σ = 0.6); scrolling is
//!   runs of wheel ticks of 100 px every 40–90 ms, mostly downward.
//! - **Personas** inject episodes on top of calm browsing, each with a known emotion, start and
//!   completing event; calm sessions inject none. See [`Persona`].

use std::collections::VecDeque;

use sentientiq_proto::{Batch, ClientFrame, Identify, Seq, Value, kind};

use crate::rng::Rng;

/// What a session does beyond calm browsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Persona {
    /// Browses, reads, scrolls, clicks links; no episodes.
    Calm,
    /// Click bursts (4–7 clicks, 120–300 ms apart, within a few px) on an element that does not
    /// respond: the SDK reports each click `dead` once its 1000 ms no-response timer expires
    /// (PROTOCOL.md §4 kind 10), so the reports trail the clicks by 1000–1050 ms. (An earlier
    /// version sent one report 200–600 ms after the last click, sooner than any SDK could.)
    Rage,
    /// Dead clicks (two within 10 s) or a click followed by a JavaScript error.
    Frustrated,
    /// In the pricing section: stops at the CTA, moves away, comes back, twice, no click.
    Hesitant,
    /// Cursor thrashing (3–4 Hz side to side) or scroll thrashing (up and down).
    Confused,
    /// In checkout: a fast exit toward the tab bar, `leave`, then the tab hidden.
    Abandoning,
}

impl Persona {
    pub const ALL: [Persona; 6] = [
        Persona::Calm,
        Persona::Rage,
        Persona::Frustrated,
        Persona::Hesitant,
        Persona::Confused,
        Persona::Abandoning,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Persona::Calm => "calm",
            Persona::Rage => "rage",
            Persona::Frustrated => "frustrated",
            Persona::Hesitant => "hesitant",
            Persona::Confused => "confused",
            Persona::Abandoning => "abandoning",
        }
    }

    /// The emotion the edge should report for this persona's episodes.
    pub fn emotion(self) -> Option<&'static str> {
        match self {
            Persona::Calm => None,
            Persona::Rage => Some("rage"),
            Persona::Frustrated => Some("frustration"),
            Persona::Hesitant => Some("hesitation"),
            Persona::Confused => Some("confusion"),
            Persona::Abandoning => Some("abandonment"),
        }
    }

    pub fn parse(s: &str) -> Option<Persona> {
        Persona::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// The persona mix: weights, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix(pub Vec<(Persona, f64)>);

impl Default for Mix {
    fn default() -> Self {
        Mix(vec![
            (Persona::Calm, 0.70),
            (Persona::Rage, 0.06),
            (Persona::Frustrated, 0.06),
            (Persona::Hesitant, 0.06),
            (Persona::Confused, 0.06),
            (Persona::Abandoning, 0.06),
        ])
    }
}

impl Mix {
    /// `calm=0.7,rage=0.05,...`; weights are normalised, unnamed personas get 0.
    pub fn parse(s: &str) -> Result<Mix, String> {
        let mut v = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (name, w) = part
                .split_once('=')
                .ok_or_else(|| format!("mix entry `{part}` is not persona=weight"))?;
            let p = Persona::parse(name.trim()).ok_or_else(|| {
                format!("unknown persona `{name}` (calm, rage, frustrated, hesitant, confused, abandoning)")
            })?;
            let w: f64 = w
                .trim()
                .parse()
                .map_err(|_| format!("weight of `{name}` is not a number"))?;
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!("weight of `{name}` must be ≥ 0"));
            }
            v.push((p, w));
        }
        let total: f64 = v.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return Err("the mix has no positive weight".into());
        }
        Ok(Mix(v.into_iter().map(|(p, w)| (p, w / total)).collect()))
    }

    /// Persona of session `i`: assigned by cumulative share (not drawn), so any run of n
    /// sessions has the mix's proportions to within a few sessions, interleaved.
    pub fn persona_of(&self, i: usize) -> Persona {
        // Spread over the index space by a low-discrepancy (golden-ratio) sequence.
        let u = ((i as f64 + 0.5) * 0.618_033_988_749_894_9).fract();
        let mut acc = 0.0;
        for (p, w) in &self.0 {
            acc += w;
            if u < acc {
                return *p;
            }
        }
        self.0.last().map_or(Persona::Calm, |(p, _)| *p)
    }
}

/// One sample as the SDK would record it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ev {
    pub t_us: i64,
    pub k: u8,
    pub x: i32,
    pub y: i32,
    /// Label (for kinds that carry a string) or the `a` value.
    pub label: Label,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    None,
    Str(&'static str),
    A(u32),
}

/// An injected episode: its emotion and the client times of its first and completing events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    pub emotion: &'static str,
    pub start_us: i64,
    pub end_us: i64,
}

/// An episode placed in frames: the seqs of the frames holding its first and completing events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedEpisode {
    pub emotion: &'static str,
    pub start_seq: u64,
    pub done_seq: u64,
    pub end_us: i64,
}

/// A frame to send and when (client µs since the session began).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub frame: ClientFrame,
    pub seq: u64,
    pub send_at_us: i64,
    pub samples: usize,
}

const LINKS: [&str; 8] = [
    "a.nav-docs",
    "a.nav-blog",
    "a.read-more",
    "button.next",
    "a.card-title",
    "a.footer-about",
    "button.tab-2",
    "a.breadcrumb",
];
const PAGES: [&str; 6] = [
    "https://shop.example/",
    "https://shop.example/docs",
    "https://shop.example/blog/launch",
    "https://shop.example/features",
    "https://shop.example/about",
    "https://shop.example/pricing",
];
const CALM_SECTIONS: [&str; 5] = ["hero", "features", "docs", "blog", "footer"];
const RAGE_TARGETS: [&str; 4] = [
    "button#save",
    "button#submit-order",
    "a.download",
    "button#apply",
];
const DEAD_TARGETS: [&str; 4] = ["div.card-image", "span.price-label", "img.hero", "h2.title"];
const ERRORS: [&str; 3] = [
    "TypeError: cart is undefined",
    "TypeError: Cannot read properties of null (reading 'submit')",
    "ReferenceError: stripe is not defined",
];
/// Samples a frame holds at most until a `welcome` says otherwise: the SDK's default
/// (`sdk/js/src/client.js`) and a tenant's (`max_batch`, 512 unless configured).
const DEFAULT_MAX_BATCH: usize = 512;
const SAMPLE_RATES: [f64; 4] = [60.0, 75.0, 90.0, 120.0];

/// One session's generator: produces frames lazily, so 10k sessions hold only their near
/// future in memory.
#[derive(Debug)]
pub struct SessionGen {
    rng: Rng,
    pub persona: Persona,
    pub vw: u32,
    pub vh: u32,
    hz: f64,
    tremor_hz: f64,
    tremor_px: f64,
    pos: (f64, f64),
    scroll_y: i64,
    section: &'static str,
    /// Generated, not yet framed.
    queue: VecDeque<Ev>,
    /// Time up to which activities have been generated.
    frontier_us: i64,
    end_us: i64,
    flush_us: i64,
    /// Samples a frame holds at most (the tenant's `max_batch`).
    max_batch: usize,
    seq: u64,
    /// The next episode starts no earlier than this.
    next_episode_us: i64,
    /// Generated episodes not yet completed by a cut frame, with the seq of the frame
    /// holding their first event once cut.
    pending: Vec<(Episode, Option<u64>)>,
    placed: Vec<PlacedEpisode>,
    identify: Option<(String, String)>,
    identified: bool,
}

impl SessionGen {
    /// Session `i` of run `seed`, lasting `duration_us` of client time.
    pub fn new(
        seed: u64,
        i: u64,
        persona: Persona,
        duration_us: i64,
        flush_ms: u32,
        identify: Option<(String, String)>,
    ) -> SessionGen {
        let mut rng = Rng::stream(seed, i);
        let (vw, vh) = *rng.pick(&[(1280u32, 720u32), (1440, 900), (1536, 864), (1920, 1080)]);
        let hz = *rng.pick(&SAMPLE_RATES);
        let tremor_hz = rng.range(8.0, 12.0);
        let tremor_px = rng.range(0.3, 0.8);
        let pos = (
            rng.range(0.2, 0.8) * f64::from(vw),
            rng.range(0.2, 0.8) * f64::from(vh),
        );
        // The first episode after 2–8 s of ordinary browsing.
        let first = rng.range(2.0e6, 8.0e6) as i64;
        SessionGen {
            rng,
            persona,
            vw,
            vh,
            hz,
            tremor_hz,
            tremor_px,
            pos,
            scroll_y: 0,
            section: "hero",
            queue: VecDeque::new(),
            frontier_us: 0,
            end_us: duration_us,
            flush_us: i64::from(flush_ms.max(1)) * 1000,
            max_batch: DEFAULT_MAX_BATCH,
            seq: 0,
            next_episode_us: first,
            pending: Vec::new(),
            placed: Vec::new(),
            identify,
            identified: false,
        }
    }

    /// Batches as the edge's `welcome` says, as the SDK does (PROTOCOL.md §3: `flush_ms`,
    /// `max_batch`, the tenant's settings): frames cut from here on hold what `flush_ms` of
    /// client time gathers, at most `max_batch` samples. A zero keeps the current setting (a
    /// `welcome` without the field). The events are the same whatever the batching.
    pub fn follow(&mut self, flush_ms: u32, max_batch: u32) {
        if flush_ms > 0 {
            self.flush_us = i64::from(flush_ms) * 1000;
        }
        if max_batch > 0 {
            self.max_batch = max_batch as usize;
        }
    }

    /// Episodes placed in frames so far.
    pub fn episodes(&self) -> &[PlacedEpisode] {
        &self.placed
    }

    fn push(&mut self, k: u8, label: Label) {
        let (x, y) = self.pos;
        self.queue.push_back(Ev {
            t_us: self.frontier_us,
            k,
            x: x.round() as i32,
            y: y.round() as i32,
            label,
        });
    }

    /// Queues an event at an earlier time than the frontier, in time order (frames carry
    /// events in order); the caller has already advanced the frontier past it.
    fn push_at(&mut self, ev: Ev) {
        let at = self
            .queue
            .iter()
            .rposition(|e| e.t_us <= ev.t_us)
            .map_or(0, |i| i + 1);
        self.queue.insert(at, ev);
    }

    fn wait_rand(&mut self, lo_us: f64, hi_us: f64) {
        let d = self.rng.range(lo_us, hi_us);
        self.wait_us(d);
    }

    fn wait_us(&mut self, us: f64) {
        self.frontier_us += us.max(0.0) as i64;
    }

    fn clamp(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (
            x.clamp(1.0, f64::from(self.vw) - 2.0),
            y.clamp(1.0, f64::from(self.vh) - 2.0),
        )
    }

    /// A Fitts-timed minimum-jerk reach to a target of width `w`, sampled at the session's rate.
    fn reach(&mut self, target: (f64, f64), w: f64) {
        let (x0, y0) = self.pos;
        let (ex, ey) = (self.rng.normal(), self.rng.normal());
        let aim = self.clamp((target.0 + ex * w / 4.133, target.1 + ey * w / 4.133));
        let d = ((aim.0 - x0).powi(2) + (aim.1 - y0).powi(2)).sqrt();
        if d < 1.0 {
            return;
        }
        let mt = (0.100 + 0.220 * (d / w.max(1.0) + 1.0).log2()) * self.rng.lognormal(1.0, 0.15);
        self.move_along(
            mt,
            |s| {
                let p = 10.0 * s.powi(3) - 15.0 * s.powi(4) + 6.0 * s.powi(5);
                (x0 + (aim.0 - x0) * p, y0 + (aim.1 - y0) * p)
            },
            d,
        );
    }

    /// A movement out of the window through `edge` (a point on its border), over `secs`: still
    /// fast at the edge, as when leaving, because the reach aims past it and is cut off at 80 %
    /// of its time.
    fn exit_to(&mut self, edge: (f64, f64), secs: f64) {
        let (x0, y0) = self.pos;
        let d = ((edge.0 - x0).powi(2) + (edge.1 - y0).powi(2)).sqrt();
        self.move_along(
            secs,
            |s| {
                let mj = |q: f64| 10.0 * q.powi(3) - 15.0 * q.powi(4) + 6.0 * q.powi(5);
                let p = mj(0.8 * s) / mj(0.8);
                (x0 + (edge.0 - x0) * p, y0 + (edge.1 - y0) * p)
            },
            d,
        );
    }

    /// Samples a path `f(s)`, s ∈ (0, 1], over `secs`, with a sideways bow and tremor.
    fn move_along(&mut self, secs: f64, f: impl Fn(f64) -> (f64, f64), d: f64) {
        let dt = 1.0e6 / self.hz;
        let n = ((secs * 1.0e6) / dt).ceil().max(1.0) as usize;
        let (p0, p1) = (f(0.0), f(1.0));
        let (ux, uy) = if d > 0.0 {
            ((p1.0 - p0.0) / d, (p1.1 - p0.1) / d)
        } else {
            (0.0, 0.0)
        };
        let bow = self.rng.range(-0.06, 0.06) * d;
        let phase = self.rng.range(0.0, std::f64::consts::TAU);
        for i in 1..=n {
            let s = i as f64 / n as f64;
            let (x, y) = f(s);
            let side = bow * (std::f64::consts::PI * s).sin();
            let t = (self.frontier_us as f64 + dt) / 1.0e6;
            let tr = self.tremor_px * (std::f64::consts::TAU * self.tremor_hz * t + phase).sin();
            self.wait_us(dt);
            self.pos = self.clamp((x - uy * side + tr, y + ux * side + tr * 0.5));
            self.push(kind::MOVE, Label::None);
        }
    }

    fn random_target(&mut self) -> (f64, f64) {
        (
            self.rng.range(0.05, 0.95) * f64::from(self.vw),
            self.rng.range(0.08, 0.95) * f64::from(self.vh),
        )
    }

    fn click(&mut self, label: &'static str) {
        self.push(kind::DOWN, Label::A(0));
        self.wait_rand(60e3, 120e3);
        self.push(kind::UP, Label::A(0));
        self.push(kind::CLICK, Label::Str(label));
    }

    fn reading_pause(&mut self) {
        let p = self.rng.lognormal(1.8e6, 0.6).min(8.0e6);
        self.wait_us(p);
    }

    fn scroll_run(&mut self, down: bool) {
        let ticks = 3 + self.rng.below(10);
        for _ in 0..ticks {
            self.scroll_y = (self.scroll_y + if down { 100 } else { -100 }).max(0);
            self.queue.push_back(Ev {
                t_us: self.frontier_us,
                k: kind::SCROLL,
                x: 0,
                y: self.scroll_y as i32,
                label: Label::None,
            });
            self.wait_rand(40e3, 90e3);
        }
    }

    fn enter_section(&mut self, s: &'static str) {
        self.section = s;
        self.push(kind::SECTION, Label::Str(s));
    }

    /// One calm activity.
    fn calm_activity(&mut self) {
        let r = self.rng.f64();
        if r < 0.40 {
            let t = self.random_target();
            let w = self.rng.range(24.0, 160.0);
            self.reach(t, w);
            if self.rng.chance(0.5) {
                self.wait_rand(80e3, 250e3);
                let l = *self.rng.pick(&LINKS);
                self.click(l);
            }
            self.reading_pause();
        } else if r < 0.60 {
            // Reading down the page; now and then a short correction back up.
            self.scroll_run(true);
            if self.rng.chance(0.15) {
                self.wait_rand(300e3, 900e3);
                self.scroll_run(false);
            }
            self.reading_pause();
        } else if r < 0.68 {
            let page = if self.rng.chance(0.9) {
                *self.rng.pick(&PAGES[..5])
            } else {
                PAGES[5]
            };
            self.push(kind::PAGE, Label::Str(page));
            self.scroll_y = 0;
            let s = *self.rng.pick(&CALM_SECTIONS);
            self.enter_section(s);
            self.reading_pause();
        } else if r < 0.70 {
            // The pointer drifts out through a side of the window (to another monitor, the
            // taskbar) and comes back: not exit intent.
            // Like every real `mouseleave`, it fires while the pointer is still moving, here
            // sideways (an earlier version stopped at the edge first, and a stop near the top
            // looked like an exit through it).
            let right = self.rng.chance(0.5);
            let x = if right { f64::from(self.vw) - 1.0 } else { 1.0 };
            let y = self.pos.1;
            let secs = self.rng.range(0.35, 0.7);
            self.exit_to((x, y), secs);
            self.push(kind::LEAVE, Label::None);
            self.wait_rand(1.0e6, 4.0e6);
            let back = (x + if right { -200.0 } else { 200.0 }, y);
            self.reach(back, 100.0);
        } else if r < 0.72 {
            // Switches tab and comes back (outside checkout: not abandonment).
            self.push(kind::VISIBILITY, Label::A(0));
            self.wait_rand(1.0e6, 6.0e6);
            self.push(kind::VISIBILITY, Label::A(1));
        } else {
            // Small drift while reading.
            let (x, y) = self.pos;
            let t = (
                x + self.rng.range(-60.0, 60.0),
                y + self.rng.range(-40.0, 40.0),
            );
            self.reach(t, 80.0);
            self.reading_pause();
        }
    }

    /// Injects one episode of the persona's; returns its start and completing times.
    fn episode(&mut self) -> Option<Episode> {
        let emotion = self.persona.emotion()?;
        let (start, end);
        match self.persona {
            Persona::Calm => return None,
            Persona::Rage => {
                let label = *self.rng.pick(&RAGE_TARGETS);
                let target = self.random_target();
                self.reach(target, 40.0);
                self.wait_rand(100e3, 300e3);
                start = self.frontier_us;
                let n = 4 + self.rng.below(4);
                let center = self.pos;
                let mut e = start;
                let mut dead = Vec::with_capacity(n);
                for i in 0..n {
                    if i > 0 {
                        self.wait_rand(120e3, 300e3);
                        let (dx, dy) = (self.rng.range(-3.0, 3.0), self.rng.range(-3.0, 3.0));
                        self.pos = self.clamp((center.0 + dx, center.1 + dy));
                    }
                    self.click(label);
                    if i == 3 {
                        e = self.frontier_us;
                    }
                    // The SDK's report for this click: 1000 ms of no response, plus up to
                    // 50 ms of timer slack; at the click's position.
                    let (x, y) = self.pos;
                    dead.push(Ev {
                        t_us: self.frontier_us + 1_000_000 + self.rng.range(0.0, 50e3) as i64,
                        k: kind::DEAD,
                        x: x.round() as i32,
                        y: y.round() as i32,
                        label: Label::Str(label),
                    });
                }
                end = e;
                let last = dead
                    .iter()
                    .map(|d| d.t_us)
                    .max()
                    .unwrap_or(self.frontier_us);
                self.frontier_us = self.frontier_us.max(last);
                for d in dead {
                    self.push_at(d);
                }
            }
            Persona::Frustrated => {
                if self.rng.chance(0.5) {
                    // A click, then a JavaScript error.
                    let t = self.random_target();
                    self.reach(t, 50.0);
                    start = self.frontier_us;
                    self.click("button#apply-coupon");
                    self.wait_rand(50e3, 500e3);
                    let err = *self.rng.pick(&ERRORS);
                    self.push(kind::ERROR, Label::Str(err));
                    end = self.frontier_us;
                } else {
                    // Two dead clicks a few seconds apart, on things that look clickable.
                    let t = self.random_target();
                    self.reach(t, 60.0);
                    start = self.frontier_us;
                    let a = *self.rng.pick(&DEAD_TARGETS);
                    self.click(a);
                    self.wait_us(1.0e6);
                    self.push(kind::DEAD, Label::Str(a));
                    self.wait_rand(0.8e6, 3.0e6);
                    let t = self.random_target();
                    self.reach(t, 60.0);
                    let b = *self.rng.pick(&DEAD_TARGETS);
                    self.click(b);
                    self.wait_us(1.0e6);
                    self.push(kind::DEAD, Label::Str(b));
                    end = self.frontier_us;
                }
                self.reading_pause();
            }
            Persona::Hesitant => {
                self.enter_section("pricing");
                let cta = (
                    self.rng.range(0.3, 0.7) * f64::from(self.vw),
                    self.rng.range(0.4, 0.8) * f64::from(self.vh),
                );
                self.reach(cta, 30.0);
                start = self.frontier_us;
                self.wait_rand(400e3, 900e3);
                let mut e = start;
                for _ in 0..2 {
                    let ang = self.rng.range(0.0, std::f64::consts::TAU);
                    let dist = self.rng.range(180.0, 320.0);
                    let away = self.clamp((cta.0 + dist * ang.cos(), cta.1 + dist * ang.sin()));
                    self.reach(away, 80.0);
                    self.wait_rand(300e3, 800e3);
                    self.reach(cta, 30.0);
                    self.wait_rand(400e3, 900e3);
                    e = self.frontier_us;
                }
                end = e;
                // Leaves the pricing section without deciding.
                let t = self.random_target();
                self.reach(t, 100.0);
                self.enter_section("features");
                self.reading_pause();
            }
            Persona::Confused => {
                if self.rng.chance(0.6) {
                    // Cursor thrash: side to side at 3–4 Hz for 1.5–2.5 s.
                    let f = self.rng.range(3.0, 4.0);
                    let amp = self.rng.range(120.0, 200.0);
                    let secs = self.rng.range(1.5, 2.5);
                    let (cx, cy) = self.clamp((
                        self.pos
                            .0
                            .clamp(amp + 10.0, f64::from(self.vw) - amp - 10.0),
                        self.pos.1,
                    ));
                    start = self.frontier_us;
                    let d = 2.0 * amp * f * secs;
                    self.move_along(
                        secs,
                        |s| {
                            let t = s * secs;
                            (
                                cx + amp * (std::f64::consts::TAU * f * t).sin(),
                                cy + 25.0 * (std::f64::consts::TAU * 1.1 * t).sin(),
                            )
                        },
                        d,
                    );
                    end = self.frontier_us;
                } else {
                    // Scroll thrash: up and down, 5–7 direction changes within 2 s.
                    start = self.frontier_us;
                    self.scroll_y = self.scroll_y.max(1500);
                    let runs = 6 + self.rng.below(2);
                    for r in 0..runs {
                        let down = r % 2 == 0;
                        for _ in 0..2 {
                            self.scroll_y += if down { 100 } else { -100 };
                            self.queue.push_back(Ev {
                                t_us: self.frontier_us,
                                k: kind::SCROLL,
                                x: 0,
                                y: self.scroll_y as i32,
                                label: Label::None,
                            });
                            self.wait_rand(40e3, 70e3);
                        }
                        self.wait_rand(80e3, 150e3);
                    }
                    end = self.frontier_us;
                }
                self.reading_pause();
            }
            Persona::Abandoning => {
                self.enter_section("checkout");
                let field = (
                    self.rng.range(0.3, 0.7) * f64::from(self.vw),
                    self.rng.range(0.4, 0.8) * f64::from(self.vh),
                );
                self.reach(field, 60.0);
                self.wait_rand(0.8e6, 2.5e6);
                start = self.frontier_us;
                // A fast, short exit through the top edge.
                let exit = (self.pos.0 + self.rng.range(-80.0, 80.0), 1.0);
                let secs = self.rng.range(0.18, 0.30);
                self.exit_to(exit, secs);
                self.push(kind::LEAVE, Label::None);
                end = self.frontier_us;
                self.wait_rand(200e3, 900e3);
                self.push(kind::VISIBILITY, Label::A(0));
                // Comes back much later (a later episode may follow).
                self.wait_rand(5.0e6, 12.0e6);
                self.push(kind::VISIBILITY, Label::A(1));
                self.enter_section("hero");
            }
        }
        Some(Episode {
            emotion,
            start_us: start,
            end_us: end,
        })
    }

    /// Generates activities until events reach `until_us` (or the session's end).
    fn generate(&mut self, until_us: i64) {
        while self.frontier_us < until_us && self.frontier_us < self.end_us {
            // An episode starts only if it can complete before the session ends (the longest,
            // hesitation, takes under 8 s), so every injected episode is scored.
            if self.persona != Persona::Calm
                && self.frontier_us >= self.next_episode_us
                && self.frontier_us + 8_000_000 < self.end_us
            {
                if let Some(e) = self.episode() {
                    self.pending.push((e, None));
                }
                // The next one after the edge's refractory period and some calm browsing.
                self.next_episode_us = self.frontier_us + self.rng.range(12.0e6, 20.0e6) as i64;
            } else {
                self.calm_activity();
            }
        }
    }

    /// The next frame, or `None` when the session is over.
    pub fn next_frame(&mut self) -> Option<Planned> {
        if !self.identified {
            self.identified = true;
            if let Some((uid, email)) = self.identify.clone() {
                self.seq += 1;
                return Some(Planned {
                    frame: ClientFrame::Identify(Identify {
                        seq: Seq(self.seq),
                        uid,
                        email: Some(email),
                        traits: vec![("plan".into(), Value::Str("pro".into()))],
                    }),
                    seq: self.seq,
                    send_at_us: 0,
                    samples: 0,
                });
            }
        }
        loop {
            if self.queue.is_empty() {
                if self.frontier_us >= self.end_us {
                    return None;
                }
                self.generate(self.frontier_us + 1);
                continue;
            }
            let first = self.queue.front().map_or(0, |e| e.t_us);
            if first >= self.end_us {
                self.queue.clear();
                return None;
            }
            let window_end = (first / self.flush_us + 1) * self.flush_us;
            // Everything in this flush window must be generated before the frame is cut.
            self.generate(window_end);
            self.seq += 1;
            let seq = self.seq;
            let mut b = Batch {
                seq: Seq(seq),
                t0: (first / 1000) as u64,
                ..Batch::default()
            };
            let mut prev = (first / 1000) * 1000;
            let mut n = 0;
            while let Some(e) = self.queue.front().copied() {
                if e.t_us >= window_end || n >= self.max_batch {
                    break;
                }
                self.queue.pop_front();
                let a = match e.label {
                    Label::None => 0,
                    Label::A(a) => a,
                    Label::Str(s) => b.intern(s),
                };
                b.push(e.k, (e.t_us - prev) as u32, e.x, e.y, a);
                prev = e.t_us;
                n += 1;
            }
            // Place episodes whose events this frame holds.
            let last = prev;
            for (ep, start) in &mut self.pending {
                if start.is_none() && ep.start_us <= last {
                    *start = Some(seq);
                }
            }
            let mut i = 0;
            while i < self.pending.len() {
                let (ep, start) = self.pending[i];
                if ep.end_us <= last {
                    self.placed.push(PlacedEpisode {
                        emotion: ep.emotion,
                        start_seq: start.unwrap_or(seq),
                        done_seq: seq,
                        end_us: ep.end_us,
                    });
                    self.pending.swap_remove(i);
                } else {
                    i += 1;
                }
            }
            return Some(Planned {
                frame: ClientFrame::Batch(b),
                seq,
                send_at_us: window_end,
                samples: n,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(p: Persona, seed: u64) -> (Vec<Planned>, Vec<PlacedEpisode>) {
        let mut g = SessionGen::new(seed, 3, p, 40_000_000, 250, None);
        let mut v = Vec::new();
        while let Some(f) = g.next_frame() {
            v.push(f);
        }
        (v, g.episodes().to_vec())
    }

    #[test]
    fn frames_are_seeded_ordered_windowed_and_bounded() {
        for p in Persona::ALL {
            let (a, eps) = frames(p, 11);
            let (b, _) = frames(p, 11);
            assert_eq!(a, b, "{p:?}: same seed, same frames");
            assert_ne!(a, frames(p, 12).0, "{p:?}: another seed, other frames");
            assert!(!a.is_empty());
            for (i, f) in a.iter().enumerate() {
                assert_eq!(f.seq, i as u64 + 1);
                assert!(f.samples >= 1 && f.samples <= 512);
                assert_eq!(f.send_at_us % 250_000, 0, "sent at a flush boundary");
                assert!(f.send_at_us <= 40_000_000 + 250_000);
            }
            assert!(a.windows(2).all(|w| w[0].send_at_us <= w[1].send_at_us));
            match p.emotion() {
                None => assert!(eps.is_empty()),
                Some(e) => {
                    // 40 s: at least one episode, each placed within the frames sent.
                    assert!(!eps.is_empty(), "{p:?}");
                    for ep in &eps {
                        assert_eq!(ep.emotion, e);
                        assert!(ep.start_seq <= ep.done_seq && ep.done_seq <= a.len() as u64);
                    }
                }
            }
        }
    }

    /// A session follows its `welcome`'s batching: the same events, cut every `flush_ms` and
    /// at most `max_batch` to a frame; a zero keeps the setting.
    #[test]
    fn frames_follow_the_welcomes_flush_interval_and_batch_size() {
        let events = |flush_ms: u32, max_batch: u32| {
            let mut g = SessionGen::new(4, 2, Persona::Rage, 30_000_000, 250, None);
            g.follow(flush_ms, max_batch);
            let (mut frames, mut evs) = (Vec::new(), Vec::new());
            while let Some(f) = g.next_frame() {
                if let ClientFrame::Batch(b) = &f.frame {
                    let mut t = b.t0 as i64 * 1000;
                    for i in 0..b.len() {
                        t += i64::from(b.dt[i]);
                        evs.push((t, b.k[i], b.x[i], b.y[i]));
                    }
                }
                frames.push((f.send_at_us, f.samples));
            }
            (frames, evs)
        };
        let (default, evs) = events(0, 0);
        assert_eq!(events(250, 512), (default.clone(), evs.clone()));
        let (fast, fast_evs) = events(100, 0);
        assert_eq!(fast_evs, evs, "the same events");
        assert!(
            fast.iter().all(|(at, _)| at % 100_000 == 0),
            "cut every 100 ms"
        );
        assert!(default.iter().any(|(at, _)| at % 100_000 != 0));
        // Below the cap, one frame for each flush window that holds an event.
        let windows = |flush_us: i64| {
            let mut w: Vec<i64> = evs.iter().map(|e| e.0 / flush_us).collect();
            w.dedup();
            w.len()
        };
        assert_eq!(default.len(), windows(250_000));
        assert_eq!(fast.len(), windows(100_000));
        assert!(fast.len() > default.len());
        // The largest frame at the cap: it fits whole at max_batch = cap + 1 and cap, and is
        // split at cap − 1.
        let most = default.iter().map(|f| f.1).max().unwrap_or(0);
        assert!(most > 8, "{most}");
        let cap = most as u32;
        for (max_batch, frames_more) in [(cap + 1, false), (cap, false), (cap - 1, true)] {
            let (small, small_evs) = events(0, max_batch);
            assert_eq!(small_evs, evs);
            assert!(small.iter().all(|f| f.1 <= max_batch as usize));
            assert_eq!(
                small.len() > default.len(),
                frames_more,
                "max_batch {max_batch}"
            );
        }
    }

    #[test]
    fn moves_are_sampled_at_browser_rates_and_stay_in_the_viewport() {
        let mut g = SessionGen::new(5, 1, Persona::Calm, 20_000_000, 250, None);
        let (vw, vh) = (g.vw as i32, g.vh as i32);
        let mut last_move: Option<i64> = None;
        let mut gaps = Vec::new();
        while let Some(f) = g.next_frame() {
            let ClientFrame::Batch(b) = f.frame else {
                continue;
            };
            let mut t = b.t0 as i64 * 1000;
            for i in 0..b.len() {
                t += i64::from(b.dt[i]);
                if b.k[i] == kind::MOVE {
                    assert!((0..vw).contains(&b.x[i]) && (0..vh).contains(&b.y[i]));
                    if let Some(l) = last_move {
                        gaps.push(t - l);
                    }
                    last_move = Some(t);
                }
            }
        }
        // The most common gap between moves is one sample period of 60–120 Hz.
        gaps.sort();
        let median = gaps[gaps.len() / 2];
        assert!((8_000..=17_000).contains(&median), "{median} µs");
    }

    #[test]
    fn rage_bursts_are_reported_dead_click_by_click_as_an_sdk_would() {
        // PROTOCOL.md §4 kind 10: a click with no response within 1000 ms is reported, at its
        // position. Every click of a burst gets its report 1000–1050 ms later, in time order
        // with the clicks that follow it.
        let mut g = SessionGen::new(2, 7, Persona::Rage, 60_000_000, 250, None);
        let (mut clicks, mut dead, mut last_t) = (Vec::new(), Vec::new(), 0);
        while let Some(f) = g.next_frame() {
            let ClientFrame::Batch(b) = f.frame else {
                continue;
            };
            let mut t = b.t0 as i64 * 1000;
            for i in 0..b.len() {
                t += i64::from(b.dt[i]);
                assert!(t >= last_t && b.dt[i] < 60_000_000, "events in time order");
                last_t = t;
                match b.k[i] {
                    kind::CLICK => clicks.push((t, b.x[i], b.y[i])),
                    kind::DEAD => dead.push((t, b.x[i], b.y[i])),
                    _ => {}
                }
            }
        }
        assert!(dead.len() >= 8, "{} reports", dead.len());
        for (t, x, y) in &dead {
            let of = clicks
                .iter()
                .filter(|c| (c.1, c.2) == (*x, *y) && (1_000_000..=1_050_000).contains(&(t - c.0)));
            assert_eq!(of.count(), 1, "report at {t} µs ({x}, {y})");
        }
    }

    #[test]
    fn the_mix_parses_and_assigns_its_shares() {
        let m = Mix::parse("calm=0.5,rage=0.5").expect("mix");
        let rage = (0..1000)
            .filter(|i| m.persona_of(*i) == Persona::Rage)
            .count();
        assert!((490..=510).contains(&rage), "{rage}");
        assert!(Mix::parse("calm=1,angry=1").is_err());
        assert!(Mix::parse("calm=-1").is_err());
        assert!(Mix::parse("calm=0").is_err());
        assert!(Mix::parse("calm").is_err());
        let d = Mix::default();
        assert!((d.0.iter().map(|(_, w)| w).sum::<f64>() - 1.0).abs() < 1e-9);
    }
}
