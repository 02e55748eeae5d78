//! The fixed message header stored in front of every payload, and memory classes.
//!
//! Invariant: the layout of [`Header`] is part of the C ABI (`transom_header`, 48 bytes);
//! `payload_len` and `memory_class` are always stamped by the manager, never trusted from a caller.

use super::MemoryError;

/// Where a manager's storage lives; stamped into every header on store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemoryClass {
    /// Ordinary host memory.
    #[default]
    Host,
    /// Page-locked host memory (DMA-capable).
    PinnedHost,
    /// Memory of device number 0..=255.
    Device(u8),
    /// Memory shared between devices or processes.
    Shared,
}

/// `transom_memory_kind`: a memory class kind, one of the `TRANSOM_MEMORY_*` constants.
pub type MemoryKind = u8;

/// `transom_qos`: a message's quality of service, one of the `TRANSOM_QOS_*` constants (0 in a
/// header given to a store or commit means the default, best-effort).
pub type Qos = u8;

/// `transom_header_flags`: a bit set of the `TRANSOM_FLAG_*` constants.
pub type HeaderFlags = u32;

/// `transom_memory_class`: the C form of [`MemoryClass`]; `kind` is one of the
/// `TRANSOM_MEMORY_*` constants, `device` is meaningful for `TRANSOM_MEMORY_DEVICE` only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryClassRaw {
    /// `TRANSOM_MEMORY_HOST` (0), `_PINNED_HOST` (1), `_DEVICE` (2) or `_SHARED` (3).
    pub kind: MemoryKind,
    /// Device number for `TRANSOM_MEMORY_DEVICE`; 0 otherwise.
    pub device: u8,
}

impl MemoryClass {
    /// The C representation.
    pub fn to_raw(self) -> MemoryClassRaw {
        match self {
            MemoryClass::Host => MemoryClassRaw { kind: 0, device: 0 },
            MemoryClass::PinnedHost => MemoryClassRaw { kind: 1, device: 0 },
            MemoryClass::Device(d) => MemoryClassRaw { kind: 2, device: d },
            MemoryClass::Shared => MemoryClassRaw { kind: 3, device: 0 },
        }
    }

    /// Parses the C representation; an unknown kind, or a device number on a non-device
    /// class, is an invalid argument.
    pub fn from_raw(raw: MemoryClassRaw) -> Result<Self, MemoryError> {
        match (raw.kind, raw.device) {
            (0, 0) => Ok(MemoryClass::Host),
            (1, 0) => Ok(MemoryClass::PinnedHost),
            (2, d) => Ok(MemoryClass::Device(d)),
            (3, 0) => Ok(MemoryClass::Shared),
            _ => Err(MemoryError::InvalidArgument(
                "memory class: kind must be 0..=3 and device 0 unless kind is DEVICE",
            )),
        }
    }
}

/// Quality of service: background work.
pub const QOS_BACKGROUND: Qos = 1;
/// Quality of service: best effort (the default; a header with `qos == 0` is stored as this).
pub const QOS_BEST_EFFORT: Qos = 2;
/// Quality of service: latency-critical.
pub const QOS_LATENCY_CRITICAL: Qos = 3;

/// Header flag: first message of a batch.
pub const FLAG_FIRST_IN_BATCH: HeaderFlags = 1 << 0;
/// Header flag: last message of a batch.
pub const FLAG_LAST_IN_BATCH: HeaderFlags = 1 << 1;
/// Header flag: the consumer may degrade (e.g. drop or coarsen) this message under load.
pub const FLAG_DEGRADE_ALLOWED: HeaderFlags = 1 << 2;
const KNOWN_FLAGS: HeaderFlags = FLAG_FIRST_IN_BATCH | FLAG_LAST_IN_BATCH | FLAG_DEGRADE_ALLOWED;

/// `transom_header`: the fixed, 48-byte, 8-aligned header of every stored message.
///
/// Callers fill `trace_id`, `sequence`, `creation_tick`, `deadline_ns` (0 = none), `qos`
/// (0 means the default, best-effort) and `flags` (only the three defined bits). On store and
/// commit the manager checks `qos` and `flags`, overwrites `payload_len` with the real payload
/// length and `memory_class` with its own class, and zeroes the reserved bytes; the end of a
/// write view does the same (see `transom_manager_release`). A stored header is always valid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Caller's trace identifier.
    pub trace_id: u64,
    /// Caller's sequence number.
    pub sequence: u64,
    /// Caller's creation time, in the caller's clock ticks.
    pub creation_tick: u64,
    /// Deadline in nanoseconds on the caller's clock; 0 = no deadline.
    pub deadline_ns: u64,
    /// Bit set of `TRANSOM_FLAG_*`; unknown bits are refused.
    pub flags: HeaderFlags,
    /// Payload length in bytes; set by the manager.
    pub payload_len: u32,
    /// `TRANSOM_QOS_BACKGROUND` (1), `_BEST_EFFORT` (2, default; 0 is stored as 2) or
    /// `_LATENCY_CRITICAL` (3); anything else is refused.
    pub qos: Qos,
    /// Reserved; stored as zero.
    pub reserved0: u8,
    /// The storing manager's memory class; set by the manager.
    pub memory_class: MemoryClassRaw,
    /// Reserved; stored as zero.
    pub reserved1: u32,
}

