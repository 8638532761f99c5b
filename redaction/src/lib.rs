//! What scrim does to a field's value before it leaves the collector.
//!
//! Each transform is its own module and works on plain values (integers,
//! addresses, strings), so the policy engine, `scrim keys` and `scrim
//! redact` all share one implementation:
//!
//! - [`MasterKey`] and [`Pseudonymizer`]: keyed BLAKE3 pseudonyms, one key
//!   per tenant and rotation epoch, derived from one master key;
//! - [`WrappedKey`]: a replaced master key kept encrypted under the one
//!   that replaced it, so rows written under it can still be found;
//! - [`truncate_ip`]: keep an address's network prefix;
//! - [`coarsen`]: round a time down to a granularity;
//! - [`PathGeneralizer`]: cut a path to a depth, or hide the user part of
//!   `/home/<user>/...`;
//! - [`Scrubber`]: replace credentials and personal data in text, keeping
//!   its structure.
mod coarsen;
mod generalize;
mod key;
mod pseudonym;
mod scrub;
mod truncate;
mod wrap;

pub use coarsen::coarsen;
pub use generalize::{GeneralizeError, PathGeneralizer};
pub use key::{KeyError, MASTER_KEY_MIN_BYTES, MasterKey};
pub use pseudonym::{PSEUDONYM_LEN, PSEUDONYM_PREFIX, Pseudonym, Pseudonymizer};
pub use scrub::{Detector, Scrubber};
pub use truncate::truncate_ip;
pub use wrap::{WrapError, WrappedKey};
