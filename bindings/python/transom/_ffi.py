"""The raw ctypes layer: the shared library, every C struct, callback type and function.

Every exported function of ``include/transom.h`` is declared in :data:`FUNCTIONS` with its exact
``restype`` and ``argtypes`` and applied to the loaded library at import time
(``tests/test_header.py`` parses the header and fails when this table drifts from it).

Type mapping (the header test applies the same rules): ``int32_t``/``transom_status`` ->
``c_int32``; ``uint8_t``/``uint16_t``/``uint32_t``/``uint64_t``/``int64_t`` -> the same-width
ctypes integer; ``size_t`` -> ``c_size_t``; ``transom_pid`` -> ``c_uint64``; ``const char *`` ->
``c_char_p`` (``POINTER(c_char)`` in struct fields C fills with strings that are not
NUL-terminated); ``char *`` (a buffer C writes) -> ``POINTER(c_char)``; ``void *`` -> ``c_void_p``; ``T *`` -> ``POINTER(T)``; ``void`` return ->
``None``; ``struct transom_x`` -> the :class:`ctypes.Structure` of the same name below (opaque
handles are empty structures, so handle pointers of different types are not interchangeable).

The library is a ``CDLL``: ctypes releases the GIL for the duration of every foreign call, so a
Python thread blocked in ``transom_mailbox_receive``, ``transom_conversation_await_crash`` or
``transom_canal_pull_batch`` lets every other Python thread run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Dict, List, Optional, Tuple

from . import VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH  # set before transom imports this

__all__ = ["lib", "library_path", "FUNCTIONS", "load_library", "PACKAGE_VERSION", "SONAME"]

transom_status = c_int32
transom_pid = c_uint64
transom_exit_kind = c_int32
transom_message_kind = c_int32


# --- opaque handles -------------------------------------------------------------------------


class transom_canal(Structure):
    """Opaque: a cursor or a subscription."""


class transom_conversation(Structure):
    """Opaque: a supervised conversation."""


class transom_mailbox(Structure):
    """Opaque: a mailbox process owned by the calling code."""


class transom_mirror(Structure):
    """Opaque: a store's mirror to a NATS JetStream stream."""


class transom_manager(Structure):
    """Opaque: a slot memory manager."""


class transom_runtime(Structure):
    """Opaque: an actor runtime."""


class transom_store(Structure):
    """Opaque: an event store."""


class transom_worker(Structure):
    """Opaque: a canal worker thread."""


# --- actor ----------------------------------------------------------------------------------


class transom_exit_reason(Structure):
    _fields_ = [("kind", transom_exit_kind), ("code", c_int32), ("message", c_char * 256)]


class transom_message(Structure):
    _fields_ = [
        ("kind", transom_message_kind),
        ("from", transom_pid),
        ("bytes", POINTER(c_uint8)),
        ("len", c_size_t),
        ("reason", POINTER(transom_exit_reason)),
    ]


HANDLE_FN: Any = CFUNCTYPE(c_int32, c_void_p, transom_pid, POINTER(transom_message))
DROP_FN: Any = CFUNCTYPE(None, c_void_p)
MONITOR_FN: Any = CFUNCTYPE(None, c_void_p, transom_pid, POINTER(transom_exit_reason))


class transom_behaviour_callback(Structure):
    _fields_ = [("ctx", c_void_p), ("call", HANDLE_FN), ("drop", DROP_FN)]


class transom_monitor_callback(Structure):
    _fields_ = [("ctx", c_void_p), ("call", MONITOR_FN), ("drop", DROP_FN)]


class transom_spawn_options(Structure):
    _fields_ = [
        ("link", transom_pid),
        ("trap_exit", c_bool),
        ("monitor", transom_monitor_callback),
    ]


class transom_request(Structure):
    _fields_ = [
        ("request_id", c_uint64),
        ("traceparent", c_char * 56),
        ("payload", POINTER(c_uint8)),
        ("payload_len", c_size_t),
    ]


# --- store and canals -----------------------------------------------------------------------

# The enum-like typedefs of the header (a typedef name maps to its integer type).
transom_sync_policy = c_uint32
transom_expected_version_kind = c_uint32
transom_start_kind = c_uint32
transom_overflow_policy = c_uint32
transom_item_kind = c_int32
transom_worker_verdict = c_int32
transom_worker_exit = c_int32


