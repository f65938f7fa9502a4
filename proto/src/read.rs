//! A bounded, zero-copy MessagePack reader over a byte slice.
//!
//! Length prefixes are never trusted for allocation: every element of a MessagePack collection
//! takes at least one byte, so a claimed length is first checked against the bytes that remain.
//! Skipping an unknown value is iterative (a pending-item counter, no recursion), so a hostile
//! nesting depth cannot overflow the stack.

use rmp::Marker;

use crate::error::DecodeError;

type R<T> = Result<T, DecodeError>;

const EOF: DecodeError = DecodeError::Malformed("unexpected end of input");

#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    #[inline]
    fn byte(&mut self) -> R<u8> {
        let b = *self.buf.get(self.pos).ok_or(EOF)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.remaining() < n {
            return Err(EOF);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn be<const N: usize>(&mut self) -> R<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    pub(crate) fn peek_marker(&self) -> R<Marker> {
        self.buf
            .get(self.pos)
            .map(|b| Marker::from_u8(*b))
            .ok_or(EOF)
    }

    #[inline]
    pub(crate) fn marker(&mut self) -> R<Marker> {
        Ok(Marker::from_u8(self.byte()?))
    }

    /// Reads `nil` if present; true if it was there.
    pub(crate) fn try_nil(&mut self) -> R<bool> {
        if self.peek_marker()? == Marker::Null {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// Any MessagePack integer, as i128 so that every u64 and i64 fits.
    #[inline]
    fn int_after(&mut self, m: Marker) -> R<Option<i128>> {
        Ok(Some(match m {
            Marker::FixPos(v) => i128::from(v),
            Marker::FixNeg(v) => i128::from(v),
            Marker::U8 => i128::from(self.byte()?),
            Marker::U16 => i128::from(u16::from_be_bytes(self.be()?)),
            Marker::U32 => i128::from(u32::from_be_bytes(self.be()?)),
            Marker::U64 => i128::from(u64::from_be_bytes(self.be()?)),
            Marker::I8 => i128::from(self.byte()? as i8),
            Marker::I16 => i128::from(i16::from_be_bytes(self.be()?)),
            Marker::I32 => i128::from(i32::from_be_bytes(self.be()?)),
            Marker::I64 => i128::from(i64::from_be_bytes(self.be()?)),
            _ => return Ok(None),
        }))
    }

    /// An integer field; floats are refused (the protocol says integers).
    #[inline]
    pub(crate) fn int(&mut self, field: &'static str) -> R<i128> {
        let m = self.marker()?;
        self.int_after(m)?.ok_or(DecodeError::Invalid {
            field,
            problem: "expected an integer",
        })
    }

    #[inline]
    pub(crate) fn u64(&mut self, field: &'static str) -> R<u64> {
        u64::try_from(self.int(field)?).map_err(|_| DecodeError::Invalid {
            field,
            problem: "out of range for an unsigned 64-bit integer",
        })
    }

    #[inline]
    pub(crate) fn u32(&mut self, field: &'static str) -> R<u32> {
        u32::try_from(self.int(field)?).map_err(|_| DecodeError::Invalid {
            field,
            problem: "out of range for an unsigned 32-bit integer",
        })
    }

    #[inline]
    pub(crate) fn i32(&mut self, field: &'static str) -> R<i32> {
        i32::try_from(self.int(field)?).map_err(|_| DecodeError::Invalid {
            field,
            problem: "out of range for a signed 32-bit integer",
        })
    }

    #[inline]
    pub(crate) fn u8(&mut self, field: &'static str) -> R<u8> {
        u8::try_from(self.int(field)?).map_err(|_| DecodeError::Invalid {
            field,
            problem: "out of range for an unsigned 8-bit integer",
        })
    }

    /// A number: any integer or float (f32 or f64), as f64.
    pub(crate) fn number(&mut self, field: &'static str) -> R<f64> {
        let m = self.marker()?;
        if let Some(i) = self.int_after(m)? {
            return Ok(i as f64);
        }
        match m {
            Marker::F32 => Ok(f64::from(f32::from_be_bytes(self.be()?))),
            Marker::F64 => Ok(f64::from_be_bytes(self.be()?)),
            _ => Err(DecodeError::Invalid {
                field,
                problem: "expected a number",
            }),
        }
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> R<bool> {
        match self.marker()? {
            Marker::True => Ok(true),
            Marker::False => Ok(false),
            // 0/1 are accepted: some encoders write flags as integers.
            Marker::FixPos(0) => Ok(false),
            Marker::FixPos(1) => Ok(true),
            _ => Err(DecodeError::Invalid {
                field,
                problem: "expected a boolean",
            }),
        }
    }

    fn str_len_after(&mut self, m: Marker) -> R<Option<usize>> {
        Ok(Some(match m {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 => usize::from(self.byte()?),
            Marker::Str16 => usize::from(u16::from_be_bytes(self.be()?)),
            Marker::Str32 => u32::from_be_bytes(self.be()?) as usize,
            _ => return Ok(None),
        }))
    }

    /// A UTF-8 string of at most `max` bytes, borrowed from the input.
    pub(crate) fn str(&mut self, field: &'static str, max: usize) -> R<&'a str> {
        let m = self.marker()?;
        let len = self.str_len_after(m)?.ok_or(DecodeError::Invalid {
            field,
            problem: "expected a string",
        })?;
        if len > max {
            return Err(DecodeError::StringTooLong {
                field,
                len,
                limit: max,
            });
        }
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::Invalid {
            field,
            problem: "not valid UTF-8",
        })
    }

    /// Length of an array, checked against `max` and against the bytes that remain.
    pub(crate) fn array_len(&mut self, field: &'static str, max: usize) -> R<usize> {
        let m = self.marker()?;
        let len = match m {
            Marker::FixArray(n) => usize::from(n),
            Marker::Array16 => usize::from(u16::from_be_bytes(self.be()?)),
            Marker::Array32 => u32::from_be_bytes(self.be()?) as usize,
            _ => {
                return Err(DecodeError::Invalid {
                    field,
                    problem: "expected an array",
                });
            }
        };
        self.check_count(field, len, max, 1)
    }

    /// Length of a `bin` value if the next value is one (used for `k`, which a JS encoder writes
    /// from a `Uint8Array` as bin); `None` leaves the reader where it was.
    pub(crate) fn try_bin(&mut self, field: &'static str, max: usize) -> R<Option<&'a [u8]>> {
        let len = match self.peek_marker()? {
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let m = self.marker()?;
                match m {
                    Marker::Bin8 => usize::from(self.byte()?),
                    Marker::Bin16 => usize::from(u16::from_be_bytes(self.be()?)),
                    _ => u32::from_be_bytes(self.be()?) as usize,
                }
            }
            _ => return Ok(None),
        };
        if len > max {
            return Err(DecodeError::TooMany {
                field,
                len,
                limit: max,
            });
        }
        self.take(len).map(Some)
    }

    pub(crate) fn map_len(&mut self, field: &'static str, max: usize) -> R<usize> {
        let m = self.marker()?;
        let len = match m {
            Marker::FixMap(n) => usize::from(n),
            Marker::Map16 => usize::from(u16::from_be_bytes(self.be()?)),
            Marker::Map32 => u32::from_be_bytes(self.be()?) as usize,
            _ => {
                return Err(DecodeError::Invalid {
                    field,
                    problem: "expected a map",
                });
            }
        };
        self.check_count(field, len, max, 2)
    }

    fn check_count(&self, field: &'static str, len: usize, max: usize, per: usize) -> R<usize> {
        if len > max {
            return Err(DecodeError::TooMany {
                field,
                len,
                limit: max,
            });
        }
        if len.saturating_mul(per) > self.remaining() {
            return Err(EOF);
        }
        Ok(len)
    }

    /// Skips one complete value of any type, iteratively.
    pub(crate) fn skip(&mut self) -> R<()> {
        let mut pending: usize = 1;
        while pending > 0 {
            pending -= 1;
            let m = self.marker()?;
            if self.int_after(m)?.is_some() {
                continue;
            }
            if let Some(n) = self.str_len_after(m)? {
                self.take(n)?;
                continue;
            }
            let extra: usize = match m {
                Marker::Null | Marker::True | Marker::False => 0,
                Marker::F32 => {
                    self.take(4)?;
                    0
                }
                Marker::F64 => {
                    self.take(8)?;
                    0
                }
                Marker::Bin8 => {
                    let n = usize::from(self.byte()?);
                    self.take(n)?;
                    0
                }
                Marker::Bin16 => {
                    let n = usize::from(u16::from_be_bytes(self.be()?));
                    self.take(n)?;
                    0
                }
                Marker::Bin32 => {
                    let n = u32::from_be_bytes(self.be()?) as usize;
                    self.take(n)?;
                    0
                }
                Marker::FixArray(n) => usize::from(n),
                Marker::Array16 => usize::from(u16::from_be_bytes(self.be()?)),
                Marker::Array32 => u32::from_be_bytes(self.be()?) as usize,
                Marker::FixMap(n) => 2 * usize::from(n),
                Marker::Map16 => 2 * usize::from(u16::from_be_bytes(self.be()?)),
                Marker::Map32 => 2 * (u32::from_be_bytes(self.be()?) as usize),
                Marker::FixExt1 => self.take(2).map(|_| 0)?,
                Marker::FixExt2 => self.take(3).map(|_| 0)?,
                Marker::FixExt4 => self.take(5).map(|_| 0)?,
                Marker::FixExt8 => self.take(9).map(|_| 0)?,
                Marker::FixExt16 => self.take(17).map(|_| 0)?,
                Marker::Ext8 => {
                    let n = usize::from(self.byte()?);
                    self.take(n + 1).map(|_| 0)?
                }
                Marker::Ext16 => {
                    let n = usize::from(u16::from_be_bytes(self.be()?));
                    self.take(n + 1).map(|_| 0)?
                }
                Marker::Ext32 => {
                    let n = u32::from_be_bytes(self.be()?) as usize;
                    self.take(n.saturating_add(1)).map(|_| 0)?
                }
                _ => return Err(DecodeError::Malformed("reserved marker byte 0xc1")),
            };
            if extra > self.remaining() {
                return Err(EOF);
            }
            pending += extra;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_claimed_lengths_are_refused_before_allocating() {
        // array32 claiming 4 billion elements, followed by 3 bytes.
        let b = [0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let mut r = Reader::new(&b);
        assert!(matches!(
            r.array_len("x", usize::MAX),
            Err(DecodeError::Malformed(_))
        ));
        let mut r = Reader::new(&b);
        assert!(matches!(r.skip(), Err(DecodeError::Malformed(_))));
        // map32 claiming u32::MAX pairs.
        let b = [0xdf, 0xff, 0xff, 0xff, 0xff, 1];
        assert!(Reader::new(&b).skip().is_err());
    }

    #[test]
    fn skip_handles_deep_nesting_without_recursion() {
        let mut b = vec![0x91u8; 1_000_000]; // a million nested fixarrays of one element
        b.push(0xc0);
        let mut r = Reader::new(&b);
        r.skip().expect("deep but well-formed");
        assert!(r.is_empty());
    }

    #[test]
    fn integers_of_every_width() {
        const VALUES: [i64; 12] = [
            0,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            -1,
            -32,
            -33,
            -129,
            i64::MIN,
        ];
        let mut buf = Vec::new();
        for v in VALUES {
            rmp::encode::write_sint(&mut buf, v).expect("vec write");
        }
        rmp::encode::write_u64(&mut buf, u64::MAX).expect("vec write");
        let mut r = Reader::new(&buf);
        for v in VALUES {
            assert_eq!(r.int("v").expect("int"), i128::from(v));
        }
        assert_eq!(r.u64("v").expect("u64"), u64::MAX);
        assert!(r.is_empty());
    }
}
