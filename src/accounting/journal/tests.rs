//! The journal's tests: round trips across segment rotations, reopening, the torn-tail
//! and corruption rules, the size limit, and acknowledged records surviving SIGKILL.
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
        let path = std::env::temp_dir().join(format!("hotspot-radius-journal-{name}-{pid}-{n}"));
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
    let (j, rec) = Journal::open(JournalOptions {
        dir: tmp.0.join("a/b"),
        max_bytes: 1,
        segment_bytes: 1,
    })
    .unwrap();
    assert_eq!(rec, Recovery::default());
    assert!(j.is_empty());
    drop(j);
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
    let first = tmp.segments()[0].clone();
    j.consume(11).unwrap();
    assert!(!first.exists(), "replayed segments are deleted");
    let pending = j.pending();
    drop(j);
    // A deletion lost to a power cut: the replayed segment is back, with junk in it.
    fs::write(&first, b"junk").unwrap();
    let (mut j, rec) = tmp.open(150);
    assert!(!first.exists(), "and deleted again at open");
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
    // After a failed consume, the peeked records are forgotten: peek again first.
    assert!(matches!(
        j.consume(1),
        Err(JournalError::NotPeeked { peeked: 0, .. })
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
    let ack = |line: io::Result<String>| line.ok()?.strip_prefix("acked ")?.parse::<usize>().ok();
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