class transom_filter(Structure):
    _fields_ = [
        ("stream_prefix", c_char_p),
        ("stream_prefix_len", c_size_t),
        ("kinds", POINTER(c_uint16)),
        ("kind_count", c_size_t),
    ]


class transom_cursor_options(Structure):
    _fields_ = [
        ("filter", transom_filter),
        ("start", transom_start_kind),
        ("start_sequence", c_uint64),
        ("name", c_char_p),
        ("name_len", c_size_t),
    ]


class transom_nats_url(Structure):
    _fields_ = [("url", c_char_p), ("url_len", c_size_t)]


class transom_nats_options(Structure):
    _fields_ = [
        ("urls", POINTER(transom_nats_url)),
        ("url_count", c_size_t),
        ("credentials_file", c_char_p),
        ("credentials_file_len", c_size_t),
        ("connect_timeout_ns", c_uint64),
        ("request_timeout_ns", c_uint64),
    ]


class transom_mirror_options(Structure):
    _fields_ = [
        ("nats", transom_nats_options),
        ("stream", c_char_p),
        ("stream_len", c_size_t),
        ("subject_prefix", c_char_p),
        ("subject_prefix_len", c_size_t),
        ("replicas", c_uint32),
        ("max_in_flight", c_uint32),
    ]


transom_mirror_state = c_uint32


class transom_mirror_report(Structure):
    _fields_ = [
        ("state", transom_mirror_state),
        ("shipped", c_uint64),
        ("store_head", c_uint64),
        ("lag", c_uint64),
        ("retries", c_uint64),
        ("error", transom_status),
        ("error_value", c_int64),
        ("error_message", c_char * 256),
    ]


class transom_remote_cursor_options(Structure):
    _fields_ = [
        ("nats", transom_nats_options),
        ("stream", c_char_p),
        ("stream_len", c_size_t),
        ("subject_prefix", c_char_p),
        ("subject_prefix_len", c_size_t),
        ("name", c_char_p),
        ("name_len", c_size_t),
        ("filter", transom_filter),
        ("start", transom_start_kind),
        ("start_sequence", c_uint64),
        ("ack_wait_ns", c_uint64),
        ("prefetch", c_size_t),
    ]


class transom_subscription_options(Structure):
    _fields_ = [("filter", transom_filter), ("capacity", c_size_t), ("overflow", transom_overflow_policy)]


class transom_event_id(Structure):
    _fields_ = [("hi", c_uint64), ("lo", c_uint64)]


class transom_event(Structure):
    _fields_ = [
        ("id", transom_event_id),
        ("sequence", c_uint64),
        ("stream_version", c_uint64),
        ("timestamp_ns", c_uint64),
        ("correlation_id", transom_event_id),
        ("causation_id", transom_event_id),
        ("kind", c_uint16),
        # `const char *` not NUL-terminated: kept as a raw pointer (c_char_p would read to NUL).
        ("stream", POINTER(c_char)),
        ("stream_len", c_size_t),
        ("payload", POINTER(c_uint8)),
        ("payload_len", c_size_t),
    ]


class transom_item(Structure):
    _fields_ = [
        ("kind", transom_item_kind),
        ("event", transom_event),
        ("gap_from", c_uint64),
        ("gap_to", c_uint64),
        ("gap_count", c_uint64),
    ]


BATCH_FN: Any = CFUNCTYPE(transom_worker_verdict, c_void_p, POINTER(transom_item), c_size_t)


class transom_batch_callback(Structure):
    _fields_ = [("ctx", c_void_p), ("call", BATCH_FN), ("drop", DROP_FN)]


class transom_worker_options(Structure):
    _fields_ = [
        ("max_batch", c_size_t),
        ("checkpoint_every", c_uint32),
        ("no_checkpoint_on_exit", c_bool),
    ]


# --- conversations --------------------------------------------------------------------------

# The header's typedef'd enum-like types.
transom_on_crash = c_uint32
transom_compensate_decision = c_int32
transom_mode = c_uint32
transom_phase = c_int32
transom_health = c_int32


class transom_participant(Structure):
    _fields_ = [("pid", transom_pid), ("behaviour", transom_behaviour_callback)]


class transom_in_flight(Structure):
    _fields_ = [
        ("request_id", c_uint64),
        ("participant", transom_pid),
        ("payload", POINTER(c_uint8)),
        ("payload_len", c_size_t),
        ("traceparent", c_char * 56),
    ]


COMPENSATE_FN: Any = CFUNCTYPE(
    transom_compensate_decision,
    c_void_p,
    transom_pid,
    POINTER(transom_exit_reason),
    POINTER(transom_in_flight),
    c_size_t,
)


