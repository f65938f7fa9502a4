//! Error taxonomy of the wire protocol and its one mapping to wire codes, HTTP statuses and
//! WebSocket close codes (PROTOCOL.md §5–§6). Every shell maps errors here and nowhere else.

use std::fmt;

/// The `code` of an `err` frame (PROTOCOL.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadKey,
    Origin,
    Version,
    BadFrame,
    TooBig,
    RateLimited,
    Overloaded,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::BadKey,
        ErrorCode::Origin,
        ErrorCode::Version,
        ErrorCode::BadFrame,
        ErrorCode::TooBig,
        ErrorCode::RateLimited,
        ErrorCode::Overloaded,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadKey => "bad_key",
            ErrorCode::Origin => "origin",
            ErrorCode::Version => "version",
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::TooBig => "too_big",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// HTTP status for `POST /v1/batch` (PROTOCOL.md §6).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadFrame | ErrorCode::Version => 400,
            ErrorCode::BadKey => 401,
            ErrorCode::Origin => 403,
            ErrorCode::TooBig => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Overloaded => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// WebSocket close code used when this error is fatal (PROTOCOL.md §6).
    pub fn ws_close_code(self) -> u16 {
        match self {
            ErrorCode::BadKey | ErrorCode::Origin | ErrorCode::Version => 1008,
            ErrorCode::TooBig => 1009,
            ErrorCode::BadFrame => 1007,
            ErrorCode::RateLimited | ErrorCode::Overloaded => 1013,
            ErrorCode::Internal => 1011,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be decoded. Every variant maps to exactly one [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is {len} bytes, over the {limit}-byte limit")]
    FrameTooBig { len: usize, limit: usize },
    #[error("`{field}` has {len} entries, over the limit of {limit}")]
    TooMany {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("a string in `{field}` is {len} bytes, over the {limit}-byte limit")]
    StringTooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("`{field}` nests deeper than {limit} levels")]
    TooDeep { field: &'static str, limit: usize },
    #[error("malformed MessagePack: {0}")]
    Malformed(&'static str),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}`: {problem}")]
    Invalid {
        field: &'static str,
        problem: &'static str,
    },
    #[error("unknown frame type `{0}`")]
    UnknownType(String),
    #[error("unsupported protocol version {0} (this edge speaks v1)")]
    Version(u64),
    #[error("secret keys (siq_sk_…) must never be sent from a client")]
    SecretKey,
    #[error("bad write key: {0}")]
    BadKey(&'static str),
}

impl DecodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::FrameTooBig { .. }
            | DecodeError::TooMany { .. }
            | DecodeError::StringTooLong { .. }
            | DecodeError::TooDeep { .. } => ErrorCode::TooBig,
            DecodeError::Malformed(_)
            | DecodeError::Missing(_)
            | DecodeError::Invalid { .. }
            | DecodeError::UnknownType(_) => ErrorCode::BadFrame,
            DecodeError::Version(_) => ErrorCode::Version,
            DecodeError::SecretKey | DecodeError::BadKey(_) => ErrorCode::BadKey,
        }
    }

    /// Whether the connection must close after the `err` frame. An unknown frame type is not
    /// fatal (PROTOCOL.md §1); neither is a single refused frame after the session started.
    /// A shell decides fatality for `hello` itself (every hello error is fatal).
    pub fn fatal(&self) -> bool {
        matches!(
            self,
            DecodeError::Version(_) | DecodeError::SecretKey | DecodeError::BadKey(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_as_protocol_says() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        let table = [
            (ErrorCode::BadFrame, 400, 1007),
            (ErrorCode::BadKey, 401, 1008),
            (ErrorCode::Origin, 403, 1008),
            (ErrorCode::TooBig, 413, 1009),
            (ErrorCode::RateLimited, 429, 1013),
            (ErrorCode::Overloaded, 503, 1013),
            (ErrorCode::Internal, 500, 1011),
        ];
        for (c, http, ws) in table {
            assert_eq!((c.http_status(), c.ws_close_code()), (http, ws), "{c}");
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn unknown_type_is_bad_frame_and_not_fatal() {
        let e = DecodeError::UnknownType("zz".into());
        assert_eq!(e.code(), ErrorCode::BadFrame);
        assert!(!e.fatal());
    }
}
