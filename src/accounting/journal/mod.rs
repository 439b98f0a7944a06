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
//! re-establishes a known state from the files.
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
//! ever dropped silently. Space comes back as replay deletes whole segments (the segment
//! being appended to is deleted at the next append that needs its room).
//!
//! # Operating it
//!
//! - Backlog: [`Journal::pending`], or the count and size of the `*.seg` files. It drains
//!   by itself once PostgreSQL is back; opening reads (and checks) the whole backlog once.
//! - Full: fix PostgreSQL, or stop the server, raise `max_bytes`, start it again.
//! - Discarding the backlog loses those records: stop the server first, then move the
//!   directory away. Never delete or edit single files while the server runs.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;

mod files;
#[cfg(test)]
mod tests;

pub use files::crc32c;
#[allow(clippy::wildcard_imports)]
use files::*;

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
        create_dir_durably(&dir)?;
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

    /// Mark the first `n` records of the last [`Journal::peek`] as replayed (call it only
    /// once they are committed in the database). Durable on return: the cursor file is
    /// replaced and synced, and segments now fully replayed (except the one being appended
    /// to) are deleted. On `Err` the cursor may or may not have moved and the peeked
    /// records are forgotten: peek again before consuming more (at worst some records are
    /// replayed twice; none is skipped).
    pub fn consume(&mut self, n: usize) -> Result<(), JournalError> {
        let result = self.advance(n);
        if result.is_err() {
            self.peeked.clear();
        }
        result
    }

    fn advance(&mut self, n: usize) -> Result<(), JournalError> {
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