class transom_compensate_callback(Structure):
    _fields_ = [("ctx", c_void_p), ("call", COMPENSATE_FN), ("drop", DROP_FN)]


class transom_conversation_config(Structure):
    _fields_ = [
        ("participants", POINTER(transom_participant)),
        ("participant_count", c_size_t),
        ("on_crash", transom_on_crash),
        ("compensate", transom_compensate_callback),
        ("timeout_ns", c_uint64),
        ("mode", transom_mode),
    ]


class transom_reply(Structure):
    _fields_ = [("request_id", c_uint64), ("from", transom_pid)]


class transom_crash_info(Structure):
    _fields_ = [
        ("conversation", transom_pid),
        ("participant", transom_pid),
        ("reason", transom_exit_reason),
        ("policy", transom_on_crash),
        ("observed_at_ns", c_uint64),
        ("participant_index", c_size_t),
    ]


CRASH_FN: Any = CFUNCTYPE(None, c_void_p, POINTER(transom_crash_info))


class transom_crash_callback(Structure):
    _fields_ = [("ctx", c_void_p), ("call", CRASH_FN), ("drop", DROP_FN)]


class transom_participant_state(Structure):
    _fields_ = [
        ("pid", transom_pid),
        ("spawned", c_bool),
        ("health", transom_health),
        ("exit_reason", transom_exit_reason),
        ("exited_at_ns", c_uint64),
    ]


class transom_conversation_snapshot(Structure):
    _fields_ = [
        ("pid", transom_pid),
        ("phase", transom_phase),
        ("deadline_ns", c_uint64),
        ("sent", c_uint64),
        ("received", c_uint64),
        ("crashed", c_uint64),
        ("in_flight", c_size_t),
        ("buffered", c_size_t),
        ("traceparent", c_char * 56),
        ("participant_count", c_size_t),
    ]


# --- memory ---------------------------------------------------------------------------------

transom_manager_kind = c_uint32
transom_memory_kind = c_uint8
transom_qos = c_uint8
transom_header_flags = c_uint32


class transom_memory_class(Structure):
    _fields_ = [("kind", transom_memory_kind), ("device", c_uint8)]


class transom_header(Structure):
    _fields_ = [
        ("trace_id", c_uint64),
        ("sequence", c_uint64),
        ("creation_tick", c_uint64),
        ("deadline_ns", c_uint64),
        ("flags", transom_header_flags),
        ("payload_len", c_uint32),
        ("qos", transom_qos),
        ("reserved0", c_uint8),
        ("memory_class", transom_memory_class),
        ("reserved1", c_uint32),
    ]


class transom_manager_config(Structure):
    _fields_ = [
        ("kind", transom_manager_kind),
        ("capacity", c_size_t),
        ("slot_size", c_size_t),
        ("memory_class", transom_memory_class),
        ("storage", c_void_p),
        ("storage_len", c_size_t),
    ]


class transom_token(Structure):
    _fields_ = [("key", c_uint64), ("slot", c_uint64)]


class transom_read_view(Structure):
    _fields_ = [
        ("header", POINTER(transom_header)),
        ("payload", POINTER(c_uint8)),
        ("len", c_size_t),
    ]


class transom_write_view(Structure):
    _fields_ = [
        ("header", POINTER(transom_header)),
        ("payload", POINTER(c_uint8)),
        ("len", c_size_t),
        ("capacity", c_size_t),
    ]


class transom_memory_stats(Structure):
    _fields_ = [
        ("in_use", c_size_t),
        ("high_water", c_size_t),
        ("failed_allocs", c_uint64),
        ("retired", c_size_t),
    ]


# --- store ----------------------------------------------------------------------------------


class transom_store_config(Structure):
    _fields_ = [
        ("dir", c_char_p),
        ("dir_len", c_size_t),
        ("sync", transom_sync_policy),
        ("sync_every_n", c_uint32),
        ("max_payload", c_size_t),
        ("segment_size", c_uint64),
        ("retention_bytes", c_uint64),
        ("retention_age_ns", c_uint64),
        ("index_flush_events", c_uint64),
    ]


