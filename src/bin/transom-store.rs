//! `transom-store`: inspect, check and repair a transom event store directory from the shell.
//! A thin command line over the Rust API: `info`, `verify` and `recover` are
//! [`transom::store::inspect`] (file level, they work on a store that would not open); `dump`
//! and `truncate` open the store with [`Store::open`] like any program would.
//!
//! Invariant: every failure is one line on stderr and a non-zero exit status (see `USAGE`);
//! stdout carries only the command's output.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use transom::store::inspect::{self, Severity};
use transom::store::{Config, Event, Store, StoreError};

const USAGE: &str = "\
transom-store: inspect, check and repair a transom event store directory

usage:
  transom-store info DIR
  transom-store verify DIR
  transom-store dump DIR [--from SEQ] [--to SEQ] [--stream PREFIX]
  transom-store truncate DIR --before SEQ
  transom-store recover DIR --side-file PATH
  transom-store --help | --version

  info      segments, sequence range, bytes, streams, index coverage, clean-shutdown flag
  verify    every frame's CRC in every segment, the MANIFEST, every .idx file and every
            page of index/; prints what it checked and the first problem (file, offset)
  dump      one JSON object per event and line, in sequence order (--from/--to inclusive,
            --stream keeps events whose stream name starts with PREFIX)
  truncate  removes the sealed segments whose events are all below SEQ; prints the first
            retained sequence
  recover   cuts the store at its first damaged frame (the start of its batch), after
            copying everything from there (and every later segment) to PATH, which must not
            exist; without damage it changes nothing

  info, verify and recover never open the store (they read its files, holding its lock);
  dump and truncate open it (a torn tail is cut, derived files are rebuilt, as on any open).

exit status:
  0  success (verify: no data damage; derived files it reports are rebuilt on open)
  1  data damage (verify found some; dump/truncate: the store is corrupt, see verify/recover)
  2  usage error, or DIR is missing, not a store, locked by another process, or unreadable
";

const EXIT_DAMAGED: u8 = 1;
const EXIT_FAILED: u8 = 2;

