//! The per-shard spool: append-only segments of checksummed records, group-committed with
//! synchronous writes (`O_DSYNC`, fdatasync's guarantee per write; `shard/committer.rs`). An
//! accepted frame is acknowledged only after the write that covers its record is durable.
//!
//! # On-disk format (version 1)
//! A segment file `<shard dir>/<first lsn, 20 digits>.seg` starts with a 16-byte header:
//! `b"SIQSPOOL"`, format version `u32 LE` (1), shard `u32 LE`. Then records:
//!
//! ```text
//! len   u32 LE   length of body
//! crc   u32 LE   CRC-32 (IEEE) of body
//! body:
//!   kind     u8       1 = client frame, 2 = detection, 3 = action (the core's outputs for
//!                     that frame), 4 = a finished alert (the lake's `alerts` row)
//!   recv_ms  u64 LE   server receive time
//!   tenant   u8 len + UTF-8
//!   sid      u8 len + ASCII
//!   seq      u64 LE
//!   frame    u32 LE len + kind 1: the frame's MessagePack bytes as accepted (after
//!                     redaction); kind 2/3: the detection/action as JSON
//!                     (`sentientiq_lake::DetectionRow`/`ActionRow`), `seq` being the frame
//!                     that led to it; kind 4: `sentientiq_lake::AlertRow` as JSON, `seq` 0
//! ```
//! Detection and action records are appended before the ack of its frame is queued, so both are durable
//! together.
//!
//! A record of a kind this binary does not know (written by a newer binary, before a rollback)
//! is kept: it decodes like any other (its kind is in the record), recovery never truncates at
//! it, replay skips it, and the shipper keeps it beside the spool (`unknown-<first lsn>.seg`,
//! the same format) instead of deleting it with its segment. New kinds must therefore never be
//! what an ack depends on alone.
//! The LSN of a record is the spool's total byte count after it (monotonic across segments).
//! Recovery reads segments in order and stops at the first record that is short, oversized or
//! fails its checksum; that segment is truncated there (a torn tail from a crash).
//!
//! A segment being written ends in zeros: the writer reserves its space up front and writes
//! whole blocks (`shard/committer.rs`), and cuts them off when it seals the segment. A record's
//! length is never 0, so every reader stops at them; recovery cuts them off a segment a crash
//! left open, counted apart from torn bytes ([`Recovered::zero_bytes`]).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::placement::owner;

pub const MAGIC: &[u8; 8] = b"SIQSPOOL";
pub const VERSION: u32 = 1;
pub const HEADER: usize = 16;
/// Largest body a record may have (a frame plus its envelope).
pub const MAX_BODY: usize = 512 * 1024;
pub const KIND_FRAME: u8 = 1;
pub const KIND_DETECTION: u8 = 2;
pub const KIND_ACTION: u8 = 3;
/// A finished alert: its lake row (JSON `sentientiq_lake::AlertRow`), under its session.
pub const KIND_ALERT: u8 = 4;

/// Whether this binary knows what a record of `kind` holds.
pub fn known_kind(kind: u8) -> bool {
    matches!(kind, KIND_FRAME | KIND_DETECTION | KIND_ACTION | KIND_ALERT)
}

/// One spooled record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: u8,
    pub recv_ms: u64,
    pub tenant: String,
    pub sid: String,
    pub seq: u64,
    pub frame: Vec<u8>,
}

/// One spooled record, borrowed from its segment's bytes (a [`SegmentReader`]'s buffer): the
/// shipper reads a segment this way, so a record costs it no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub kind: u8,
    pub recv_ms: u64,
    pub tenant: &'a str,
    pub sid: &'a str,
    pub seq: u64,
    pub frame: &'a [u8],
}

impl Record {
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            kind: self.kind,
            recv_ms: self.recv_ms,
            tenant: &self.tenant,
            sid: &self.sid,
            seq: self.seq,
            frame: &self.frame,
        }
    }
}

impl RecordRef<'_> {
    pub fn to_record(&self) -> Record {
        Record {
            kind: self.kind,
            recv_ms: self.recv_ms,
            tenant: self.tenant.to_owned(),
            sid: self.sid.to_owned(),
            seq: self.seq,
            frame: self.frame.to_vec(),
        }
    }
}

/// Appends the encoding of a record of `kind` to `out`.
pub fn encode_kind(
    kind: u8,
    recv_ms: u64,
    tenant: &str,
    sid: &str,
    seq: u64,
    frame: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(kind);
    out.extend_from_slice(&recv_ms.to_le_bytes());
    out.push(tenant.len().min(255) as u8);
    out.extend_from_slice(&tenant.as_bytes()[..tenant.len().min(255)]);
    out.push(sid.len().min(255) as u8);
    out.extend_from_slice(&sid.as_bytes()[..sid.len().min(255)]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(frame);
    let body = &out[start + 8..];
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The segment header for `shard`.
pub fn header(shard: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&shard.to_le_bytes());
    h
}

fn body(b: &[u8]) -> Option<RecordRef<'_>> {
    let mut p = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(p..p + n)?;
        p += n;
        Some(s)
    };
    let kind = take(1)?[0];
    let recv_ms = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let tl = take(1)?[0] as usize;
    let tenant = std::str::from_utf8(take(tl)?).ok()?;
    let sl = take(1)?[0] as usize;
    let sid = std::str::from_utf8(take(sl)?).ok()?;
    let seq = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let fl = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let frame = take(fl)?;
    if p != b.len() {
        return None;
    }
    Some(RecordRef {
        kind,
        recv_ms,
        tenant,
        sid,
        seq,
        frame,
    })
}

