//! Alert delivery: a $100k customer's rage reaches a person within seconds, with a link to act.
//!
//! Pure core, thin shell (see `README.md` beside this crate):
//!
//! - [`chain`]: the escalation state machine of one alert, and [`book`] the alerts an edge holds
//!   (grouping repeat detections of an account into its open alert). Time is a parameter; the
//!   output is a list of [`chain::Effect`]s.
//! - [`limits`]: per-destination and per-contact rate limits (GCRA, the token bucket's
//!   virtual-time form), `Retry-After`, quiet hours.
//! - [`channels`]: per vendor, a pure request builder and a pure response classifier.
//! - [`message`]: the alert's text per channel, within each vendor's size limits.
//! - [`link`]: signed, expiring one-click links.
//! - [`secret`]: redacted credential types and authenticated encryption for secrets at rest.
//! - [`config`]: a tenant's contacts, chains and vendor accounts, validated once.
//! - [`shell`]: the only module that does I/O: an HTTP client (hyper-util + rustls/ring), lanes
//!   per destination, and a runner that drives a [`book::Book`] with a real clock.
//! - `stubs` (feature `stubs`): local stand-ins for every vendor, strict about request shapes.
//!
//! Architecture invariant: nothing outside [`shell`] and `stubs` reads a clock or does I/O
//! (`clippy.toml` bans `Instant::now`/`SystemTime::now`; the shell allows it where it must).

pub mod book;
pub mod chain;
pub mod channels;
pub mod config;
pub mod ids;
pub mod limits;
pub mod link;
pub mod message;
pub mod secret;
pub mod shell;
pub mod time;

#[cfg(feature = "stubs")]
pub mod stubs;

pub use book::Book;
pub use chain::{Chain, Effect};
pub use channels::Outcome;
pub use ids::{AlertId, ContactId, DeliveryId};
pub use message::Detection;
