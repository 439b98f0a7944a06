//! A durable local journal for accounting records, for when PostgreSQL is down or slow.
//!
//! An Accounting-Response may only be sent once its record is durable. When the database
//! cannot take a record in time, the accounting sink appends it here instead
//! ([`Journal::append`] returns `Ok` only after an fsync), answers the NAS, and a replay
//! task later reads the records back in append order ([`Journal::peek`]), upserts them into
//! PostgreSQL and then marks them done ([`Journal::consume`]). Payloads are opaque bytes:
//! the caller serialises records. All I/O is blocking: run the journal on a dedicated
//! thread or in `spawn_blocking`.
//!
//! # On disk: one directory ([`JournalOptions::dir`])
//!
//! - `0000000000000001.seg`, `0000000000000002.seg`, …: segments, numbered (decimal) in
//!   append order. Only the highest-numbered one is written to. A new one is started when
//!   the next group would take the current one past `segment_bytes` (a group larger than
//!   that gets a segment of its own, so a segment can be bigger). No file header: a segment
//!   is frames back to back, each
//!   `length: u32 LE | CRC-32C (Castagnoli) of the payload: u32 LE | payload`,
//!   with 1 ≤ length ≤ [`MAX_PAYLOAD`]. Length 0 is never written, so a zero-filled tail
//!   (which some filesystems leave after a crash) ends the log instead of parsing as
//!   empty records.
//! - `cursor`: one text line, `<segment file> <byte offset>` (e.g.
//!   `0000000000000003.seg 4096`): where replay resumes. Segments numbered below it are
//!   fully replayed and deleted; if its own segment is gone, replay starts at offset 0 of
//!   the next one. Replaced atomically: written to `cursor.tmp`, fsynced, renamed over
//!   `cursor`, directory fsynced. No (or unreadable) cursor: replay from the oldest segment.
//! - `lock`: an advisory lock (flock) held while a [`Journal`] is open; a second opener,
//!   in this process or another, gets [`JournalError::Locked`].
//!
//! # Durability
//!
//! [`Journal::append`] writes the whole group, then calls `fdatasync` once; a new segment's
//! directory entry is fsynced before anything in it is acknowledged. A killed process
//! (SIGKILL, OOM) or a power cut loses nothing `append` returned `Ok` for. A group is not
//! atomic on crash: a prefix of an unacknowledged group may survive and be replayed, which
//! is harmless (see replay). After any I/O error inside `append` the journal refuses
//! further appends ([`JournalError::Poisoned`]): drop it and open it again, which
//! re-establishes a known state from the files. Never edit files while the server runs.
//!
//! # Open and recovery (reported in [`Recovery`])
//!
//! Every segment from the cursor on is read and every frame's CRC checked.
//! - **Last segment, torn tail**: the first frame with a short header, a length of 0 or past
//!   [`MAX_PAYLOAD`] or past the end of the file, or a CRC mismatch ends the log. That is
//!   what a crash during an append leaves; the file is truncated there (and fsynced) and
//!   the cut bytes are counted in `torn_tail_bytes`. The cut frames were never acknowledged.
//! - **Earlier segment, bad frame**: that is disk corruption, not a crash. Reading that
//!   segment stops there (the records after it in that segment are lost), it is counted in
//!   `corrupt_segments`, and the next segment is read as usual. The file is left as it is
//!   until replay passes it and deletes it; copy it aside first if you want to look at it.
//!
//! # Replay: at-least-once
//!
//! The cursor is made durable on every [`Journal::consume`]. After a crash between the
//! database commit and the cursor write, the records after the last durable cursor are
//! replayed again. The accounting upsert is keyed on the record's unique session id, so
//! at-least-once replay + an idempotent upsert = each record once in the table.
//!
//! # Full
//!
//! `max_bytes` bounds the bytes on disk of the segments still present (a partly replayed
//! segment counts whole). An append that would pass it writes nothing and fails with
//! [`JournalError::Full`]; the caller then stops acknowledging, so NASes retry. Nothing is
//! ever dropped silently. Space comes back as replay deletes whole segments.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest payload accepted by [`Journal::append`] (1 MiB); longer lengths read from disk
/// are treated as a bad frame.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Frame header: length + CRC, both u32 LE.
const HEADER: u64 = 8;
const CURSOR: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const LOCK: &str = "lock";

