//! The journal's file layer: CRC-32C, frame reading and segment scanning, names, the
//! cursor file, the directory lock, and durable directory operations. See the parent
//! module for the format.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use super::{CURSOR, CURSOR_TMP, HEADER, JournalError, LOCK, MAX_PAYLOAD, Pos};

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in iSCSI and ext4.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc = CRC32C_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
    }
    !crc
}

pub(super) const CRC32C_TABLE: [u32; 256] = {
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
pub(super) struct Scan {
    /// File length.
    pub(super) len: u64,
    /// End of the last good frame.
    pub(super) end: u64,
    /// First frame boundary at or after the wanted offset (the cursor), or `end`.
    pub(super) resume: u64,
    /// Records and frame bytes from `resume` to `end`.
    pub(super) records: u64,
    pub(super) bytes: u64,
}

pub(super) fn scan_segment(path: &Path, want: u64) -> Result<Scan, JournalError> {
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
pub(super) fn read_frame(
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
pub(super) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) fn segment_name(seq: u64) -> String {
    format!("{seq:016}.seg")
}

pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment_name(seq))
}

pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment numbers in `dir`, ascending; other files are ignored.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<u64>, JournalError> {
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
pub(super) fn read_cursor(dir: &Path) -> Result<(Option<Pos>, bool), JournalError> {
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
pub(super) fn write_cursor(dir: &Path, pos: Pos) -> Result<(), JournalError> {
    let tmp = dir.join(CURSOR_TMP);
    let line = format!("{} {}\n", segment_name(pos.seq), pos.offset);
    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_err("write", &tmp))?;
    drop(file);
    let path = dir.join(CURSOR);
    fs::rename(&tmp, &path).map_err(io_err("rename cursor.tmp to", &path))?;
    sync_dir(dir)
}

/// Create `dir` and any missing parents, fsyncing each parent so the new names survive
/// power loss.
pub(super) fn create_dir_durably(dir: &Path) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => return Ok(()), // a root: nothing to create
    };
    create_dir_durably(parent)?;
    match fs::create_dir(dir) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            return Err(io_err("create directory", dir)(e));
        }
        _ => {}
    }
    sync_dir(parent)
}

pub(super) fn lock_dir(dir: &Path) -> Result<File, JournalError> {
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

pub(super) fn open_append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err("open", path))
}

pub(super) fn remove_if_present(path: &Path) -> Result<(), JournalError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err("delete", path)(e)),
        _ => Ok(()),
    }
}

/// fsync a directory, so that names created, renamed or deleted in it survive power loss.
pub(super) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))
}

pub(super) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> JournalError {
    let path = path.to_path_buf();
    move |source| JournalError::Io { op, path, source }
}
