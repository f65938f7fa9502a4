//! Everything that takes SDK traffic in: each shard's TCP listener and HTTP routes
//! ([`listener`], [`http`]), WebSocket sessions ([`ws`]), `POST /v1/batch` beacons
//! ([`beacon`]), QUIC ([`quic`]), the session-start checks they share ([`hello`]) and the
//! route from a connection to the shard that owns its session ([`route`]); the alert link page
//! ([`alert_page`]); the demo shop page ([`demo_shop`], `[edge] demo_shop`).

pub mod alert_page;
pub mod beacon;
pub mod demo_shop;
pub mod hello;
pub mod http;
pub mod listener;
pub mod quic;
pub mod route;
pub mod sdk;
pub mod ws;
