//! Named cursor checkpoints: where they live, their file format, and the per-store registry
//! that keeps in-memory checkpoints and the names of open cursors.
//!
//! Invariant: a checkpoint file is either absent, or complete and CRC-valid. It is replaced by
//! write-temp → fsync → rename → fsync(dir), so a crash at any point leaves the old or the new
//! checkpoint, and anything else found on disk is reported as `Corrupt`, never read as "no
//! checkpoint".
//!
//! ## File format (`<store dir>/checkpoints/<name>.ckpt`, 20 bytes, little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"TRCK"` |
//! | 4 | 2 | version, `1` |
//! | 6 | 2 | flags, `0` |
//! | 8 | 8 | the acknowledged sequence (`0` = nothing acknowledged; resume at `seq + 1`) |
//! | 16 | 4 | CRC-32C of bytes 0..16 |
//!
//! The temporary file is `<name>.ckpt.tmp` (names cannot end in `.ckpt.tmp` and `.ckpt` at
//! once, so it never collides with another checkpoint); a leftover one is ignored and
//! overwritten.
//!
//! `<name>.known` (empty) is created, and made durable, right after a name's first checkpoint
//! became durable: a `.ckpt` missing next to a `.known` was deleted, not never written, and is
//! `Corrupt` (a deleted checkpoint must not silently restart a consumer from its start
//! position). Deleting both files (or the whole `checkpoints/` directory) resets the cursor.
//!
//! After its store closed, a named cursor's checkpoints are refused with `Closed`: a durable
//! write from an old handle could otherwise overwrite the checkpoint of a newer store of the
//! same directory. A worker whose store closes under it therefore keeps only its last
//! checkpoint taken while the store was open; the events it acked after that are delivered
//! again to the next cursor of that name (at-least-once, never lost).

use crate::sync::{Mutex, MutexGuard};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use crate::store::Store;

use super::CanalError;

/// Longest checkpoint name, in bytes.
///
/// cbindgen:ignore
pub const MAX_CHECKPOINT_NAME_LEN: usize = 240;

const MAGIC: [u8; 4] = *b"TRCK";
const VERSION: u16 = 1;
const FILE_LEN: usize = 20;
/// The subdirectory of the store directory holding checkpoint files.
pub const CHECKPOINT_DIR: &str = "checkpoints";

/// Checks a checkpoint name: 1..=240 bytes of `[A-Za-z0-9._-]`, and not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), CanalError> {
    if name.is_empty() || name.len() > MAX_CHECKPOINT_NAME_LEN {
        return Err(CanalError::InvalidArgument(
            "checkpoint name must be 1 to 240 bytes",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(CanalError::InvalidArgument(
            "checkpoint name may only hold A-Z a-z 0-9 . _ -",
        ));
    }
    if name == "." || name == ".." {
        return Err(CanalError::InvalidArgument(
            "checkpoint name may not be . or ..",
        ));
    }
    Ok(())
}

pub(crate) fn encode(seq: u64) -> [u8; FILE_LEN] {
    let mut b = [0u8; FILE_LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..6].copy_from_slice(&VERSION.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&b[0..16]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) fn decode(file: &Path, bytes: &[u8]) -> Result<u64, CanalError> {
    let corrupt = |reason: String| CanalError::Corrupt {
        file: file.to_path_buf(),
        reason,
    };
    if bytes.len() != FILE_LEN {
        return Err(corrupt(format!(
            "{} bytes, a checkpoint has {FILE_LEN}",
            bytes.len()
        )));
    }
    if bytes[0..4] != MAGIC {
        return Err(corrupt("bad magic".into()));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    let stored = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[0..16]) != stored {
        return Err(corrupt("CRC mismatch".into()));
    }
    if version != VERSION {
        return Err(corrupt(format!("unsupported version {version}")));
    }
    Ok(u64::from_le_bytes(
        bytes[8..16].try_into().expect("8 bytes"),
    ))
}

/// The checkpoint file of `name` in the store directory `dir`.
pub fn checkpoint_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(CHECKPOINT_DIR).join(format!("{name}.ckpt"))
}

/// The marker of a name that has checkpointed at least once.
fn known_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(CHECKPOINT_DIR).join(format!("{name}.known"))
}