class transom_store_statistics(Structure):
    _fields_ = [
        ("events", c_uint64),
        ("segments", c_uint64),
        ("bytes_on_disk", c_uint64),
        ("first_sequence", c_uint64),
        ("last_sequence", c_uint64),
        ("frames_scanned_at_open", c_uint64),
        ("index_covered_sequence", c_uint64),
        ("read_cache_bytes", c_uint64),
        ("heap_bytes", c_uint64),
        ("index_heap_bytes", c_uint64),
        ("segment_indexes_rebuilt_at_open", c_uint64),
        ("index_events_replayed_at_open", c_uint64),
        ("torn_tail_bytes_cut_at_open", c_uint64),
        ("index_rebuilt_at_open", c_bool),
        ("manifest_rebuilt_at_open", c_bool),
    ]


class transom_append(Structure):
    _fields_ = [
        ("stream", c_char_p),
        ("stream_len", c_size_t),
        ("kind", c_uint16),
        ("payload", POINTER(c_uint8)),
        ("payload_len", c_size_t),
        ("correlation_id", transom_event_id),
        ("causation_id", transom_event_id),
        ("idempotency_key", POINTER(c_uint8)),
        ("idempotency_key_len", c_size_t),
        ("expected", transom_expected_version_kind),
        ("expected_version", c_uint64),
    ]


class transom_receipt(Structure):
    _fields_ = [("id", transom_event_id), ("sequence", c_uint64), ("stream_version", c_uint64)]


class transom_event_buffer(Structure):
    _fields_ = [
        ("events", POINTER(transom_event)),
        ("cap", c_size_t),
        ("arena", POINTER(c_uint8)),
        ("arena_cap", c_size_t),
        ("count", c_size_t),
        ("total", c_size_t),
        ("arena_needed", c_size_t),
    ]


class transom_gate_event(Structure):
    _fields_ = [
        ("stream", POINTER(c_char)),
        ("stream_len", c_size_t),
        ("kind", c_uint16),
        ("payload", POINTER(c_uint8)),
        ("payload_len", c_size_t),
        ("correlation_id", transom_event_id),
        ("causation_id", transom_event_id),
        ("index", c_size_t),
        ("batch_len", c_size_t),
    ]


GATE_FN: Any = CFUNCTYPE(c_int32, c_void_p, POINTER(transom_gate_event), POINTER(c_char), c_size_t)


class transom_gate_callback(Structure):
    _fields_ = [("ctx", c_void_p), ("call", GATE_FN), ("drop", DROP_FN)]


transom_log_level = c_int32
LOG_FN = CFUNCTYPE(None, c_void_p, transom_log_level, c_char_p, c_size_t)


class transom_log_callback(Structure):
    _fields_ = [("ctx", c_void_p), ("call", LOG_FN), ("drop", DROP_FN)]


# Callback function-pointer types by the struct field that holds them (used by the header test).
CALLBACK_TYPES: Dict[Tuple[str, str], Any] = {
    ("transom_behaviour_callback", "call"): HANDLE_FN,
    ("transom_monitor_callback", "call"): MONITOR_FN,
    ("transom_batch_callback", "call"): BATCH_FN,
    ("transom_compensate_callback", "call"): COMPENSATE_FN,
    ("transom_crash_callback", "call"): CRASH_FN,
    ("transom_gate_callback", "call"): GATE_FN,
    ("transom_log_callback", "call"): LOG_FN,
}

# --- functions: name -> (restype, argtypes) --------------------------------------------------

P = POINTER
u8p = P(c_uint8)

FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {
    # runtime, processes, mailboxes
    "transom_runtime_new": (transom_status, [c_size_t, P(P(transom_runtime))]),
    "transom_runtime_close": (transom_status, [P(transom_runtime)]),
    "transom_runtime_free": (None, [P(transom_runtime)]),
    "transom_runtime_spawn": (
        transom_status,
        [P(transom_runtime), transom_behaviour_callback, P(transom_spawn_options), P(transom_pid), P(c_uint64)],
    ),
    "transom_runtime_send": (transom_status, [P(transom_runtime), transom_pid, u8p, c_size_t]),
    "transom_runtime_send_from": (
        transom_status,
        [P(transom_runtime), transom_pid, transom_pid, u8p, c_size_t],
    ),
    "transom_runtime_exit": (transom_status, [P(transom_runtime), transom_pid, P(transom_exit_reason)]),
    "transom_behaviour_set_exit_reason": (transom_status, [P(transom_exit_reason)]),
    # logging
    "transom_set_log_callback": (transom_status, [transom_log_callback, transom_log_level]),
    "transom_log_write": (transom_status, [transom_log_level, c_char_p, c_size_t]),
    "transom_runtime_link": (transom_status, [P(transom_runtime), transom_pid, transom_pid]),
    "transom_runtime_unlink": (transom_status, [P(transom_runtime), transom_pid, transom_pid]),
    "transom_runtime_add_monitor": (
        transom_status,
        [P(transom_runtime), transom_pid, transom_monitor_callback, P(c_uint64)],
    ),
    "transom_runtime_remove_monitor": (transom_status, [P(transom_runtime), c_uint64]),
    "transom_mailbox_open": (
        transom_status,
        [P(transom_runtime), P(transom_spawn_options), P(P(transom_mailbox)), P(transom_pid)],
    ),
    "transom_mailbox_receive": (transom_status, [P(transom_mailbox), c_uint64, P(transom_message)]),
    "transom_mailbox_send": (transom_status, [P(transom_mailbox), transom_pid, u8p, c_size_t]),
    "transom_mailbox_pid": (transom_status, [P(transom_mailbox), P(transom_pid)]),
    "transom_mailbox_exit": (transom_status, [P(transom_mailbox), P(transom_exit_reason)]),
    "transom_mailbox_free": (None, [P(transom_mailbox)]),
    "transom_conversation_parse_request": (transom_status, [P(transom_message), P(transom_request)]),
    "transom_conversation_reply": (
        transom_status,
        [P(transom_runtime), transom_pid, transom_pid, c_uint64, u8p, c_size_t],
    ),
    "transom_conversation_reply_from_mailbox": (
        transom_status,
        [P(transom_mailbox), transom_pid, c_uint64, u8p, c_size_t],
    ),
    # canals and workers
    "transom_canal_open_cursor": (
        transom_status,
        [P(transom_store), P(transom_cursor_options), P(P(transom_canal))],
    ),
    "transom_canal_open_remote_cursor": (
        transom_status,
        [P(transom_remote_cursor_options), P(P(transom_canal))],
    ),
    "transom_canal_open_subscription": (
        transom_status,
        [P(transom_store), P(transom_subscription_options), P(P(transom_canal))],
    ),
    "transom_canal_pull_batch": (
        transom_status,
        [P(transom_canal), c_uint64, P(transom_item), c_size_t, P(c_size_t)],
    ),
    "transom_canal_interrupt": (transom_status, [P(transom_canal)]),
    "transom_canal_close": (transom_status, [P(transom_canal)]),
    "transom_canal_ack": (transom_status, [P(transom_canal), c_uint64]),
    "transom_canal_checkpoint": (transom_status, [P(transom_canal)]),
    "transom_canal_rewind": (transom_status, [P(transom_canal)]),
    "transom_canal_free": (None, [P(transom_canal)]),
    # the JetStream mirror
    "transom_store_mirror_start": (
        transom_status,
        [P(transom_store), P(transom_mirror_options), P(P(transom_mirror))],
    ),
    "transom_mirror_status": (transom_status, [P(transom_mirror), P(transom_mirror_report)]),
    "transom_mirror_wait": (transom_status, [P(transom_mirror), c_uint64, c_uint64]),
    "transom_mirror_close": (transom_status, [P(transom_mirror)]),
    "transom_mirror_free": (None, [P(transom_mirror)]),
    "transom_canal_spawn_worker": (
        transom_status,
        [P(transom_canal), transom_batch_callback, P(transom_worker_options), P(P(transom_worker))],
    ),
    "transom_worker_stop": (transom_status, [P(transom_worker)]),
    "transom_worker_join": (transom_status, [P(transom_worker), c_uint64, P(transom_worker_exit)]),
    "transom_worker_stop_and_join": (
        transom_status,
        [P(transom_worker), c_uint64, P(transom_worker_exit)],
    ),
    "transom_worker_free": (None, [P(transom_worker)]),
    # conversations
    "transom_conversation_open": (
        transom_status,
        [P(transom_runtime), P(transom_conversation_config), P(P(transom_conversation))],
    ),
    "transom_conversation_send": (
        transom_status,
        [P(transom_conversation), transom_pid, u8p, c_size_t, P(c_uint64)],
    ),
    "transom_conversation_receive": (
        transom_status,
        [P(transom_conversation), c_uint64, P(transom_reply), u8p, c_size_t, P(c_size_t)],
    ),
    "transom_conversation_complete": (transom_status, [P(transom_conversation)]),
    "transom_conversation_add_crash_callback": (
        transom_status,
        [P(transom_conversation), transom_crash_callback, P(c_uint64)],
    ),
    "transom_conversation_remove_crash_callback": (transom_status, [P(transom_conversation), c_uint64]),
    "transom_conversation_await_crash": (
        transom_status,
        [P(transom_conversation), c_uint64, P(transom_crash_info)],
    ),
    "transom_conversation_has_crashed": (transom_status, [P(transom_conversation), P(c_bool)]),
    "transom_conversation_state": (
        transom_status,
        [P(transom_conversation), P(transom_conversation_snapshot)],
    ),
    "transom_conversation_participants": (
        transom_status,
        [P(transom_conversation), P(transom_participant_state), c_size_t, P(c_size_t)],
    ),
    "transom_conversation_pid": (transom_status, [P(transom_conversation), P(transom_pid)]),
    "transom_conversation_close": (transom_status, [P(transom_conversation)]),
    "transom_conversation_free": (None, [P(transom_conversation)]),
    "transom_monotonic_ns": (c_uint64, []),
    # memory managers
    "transom_header_init": (transom_status, [P(transom_header)]),
    "transom_manager_required_bytes": (transom_status, [c_size_t, c_size_t, P(c_size_t)]),
    "transom_manager_new": (transom_status, [P(transom_manager_config), P(P(transom_manager))]),
    "transom_manager_free": (None, [P(transom_manager)]),
    "transom_manager_store": (
        transom_status,
        [P(transom_manager), P(transom_header), u8p, c_size_t, P(transom_token)],
    ),
    "transom_manager_store_wait": (
        transom_status,
        [P(transom_manager), P(transom_header), u8p, c_size_t, c_uint64, P(transom_token)],
    ),
    "transom_manager_reserve_wait": (
        transom_status,
        [P(transom_manager), c_size_t, c_uint64, P(transom_token), P(u8p)],
    ),
    "transom_manager_outstanding": (transom_status, [P(transom_manager), P(c_size_t)]),
    "transom_manager_reserve": (
        transom_status,
        [P(transom_manager), c_size_t, P(transom_token), P(u8p)],
    ),
    "transom_manager_commit": (transom_status, [P(transom_manager), transom_token, P(transom_header)]),
    "transom_manager_abort": (transom_status, [P(transom_manager), transom_token]),
    "transom_manager_read": (transom_status, [P(transom_manager), transom_token, P(transom_read_view)]),
    "transom_manager_write": (transom_status, [P(transom_manager), transom_token, P(transom_write_view)]),
    "transom_manager_release": (transom_status, [P(transom_manager), transom_token]),
    "transom_manager_peek_header": (
        transom_status,
        [P(transom_manager), transom_token, P(transom_header)],
    ),
    "transom_manager_remove": (transom_status, [P(transom_manager), transom_token]),
    "transom_manager_take": (
        transom_status,
        [P(transom_manager), transom_token, u8p, c_size_t, P(c_size_t)],
    ),
    "transom_manager_clear": (transom_status, [P(transom_manager)]),
    "transom_manager_available": (transom_status, [P(transom_manager), P(c_size_t)]),
    "transom_manager_capacity": (transom_status, [P(transom_manager), P(c_size_t)]),
    "transom_manager_slot_size": (transom_status, [P(transom_manager), P(c_size_t)]),
    "transom_manager_memory_class": (transom_status, [P(transom_manager), P(transom_memory_class)]),
    "transom_manager_stats": (transom_status, [P(transom_manager), P(transom_memory_stats)]),
    # status and version
    "transom_status_str": (c_char_p, [transom_status]),
    "transom_last_error": (transom_status, [P(c_char), c_size_t, P(c_size_t)]),
    "transom_last_error_value": (transom_status, [P(c_int64)]),
    "transom_version": (c_uint32, []),
    # store
    "transom_store_open": (transom_status, [P(transom_store_config), P(P(transom_store))]),
    "transom_store_close": (transom_status, [P(transom_store)]),
    "transom_store_free": (None, [P(transom_store)]),
    "transom_store_append": (transom_status, [P(transom_store), P(transom_append), P(transom_receipt)]),
    "transom_store_append_batch": (
        transom_status,
        [P(transom_store), P(transom_append), c_size_t, P(transom_receipt)],
    ),
    "transom_store_get": (transom_status, [P(transom_store), transom_event_id, P(transom_event_buffer)]),
    "transom_store_read": (
        transom_status,
        [P(transom_store), c_char_p, c_size_t, c_uint64, P(transom_event_buffer)],
    ),
    "transom_store_ancestors": (
        transom_status,
        [P(transom_store), transom_event_id, P(transom_event_buffer)],
    ),
    "transom_store_correlated": (
        transom_status,
        [P(transom_store), transom_event_id, P(transom_event_buffer)],
    ),
    "transom_store_sync": (transom_status, [P(transom_store)]),
    "transom_store_head": (transom_status, [P(transom_store), P(c_uint64)]),
    "transom_store_add_gate": (transom_status, [P(transom_store), transom_gate_callback, P(c_uint64)]),
    "transom_store_remove_gate": (transom_status, [P(transom_store), c_uint64]),
    "transom_store_stats": (transom_status, [P(transom_store), P(transom_store_statistics)]),
    "transom_store_first_sequence": (transom_status, [P(transom_store), P(c_uint64)]),
    "transom_store_truncate": (transom_status, [P(transom_store), c_uint64, P(c_uint64)]),
    "transom_store_read_sequence": (
        transom_status,
        [P(transom_store), c_uint64, P(transom_event_buffer)],
    ),
    # pollable descriptors (transom.aio)
    "transom_canal_fd": (transom_status, [P(transom_canal), P(ctypes.c_int)]),
    "transom_mailbox_fd": (transom_status, [P(transom_mailbox), P(ctypes.c_int)]),
    "transom_conversation_fd": (transom_status, [P(transom_conversation), P(ctypes.c_int)]),
    "transom_conversation_crash_fd": (transom_status, [P(transom_conversation), P(ctypes.c_int)]),
    "transom_worker_fd": (transom_status, [P(transom_worker), P(ctypes.c_int)]),
}


