//! Keyed pseudonyms: the same value gives the same pseudonym within one
//! tenant and one rotation epoch, and an unrelated one anywhere else.
//!
//! A plain hash of a uid or an IP address is reversed by hashing every
//! candidate; a keyed hash is not, as long as the key stays apart from the
//! data. Each tenant's key for each epoch is `blake3::derive_key` of the
//! master key under a context that names the tenant and the epoch, so
//! pseudonyms cannot be linked across tenants or epochs, and one epoch's key
//! can be handed over (for an access request) without exposing the others.
use std::{fmt, sync::Arc, time::Duration};

use zeroize::Zeroizing;

use crate::MasterKey;

/// What every pseudonym starts with: names the scheme, so a later scheme
/// can be told apart, and makes pseudonyms easy to spot in any column.
pub const PSEUDONYM_PREFIX: &str = "p1_";
/// Bytes of the keyed hash a pseudonym shows (128 bits: collisions are
/// out of reach for any archive).
const HASH_BYTES: usize = 16;
/// The length of every pseudonym's text.
pub const PSEUDONYM_LEN: usize = PSEUDONYM_PREFIX.len() + 2 * HASH_BYTES;

/// A pseudonym's text, `p1_` and 32 lowercase hex digits, held inline: making
/// one allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pseudonym([u8; PSEUDONYM_LEN]);

impl Pseudonym {
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    fn from_hash(hash: &[u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; PSEUDONYM_LEN];
        let (prefix, digits) = text.split_at_mut(PSEUDONYM_PREFIX.len());
        prefix.copy_from_slice(PSEUDONYM_PREFIX.as_bytes());
        for (pair, byte) in digits.chunks_exact_mut(2).zip(hash) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        Pseudonym(text)
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Pseudonym({})", self.as_str())
    }
}

struct EpochKey {
    epoch: i64,
    key: Zeroizing<[u8; 32]>,
}

/// One tenant's pseudonymiser. It keeps the current epoch's key and derives
/// another only when an event falls in a different epoch.
pub struct Pseudonymizer {
    master: Arc<MasterKey>,
    tenant: String,
    rotation_nanos: i64,
    current: Option<EpochKey>,
    /// Recent integer pseudonyms, direct-mapped: see [`Self::pseudonymize_int`].
    memo: Vec<Option<Remembered>>,
}

/// Slots of the integer-pseudonym memo (a power of two).
const MEMO_SLOTS: usize = 256;

/// An integer pseudonym made before, and what it was made of.
struct Remembered {
    field: &'static str,
    value: i64,
    epoch: i64,
    pseudonym: Pseudonym,
}

impl Pseudonymizer {
    /// `rotation` is how long one epoch lasts; epochs are counted from the
    /// Unix epoch, so every collector on every node agrees on them.
    pub fn new(master: Arc<MasterKey>, tenant: &str, rotation: Duration) -> Self {
        let rotation_nanos = i64::try_from(rotation.as_nanos())
            .unwrap_or(i64::MAX)
            .max(1);
        Pseudonymizer {
            master,
            tenant: tenant.to_owned(),
            rotation_nanos,
            current: None,
            memo: (0..MEMO_SLOTS).map(|_| None).collect(),
        }
    }

    /// The rotation epoch a time (nanoseconds since the Unix epoch) is in.
    pub fn epoch_of(&self, at_unix_nanos: i64) -> i64 {
        at_unix_nanos.div_euclid(self.rotation_nanos)
    }

    /// The pseudonym of `value` in `field` at a time. The field name is
    /// hashed too, so a uid and a pid with the same number differ.
    pub fn pseudonymize(&mut self, field: &str, value: &[u8], at_unix_nanos: i64) -> Pseudonym {
        let key = self.key_for(self.epoch_of(at_unix_nanos));
        let mut hasher = blake3::Hasher::new_keyed(key);
        hasher.update(field.as_bytes());
        hasher.update(&[0]);
        hasher.update(value);
        Pseudonym::from_hash(hasher.finalize().as_bytes())
    }