const _: () = assert!(std::mem::size_of::<Header>() == 48);
const _: () = assert!(std::mem::align_of::<Header>() == 8);

impl Header {
    /// A header with every field zero but `qos`, which is best-effort.
    pub fn new() -> Self {
        Header {
            qos: QOS_BEST_EFFORT,
            ..Header::default()
        }
    }

    /// The header as the manager stores it: caller fields checked, manager fields stamped.
    pub(crate) fn stamped(&self, len: u32, class: MemoryClassRaw) -> Result<Header, MemoryError> {
        let qos = match self.qos {
            0 => QOS_BEST_EFFORT,
            q @ 1..=3 => q,
            _ => {
                return Err(MemoryError::InvalidArgument(
                    "header qos must be 0 (default), 1, 2 or 3",
                ))
            }
        };
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(MemoryError::InvalidArgument(
                "header flags has bits other than FIRST_IN_BATCH, LAST_IN_BATCH, DEGRADE_ALLOWED",
            ));
        }
        Ok(Header {
            payload_len: len,
            qos,
            reserved0: 0,
            memory_class: class,
            reserved1: 0,
            ..*self
        })
    }

    /// The header stamped like [`stamped`](Header::stamped), but never refused: an invalid
    /// `qos` becomes best-effort and unknown `flags` bits are cleared.
    pub(crate) fn sanitized(&self, len: u32, class: MemoryClassRaw) -> Header {
        let h = Header {
            qos: if self.qos <= QOS_LATENCY_CRITICAL {
                self.qos
            } else {
                QOS_BEST_EFFORT
            },
            flags: self.flags & KNOWN_FLAGS,
            ..*self
        };
        h.stamped(len, class)
            .expect("a sanitized header is always valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamping_overrides_manager_fields_and_defaults_qos() {
        let h = Header {
            payload_len: 999,
            memory_class: MemoryClassRaw { kind: 3, device: 0 },
            reserved1: 7,
            trace_id: 5,
            ..Header::default()
        };
        let s = h.stamped(10, MemoryClass::Device(4).to_raw()).unwrap();
        assert_eq!(s.payload_len, 10);
        assert_eq!(s.qos, QOS_BEST_EFFORT);
        assert_eq!(s.memory_class, MemoryClassRaw { kind: 2, device: 4 });
        assert_eq!(s.reserved1, 0);
        assert_eq!(s.trace_id, 5);
    }

    #[test]
    fn stamping_refuses_bad_qos_and_unknown_flags() {
        let bad_qos = Header {
            qos: 4,
            ..Header::new()
        };
        assert!(matches!(
            bad_qos.stamped(0, MemoryClassRaw::default()),
            Err(MemoryError::InvalidArgument(_))
        ));
        let bad_flags = Header {
            flags: 8,
            ..Header::new()
        };
        assert!(matches!(
            bad_flags.stamped(0, MemoryClassRaw::default()),
            Err(MemoryError::InvalidArgument(_))
        ));
    }

    #[test]
    fn sanitizing_clamps_what_stamping_refuses() {
        let bad = Header {
            qos: 200,
            flags: 0xff,
            reserved0: 1,
            sequence: 4,
            ..Header::default()
        };
        let s = bad.sanitized(3, MemoryClassRaw::default());
        assert_eq!(
            (s.qos, s.flags, s.reserved0, s.payload_len, s.sequence),
            (QOS_BEST_EFFORT, KNOWN_FLAGS, 0, 3, 4)
        );
        let good = Header {
            qos: QOS_BACKGROUND,
            flags: FLAG_LAST_IN_BATCH,
            ..Header::default()
        };
        let class = MemoryClass::Shared.to_raw();
        assert_eq!(good.sanitized(1, class), good.stamped(1, class).unwrap());
    }

    #[test]
    fn memory_class_round_trips_and_rejects_unknown_kinds() {
        for c in [
            MemoryClass::Host,
            MemoryClass::PinnedHost,
            MemoryClass::Device(255),
            MemoryClass::Shared,
        ] {
            assert_eq!(MemoryClass::from_raw(c.to_raw()).unwrap(), c);
        }
        assert!(MemoryClass::from_raw(MemoryClassRaw { kind: 9, device: 0 }).is_err());
        assert!(MemoryClass::from_raw(MemoryClassRaw { kind: 0, device: 1 }).is_err());
    }
}
