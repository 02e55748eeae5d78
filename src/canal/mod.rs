//! Canals: consumers that pull batches of store events across threads.
//!
//! Invariant: a canal never loses an item silently. Items buffered when a canal closes are
//! handed out before the close is reported, and a subscription that has to drop events reports
//! them in-band as gaps.

mod error;
mod live;

pub use error::CanalError;
pub use live::{Delivery, LiveBuffer, Overflow, Pushed};