    /// The pseudonym of an integer, hashed as its decimal text (what `scrim
    /// keys pseudonym --value 1000` hashes too).
    pub fn pseudonymize_int(
        &mut self,
        field: &'static str,
        value: i64,
        at_unix_nanos: i64,
    ) -> Pseudonym {
        // Uids, gids and pids repeat from event to event: a repeated one
        // costs a multiply and a compare instead of a keyed hash. Fields are
        // catalogue names, so the same name is the same pointer.
        let epoch = self.epoch_of(at_unix_nanos);
        let mixed = (value as u64 ^ field.as_ptr() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let slot = (mixed >> (64 - MEMO_SLOTS.trailing_zeros())) as usize;
        if let Some(Some(known)) = self.memo.get(slot)
            && known.value == value
            && known.epoch == epoch
            && std::ptr::eq(known.field, field)
        {
            return known.pseudonym;
        }
        let mut text = itoa::Buffer::new();
        let pseudonym = self.pseudonymize(field, text.format(value).as_bytes(), at_unix_nanos);
        if let Some(entry) = self.memo.get_mut(slot) {
            *entry = Some(Remembered {
                field,
                value,
                epoch,
                pseudonym,
            });
        }
        pseudonym
    }

    fn key_for(&mut self, epoch: i64) -> &[u8; 32] {
        if self.current.as_ref().is_some_and(|key| key.epoch != epoch) {
            self.current = None; // dropping zeroes it
        }
        let (tenant, master) = (&self.tenant, &self.master);
        &self
            .current
            .get_or_insert_with(|| {
                let context = format!("scrim pseudonym key v1; tenant {tenant}; epoch {epoch}");
                EpochKey {
                    epoch,
                    key: Zeroizing::new(blake3::derive_key(&context, master.bytes())),
                }
            })
            .key
    }
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Pseudonymizer")
            .field("tenant", &self.tenant)
            .field("rotation_nanos", &self.rotation_nanos)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);
    const DAY_NANOS: i64 = 86_400_000_000_000;

    fn pseudonymizer(tenant: &str) -> Pseudonymizer {
        let master = Arc::new(MasterKey::from_bytes(vec![1; 32]).unwrap());
        Pseudonymizer::new(master, tenant, 30 * DAY)
    }

    #[test]
    fn is_stable_within_a_tenant_and_an_epoch() {
        let mut acme = pseudonymizer("acme");
        let first = acme.pseudonymize_int("process.real_user.id", 1000, DAY_NANOS);
        let later = acme.pseudonymize_int("process.real_user.id", 1000, 2 * DAY_NANOS);
        assert_eq!(first, later);
        assert_eq!(first.as_str().len(), PSEUDONYM_LEN);
        assert!(first.as_str().starts_with(PSEUDONYM_PREFIX));
        assert!(first.as_str()[3..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn remembered_integer_pseudonyms_are_the_ones_hashing_makes() {
        let mut remembering = pseudonymizer("acme");
        let mut fresh = pseudonymizer("acme");
        // Enough values to collide in the memo, twice each, over two epochs
        // and two fields.
        for round in 0..2 {
            for at in [DAY_NANOS, 31 * DAY_NANOS] {
                for field in ["process.real_user.id", "process.pid"] {
                    for value in 0..2000 {
                        let text = value.to_string();
                        assert_eq!(
                            remembering.pseudonymize_int(field, value, at),
                            fresh.pseudonymize(field, text.as_bytes(), at),
                            "{field} {value} at {at}, round {round}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn differs_across_tenants_epochs_fields_and_values() {
        let mut acme = pseudonymizer("acme");
        let mut other = pseudonymizer("other");
        let base = acme.pseudonymize_int("process.real_user.id", 1000, DAY_NANOS);
        assert_ne!(
            base,
            other.pseudonymize_int("process.real_user.id", 1000, DAY_NANOS)
        );
        assert_ne!(
            base,
            acme.pseudonymize_int("process.real_user.id", 1000, 31 * DAY_NANOS)
        );
        assert_ne!(base, acme.pseudonymize_int("process.pid", 1000, DAY_NANOS));
        assert_ne!(
            base,
            acme.pseudonymize_int("process.real_user.id", 1001, DAY_NANOS)
        );
    }

    #[test]
    fn integers_hash_as_their_decimal_text() {
        let mut acme = pseudonymizer("acme");
        assert_eq!(
            acme.pseudonymize_int("process.real_user.id", -1, 0),
            acme.pseudonymize("process.real_user.id", b"-1", 0)
        );
    }

    #[test]
    fn epochs_count_from_the_unix_epoch_and_times_before_it_work() {
        let acme = pseudonymizer("acme");
        assert_eq!(acme.epoch_of(0), 0);
        assert_eq!(acme.epoch_of(30 * DAY_NANOS), 1);
        assert_eq!(acme.epoch_of(-1), -1);
    }
}