/// Where the journal lives and how big it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// The journal directory (created if missing); nothing else should write there.
    pub dir: PathBuf,
    /// Upper bound on the bytes of all segment files; appends past it fail with `Full`.
    pub max_bytes: u64,
    /// Segment size at which the next group goes into a new segment file.
    pub segment_bytes: u64,
}

/// What [`Journal::open`] found; worth a log line whenever a field other than `records`
/// and `bytes` is non-zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records pending replay.
    pub records: u64,
    /// Bytes of the pending records' frames (headers included).
    pub bytes: u64,
    /// Bytes cut off the end of the last segment (an append interrupted by a crash).
    pub torn_tail_bytes: u64,
    /// Earlier segments with a bad frame (disk corruption): records after it in that
    /// segment are lost.
    pub corrupt_segments: u64,
    /// The cursor file was unreadable, so replay starts from the oldest segment.
    pub cursor_reset: bool,
}

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Appending would take the segment files past `max_bytes`; nothing was written.
    #[error(
        "journal full: {needed} more bytes would pass max_bytes {max_bytes} ({disk_bytes} on disk)"
    )]
    Full {
        /// Bytes the group needed (frames with headers).
        needed: u64,
        /// Bytes of segment files on disk now.
        disk_bytes: u64,
        /// The configured limit.
        max_bytes: u64,
    },
    /// A payload is over [`MAX_PAYLOAD`]; nothing was written.
    #[error("journal payload of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The limit, [`MAX_PAYLOAD`].
        max: usize,
    },
    /// A payload is empty (length 0 is reserved to end the log); nothing was written.
    #[error("journal payloads must not be empty")]
    EmptyPayload,
    /// Another open journal (this process or another) holds the directory's lock.
    #[error("journal directory {} is in use by another process or handle", dir.display())]
    Locked {
        /// The journal directory.
        dir: PathBuf,
    },
    /// An earlier append failed part-way; drop the journal and open it again.
    #[error("journal: an earlier append failed; reopen the journal")]
    Poisoned,
    /// A frame that passed its check at open or was written by us no longer reads back
    /// correctly (disk corruption); reopening skips the rest of that segment.
    #[error("journal {}: bad frame at offset {offset}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad frame.
        offset: u64,
    },
    /// `consume` was asked for more records than the last `peek` returned.
    #[error("journal: consume({requested}) but the last peek returned {peeked}")]
    NotPeeked {
        /// The `n` passed to `consume`.
        requested: usize,
        /// Records peeked and not yet consumed.
        peeked: usize,
    },
    /// A file-system call failed.
    #[error("journal: {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A position in the journal: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    seq: u64,
    offset: u64,
}

/// A segment file still on disk.
#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    /// End of the valid frames (less than `disk` only in a corrupt earlier segment).
    end: u64,
    /// File length.
    disk: u64,
}

/// A record returned by the last `peek`: where it ends, and its frame size.
#[derive(Debug, Clone, Copy)]
struct Peeked {
    seq: u64,
    end: u64,
    frame: u64,
}

/// The journal: a directory of segment files, one appender, one replay cursor.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; segments below `cursor.seq` are replayed, awaiting deletion.
    segments: VecDeque<Segment>,
    /// Append handle of the last segment, when that one takes appends.
    active: Option<File>,
    /// The next record to replay (durable as of the last `consume`, or as found at open).
    cursor: Pos,
    peeked: VecDeque<Peeked>,
    pending_records: u64,
    pending_bytes: u64,
    disk_bytes: u64,
    next_seq: u64,
    poisoned: bool,
    _lock: File,
}

