//! The thread-per-core edge shell (glommio shards, WebSocket/HTTP/QUIC listeners, spool, RocksDB identity, lake writer). Not built yet: issues 3, 4 and 6.