# --- loading --------------------------------------------------------------------------------

SONAME = "libtransom.so.0.2"
"""The SONAME of the C ABI this package was written against (TRANSOM_SONAME): ``0.<minor>``
before 1.0, ``<major>`` from 1.0 on. A library of another ABI (e.g. 0.1's ``libtransom.so.0``)
is never picked from the system's search path."""

# The package's own version, stated once in ``transom/__init__.py`` (which sets it before it
# imports this module; tests/header.rs checks it against Cargo metadata).
PACKAGE_VERSION: Tuple[int, int, int] = (VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH)

_NAMES = (SONAME, "libtransom.so", "libtransom.dylib", "transom.dll")


def _candidates() -> List[str]:
    found: List[str] = []
    env = os.environ.get("TRANSOM_LIBRARY")
    if env:
        found.append(env)
    # The library a wheel carries (build_wheel.py puts it there under its SONAME).
    here = os.path.dirname(os.path.abspath(__file__))
    found.extend(os.path.join(here, n) for n in _NAMES if os.path.exists(os.path.join(here, n)))
    # The system's search path, by SONAME: the dynamic loader picks this ABI's library even when
    # libraries of other ABIs are installed too (find_library("transom") may return any of them).
    found.append(SONAME)
    system = ctypes.util.find_library("transom")
    if system and not system.startswith("libtransom.so"):
        found.append(system)  # not an ELF SONAME (macOS, Windows)
    return found