impl Journal {
    /// Open the journal in `opts.dir` (creating it), take its lock, read every segment from
    /// the cursor on, apply the torn-tail rule and position the replay cursor.
    pub fn open(opts: JournalOptions) -> Result<(Self, Recovery), JournalError> {
        let dir = opts.dir;
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let lock = lock_dir(&dir)?;
        remove_if_present(&dir.join(CURSOR_TMP))?;
        let (cursor, cursor_reset) = read_cursor(&dir)?;
        let cursor = cursor.unwrap_or(Pos { seq: 0, offset: 0 });
        let seqs = list_segments(&dir)?;
        let last = seqs.last().copied();
        let mut journal = Self {
            segments: VecDeque::with_capacity(seqs.len()),
            active: None,
            cursor,
            peeked: VecDeque::new(),
            pending_records: 0,
            pending_bytes: 0,
            disk_bytes: 0,
            next_seq: last.unwrap_or(0).max(cursor.seq).saturating_add(1),
            poisoned: false,
            _lock: lock,
            dir,
            max_bytes: opts.max_bytes,
            segment_bytes: opts.segment_bytes,
        };
        let mut recovery = Recovery {
            cursor_reset,
            ..Recovery::default()
        };
        for seq in seqs {
            journal.load_segment(seq, Some(seq) == last, &mut recovery)?;
        }
        journal.remove_replayed()?;
        recovery.records = journal.pending_records;
        recovery.bytes = journal.pending_bytes;
        Ok((journal, recovery))
    }

    /// Scan one segment at open: count its pending records, cut a torn tail off the last
    /// one, and keep an append handle on the last one.
    fn load_segment(
        &mut self,
        seq: u64,
        last: bool,
        rec: &mut Recovery,
    ) -> Result<(), JournalError> {
        let path = segment_path(&self.dir, seq);
        if seq < self.cursor.seq {
            let disk = fs::metadata(&path).map_err(io_err("stat", &path))?.len();
            self.push_segment(Segment {
                seq,
                end: disk,
                disk,
            });
            return Ok(());
        }
        let want = if seq == self.cursor.seq {
            self.cursor.offset
        } else {
            0
        };
        let scan = scan_segment(&path, want)?;
        let mut disk = scan.len;
        if last {
            let file = open_append(&path)?;
            if scan.end < scan.len {
                file.set_len(scan.end)
                    .and_then(|()| file.sync_all())
                    .map_err(io_err("truncate torn tail of", &path))?;
                rec.torn_tail_bytes += scan.len - scan.end;
                disk = scan.end;
            }
            self.active = Some(file);
        } else if scan.end < scan.len {
            rec.corrupt_segments += 1;
        }
        if seq == self.cursor.seq {
            self.cursor.offset = scan.resume;
        }
        self.pending_records += scan.records;
        self.pending_bytes += scan.bytes;
        self.push_segment(Segment {
            seq,
            end: scan.end,
            disk,
        });
        Ok(())
    }

    fn push_segment(&mut self, segment: Segment) {
        self.disk_bytes += segment.disk;
        self.segments.push_back(segment);
    }