/// Decodes the records of one segment's bytes (header included). Returns the records and the
/// length of the valid prefix (where a torn or corrupt tail starts).
pub fn decode_segment(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut it = SegmentReader::new(bytes);
    let mut records = Vec::new();
    // Reading from a slice cannot fail; the iteration ends at the valid prefix's end.
    let _ = it.for_each(|r| records.push(r.to_record()));
    (records, it.valid())
}

/// How much of a segment a [`SegmentReader`] holds at once: a record's largest encoding
/// (`8 + MAX_BODY`) always fits, and a 64 MiB segment is read in 64 calls.
pub const READ_BUF: usize = 1 << 20;

/// Reads one segment's records (header included) from `src` through a buffer of [`READ_BUF`]
/// bytes, each checked against its CRC; reading ends at the first torn or corrupt record. The
/// shipper walks a segment this way, once per pass, and never holds it whole (a 64 MiB read
/// made the edge's peak RSS at 10 000 sessions: `bench/runs/2026-12-02-vm/`). Records borrow
/// from the buffer, until the next call.
#[derive(Debug)]
pub struct SegmentReader<R> {
    src: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[at..end]`.
    at: usize,
    end: usize,
    /// Bytes of the segment accepted so far: its header and whole, valid records.
    valid: usize,
    started: bool,
    eof: bool,
    done: bool,
}

impl<R: Read> SegmentReader<R> {
    pub fn new(src: R) -> SegmentReader<R> {
        SegmentReader {
            src,
            buf: Vec::new(),
            at: 0,
            end: 0,
            valid: 0,
            started: false,
            eof: false,
            done: false,
        }
    }

    /// The length of the valid prefix read so far: once reading has ended, where a torn or
    /// corrupt tail starts (0 for bytes that are not a segment).
    pub fn valid(&self) -> usize {
        self.valid
    }

    /// Makes at least `need` unread bytes available; false if the source ends first.
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        if self.end - self.at >= need {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.at..self.end, 0);
        self.end -= self.at;
        self.at = 0;
        if self.buf.len() < need {
            self.buf.resize(need.max(READ_BUF), 0);
        }
        while self.end < need {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The next record, or `None` at the end of the valid prefix. An error is the source's
    /// (the segment could not be read), never the segment's content.
    pub fn next_record(&mut self) -> io::Result<Option<RecordRef<'_>>> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            if !self.fill(HEADER)? || &self.buf[..8] != MAGIC {
                self.done = true;
                return Ok(None);
            }
            self.at += HEADER;
            self.valid = HEADER;
        }
        if !self.fill(8)? {
            self.done = true;
            return Ok(None);
        }
        let h = &self.buf[self.at..self.at + 8];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len == 0 || len > MAX_BODY || !self.fill(8 + len)? {
            self.done = true;
            return Ok(None);
        }
        let (s, e) = (self.at + 8, self.at + 8 + len);
        if crc32fast::hash(&self.buf[s..e]) != crc || body(&self.buf[s..e]).is_none() {
            self.done = true;
            return Ok(None);
        }
        self.at = e;
        self.valid += 8 + len;
        Ok(body(&self.buf[s..e]))
    }

    /// Gives every remaining record to `each`; returns how many there were.
    pub fn for_each(&mut self, mut each: impl FnMut(RecordRef<'_>)) -> io::Result<usize> {
        let mut n = 0;
        while let Some(r) = self.next_record()? {
            each(r);
            n += 1;
        }
        Ok(n)
    }
}

/// What recovery found in one shard directory.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Valid records read.
    pub records: usize,
    /// Bytes cut off torn segment tails (up to the last byte that is not zero).
    pub truncated_bytes: u64,
    /// Zeros cut off segments' ends: space reserved for records and not written, and the
    /// padding of the last block written.
    pub zero_bytes: u64,
    /// The LSN the next append continues from.
    pub next_lsn: u64,
    pub segments: usize,
    /// The segments' record bytes once torn tails are cut (none of them shipped yet): their
    /// LSN spans, headers not counted, as appends count them (the spool's backlog).
    pub bytes: u64,
    /// Each segment with records and the length of its valid prefix, in LSN order: what
    /// [`Replay::read`] reads back (appends made after recovery are past it).
    pub valid: Valid,
}

/// Segments and the lengths of their valid prefixes, in LSN order.
pub type Valid = Vec<(PathBuf, u64)>;

pub fn shard_dir(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir.join("spool").join(format!("shard-{shard:03}"))
}

/// The segments of a shard directory, by first LSN.
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut v = Vec::new();
    if !dir.exists() {
        return Ok(v);
    }
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "seg")
            && let Some(first) = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
        {
            v.push((first, p));
        }
    }
    v.sort();
    Ok(v)
}

/// Reads every segment of a shard directory in LSN order, giving each valid record to `each`
/// and truncating torn tails in place. Segments are read through a [`SegmentReader`], so
/// recovery holds one read buffer, never the spool: a spool grown to its cap during a lake
/// outage (`lake.spool_max_bytes` per shard) is read back at a restart in the same memory as
/// an empty one. (Until 2026-12-05 every record was collected first: an edge restarted on 250 MB
/// of spool peaked at 585 MB before it served anything; it now peaks at 85 MB.)
pub fn recover(dir: &Path, mut each: impl FnMut(RecordRef<'_>)) -> io::Result<Recovered> {
    let mut r = Recovered::default();
    for (first, path) in segments(dir)? {
        let f = fs::File::open(&path)?;
        let len = f.metadata()?.len();
        let mut it = SegmentReader::new(f);
        let records = it.for_each(&mut each)?;
        r.records += records;
        let valid = it.valid().max(HEADER.min(len as usize)) as u64;
        if records > 0 {
            r.valid.push((path.clone(), valid));
        }
        if valid < len {
            let f = fs::OpenOptions::new().read(true).write(true).open(&path)?;
            let written = written_end(&f, valid, len)?;
            r.truncated_bytes += written - valid;
            r.zero_bytes += len - written;
            f.set_len(valid)?;
            f.sync_all()?;
        }
        r.next_lsn = first + valid.saturating_sub(HEADER as u64);
        r.bytes += valid.saturating_sub(HEADER as u64);
        r.segments += 1;
    }
    // Segments already shipped and deleted still count: LSNs (and so lake file names) never
    // go back.
    r.next_lsn = r.next_lsn.max(shipped_lsn(dir)?);
    Ok(r)
}

/// Where the bytes of `f` between `from` and `len` end, but for zeros: just past the last byte
/// that is not zero, or `from`. Only the file's data is read: reserved space never written is
/// a hole to `SEEK_DATA` (ext4, xfs), so a crash in a fresh segment costs no read of it.
fn written_end(f: &fs::File, from: u64, len: u64) -> io::Result<u64> {
    use rustix::fs::{SeekFrom, seek};
    use rustix::io::Errno;
    use std::os::unix::fs::FileExt;
    // The next stretch of data at or after `at`, up to `len`: `SEEK_DATA` and `SEEK_HOLE` move
    // only the file's offset, which no read here uses (`read_at`). A filesystem without them
    // has all of it as data.
    let data_at = |at: u64| -> io::Result<Option<(u64, u64)>> {
        match seek(f, SeekFrom::Data(at)) {
            Ok(data) => match seek(f, SeekFrom::Hole(data)) {
                Ok(hole) => Ok(Some((data, hole.min(len)))),
                Err(Errno::NXIO | Errno::INVAL | Errno::OPNOTSUPP) => Ok(Some((data, len))),
                Err(e) => Err(e.into()),
            },
            Err(Errno::NXIO) => Ok(None),
            Err(Errno::INVAL | Errno::OPNOTSUPP) => Ok(Some((at, len))),
            Err(e) => Err(e.into()),
        }
    };
    let mut end = from;
    let mut at = from;
    let mut buf = vec![0u8; 1 << 16];
    while at < len {
        let Some((data, hole)) = data_at(at)? else {
            break;
        };
        let mut pos = data;
        while pos < hole {
            let n = buf.len().min((hole - pos) as usize);
            let got = match f.read_at(&mut buf[..n], pos) {
                Ok(0) => return Ok(end),
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Some(i) = buf[..got].iter().rposition(|&b| b != 0) {
                end = pos + i as u64 + 1;
            }
            pos += got as u64;
        }
        at = hole.max(data + 1);
    }
    Ok(end)
}

/// Reads back the records [`recover`] found: each segment's valid prefix (`valid`), in order,
/// one buffer at a time. Bytes appended since (a shard's committer may already write to a
/// directory another shard still reads) are not read. The shipper deletes no segment until
/// every shard has read its records ([`super::SpoolShare::replaying`]).
fn read_segments(
    valid: &[(PathBuf, u64)],
    mut each: impl FnMut(RecordRef<'_>),
) -> io::Result<usize> {
    let mut n = 0;
    for (path, len) in valid {
        n += SegmentReader::new(fs::File::open(path)?.take(*len)).for_each(&mut each)?;
    }
    Ok(n)
}

/// What recovery found in the whole spool, for the shards starting now.
#[derive(Debug, Default)]
pub struct RecoveredSpool {
    /// Per shard: the LSN its next append continues from.
    pub next_lsn: Vec<u64>,
    /// Per shard: the record bytes of its directory's segments, not shipped yet
    /// ([`Recovered::bytes`]).
    pub backlog: Vec<u64>,
    /// Bytes cut off torn segment tails.
    pub truncated_bytes: u64,
    /// Zeros cut off segments' ends ([`Recovered::zero_bytes`]): a segment a crash left open,
    /// or one whose cut at its seal did not reach the disk.
    pub zero_bytes: u64,
    /// Where each shard reads its records back.
    pub replay: Replay,
}

impl RecoveredSpool {
    /// Valid records read.
    pub fn records(&self) -> usize {
        self.replay.records.iter().sum()
    }
}

/// Recovers every `shard-NNN` directory under `root` ([`recover`]) for `nshards` shards (the
/// count may have changed since the spool was written), giving each record to `each` with the
/// shard that owns its session now.
pub fn recover_spool(
    root: &Path,
    nshards: usize,
    mut each: impl FnMut(usize, RecordRef<'_>),
) -> io::Result<RecoveredSpool> {
    let mut r = RecoveredSpool {
        next_lsn: vec![0; nshards],
        backlog: vec![0; nshards],
        replay: Replay {
            dirs: Vec::new(),
            records: vec![0; nshards],
        },
        ..RecoveredSpool::default()
    };
    if !root.exists() {
        return Ok(r);
    }
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let own = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("shard-"))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|i| *i < nshards);
        let mut only_own = own.is_some();
        let counts = &mut r.replay.records;
        let d = recover(&dir, |rec| {
            let o = owner(rec.tenant, rec.sid, nshards);
            only_own &= own == Some(o);
            counts[o] += 1;
            each(o, rec);
        })
        .map_err(|e| io::Error::new(e.kind(), format!("recovering {}: {e}", dir.display())))?;
        r.truncated_bytes += d.truncated_bytes;
        r.zero_bytes += d.zero_bytes;
        if let Some(i) = own {
            r.next_lsn[i] = d.next_lsn;
            r.backlog[i] = d.bytes;
        }
        if d.records > 0 {
            r.replay
                .dirs
                .push((d.valid, if only_own { own } else { None }));
        }
    }
    Ok(r)
}

/// The spool directories whose records rebuild sessions at start, in recovery's (sorted)
/// order, each as the segments recovery read and their valid lengths. A directory marked with
/// a shard holds only that shard's records (the shard count has not changed since they were
/// written): no other shard reads it. One not marked is read by every shard, each taking the
/// records of its own sessions.
#[derive(Debug, Default)]
pub struct Replay {
    dirs: Vec<(Valid, Option<usize>)>,
    /// Per shard: the records recovery found for it.
    records: Vec<usize>,
}

impl Replay {
    /// Gives shard `id` of `nshards` every record of its sessions, in spool order, and fails
    /// unless they are as many as recovery counted (the spool changed under it).
    pub fn read(
        &self,
        id: usize,
        nshards: usize,
        each: &mut dyn FnMut(RecordRef<'_>),
    ) -> io::Result<usize> {
        let mut n = 0;
        for (segments, only) in &self.dirs {
            match only {
                Some(s) if *s != id => {}
                Some(_) => n += read_segments(segments, &mut *each)?,
                None => {
                    read_segments(segments, |r| {
                        if owner(r.tenant, r.sid, nshards) == id {
                            n += 1;
                            each(r);
                        }
                    })?;
                }
            }
        }
        let expected = self.records.get(id).copied().unwrap_or(0);
        if n != expected {
            return Err(io::Error::other(format!(
                "shard {id} read {n} spool records back where recovery found {expected}"
            )));
        }
        Ok(n)
    }
}

const SHIPPED: &str = "shipped.lsn";

/// The end LSN of the last segment shipped to the lake and deleted (0 if none).
pub fn shipped_lsn(dir: &Path) -> io::Result<u64> {
    match fs::read_to_string(dir.join(SHIPPED)) {
        Ok(s) => s.trim().parse().map_err(|_| {
            io::Error::other(format!("{}: not a number", dir.join(SHIPPED).display()))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Deletes a shipped segment, first recording its end LSN durably so a restart never reuses
/// its LSNs (lake object keys are named by them). The file holds 20 digits and a newline; it is
/// made once with a temporary file, fsync and rename, and afterwards rewritten in place (the
/// same 21 bytes, one sector: no new block is needed, so this works on a full disk, where the
/// shipper must go on deleting to free space).
pub fn delete_shipped(dir: &Path, path: &Path, end_lsn: u64) -> io::Result<()> {
    if end_lsn > shipped_lsn(dir)? {
        let text = format!("{end_lsn:020}\n");
        let target = dir.join(SHIPPED);
        if target.exists() {
            let mut f = fs::OpenOptions::new().write(true).open(&target)?;
            io::Write::write_all(&mut f, text.as_bytes())?;
            f.set_len(text.len() as u64)?;
            f.sync_all()?;
        } else {
            let tmp = dir.join(".shipped.lsn.tmp");
            let mut f = fs::File::create(&tmp)?;
            io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, target)?;
        }
    }
    fs::remove_file(path)?;
    fs::File::open(dir)?.sync_all()
}

/// Keeps records this binary cannot read (unknown kinds) from the segment starting at `first`
/// before that segment is deleted: written durably to `unknown-<first>.seg` in the same format
/// (its name is not a segment's, so nothing here reads it again).
pub fn keep_unknown(dir: &Path, shard: u32, first: u64, records: &[Record]) -> io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mut v = header(shard).to_vec();
    for r in records {
        encode_kind(
            r.kind, r.recv_ms, &r.tenant, &r.sid, r.seq, &r.frame, &mut v,
        );
    }
    let path = dir.join(format!("unknown-{first:020}.seg"));
    let tmp = dir.join(format!(".unknown-{first:020}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    io::Write::write_all(&mut f, &v)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

/// The name of the segment whose first record starts at `lsn`.
pub fn segment_path(dir: &Path, lsn: u64) -> PathBuf {
    dir.join(format!("{lsn:020}.seg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame record for [`seg`]: receive time, tenant, session, seq, frame bytes.
    type Rec<'a> = (u64, &'a str, &'a str, u64, &'a [u8]);

    fn seg(records: &[Rec<'_>]) -> Vec<u8> {
        let mut v = header(3).to_vec();
        for (t, ten, sid, seq, f) in records {
            encode_kind(KIND_FRAME, *t, ten, sid, *seq, f, &mut v);
        }
        v
    }

    #[test]
    fn golden_segment_bytes() {
        // One record, byte for byte: the on-disk format is a contract with the lake shipper.
        // Expected bytes derived independently from the format above (Python struct + zlib).
        let v = seg(&[(
            1_763_780_000_123,
            "demo",
            "s_0123456789abcdef",
            7,
            &[0x81, 0xa1, b't', 0xa3, b'b', b'y', b'e'],
        )]);
        assert_eq!(
            hex::encode(&v[..20]),
            "53495153504f4f4c010000000300000034000000",
            "header + body length 52"
        );
        assert_eq!(hex::encode(&v[20..24]), "30720df0", "CRC-32 of the body");
        assert_eq!(
            hex::encode(&v[24..]),
            "017bf97aa99a0100000464656d6f12735f30313233343536373839616263646566\
             07000000000000000700000081a174a3627965"
        );
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let mut v = seg(&[(1, "t", "s1", 1, b"abc"), (2, "t", "s1", 2, b"defg")]);
        let full = v.len();
        let (r, valid) = decode_segment(&v);
        assert_eq!(r.len(), 2);
        assert_eq!(valid, full);
        assert_eq!(r[1].frame, b"defg");
        assert_eq!(r[1].kind, KIND_FRAME);
        // A detection record decodes with its kind.
        let mut d = header(0).to_vec();
        encode_kind(KIND_DETECTION, 3, "t", "s1", 2, b"{}", &mut d);
        let (rd, valid_d) = decode_segment(&d);
        assert_eq!(
            (rd.len(), rd[0].kind, valid_d),
            (1, KIND_DETECTION, d.len())
        );
        // A torn write: the last record cut short, then zero padding.
        v.truncate(full - 2);
        v.extend_from_slice(&[0; 64]);
        let (r, valid) = decode_segment(&v);
        assert_eq!(r.len(), 1);
        // A flipped bit in the second record's body.
        let mut w = seg(&[(1, "t", "s1", 1, b"abc"), (2, "t", "s1", 2, b"defg")]);
        let n = w.len();
        w[n - 1] ^= 1;
        assert_eq!(decode_segment(&w).0.len(), 1);
        assert!(valid < full);
    }

    /// A source that hands out at most `step` bytes per read, then fails after `fail_at` bytes.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
        fail_at: usize,
        sent: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.sent >= self.fail_at {
                return Err(io::Error::other("disk read failed"));
            }
            let n = self.step.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            self.sent += n;
            Ok(n)
        }
    }

    fn read_all(src: impl Read) -> io::Result<(Vec<Record>, usize)> {
        let mut it = SegmentReader::new(src);
        let mut v = Vec::new();
        while let Some(r) = it.next_record()? {
            v.push(r.to_record());
        }
        Ok((v, it.valid()))
    }

    #[test]
    fn a_segment_read_in_pieces_gives_every_record_and_where_it_ends() {
        // Records of every size up to the largest, more than the reader's buffer in all, handed
        // out a few bytes at a time: each record comes whole, in order, and the valid prefix is
        // the whole segment.
        let big = vec![7u8; 400 * 1024];
        let frames: Vec<&[u8]> = vec![b"a", &big, b"bc", &big, &big, b"", b"def"];
        let mut v = header(1).to_vec();
        for (i, f) in frames.iter().enumerate() {
            encode_kind(KIND_FRAME, i as u64, "t", "s1", i as u64 + 1, f, &mut v);
        }
        assert!(v.len() > READ_BUF);
        for step in [3usize, 4096, usize::MAX] {
            let src = Trickle {
                bytes: &v,
                step,
                fail_at: usize::MAX,
                sent: 0,
            };
            let (records, valid) = read_all(src).expect("read");
            assert_eq!(valid, v.len(), "step {step}");
            let got: Vec<&[u8]> = records.iter().map(|r| r.frame.as_slice()).collect();
            assert_eq!(got, frames, "step {step}");
            assert_eq!(records[6].seq, 7);
        }
        // A torn tail is where reading ends, wherever the pieces fall.
        let cut = v.len() - 2;
        let src = Trickle {
            bytes: &v[..cut],
            step: 3,
            fail_at: usize::MAX,
            sent: 0,
        };
        let (records, valid) = read_all(src).expect("read");
        assert_eq!(records.len(), 6);
        // The last record: 8 bytes of length and CRC, 26 of envelope ("t", "s1"), 3 of frame.
        assert_eq!(valid, v.len() - (8 + 26 + 3));
        // A failing source is an error, not an end: the shipper retries the segment later.
        let src = Trickle {
            bytes: &v,
            step: 4096,
            fail_at: 500 * 1024,
            sent: 0,
        };
        let err = read_all(src).expect_err("the read fails");
        assert_eq!(err.to_string(), "disk read failed");
        // Not a segment: nothing, and a valid prefix of 0.
        assert_eq!(
            read_all(&b"NOTSPOOL........"[..]).expect("read"),
            (vec![], 0)
        );
        assert_eq!(read_all(&b"SIQ"[..]).expect("read"), (vec![], 0));
    }

    #[test]
    fn a_record_body_of_max_body_is_read_and_one_byte_more_ends_the_segment() {
        // Envelope of tenant "t", sid "s": kind 1 + recv_ms 8 + 1 + 1 + 1 + 1 + seq 8 + len 4.
        const ENVELOPE: usize = 25;
        for (body_len, readable) in [
            (MAX_BODY - 1, true),
            (MAX_BODY, true),
            (MAX_BODY + 1, false),
        ] {
            let frame = vec![1u8; body_len - ENVELOPE];
            let mut v = header(0).to_vec();
            encode_kind(KIND_FRAME, 1, "t", "s", 1, &frame, &mut v);
            encode_kind(KIND_FRAME, 2, "t", "s", 2, b"x", &mut v);
            assert_eq!(
                u32::from_le_bytes(v[HEADER..HEADER + 4].try_into().expect("4 bytes")) as usize,
                body_len
            );
            let (records, valid) = read_all(&v[..]).expect("read");
            if readable {
                assert_eq!((records.len(), valid), (2, v.len()), "body {body_len}");
            } else {
                assert_eq!((records.len(), valid), (0, HEADER), "body {body_len}");
            }
        }
    }

    #[test]
    fn a_record_of_an_unknown_kind_is_kept_and_what_follows_it_is_read() {
        // A newer binary appended kind 9 between two frames, then was rolled back: the frames
        // on both sides stay readable, nothing is truncated, and the kind-9 record is kept whole.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/spool-v1-unknown-kind.seg"
        );
        let mut v = header(0).to_vec();
        encode_kind(
            KIND_FRAME,
            1,
            "demo",
            "s_0123456789abcdef",
            1,
            b"\x81\xa1t\xa3bye",
            &mut v,
        );
        encode_kind(
            9,
            2,
            "demo",
            "s_0123456789abcdef",
            1,
            b"{\"future\":true}",
            &mut v,
        );
        encode_kind(
            KIND_FRAME,
            3,
            "demo",
            "s_0123456789abcdef",
            2,
            b"\x81\xa1t\xa3bye",
            &mut v,
        );
        if std::env::var_os("SIQ_BLESS").is_some() {
            fs::write(path, &v).expect("bless");
        }
        let golden = fs::read(path).expect("fixture (SIQ_BLESS=1 writes it)");
        assert_eq!(v, golden, "the format is pinned");
        let (records, valid) = decode_segment(&golden);
        assert_eq!(
            valid,
            golden.len(),
            "nothing after the unknown record is cut off"
        );
        let kinds: Vec<(u8, u64)> = records.iter().map(|r| (r.kind, r.seq)).collect();
        assert_eq!(kinds, vec![(KIND_FRAME, 1), (9, 1), (KIND_FRAME, 2)]);
        assert!(!known_kind(9) && known_kind(KIND_ACTION));
        assert_eq!(records[1].frame, b"{\"future\":true}");
        // Recovery leaves such a segment as it is.
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(segment_path(dir.path(), 0), &golden).expect("write");
        let r = recover(dir.path(), |_| {}).expect("recover");
        assert_eq!((r.records, r.truncated_bytes), (3, 0));
        assert_eq!(
            fs::metadata(segment_path(dir.path(), 0))
                .expect("meta")
                .len(),
            golden.len() as u64
        );
    }

    /// A spool two shards wrote, recovered for one, two and three shards: each shard reads back
    /// every record of the sessions it owns now, once and in spool order, and a directory of
    /// one shard's own records is read by that shard alone.
    #[test]
    fn each_shard_reads_back_its_sessions_records_whatever_the_shard_count() {
        let root = tempfile::tempdir().expect("tempdir");
        let sids: Vec<String> = (0..12).map(|i| format!("s_spool_reshard_{i:04}")).collect();
        let mut written: Vec<Vec<Rec<'_>>> = vec![Vec::new(); 2];
        for seq in 1..=3u64 {
            for sid in &sids {
                written[owner("t", sid, 2)].push((seq, "t", sid, seq, b"f"));
            }
        }
        for (i, recs) in written.iter().enumerate() {
            let dir = root.path().join(format!("shard-{i:03}"));
            fs::create_dir_all(&dir).expect("dir");
            fs::write(segment_path(&dir, 0), seg(recs)).expect("write");
        }
        for n in [1, 2, 3] {
            let mut seen = 0;
            let r = recover_spool(root.path(), n, |o, rec| {
                assert_eq!(o, owner(rec.tenant, rec.sid, n));
                seen += 1;
            })
            .expect("recover");
            assert_eq!(
                (r.records(), seen, r.truncated_bytes),
                (36, 36, 0),
                "{n} shards"
            );
            let mut read: Vec<(usize, String, u64)> = Vec::new();
            for id in 0..n {
                r.replay
                    .read(id, n, &mut |rec| {
                        read.push((id, rec.sid.to_owned(), rec.seq))
                    })
                    .expect("read");
            }
            assert_eq!(read.len(), 36, "each record once with {n} shards");
            for sid in &sids {
                let mine: Vec<(usize, u64)> = read
                    .iter()
                    .filter(|(_, s, _)| s == sid)
                    .map(|(id, _, seq)| (*id, *seq))
                    .collect();
                let o = owner("t", sid, n);
                assert_eq!(mine, [(o, 1), (o, 2), (o, 3)], "{sid} with {n} shards");
            }
            let marks: Vec<Option<usize>> = r.replay.dirs.iter().map(|d| d.1).collect();
            let expected: Vec<Option<usize>> = (0..2)
                .map(|i| (i < n && written[i].iter().all(|w| owner("t", w.2, n) == i)).then_some(i))
                .collect();
            assert_eq!(marks, expected, "{n} shards");
            match n {
                2 => assert_eq!(marks, [Some(0), Some(1)]),
                1 => assert_eq!(marks, [Some(0), None]),
                _ => assert!(marks.contains(&None), "three shards share a directory"),
            }
            // Where appends continue: after the directory of the shard's number.
            assert_eq!(r.next_lsn.len(), n);
            for (i, w) in written.iter().enumerate().take(n) {
                let bytes = seg(w).len();
                assert_eq!(r.next_lsn[i], (bytes - HEADER) as u64);
                assert_eq!(r.backlog[i], (bytes - HEADER) as u64);
            }
        }
        // No spool at all: nothing to read.
        let none = recover_spool(&root.path().join("absent"), 2, |_, _| {}).expect("recover");
        assert_eq!(
            (none.records(), none.next_lsn, none.replay.dirs.len()),
            (0, vec![0, 0], 0)
        );
    }

    /// A session whose records sit in two directories (the shard count changed) is read back in
    /// recovery's order: directory, then segment, then record. A torn tail is cut first, and
    /// what a committer appends after recovery is not read back.
    #[test]
    fn replay_reads_what_recovery_found_in_its_order_and_nothing_appended_since() {
        let root = tempfile::tempdir().expect("tempdir");
        let (d0, d1) = (root.path().join("shard-000"), root.path().join("shard-001"));
        for d in [&d0, &d1] {
            fs::create_dir_all(d).expect("dir");
        }
        let s = "s_spool_spread_0001";
        let first = seg(&[(1, "t", s, 1, b"a")]);
        fs::write(segment_path(&d0, 0), &first).expect("write");
        let mut second = seg(&[(3, "t", s, 3, b"c")]);
        second.extend_from_slice(&[7, 0, 0, 0, 1]); // a torn record
        let second_at = (first.len() - HEADER) as u64;
        fs::write(segment_path(&d0, second_at), &second).expect("write");
        let third = seg(&[(2, "t", s, 2, b"b")]);
        fs::write(segment_path(&d1, 0), &third).expect("write");
        let r = recover_spool(root.path(), 1, |_, _| {}).expect("recover");
        assert_eq!((r.records(), r.truncated_bytes), (3, 5));
        assert_eq!(r.next_lsn, [second_at + (second.len() - 5 - HEADER) as u64]);
        // A committer appends to shard-001's segment after recovery (here: more of the same
        // session, as if the shard count had changed back).
        let mut more = Vec::new();
        encode_kind(KIND_FRAME, 4, "t", s, 4, b"d", &mut more);
        fs::OpenOptions::new()
            .append(true)
            .open(segment_path(&d1, 0))
            .and_then(|mut f| std::io::Write::write_all(&mut f, &more))
            .expect("append");
        let mut seqs = Vec::new();
        let n = r
            .replay
            .read(0, 1, &mut |rec| seqs.push(rec.seq))
            .expect("read");
        assert_eq!((n, seqs), (3, vec![1, 3, 2]));
        // Fewer records than recovery counted (a segment gone) is an error, not a quiet gap.
        fs::remove_file(segment_path(&d1, 0)).expect("remove");
        let err = r
            .replay
            .read(0, 1, &mut |_| {})
            .expect_err("a segment is missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        fs::write(segment_path(&d1, 0), header(1)).expect("write");
        let err = r
            .replay
            .read(0, 1, &mut |_| {})
            .expect_err("records are missing");
        assert!(
            err.to_string()
                .contains("read 2 spool records back where recovery found 3")
        );
    }

    #[test]
    fn lsns_continue_after_every_segment_was_shipped_and_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = seg(&[(1, "t", "s1", 1, b"abc")]);
        let path = segment_path(dir.path(), 0);
        fs::write(&path, &v).expect("write");
        let end = recover(dir.path(), |_| {}).expect("recover").next_lsn;
        assert_eq!(end, (v.len() - HEADER) as u64);
        delete_shipped(dir.path(), &path, end).expect("delete");
        assert!(!path.exists());
        // An empty directory still continues after the shipped segment, so a new segment (and
        // its lake files) never reuses a name.
        let r = recover(dir.path(), |_| {}).expect("recover");
        assert_eq!((r.segments, r.next_lsn), (0, end));
        // A lower end never moves it back.
        let other = segment_path(dir.path(), 1);
        fs::write(&other, header(0)).expect("write");
        delete_shipped(dir.path(), &other, 1).expect("delete");
        assert_eq!(shipped_lsn(dir.path()).expect("read"), end);
    }

    #[test]
    fn recover_truncates_in_place_and_continues_the_lsn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut v = seg(&[(1, "t", "s1", 1, b"abc"), (2, "t", "s1", 2, b"defg")]);
        let good = v.len();
        v.extend_from_slice(&[9, 0, 0, 0, 1, 2]); // torn header of a third record
        fs::write(segment_path(dir.path(), 0), &v).expect("write");
        let r = recover(dir.path(), |_| {}).expect("recover");
        assert_eq!(r.records, 2);
        assert_eq!(r.truncated_bytes, 6);
        assert_eq!(r.next_lsn, (good - HEADER) as u64);
        assert_eq!(
            fs::metadata(segment_path(dir.path(), 0))
                .expect("meta")
                .len(),
            good as u64
        );
        // Idempotent.
        let again = recover(dir.path(), |_| {}).expect("recover");
        assert_eq!((again.records, again.truncated_bytes), (2, 0));
    }

    /// A segment a crash left open ends in zeros: its reserved space (never written: a hole to
    /// `SEEK_DATA`) and its last block's padding (written). They are cut off and counted as
    /// zeros; torn bytes before them are counted as torn, up to their last byte that is not 0.
    #[test]
    fn recover_cuts_a_zero_tail_and_counts_it_apart_from_torn_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = seg(&[(1, "t", "s1", 1, b"abc"), (2, "t", "s1", 2, b"defg")]);
        let good = v.len() as u64;
        // A byte written at 3 MiB, in the reserved space past what the reader reads at once
        // (`READ_BUF`: the pages it read count as data to `SEEK_DATA`): data past a hole.
        let late = 3 << 20;
        let late_torn = late + 1 - good;
        // (bytes after the records, zeros reserved past them, a byte at `late`, torn bytes)
        let cases: [(&[u8], u64, bool, u64); 6] = [
            (&[0; 4000], 0, false, 0),
            (&[0; 4000], 1 << 20, false, 0),
            (&[9, 0, 0, 0, 1, 2], 1 << 20, false, 6),
            (&[9, 0, 0, 0, 1, 2, 0, 0, 0], 0, false, 6),
            (&[0, 0, 0, 0, 7], 1 << 16, false, 5),
            (&[0; 100], 4 << 20, true, late_torn),
        ];
        for (i, (after, reserved, late_byte, torn)) in cases.into_iter().enumerate() {
            let path = segment_path(dir.path(), 0);
            let mut bytes = v.clone();
            bytes.extend_from_slice(after);
            fs::write(&path, &bytes).expect("write");
            let len = bytes.len() as u64 + reserved;
            if reserved > 0 {
                let f = fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .expect("open");
                rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, len)
                    .expect("fallocate");
                if late_byte {
                    use std::os::unix::fs::FileExt;
                    f.write_all_at(b"x", late).expect("a late byte");
                }
            }
            assert_eq!(fs::metadata(&path).expect("meta").len(), len, "case {i}");
            let r = recover(dir.path(), |_| {}).expect("recover");
            assert_eq!(
                (r.records, r.truncated_bytes, r.zero_bytes),
                (2, torn, len - good - torn),
                "case {i}"
            );
            assert_eq!(r.next_lsn, good - HEADER as u64, "case {i}");
            assert_eq!(fs::metadata(&path).expect("meta").len(), good, "case {i}");
            let again = recover(dir.path(), |_| {}).expect("recover");
            assert_eq!(
                (again.truncated_bytes, again.zero_bytes),
                (0, 0),
                "case {i}"
            );
        }
    }
}