def _abi(major: int, minor: int) -> str:
    return f"0.{minor}" if major == 0 else f"{major}"


def _fmt(v: Tuple[int, int, int]) -> str:
    return "%d.%d.%d" % v


class _Refused(Exception):
    """A library that loaded but cannot serve this package (the message says why)."""


def _check_version(handle: ctypes.CDLL) -> Tuple[int, int, int]:
    """The loaded library's version; raises :class:`_Refused` when it is not a transom library
    or not of this package's ABI (a call whose signature changed would crash, not fail)."""
    try:
        fn = handle.transom_version
    except AttributeError:
        raise _Refused("it does not export transom_version(): not a transom library") from None
    fn.restype, fn.argtypes = c_uint32, []
    n = int(fn())
    v = (n // 10000, n // 100 % 100, n % 100)
    want = _abi(PACKAGE_VERSION[0], PACKAGE_VERSION[1])
    have = _abi(v[0], v[1])
    if have != want:
        raise _Refused(
            f"it is transom {_fmt(v)} (ABI {have}, transom_version() = {n}), but this Python "
            f"package is transom {_fmt(PACKAGE_VERSION)} and needs ABI {want} ({SONAME})"
        )
    return v


def _declare_checked(handle: ctypes.CDLL, v: Tuple[int, int, int]) -> None:
    missing = [name for name in FUNCTIONS if not hasattr(handle, name)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise _Refused(
            f"it is transom {_fmt(v)} but does not export {missing[0]}{more}, which this Python "
            f"package (transom {_fmt(PACKAGE_VERSION)}) needs"
        )
    declare(handle)


def load_library(path: Optional[str] = None) -> Tuple[ctypes.CDLL, str]:
    """Loads the shared library (``path``, else ``$TRANSOM_LIBRARY``, else the package's own
    directory, else the system's search path), checks that it is of this package's ABI and
    declares every function on it. Raises ImportError naming the library and both versions when
    no usable library is found; a library given by ``path`` or ``$TRANSOM_LIBRARY`` is the only
    one tried."""
    env = os.environ.get("TRANSOM_LIBRARY")
    paths = [path] if path else _candidates()
    errors: List[str] = []
    for p in paths:
        explicit = bool(path) or (bool(env) and p == env)
        origin = " (from TRANSOM_LIBRARY)" if not path and explicit else ""
        try:
            handle = ctypes.CDLL(p)
        except OSError as e:
            if explicit:
                raise ImportError(
                    f"transom: cannot load the library {p!r}{origin}: {e}", name="transom", path=p
                ) from e
            errors.append(f"{p}: {e}")
            continue
        try:
            v = _check_version(handle)
            _declare_checked(handle, v)
        except _Refused as e:
            # An unversioned name (libtransom.so, TRANSOM_LIBRARY) may lead to a library of
            # another ABI: refuse it rather than call functions whose signatures may differ.
            if explicit:
                raise ImportError(
                    f"transom: cannot use the library {p!r}{origin}: {e}", name="transom", path=p
                ) from None
            errors.append(f"{p}: {e}")
            continue
        return handle, p
    raise ImportError(
        f"transom: no usable libtransom for this Python package (transom {_fmt(PACKAGE_VERSION)}, "
        f"{SONAME}); set TRANSOM_LIBRARY to its path, install the wheel that carries it, or "
        "install it on the system's search path (tried: " + "; ".join(errors) + ")",
        name="transom",
    )


def declare(handle: ctypes.CDLL) -> None:
    """Sets ``restype`` and ``argtypes`` of every function in :data:`FUNCTIONS` on ``handle``."""
    for name, (restype, argtypes) in FUNCTIONS.items():
        fn = getattr(handle, name)
        fn.restype = restype
        fn.argtypes = argtypes


lib, library_path = load_library()

# Zero-copy memoryviews over C memory (PyMemoryView_FromMemory keeps no copy and no owner).
_from_memory = ctypes.pythonapi.PyMemoryView_FromMemory
_from_memory.restype = ctypes.py_object
_from_memory.argtypes = [c_void_p, ctypes.c_ssize_t, ctypes.c_int]
_PyBUF_READ = 0x100
_PyBUF_WRITE = 0x200
_EMPTY = memoryview(b"")


def view(address: Optional[int], length: int, writable: bool = False) -> memoryview:
    """A memoryview of ``length`` bytes at ``address``, without copying. The caller guarantees
    the memory outlives the view (and releases the view when it ends)."""
    if not length or not address:
        return _EMPTY if not writable else memoryview(bytearray())
    mv: memoryview = _from_memory(address, length, _PyBUF_WRITE if writable else _PyBUF_READ)
    return mv


def address_of(ptr: Any) -> int:
    """The integer address a ctypes pointer holds (0 for NULL)."""
    return ctypes.cast(ptr, c_void_p).value or 0


def as_u8(data: Any) -> Tuple[Any, int]:
    """``(pointer-compatible object, length)`` for a bytes-like input, without copying when the
    object allows it (bytes, writable buffers). Raises TypeError for anything else."""
    if isinstance(data, bytes):
        n = len(data)
        return (ctypes.cast(c_char_p(data), u8p) if n else None), n
    if isinstance(data, (bytearray, memoryview)) or hasattr(data, "__buffer__"):
        mv = memoryview(data)
        n = mv.nbytes
        if n == 0:
            return None, 0
        if mv.readonly or not mv.c_contiguous:
            b = mv.tobytes()
            return ctypes.cast(c_char_p(b), u8p), n
        return (c_uint8 * n).from_buffer(mv.cast("B") if mv.format != "B" else mv), n
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError(
            f"expected a bytes-like object (bytes, bytearray, memoryview), got {type(data).__name__}"
        ) from None
    b = mv.tobytes()
    return (ctypes.cast(c_char_p(b), u8p) if b else None), len(b)