    /// Append `payloads` as one group: every frame is written, then one `fdatasync`; `Ok`
    /// only after the sync. An empty slice is a no-op. If the group would take the journal
    /// past `max_bytes`, nothing is written and the answer is [`JournalError::Full`].
    pub fn append(&mut self, payloads: &[&[u8]]) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let mut needed = 0u64;
        for payload in payloads {
            if payload.is_empty() {
                return Err(JournalError::EmptyPayload);
            }
            if payload.len() > MAX_PAYLOAD {
                return Err(JournalError::TooLarge {
                    len: payload.len(),
                    max: MAX_PAYLOAD,
                });
            }
            needed += HEADER + payload.len() as u64;
        }
        if needed == 0 {
            return Ok(());
        }
        let live = self.disk_bytes - self.reclaimable();
        if live.saturating_add(needed) > self.max_bytes {
            return Err(JournalError::Full {
                needed,
                disk_bytes: self.disk_bytes,
                max_bytes: self.max_bytes,
            });
        }
        let mut frames = Vec::with_capacity(usize::try_from(needed).unwrap_or(0));
        for payload in payloads {
            // Lengths were checked against MAX_PAYLOAD above, so they fit a u32.
            frames.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            frames.extend_from_slice(&crc32c(payload).to_le_bytes());
            frames.extend_from_slice(payload);
        }
        if let Err(e) = self.write_group(&frames, needed) {
            self.poisoned = true;
            return Err(e);
        }
        self.pending_records += payloads.len() as u64;
        self.pending_bytes += needed;
        Ok(())
    }

    /// Bytes a rotation would free now: the whole last segment once it is fully replayed.
    fn reclaimable(&self) -> u64 {
        match self.segments.back() {
            Some(s)
                if s.end > 0
                    && self.cursor
                        == (Pos {
                            seq: s.seq,
                            offset: s.end,
                        }) =>
            {
                s.disk
            }
            _ => 0,
        }
    }

    fn write_group(&mut self, frames: &[u8], needed: u64) -> Result<(), JournalError> {
        let rotate = match (self.segments.back(), &self.active) {
            (Some(s), Some(_)) => {
                (s.end > 0 && s.end.saturating_add(needed) > self.segment_bytes)
                    || self.disk_bytes.saturating_add(needed) > self.max_bytes
            }
            _ => true,
        };
        if rotate {
            self.start_segment()?;
        }
        let (Some(seg), Some(file)) = (self.segments.back_mut(), self.active.as_mut()) else {
            return Err(JournalError::Poisoned);
        };
        if let Err(e) = file.write_all(frames).and_then(|()| file.sync_data()) {
            // Best effort: end the file on a frame boundary again. Reopening applies the
            // torn-tail rule either way.
            let _ = file.set_len(seg.end).and_then(|()| file.sync_data());
            return Err(io_err("append to", &segment_path(&self.dir, seg.seq))(e));
        }
        seg.end += needed;
        seg.disk += needed;
        self.disk_bytes += needed;
        Ok(())
    }

    /// Create the next segment and make its name durable; if the previous one was fully
    /// replayed, move the cursor past it and delete it.
    fn start_segment(&mut self) -> Result<(), JournalError> {
        let seq = self.next_seq;
        let path = segment_path(&self.dir, seq);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        if self.reclaimable() > 0
            || self
                .segments
                .back()
                .is_some_and(|s| s.seq < self.cursor.seq)
        {
            // A cursor naming a deleted segment resumes at offset 0 of the next one.
            self.cursor = Pos { seq, offset: 0 };
        }
        self.next_seq += 1;
        self.push_segment(Segment {
            seq,
            end: 0,
            disk: 0,
        });
        self.active = Some(file);
        sync_dir(&self.dir)?;
        self.remove_replayed()
    }

    /// Up to `max` pending payloads from the replay cursor, in append order, without
    /// consuming them. Each call starts again at the cursor and replaces what
    /// [`Journal::consume`] may consume.
    pub fn peek(&mut self, max: usize) -> Result<Vec<Vec<u8>>, JournalError> {
        self.peeked.clear();
        let mut out = Vec::new();
        let mut peeked = VecDeque::new();
        for seg in self.segments.iter().filter(|s| s.seq >= self.cursor.seq) {
            let start = if seg.seq == self.cursor.seq {
                self.cursor.offset
            } else {
                0
            };
            if out.len() >= max {
                break;
            }
            if start >= seg.end {
                continue;
            }
            let path = segment_path(&self.dir, seg.seq);
            let mut file = File::open(&path).map_err(io_err("open", &path))?;
            file.seek(SeekFrom::Start(start))
                .map_err(io_err("seek", &path))?;
            let mut reader = BufReader::new(file);
            let mut pos = start;
            while pos < seg.end && out.len() < max {
                let mut payload = Vec::new();
                let frame = read_frame(&mut reader, seg.end - pos, &mut payload)
                    .map_err(io_err("read", &path))?
                    .ok_or_else(|| JournalError::Corrupt {
                        path: path.clone(),
                        offset: pos,
                    })?;
                pos += frame;
                peeked.push_back(Peeked {
                    seq: seg.seq,
                    end: pos,
                    frame,
                });
                out.push(payload);
            }
        }
        self.peeked = peeked;
        Ok(out)
    }

    /// Mark the first `n` records of the last [`Journal::peek`] as replayed. Durable on
    /// return: the cursor file is replaced and synced, and segments now fully replayed
    /// (except the one being appended to) are deleted.
    pub fn consume(&mut self, n: usize) -> Result<(), JournalError> {
        if n > self.peeked.len() {
            return Err(JournalError::NotPeeked {
                requested: n,
                peeked: self.peeked.len(),
            });
        }
        let Some(last) = n.checked_sub(1).and_then(|i| self.peeked.get(i)).copied() else {
            return Ok(());
        };
        let bytes: u64 = self.peeked.iter().take(n).map(|p| p.frame).sum();
        let mut cursor = Pos {
            seq: last.seq,
            offset: last.end,
        };
        // Step over segments this leaves fully read, so they can be deleted.
        loop {
            let mut from = self.segments.iter().skip_while(|s| s.seq != cursor.seq);
            match (from.next(), from.next()) {
                (Some(here), Some(next)) if cursor.offset >= here.end => {
                    cursor = Pos {
                        seq: next.seq,
                        offset: 0,
                    };
                }
                _ => break,
            }
        }
        write_cursor(&self.dir, cursor)?;
        self.cursor = cursor;
        self.peeked.drain(..n);
        self.pending_records = self.pending_records.saturating_sub(n as u64);
        self.pending_bytes = self.pending_bytes.saturating_sub(bytes);
        self.remove_replayed()
    }

    /// Delete the segments below the cursor (retried on every call until it works).
    fn remove_replayed(&mut self) -> Result<(), JournalError> {
        let mut removed = false;
        while let Some(&seg) = self.segments.front()
            && seg.seq < self.cursor.seq
        {
            remove_if_present(&segment_path(&self.dir, seg.seq))?;
            self.segments.pop_front();
            self.disk_bytes -= seg.disk;
            removed = true;
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Pending records (appended, not consumed) and the bytes of their frames.
    pub fn pending(&self) -> (u64, u64) {
        (self.pending_records, self.pending_bytes)
    }

    /// Whether nothing is pending replay.
    pub fn is_empty(&self) -> bool {
        self.pending_records == 0
    }

    /// Bytes of segment files on disk: what `max_bytes` limits.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in iSCSI and ext4.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc = CRC32C_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
    }
    !crc
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// What a scan of one segment found.
struct Scan {
    /// File length.
    len: u64,
    /// End of the last good frame.
    end: u64,
    /// First frame boundary at or after the wanted offset (the cursor), or `end`.
    resume: u64,
    /// Records and frame bytes from `resume` to `end`.
    records: u64,
    bytes: u64,
}

fn scan_segment(path: &Path, want: u64) -> Result<Scan, JournalError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let (mut pos, mut resume, mut records, mut bytes) = (0, None, 0, 0);
    let mut buf = Vec::new();
    while let Some(frame) =
        read_frame(&mut reader, len - pos, &mut buf).map_err(io_err("read", path))?
    {
        // A cursor inside a frame (never written by us) resumes at that frame's start.
        if pos + frame > want {
            resume.get_or_insert(pos);
            records += 1;
            bytes += frame;
        }
        pos += frame;
    }
    Ok(Scan {
        len,
        end: pos,
        resume: resume.unwrap_or(pos),
        records,
        bytes,
    })
}

