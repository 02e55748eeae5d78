//! `transom-store` end to end: real store directories written through the Rust API, the
//! built binary run as a separate process, its stdout, stderr and exit status checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use transom::store::{AppendRequest, Config, EventId, Store, StoreError, SyncPolicy};

const BIN: &str = env!("CARGO_BIN_EXE_transom-store");

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "transom-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn store(&self) -> PathBuf {
        self.0.join("store")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cfg(dir: &Path) -> Config {
    Config {
        sync: SyncPolicy::Never,
        segment_size: transom::store::MIN_SEGMENT_SIZE,
        ..Config::on_disk(dir)
    }
}

fn payload(i: u64) -> Vec<u8> {
    (0..200 + (i % 7) as usize)
        .map(|k| (i as usize * 31 + k) as u8)
        .collect()
}

const WEIRD: &str = "quote\"back\\slash\ttab";

fn stream_of(i: u64) -> &'static str {
    match i % 4 {
        0 => "orders/1",
        1 => "orders/2",
        2 => "users/1",
        _ => WEIRD,
    }
}

/// `n` events (≈ 250 bytes each: several 4 KiB segments), closed cleanly. Event 5 has an
/// idempotency key, event 6 a correlation and causation id.
fn populate(dir: &Path, n: u64) -> Vec<EventId> {
    let s = Store::open(cfg(dir)).unwrap();
    let mut ids = Vec::new();
    for i in 1..=n {
        let mut r = AppendRequest::new(stream_of(i), (i % 3) as u16, payload(i));
        if i == 5 {
            r = r.with_idempotency_key(b"key-5".to_vec());
        }
        if i == 6 {
            r = r.with_correlation(ids[0]).with_causation(ids[4]);
        }
        ids.push(s.append(r).unwrap().id);
    }
    s.close().unwrap();
    ids
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn run_on(cmd: &str, dir: &Path, extra: &[&str]) -> Output {
    let mut a = vec![cmd, dir.to_str().unwrap()];
    a.extend_from_slice(extra);
    run(&a)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Failed with exactly one line on stderr, nothing on stdout.
fn assert_one_line_failure(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.ends_with('\n'));
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {line}"))
        + key.len();
    let rest = &line[at..];
    if let Some(r) = rest.strip_prefix('"') {
        // Up to the closing quote (escaped quotes skipped).
        let mut end = 0;
        let b = r.as_bytes();
        while b[end] != b'"' {
            end += if b[end] == b'\\' { 2 } else { 1 };
        }
        &r[..end]
    } else {
        let end = rest.find([',', '}']).unwrap();
        &rest[..end]
    }
}

fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut v = 0u32;
        for &c in chunk {
            v = (v << 6) | if c == b'=' { 0 } else { u32::from(val(c)) };
        }
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

#[test]
fn healthy_store_info_verify_and_dump_round_trip() {
    let d = Dir::new("healthy");
    let ids = populate(&d.store(), 60);
    assert!(segments(&d.store()).len() >= 3);

    let o = run_on("info", &d.store(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "first retained: 1",
        "last sequence: 60",
        "events: 60",
        "streams: 4 ",
        "clean shutdown: yes",
        "sequences: 1..=60",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(text.contains(&format!("segments: {} (", segments(&d.store()).len())));

    let o = run_on("verify", &d.store(), &[]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(
        text.contains("result: healthy: 60 frame(s) checked"),
        "{text}"
    );
    assert!(!text.contains("DAMAGE"), "{text}");
    assert!(
        !text.contains(".idx: ") || !text.contains("warning"),
        "{text}"
    );
    assert!(text.contains("checked MANIFEST: checksum ok"), "{text}");

    let o = run_on("dump", &d.store(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 60);
    for (k, line) in lines.iter().enumerate() {
        let i = k as u64 + 1;
        assert!(line.starts_with('{') && line.ends_with('}'));
        assert_eq!(field(line, "sequence"), i.to_string());
        assert_eq!(
            field(line, "id"),
            format!("{:032x}", ids[k].as_u128()),
            "{line}"
        );
        assert_eq!(unbase64(field(line, "payload")), payload(i), "{line}");
        assert_eq!(field(line, "kind"), (i % 3).to_string());
        assert!(field(line, "timestamp_ns").parse::<u64>().unwrap() > 0);
    }
    // Stream names are JSON-escaped; versions count per stream.
    assert_eq!(field(lines[2], "stream"), r#"quote\"back\\slash\ttab"#);
    assert_eq!(field(lines[0], "stream"), "orders/2");
    assert_eq!(field(lines[4], "stream_version"), "2");
    assert_eq!(unbase64(field(lines[4], "idempotency_key")), b"key-5");
    assert_eq!(field(lines[3], "idempotency_key"), "null");
    assert_eq!(
        field(lines[5], "correlation_id"),
        format!("{:032x}", ids[0].as_u128())
    );
    assert_eq!(
        field(lines[5], "causation_id"),
        format!("{:032x}", ids[4].as_u128())
    );
    assert_eq!(field(lines[0], "correlation_id"), "null");

    // Filters: an inclusive range, a stream prefix, both.
    let o = run_on("dump", &d.store(), &["--from", "10", "--to", "20"]);
    let seqs: Vec<String> = stdout(&o)
        .lines()
        .map(|l| field(l, "sequence").to_string())
        .collect();
    assert_eq!(seqs, (10..=20).map(|i| i.to_string()).collect::<Vec<_>>());
    let o = run_on("dump", &d.store(), &["--stream", "orders/"]);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 30);
    assert!(out
        .lines()
        .all(|l| field(l, "stream").starts_with("orders/")));
    let o = run_on(
        "dump",
        &d.store(),
        &["--stream", "users/", "--from", "40", "--to", "50"],
    );
    let seqs: Vec<String> = stdout(&o)
        .lines()
        .map(|l| field(l, "sequence").to_string())
        .collect();
    assert_eq!(seqs, ["42", "46", "50"]);
    assert!(run_on("dump", &d.store(), &["--from", "61"])
        .stdout
        .is_empty());

    // Nothing above changed the store: it still opens with every event.
    let s = Store::open(cfg(&d.store())).unwrap();
    assert_eq!(s.head(), 60);
}

#[test]
fn damaged_segment_is_reported_and_recover_cuts_it_into_a_side_file() {
    let d = Dir::new("damaged");
    populate(&d.store(), 60);
    let segs = segments(&d.store());
    assert!(segs.len() >= 3);
    let victim = segs[1].clone();
    let originals: Vec<Vec<u8>> = segs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut bytes = originals[1].clone();
    let flip = bytes.len() / 2;
    bytes[flip] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();

    let o = run_on("verify", &d.store(), &[]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    let damage = text
        .lines()
        .find(|l| l.starts_with("DAMAGE: "))
        .unwrap_or_else(|| panic!("{text}"));
    let prefix = format!("DAMAGE: {} at offset ", victim.display());
    assert!(damage.starts_with(&prefix), "{damage}");
    let offset: u64 = damage[prefix.len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(offset <= flip as u64 && offset >= 16, "{offset} vs {flip}");
    assert!(text.contains("result: DAMAGED"), "{text}");

    // The store agrees: CORRUPT at the same file and offset (at open, or at the first read
    // of the sealed segment: sealed segments are checked when they are mapped).
    let seen = match Store::open(cfg(&d.store())) {
        Err(e) => e,
        Ok(s) => {
            let e = s.read_from_sequence(0, 1000).unwrap_err();
            drop(s);
            e
        }
    };
    match seen {
        StoreError::Corrupt {
            file, offset: o, ..
        } => assert_eq!((file, o), (victim.clone(), offset)),
        other => panic!("expected Corrupt, got {other:?}"),
    }

    // recover refuses without a side file, and never overwrites one.
    let o = run_on("recover", &d.store(), &[]);
    assert_one_line_failure(&o, 2, "--side-file");
    let side = d.path().join("cut.bin");
    std::fs::write(&side, b"keep me").unwrap();
    let o = run_on(
        "recover",
        &d.store(),
        &["--side-file", side.to_str().unwrap()],
    );
    assert_one_line_failure(&o, 2, "side file");
    assert_eq!(std::fs::read(&side).unwrap(), b"keep me");
    std::fs::remove_file(&side).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), bytes, "nothing was cut");

    let o = run_on(
        "recover",
        &d.store(),
        &["--side-file", side.to_str().unwrap()],
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(text.contains("opens again"), "{text}");

    // The store opens; every event before the damage is intact and nothing after it is left.
    let s = Store::open(cfg(&d.store())).unwrap();
    let events = s.read_from_sequence(0, 1000).unwrap();
    let last = s.head();
    assert!((1..60).contains(&last), "head {last}");
    assert_eq!(events.len() as u64, last);
    for (k, e) in events.iter().enumerate() {
        assert_eq!(e.sequence, k as u64 + 1);
        assert_eq!(e.payload, payload(e.sequence));
    }
    drop(s);
    let cut = std::fs::metadata(&victim).unwrap().len();
    assert!(cut <= offset);
    assert_eq!(segments(&d.store()), segs[..2].to_vec());

    // The side file: the magic, then the damaged segment from the cut, then each later
    // segment whole, each piece named and placed.
    let side_bytes = std::fs::read(&side).unwrap();
    assert_eq!(&side_bytes[..8], b"TRNCUT01");
    let mut at = 8;
    let mut expect: Vec<(PathBuf, u64, Vec<u8>)> =
        vec![(victim.clone(), cut, bytes[cut as usize..].to_vec())];
    for (p, orig) in segs.iter().zip(&originals).skip(2) {
        expect.push((p.clone(), 0, orig.clone()));
    }
    for (path, off, content) in expect {
        let n = u16::from_le_bytes(side_bytes[at..at + 2].try_into().unwrap()) as usize;
        at += 2;
        let name = std::str::from_utf8(&side_bytes[at..at + n]).unwrap();
        assert_eq!(name, path.file_name().unwrap().to_str().unwrap());
        at += n;
        let o = u64::from_le_bytes(side_bytes[at..at + 8].try_into().unwrap());
        let len = u64::from_le_bytes(side_bytes[at + 8..at + 16].try_into().unwrap());
        at += 16;
        assert_eq!((o, len), (off, content.len() as u64));
        assert_eq!(&side_bytes[at..at + len as usize], &content[..]);
        at += len as usize;
    }
    assert_eq!(at, side_bytes.len());

    // Healthy again; appends continue after the cut.
    let o = run_on("verify", &d.store(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let s = Store::open(cfg(&d.store())).unwrap();
    let r = s
        .append(AppendRequest::new("after", 1, b"x".to_vec()))
        .unwrap();
    assert_eq!(r.sequence, last + 1);
    drop(s);
    // recover on a healthy store changes nothing and writes no side file.
    let side2 = d.path().join("cut2.bin");
    let o = run_on(
        "recover",
        &d.store(),
        &["--side-file", side2.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("nothing to recover"));
    assert!(!side2.exists());
}

#[test]
fn damaged_derived_files_are_warnings_and_open_rebuilds_them() {
    let d = Dir::new("derived");
    populate(&d.store(), 60);
    let segs = segments(&d.store());
    let idx0 = segs[0].with_extension("idx");
    let idx1 = segs[1].with_extension("idx");
    assert!(idx0.exists() && idx1.exists());
    std::fs::remove_file(&idx0).unwrap();
    let mut b = std::fs::read(&idx1).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 1;
    std::fs::write(&idx1, &b).unwrap();
    // An index run, when the store keeps its secondary indexes in index/.
    let runs: Vec<PathBuf> = std::fs::read_dir(d.store().join("index"))
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "run"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(run) = runs.first() {
        let mut b = std::fs::read(run).unwrap();
        let at = b.len() - 100;
        b[at] ^= 1;
        std::fs::write(run, &b).unwrap();
    }

    let o = run_on("verify", &d.store(), &[]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "warning: {}: derived file, missing",
            idx0.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "warning: {}: derived file, damaged",
            idx1.display()
        )),
        "{text}"
    );
    if !runs.is_empty() {
        assert!(
            text.contains(&format!("warning: {}", d.store().join("index").display())),
            "{text}"
        );
    }
    assert!(
        text.contains("derived file(s) will be rebuilt on open"),
        "{text}"
    );

    // A damaged MANIFEST is derived too (rebuilt from a full scan).
    let manifest = d.store().join("MANIFEST");
    let mut m = std::fs::read(&manifest).unwrap();
    m[10] ^= 1;
    std::fs::write(&manifest, &m).unwrap();
    let o = run_on("verify", &d.store(), &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("MANIFEST: derived file, damaged"),
        "{}",
        stdout(&o)
    );
    let o = run_on("info", &d.store(), &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("clean shutdown: unknown"));
    assert!(stdout(&o).contains("last sequence: 60"));

    let s = Store::open(cfg(&d.store())).unwrap();
    assert!(s.recovery_report().manifest_rebuilt);
    assert_eq!(s.read_from_sequence(0, 1000).unwrap().len(), 60);
    s.close().unwrap();
    drop(s);
    let o = run_on("verify", &d.store(), &[]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(!text.contains("warning"), "rebuilt: {text}");
}

#[test]
fn every_command_refuses_a_locked_store_with_one_line() {
    let d = Dir::new("locked");
    populate(&d.store(), 10);
    let s = Store::open(cfg(&d.store())).unwrap();
    let side = d.path().join("side");
    for (cmd, extra) in [
        ("info", vec![]),
        ("verify", vec![]),
        ("dump", vec![]),
        ("truncate", vec!["--before", "5"]),
        ("recover", vec!["--side-file", side.to_str().unwrap()]),
    ] {
        let o = run_on(cmd, &d.store(), &extra);
        assert_one_line_failure(&o, 2, "locked");
    }
    assert!(!side.exists());
    assert_eq!(s.head(), 10);
    drop(s);
    assert_eq!(run_on("info", &d.store(), &[]).status.code(), Some(0));
}

#[test]
fn missing_and_non_store_directories_are_refused_and_left_alone() {
    let d = Dir::new("nostore");
    let missing = d.path().join("nope");
    let empty = d.path().join("empty");
    let other = d.path().join("other");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"hello").unwrap();
    let side = d.path().join("side");
    for dir in [&missing, &empty, &other] {
        let needle = if dir == &missing {
            "no such directory"
        } else {
            "not a store directory"
        };
        for (cmd, extra) in [
            ("info", vec![]),
            ("verify", vec![]),
            ("dump", vec![]),
            ("truncate", vec!["--before", "5"]),
            ("recover", vec!["--side-file", side.to_str().unwrap()]),
        ] {
            let o = run_on(cmd, dir, &extra);
            assert_one_line_failure(&o, 2, needle);
        }
    }
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
    let file = other.join("notes.txt");
    assert_one_line_failure(&run_on("info", &file, &[]), 2, "not a directory");
}

#[test]
fn truncate_removes_whole_segments_and_prints_the_first_retained_sequence() {
    let d = Dir::new("truncate");
    populate(&d.store(), 60);
    let before = segments(&d.store()).len();
    let o = run_on("truncate", &d.store(), &["--before", "30"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("first retained: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(first > 1 && first <= 30, "{text}");
    assert!(segments(&d.store()).len() < before);
    let o = run_on("info", &d.store(), &[]);
    assert!(stdout(&o).contains(&format!("first retained: {first}\n")));
    let o = run_on("dump", &d.store(), &["--from", "1", "--to", "40"]);
    let out = stdout(&o);
    assert_eq!(
        field(out.lines().next().unwrap(), "sequence"),
        first.to_string()
    );
    assert_eq!(out.lines().count() as u64, 40 - first + 1);
    assert_eq!(run_on("verify", &d.store(), &[]).status.code(), Some(0));
    let s = Store::open(cfg(&d.store())).unwrap();
    assert_eq!((s.first_sequence(), s.head()), (first, 60));
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let d = Dir::new("usage");
    populate(&d.store(), 3);
    let dir = d.store();
    let dir = dir.to_str().unwrap();
    for args in [
        vec!["frobnicate", dir],
        vec!["info"],
        vec!["info", dir, "extra"],
        vec!["dump", dir, "--from", "x"],
        vec!["dump", dir, "--from", "5", "--to", "2"],
        vec!["dump", dir, "--before", "2"],
        vec!["dump", dir, "--to"],
        vec!["truncate", dir],
        vec!["recover", dir],
    ] {
        let o = run(&args);
        assert_one_line_failure(&o, 2, "transom-store");
    }
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("usage:"));
    assert_eq!(run(&[]).status.code(), Some(2));
}