fn read_disk(dir: &Path, name: &str) -> Result<Option<u64>, CanalError> {
    let path = checkpoint_path(dir, name);
    match fs::read(&path) {
        Ok(bytes) => decode(&path, &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if known_path(dir, name).exists() {
                return Err(CanalError::Corrupt {
                    file: path,
                    reason: format!(
                        "missing, but {name}.known says the cursor checkpointed before \
                         (delete {name}.known too to restart the cursor)"
                    ),
                });
            }
            Ok(None)
        }
        Err(e) => Err(CanalError::io(format!("reading {}", path.display()), e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), CanalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CanalError::io(format!("fsyncing directory {}", dir.display()), e))
}

fn write_disk(dir: &Path, name: &str, seq: u64) -> Result<(), CanalError> {
    let ckdir = dir.join(CHECKPOINT_DIR);
    if !ckdir.is_dir() {
        fs::create_dir_all(&ckdir)
            .map_err(|e| CanalError::io(format!("creating {}", ckdir.display()), e))?;
        // The new directory entry must survive a crash too.
        sync_dir(dir)?;
    }
    let path = checkpoint_path(dir, name);
    let tmp = ckdir.join(format!("{name}.ckpt.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&encode(seq))?;
        f.sync_all()
    };
    write().map_err(|e| CanalError::io(format!("writing {}", tmp.display()), e))?;
    fs::rename(&tmp, &path).map_err(|e| {
        CanalError::io(
            format!("renaming {} to {}", tmp.display(), path.display()),
            e,
        )
    })?;
    sync_dir(&ckdir)?;
    let known = known_path(dir, name);
    if !known.exists() {
        // Only after the checkpoint itself is durable: a marker never outlives a crash alone.
        File::create(&known)
            .map_err(|e| CanalError::io(format!("creating {}", known.display()), e))?;
        sync_dir(&ckdir)?;
    }
    Ok(())
}

/// What canals keep per store: in-memory checkpoints and the names of open named cursors.
#[derive(Default)]
struct StoreCanals {
    memory: HashMap<String, u64>,
    names: HashSet<String>,
}

/// Process-wide, keyed by the store's allocation. A `Weak` keeps the allocation (not the store)
/// alive, so a key's address cannot be reused while its entry exists; entries of dropped stores
/// are purged on every access. This is what gives in-memory stores checkpoints that last
/// exactly as long as the store, without the store knowing about canals.
///
/// A process-wide static is outside what a loom model explores, so it is std's mutex (const
/// constructible in every build), recovered from poison like every lock of the crate.
static REGISTRY: std::sync::Mutex<Vec<RegistryEntry>> = std::sync::Mutex::new(Vec::new());

type RegistryEntry = (Weak<Store>, Arc<Mutex<StoreCanals>>);

fn entry(store: &Arc<Store>) -> Arc<Mutex<StoreCanals>> {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    reg.retain(|(w, _)| w.strong_count() > 0);
    let key = Arc::downgrade(store);
    if let Some((_, e)) = reg.iter().find(|(w, _)| w.ptr_eq(&key)) {
        return Arc::clone(e);
    }
    let e = Arc::new(Mutex::new(StoreCanals::default()));
    reg.push((key, Arc::clone(&e)));
    e
}

fn lock(e: &Mutex<StoreCanals>) -> MutexGuard<'_, StoreCanals> {
    e.lock()
}

/// A named cursor's hold on its name and checkpoint. Dropping it frees the name.
pub(crate) struct NamedCheckpoint {
    name: String,
    /// The store directory, or `None` for an in-memory store.
    dir: Option<PathBuf>,
    store: Weak<Store>,
    canals: Arc<Mutex<StoreCanals>>,
    /// What this cursor last read from or wrote to its checkpoint file (on disk).
    last: Mutex<Option<u64>>,
}

impl NamedCheckpoint {
    /// Claims `name` on `store` (`NameInUse` if an open cursor holds it) and returns the last
    /// checkpointed sequence (`None` if there is no checkpoint yet).
    pub(crate) fn claim(
        store: &Arc<Store>,
        name: &str,
    ) -> Result<(NamedCheckpoint, Option<u64>), CanalError> {
        validate_name(name)?;
        let canals = entry(store);
        let dir = store.config().dir.clone();
        if !lock(&canals).names.insert(name.to_owned()) {
            return Err(CanalError::NameInUse(name.to_owned()));
        }
        // From here on, dropping `held` releases the name, whatever fails below.
        let held = NamedCheckpoint {
            name: name.to_owned(),
            dir,
            store: Arc::downgrade(store),
            canals,
            last: Mutex::new(None),
        };
        let seq = match &held.dir {
            Some(dir) => read_disk(dir, name)?,
            None => lock(&held.canals).memory.get(name).copied(),
        };
        *held.last.lock() = seq;
        Ok((held, seq))
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Persists `seq`: durably on disk while the store is open, or in memory while the store
    /// exists; `Closed` once it was closed or dropped (see the module docs).
    pub(crate) fn save(&self, seq: u64) -> Result<(), CanalError> {
        match &self.dir {
            Some(dir) => {
                let mut last = self.last.lock();
                let write = || write_disk(dir, &self.name, seq);
                // While our store holds the directory lock, it is the directory's owner.
                // Only while our store is open and holds the directory lock: after the store
                // closed, a durable write from this old handle is refused, whoever holds the
                // directory now.
                match self.store.upgrade().and_then(|s| s.while_dir_locked(write)) {
                    Some(result) => result?,
                    None => return Err(CanalError::Closed),
                }
                *last = Some(seq);
                Ok(())
            }
            None => {
                if self.store.strong_count() == 0 {
                    return Err(CanalError::Closed);
                }
                lock(&self.canals).memory.insert(self.name.clone(), seq);
                Ok(())
            }
        }
    }
}

impl Drop for NamedCheckpoint {
    fn drop(&mut self) {
        lock(&self.canals).names.remove(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_checkpoints_decode_to_the_same_sequence() {
        for seq in [0, 1, 5_000, u64::MAX] {
            assert_eq!(decode(Path::new("x"), &encode(seq)), Ok(seq));
        }
    }

    #[test]
    fn every_damaged_checkpoint_is_corrupt() {
        let good = encode(42);
        let p = Path::new("c.ckpt");
        let is_corrupt = |bytes: &[u8]| matches!(decode(p, bytes), Err(CanalError::Corrupt { .. }));
        for len in 0..FILE_LEN {
            assert!(is_corrupt(&good[..len]), "truncated to {len}");
        }
        let mut longer = good.to_vec();
        longer.push(0);
        assert!(is_corrupt(&longer));
        for byte in 0..FILE_LEN {
            let mut bad = good;
            bad[byte] ^= 0x10;
            assert!(is_corrupt(&bad), "flipped byte {byte}");
        }
        assert!(is_corrupt(&[0xAB; FILE_LEN]));
    }

    #[test]
    fn checkpoint_names_are_validated() {
        for ok in ["a", "orders-v2.projection_1", &"x".repeat(240)] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a\0", &"x".repeat(241)] {
            assert!(
                matches!(validate_name(bad), Err(CanalError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }
}