/// Read one frame's payload into `buf`; its size with header, or `None` if the frame is
/// bad or does not fit in the `remaining` bytes.
fn read_frame(
    reader: &mut impl Read,
    remaining: u64,
    buf: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    let mut header = [0u8; HEADER as usize];
    if remaining < HEADER || !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let frame = HEADER + u64::from(len);
    if len == 0 || u64::from(len) > MAX_PAYLOAD as u64 || frame > remaining {
        return Ok(None);
    }
    buf.clear();
    buf.resize(len as usize, 0);
    if !read_full(reader, buf)? || crc32c(buf) != crc {
        return Ok(None);
    }
    Ok(Some(frame))
}

/// `read_exact`, with end of file as `false`.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.seg"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment numbers in `dir`, ascending; other files are ignored.
fn list_segments(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_segment_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// The durable cursor, if any; `true` when a cursor file exists but does not parse.
fn read_cursor(dir: &Path) -> Result<(Option<Pos>, bool), JournalError> {
    let path = dir.join(CURSOR);
    let text = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((None, false)),
        Err(e) => return Err(io_err("read", &path)(e)),
    };
    let parsed = std::str::from_utf8(&text).ok().and_then(|text| {
        let mut words = text.split_whitespace();
        let seq = parse_segment_name(words.next()?)?;
        let offset = words.next()?.parse().ok()?;
        words.next().is_none().then_some(Pos { seq, offset })
    });
    Ok((parsed, parsed.is_none()))
}

/// Replace the cursor file atomically and durably.
fn write_cursor(dir: &Path, pos: Pos) -> Result<(), JournalError> {
    let tmp = dir.join(CURSOR_TMP);
    let name = segment_path(Path::new(""), pos.seq);
    let line = format!("{} {}\n", name.display(), pos.offset);
    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_err("write", &tmp))?;
    drop(file);
    let path = dir.join(CURSOR);
    fs::rename(&tmp, &path).map_err(io_err("rename cursor.tmp to", &path))?;
    sync_dir(dir)
}

fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(JournalError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(io_err("lock", &path)(e)),
    }
}

fn open_append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err("open", path))
}

fn remove_if_present(path: &Path) -> Result<(), JournalError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err("delete", path)(e)),
        _ => Ok(()),
    }
}

/// fsync a directory, so that names created, renamed or deleted in it survive power loss.
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> JournalError {
    let path = path.to_path_buf();
    move |source| JournalError::Io { op, path, source }
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let pid = std::process::id();
            let path =
                std::env::temp_dir().join(format!("hotspot-radius-journal-{name}-{pid}-{n}"));
            let _ = fs::remove_dir_all(&path);
            Self(path)
        }

        fn opts(&self, segment_bytes: u64, max_bytes: u64) -> JournalOptions {
            JournalOptions {
                dir: self.0.clone(),
                max_bytes,
                segment_bytes,
            }
        }

        fn open(&self, segment_bytes: u64) -> (Journal, Recovery) {
            Journal::open(self.opts(segment_bytes, u64::MAX)).unwrap()
        }

        fn segments(&self) -> Vec<PathBuf> {
            list_segments(&self.0)
                .unwrap()
                .into_iter()
                .map(|s| segment_path(&self.0, s))
                .collect()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn record(i: usize) -> Vec<u8> {
        format!("record-{i:05};").repeat(1 + i % 3).into_bytes()
    }

    fn frame_len(i: usize) -> u64 {
        HEADER + record(i).len() as u64
    }

    /// Append records `range`, one group of up to three at a time.
    fn append(j: &mut Journal, range: std::ops::Range<usize>) {
        let records: Vec<Vec<u8>> = range.map(record).collect();
        for group in records.chunks(3) {
            let refs: Vec<&[u8]> = group.iter().map(Vec::as_slice).collect();
            j.append(&refs).unwrap();
        }
    }

    fn all(j: &mut Journal) -> Vec<Vec<u8>> {
        j.peek(usize::MAX).unwrap()
    }

    fn records(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
        range.map(record).collect()
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn round_trip_across_rotations() {
        let tmp = TempDir::new("roundtrip");
        let (mut j, rec) = tmp.open(200);
        assert_eq!(rec, Recovery::default());
        append(&mut j, 0..60);
        assert!(tmp.segments().len() > 5, "{:?}", tmp.segments());
        let bytes: u64 = (0..60).map(frame_len).sum();
        assert_eq!(j.pending(), (60, bytes));
        let mut replayed = Vec::new();
        while !j.is_empty() {
            let batch = j.peek(7).unwrap();
            assert_eq!(j.peek(7).unwrap(), batch, "peek does not consume");
            j.consume(batch.len()).unwrap();
            replayed.extend(batch);
        }
        assert_eq!(replayed, records(0..60));
        assert_eq!(j.pending(), (0, 0));
        assert_eq!(tmp.segments().len(), 1, "replayed segments are deleted");
        assert!(j.peek(10).unwrap().is_empty());
        append(&mut j, 60..62);
        assert_eq!(all(&mut j), records(60..62));
        assert_eq!(
            tmp.segments().len(),
            1,
            "the replayed segment went at rotation"
        );
    }

    #[test]
    fn reopen_keeps_pending_records_and_cursor() {
        let tmp = TempDir::new("reopen");
        let (mut j, _) = tmp.open(150);
        append(&mut j, 0..30);
        assert_eq!(j.peek(12).unwrap().len(), 12);
        j.consume(11).unwrap();
        let pending = j.pending();
        drop(j);
        let (mut j, rec) = tmp.open(150);
        assert_eq!((rec.records, rec.bytes), pending);
        assert_eq!(
            (rec.torn_tail_bytes, rec.corrupt_segments, rec.cursor_reset),
            (0, 0, false)
        );
        assert_eq!(all(&mut j), records(11..30));
        j.consume(19).unwrap();
        drop(j);
        let (mut j, rec) = tmp.open(150);
        assert_eq!(rec.records, 0);
        assert!(all(&mut j).is_empty());
        append(&mut j, 30..33);
        assert_eq!(all(&mut j), records(30..33));
    }

    #[test]
    fn consume_needs_a_peek_and_a_second_open_is_locked() {
        let tmp = TempDir::new("misuse");
        let (mut j, _) = tmp.open(1 << 20);
        append(&mut j, 0..3);
        assert!(matches!(
            j.consume(1),
            Err(JournalError::NotPeeked {
                requested: 1,
                peeked: 0
            })
        ));
        assert_eq!(j.peek(2).unwrap().len(), 2);
        assert!(matches!(
            j.consume(3),
            Err(JournalError::NotPeeked {
                requested: 3,
                peeked: 2
            })
        ));
        assert!(matches!(
            Journal::open(tmp.opts(1 << 20, u64::MAX)),
            Err(JournalError::Locked { .. })
        ));
        let big = vec![1u8; MAX_PAYLOAD + 1];
        assert!(matches!(
            j.append(&[b"ok", &big]),
            Err(JournalError::TooLarge { .. })
        ));
        assert!(matches!(
            j.append(&[b"ok", b""]),
            Err(JournalError::EmptyPayload)
        ));
        assert_eq!(j.pending().0, 3);
        drop(j);
        let (mut j, _) = tmp.open(1 << 20);
        assert_eq!(all(&mut j), records(0..3));
    }

    /// Reopen after damaging the only segment's last frame: it is cut, the rest survives.
    fn torn_tail(name: &str, damage: impl FnOnce(&File, u64)) {
        let tmp = TempDir::new(name);
        let (mut j, _) = tmp.open(1 << 20);
        append(&mut j, 0..7); // groups 0..3, 3..6, 6..7
        drop(j);
        let path = &tmp.segments()[0];
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let len = file.metadata().unwrap().len();
        damage(&file, len);
        let damaged = file.metadata().unwrap().len();
        drop(file);
        let (mut j, rec) = tmp.open(1 << 20);
        assert_eq!(rec.torn_tail_bytes, damaged - (len - frame_len(6)));
        assert_eq!((rec.records, rec.corrupt_segments), (6, 0));
        assert_eq!(all(&mut j), records(0..6));
        append(&mut j, 7..9);
        drop(j);
        let (mut j, rec) = tmp.open(1 << 20);
        assert_eq!(rec.torn_tail_bytes, 0);
        let mut expected = records(0..6);
        expected.extend(records(7..9));
        assert_eq!(all(&mut j), expected);
    }

    #[test]
    fn torn_tail_mid_payload_is_cut() {
        torn_tail("torn-payload", |f, len| f.set_len(len - 3).unwrap());
    }

    #[test]
    fn torn_tail_mid_header_is_cut() {
        torn_tail("torn-header", |f, len| {
            f.set_len(len - frame_len(6) + 5).unwrap()
        });
    }

    #[test]
    fn torn_tail_bad_crc_is_cut() {
        torn_tail("torn-crc", |mut f, len| {
            f.seek(SeekFrom::Start(len - 1)).unwrap();
            f.write_all(b"\xff").unwrap();
        });
    }

    #[test]
    fn corrupt_earlier_segment_is_counted_and_skipped() {
        let tmp = TempDir::new("corrupt");
        let (mut j, _) = tmp.open(1);
        for i in 0..8 {
            j.append(&[&record(2 * i), &record(2 * i + 1)]).unwrap(); // one segment each
        }
        drop(j);
        let segments = tmp.segments();
        assert_eq!(segments.len(), 8);
        // Flip a payload byte of the second record of the third segment.
        let mut file = OpenOptions::new().write(true).open(&segments[2]).unwrap();
        file.seek(SeekFrom::Start(frame_len(4) + HEADER + 2))
            .unwrap();
        file.write_all(b"X").unwrap();
        drop(file);
        let (mut j, rec) = tmp.open(1);
        assert_eq!(
            (rec.corrupt_segments, rec.torn_tail_bytes, rec.records),
            (1, 0, 15)
        );
        let mut expected = records(0..5);
        expected.extend(records(6..16));
        assert_eq!(all(&mut j), expected);
        j.peek(usize::MAX).unwrap();
        j.consume(15).unwrap();
        assert!(j.is_empty());
        assert_eq!(tmp.segments().len(), 1);
    }

    #[test]
    fn full_appends_nothing() {
        let tmp = TempDir::new("full");
        let (mut j, _) = Journal::open(tmp.opts(1 << 20, 100)).unwrap();
        let twenty = [7u8; 20];
        j.append(&[&twenty, &twenty, &twenty]).unwrap(); // 84 bytes
        let err = j.append(&[&twenty[..10], &twenty[..10]]).unwrap_err(); // 36 more
        assert!(
            matches!(
                err,
                JournalError::Full {
                    needed: 36,
                    disk_bytes: 84,
                    max_bytes: 100
                }
            ),
            "{err}"
        );
        assert_eq!(fs::metadata(&tmp.segments()[0]).unwrap().len(), 84);
        assert_eq!(j.pending(), (3, 84));
        j.append(&[&twenty[..8]]).unwrap(); // exactly 100
        assert_eq!(j.peek(10).unwrap().len(), 4);
        j.consume(4).unwrap();
        assert_eq!(j.disk_bytes(), 100, "the segment being appended to stays");
        j.append(&[&twenty[..10], &twenty[..10]]).unwrap(); // room made by rotating
        assert_eq!(j.disk_bytes(), 36);
        assert_eq!(tmp.segments().len(), 1);
        drop(j);
        let (mut j, rec) = Journal::open(tmp.opts(1 << 20, 100)).unwrap();
        assert_eq!(rec.records, 2);
        assert_eq!(all(&mut j), vec![twenty[..10].to_vec(); 2]);
    }

    #[test]
    fn unreadable_cursor_replays_everything() {
        let tmp = TempDir::new("cursor");
        let (mut j, _) = tmp.open(1 << 20);
        append(&mut j, 0..4);
        j.peek(2).unwrap();
        j.consume(2).unwrap();
        drop(j);
        fs::write(tmp.0.join(CURSOR), b"garbage").unwrap();
        let (mut j, rec) = tmp.open(1 << 20);
        assert!(rec.cursor_reset);
        assert_eq!(all(&mut j), records(0..4));
    }

    const CHILD_DIR: &str = "HOTSPOT_RADIUS_JOURNAL_SIGKILL_DIR";

    /// Records in the child's groups `0..=g` (group `g` holds `1 + g % 4` records).
    fn child_records_through(g: usize) -> usize {
        (0..=g).map(|g| 1 + g % 4).sum()
    }

    /// Run by `sigkill_loses_nothing_acknowledged` in a child process: append groups and
    /// print `acked <group>` after each `Ok`, until killed. Does nothing on its own.
    #[test]
    #[ignore = "helper process for sigkill_loses_nothing_acknowledged"]
    fn sigkill_child() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else {
            return;
        };
        let opts = JournalOptions {
            dir: dir.into(),
            max_bytes: u64::MAX,
            segment_bytes: 4096,
        };
        let (mut j, _) = Journal::open(opts).unwrap();
        let mut next = 0;
        for g in 0..20_000 {
            let group: Vec<Vec<u8>> = (next..next + 1 + g % 4).map(record).collect();
            next += group.len();
            j.append(&group.iter().map(Vec::as_slice).collect::<Vec<_>>())
                .unwrap();
            println!("acked {g}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn sigkill_loses_nothing_acknowledged() {
        use std::process::{Command, Stdio};
        let tmp = TempDir::new("sigkill");
        let test_path = module_path!().split_once("::").map_or("", |(_, path)| path);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("{test_path}::sigkill_child"),
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_DIR, &tmp.0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let ack =
            |line: io::Result<String>| line.ok()?.strip_prefix("acked ")?.parse::<usize>().ok();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = None;
        for line in lines.by_ref() {
            acked = ack(line).or(acked);
            if acked >= Some(300) {
                break;
            }
        }
        // Let it run on a little, so the kill lands at an arbitrary point of an append.
        std::thread::sleep(std::time::Duration::from_millis(5));
        child.kill().unwrap(); // SIGKILL
        // Acknowledgements already in the pipe count too.
        acked = lines.filter_map(ack).last().or(acked);
        child.wait().unwrap();
        let acked = acked.expect("the child acknowledged nothing");
        let (mut j, _) = tmp.open(4096);
        let got = all(&mut j);
        assert!(
            got.len() >= child_records_through(acked),
            "{} < group {acked}",
            got.len()
        );
        assert_eq!(
            got,
            records(0..got.len()),
            "a prefix of the appends, in order"
        );
    }
}