/// A failure: its exit status and its one-line message.
struct Failure(u8, String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        let code = if matches!(e, StoreError::Corrupt { .. }) {
            EXIT_DAMAGED
        } else {
            EXIT_FAILED
        };
        Failure(code, e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure(EXIT_FAILED, format!("writing the output: {e}"))
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure(
        EXIT_FAILED,
        format!("{} (see transom-store --help)", msg.into()),
    )
}

/// A command line: the command, its directory and its options.
struct Args {
    command: String,
    dir: PathBuf,
    from: Option<u64>,
    to: Option<u64>,
    stream: Option<String>,
    before: Option<u64>,
    side_file: Option<PathBuf>,
}

fn parse(argv: &[String]) -> Result<Args, Failure> {
    let mut it = argv.iter();
    let command = it.next().ok_or_else(|| usage("no command"))?.clone();
    let allowed: &[&str] = match command.as_str() {
        "info" | "verify" => &[],
        "dump" => &["--from", "--to", "--stream"],
        "truncate" => &["--before"],
        "recover" => &["--side-file"],
        other => return Err(usage(format!("unknown command '{other}'"))),
    };
    let mut args = Args {
        command: command.clone(),
        dir: PathBuf::new(),
        from: None,
        to: None,
        stream: None,
        before: None,
        side_file: None,
    };
    let mut dir = None;
    let seq = |opt: &str, v: &str| {
        v.parse::<u64>()
            .map_err(|_| usage(format!("{opt} wants a sequence number, got '{v}'")))
    };
    while let Some(a) = it.next() {
        if !a.starts_with("--") || a == "--" {
            if dir.is_some() {
                return Err(usage(format!("unexpected argument '{a}'")));
            }
            dir = Some(PathBuf::from(a));
            continue;
        }
        if !allowed.contains(&a.as_str()) {
            return Err(usage(format!("{command} does not take {a}")));
        }
        let v = it
            .next()
            .ok_or_else(|| usage(format!("{a} needs a value")))?;
        let dup = match a.as_str() {
            "--from" => args.from.replace(seq(a, v)?).is_some(),
            "--to" => args.to.replace(seq(a, v)?).is_some(),
            "--before" => args.before.replace(seq(a, v)?).is_some(),
            "--stream" => args.stream.replace(v.clone()).is_some(),
            _ => args.side_file.replace(PathBuf::from(v)).is_some(),
        };
        if dup {
            return Err(usage(format!("{a} given twice")));
        }
    }
    args.dir = dir.ok_or_else(|| usage(format!("{command} needs a store directory")))?;
    if command == "truncate" && args.before.is_none() {
        return Err(usage("truncate needs --before SEQ"));
    }
    if command == "recover" && args.side_file.is_none() {
        return Err(usage(
            "recover needs --side-file PATH (where the cut bytes are saved)",
        ));
    }
    if let (Some(f), Some(t)) = (args.from, args.to) {
        if t < f {
            return Err(usage(format!("--to {t} is below --from {f}")));
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return if argv.is_empty() {
                ExitCode::from(EXIT_FAILED)
            } else {
                ExitCode::SUCCESS
            };
        }
        Some("-V" | "--version") => {
            println!("transom-store {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let result = parse(&argv).and_then(|args| {
        let mut out = io::BufWriter::new(io::stdout().lock());
        let r = run(&args, &mut out);
        let flushed = out.flush().map_err(Failure::from);
        r.and_then(|code| flushed.map(|()| code))
    });
    match result {
        Ok(code) => ExitCode::from(code),
        // `transom-store dump … | head`: the reader left, nothing is wrong.
        Err(Failure(_, msg)) if msg.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            let cmd = argv.first().map_or("", String::as_str);
            eprintln!("transom-store {cmd}: {}", msg.replace('\n', " "));
            ExitCode::from(code)
        }
    }
}

fn run(args: &Args, out: &mut impl Write) -> Result<u8, Failure> {
    let dir = args.dir.as_path();
    match args.command.as_str() {
        "info" => info(dir, out),
        "verify" => verify(dir, out),
        "dump" => dump(args, out),
        "truncate" => truncate(dir, args.before.unwrap_or(0), out),
        _ => recover(dir, args.side_file.as_deref().unwrap_or(Path::new("")), out),
    }
}

fn info(dir: &Path, out: &mut impl Write) -> Result<u8, Failure> {
    let i = inspect::info(dir)?;
    let range = |first: u64, last: u64| {
        if last >= first {
            format!("{first}..={last}")
        } else {
            "none".to_string()
        }
    };
    writeln!(out, "directory: {}", dir.display())?;
    writeln!(
        out,
        "segments: {} ({} bytes)",
        i.segments.len(),
        i.segment_bytes
    )?;
    for s in &i.segments {
        writeln!(
            out,
            "  {}  sequences {}  {} bytes{}",
            s.file.file_name().unwrap_or_default().to_string_lossy(),
            range(s.base, s.last_sequence),
            s.bytes,
            if s.sealed { "  sealed" } else { "" }
        )?;
    }
    writeln!(
        out,
        "sequences: {}",
        range(i.first_retained, i.last_sequence)
    )?;
    writeln!(out, "first retained: {}", i.first_retained)?;
    writeln!(out, "last sequence: {}", i.last_sequence)?;
    writeln!(
        out,
        "events: {}",
        (i.last_sequence + 1).saturating_sub(i.first_retained)
    )?;
    writeln!(
        out,
        "bytes on disk: {} (segments, .idx files, MANIFEST, LOCK, index/)",
        i.bytes_on_disk
    )?;
    writeln!(
        out,
        "streams: {} (distinct names in the retained segments' stream tables)",
        i.streams
    )?;
    match i.index_covered {
        Some(c) => writeln!(out, "index covered sequence: {c}")?,
        None => writeln!(
            out,
            "index covered sequence: none (index/ absent or damaged: built from the log on open)"
        )?,
    }
    match i.clean_shutdown {
        Some(c) => writeln!(out, "clean shutdown: {}", if c { "yes" } else { "no" })?,
        None => writeln!(out, "clean shutdown: unknown (MANIFEST missing or damaged)")?,
    }
    if let Some(d) = i.durable_sequence {
        writeln!(out, "fsynced up to: {d} (as the MANIFEST recorded)")?;
    }
    for p in &i.problems {
        writeln!(out, "problem: {p}")?;
    }
    Ok(0)
}

fn verify(dir: &Path, out: &mut impl Write) -> Result<u8, Failure> {
    let r = inspect::verify(dir)?;
    for c in &r.checked {
        writeln!(out, "checked {c}")?;
    }
    let mut derived = 0;
    for f in &r.findings {
        let at = f
            .offset
            .map_or(String::new(), |o| format!(" at offset {o}"));
        let (label, what) = match f.severity {
            Severity::Note => ("note", ""),
            Severity::Derived => {
                derived += 1;
                ("warning", "derived file, ")
            }
            Severity::Damage => ("DAMAGE", ""),
        };
        writeln!(
            out,
            "{label}: {}{at}: {what}{}",
            f.file.display(),
            f.message
        )?;
    }
    match &r.damage {
        Some(d) => {
            writeln!(
                out,
                "result: DAMAGED: {} at offset {}: {} (reads that reach it are CORRUPT, and so is \
                 an open that has to scan it; `transom-store recover` cuts it there, keeping \
                 sequences up to {})",
                d.file.display(),
                d.offset,
                d.reason,
                d.last_good_sequence
            )?;
            Ok(EXIT_DAMAGED)
        }
        None if derived > 0 => {
            writeln!(
                out,
                "result: healthy: {} frame(s) checked, no data damage; {derived} derived \
                 file(s) will be rebuilt on open",
                r.frames
            )?;
            Ok(0)
        }
        None => {
            writeln!(
                out,
                "result: healthy: {} frame(s) checked, no data damage",
                r.frames
            )?;
            Ok(0)
        }
    }
}

fn open(dir: &Path) -> Result<Store, Failure> {
    inspect::check_store_dir(dir)?;
    Ok(Store::open(Config::on_disk(dir))?)
}

fn dump(args: &Args, out: &mut impl Write) -> Result<u8, Failure> {
    let store = open(&args.dir)?;
    let to = args.to.unwrap_or(u64::MAX);
    let mut next = args.from.unwrap_or(0).max(store.first_sequence());
    let mut line = String::new();
    while next <= to {
        let batch = store.read_from_sequence(next, 1024)?;
        let Some(last) = batch.last() else { break };
        next = last.sequence + 1;
        for e in batch.iter().filter(|e| e.sequence <= to) {
            if args
                .stream
                .as_deref()
                .is_some_and(|p| !e.stream.starts_with(p))
            {
                continue;
            }
            line.clear();
            event_json(e, &mut line);
            out.write_all(line.as_bytes())?;
        }
    }
    store.close()?;
    Ok(0)
}

fn truncate(dir: &Path, before: u64, out: &mut impl Write) -> Result<u8, Failure> {
    let store = open(dir)?;
    let old = store.first_sequence();
    let first = store.truncate(before)?;
    store.close()?;
    writeln!(out, "first retained: {first}")?;
    if first == old {
        writeln!(
            out,
            "nothing removed (only whole sealed segments below {before} are removed; the \
             segment being appended to never is)"
        )?;
    } else {
        writeln!(out, "removed sequences {old}..={}", first - 1)?;
    }
    Ok(0)
}

fn recover(dir: &Path, side_file: &Path, out: &mut impl Write) -> Result<u8, Failure> {
    let r = inspect::recover(dir, side_file)?;
    let Some(d) = &r.damage else {
        writeln!(
            out,
            "nothing to recover: no damaged frame (nothing changed, no side file written); \
             last sequence {}",
            r.last_sequence
        )?;
        return Ok(0);
    };
    writeln!(
        out,
        "damage: {} at offset {}: {}",
        d.file.display(),
        d.offset,
        d.reason
    )?;
    let mut total = 0;
    for p in &r.pieces {
        total += p.len;
        writeln!(
            out,
            "moved to side file: {} bytes {}..{} ",
            p.file.display(),
            p.offset,
            p.offset + p.len
        )?;
    }
    writeln!(
        out,
        "side file: {} ({total} bytes of segments)",
        side_file.display()
    )?;
    writeln!(
        out,
        "the store now ends at sequence {} and opens again",
        r.last_sequence
    )?;
    Ok(0)
}

/// One event as a JSON line (see README "transom-store" for the fields).
fn event_json(e: &Event, s: &mut String) {
    use std::fmt::Write as _;
    let hex_or_null = |id: Option<transom::store::EventId>| {
        id.map_or("null".to_string(), |i| format!("\"{:032x}\"", i.as_u128()))
    };
    let _ = write!(
        s,
        "{{\"sequence\":{},\"id\":\"{:032x}\",\"stream\":",
        e.sequence,
        e.id.as_u128()
    );
    json_string(&e.stream, s);
    let _ = write!(
        s,
        ",\"stream_version\":{},\"kind\":{},\"timestamp_ns\":{},\"correlation_id\":{},\
         \"causation_id\":{},\"idempotency_key\":",
        e.stream_version,
        e.kind,
        e.timestamp_ns,
        hex_or_null(e.correlation_id),
        hex_or_null(e.causation_id)
    );
    match &e.idempotency_key {
        Some(k) => {
            s.push('"');
            base64(k, s);
            s.push('"');
        }
        None => s.push_str("null"),
    }
    s.push_str(",\"payload\":\"");
    base64(&e.payload, s);
    s.push_str("\"}\n");
}

fn json_string(v: &str, s: &mut String) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                use std::fmt::Write as _;
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

/// Standard base64 (RFC 4648 §4, with padding).
fn base64(b: &[u8], s: &mut String) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in b.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                s.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
}
