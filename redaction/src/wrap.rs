//! A replaced master key, kept encrypted under the key that replaced it.
//!
//! Rows written before a key change carry pseudonyms of the old key: to
//! find a data subject's rows among them (an erasure or access request),
//! the old key must still exist until those rows are past retention. It is
//! kept wrapped (XChaCha20-Poly1305, a random 192-bit nonce, the key derived
//! from the new master key under a context of its own), so that whoever
//! reads the state directory without the master key in force learns
//! nothing of it, and a changed file fails to open instead of yielding a
//! wrong key. What the wrapping is bound to (which key, when retired) is
//! authenticated alongside as `label`.
use chacha20poly1305::{
    Key, XChaCha20Poly1305, XNonce,
    aead::{Aead as _, KeyInit as _, Payload},
};
use zeroize::Zeroizing;

use crate::MasterKey;

/// Separates the wrapping key from every other key derived from a master
/// key (pseudonym keys, the fingerprint).
const WRAPPING_CONTEXT: &str = "scrim kept master key wrapping v1";

/// A master key encrypted under another; nothing in it is secret without
/// the other key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub nonce: [u8; 24],
    /// The key's bytes encrypted, then the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// Why a key cannot be wrapped or unwrapped.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error("kept master key: no random nonce to wrap it with: {0}")]
    Random(String),
    #[error("kept master key: cannot be encrypted")]
    Seal,
    #[error(
        "kept master key: does not open with the master key in force (another key wrapped it, \
         or it was changed)"
    )]
    Open,
    #[error("kept master key: {0}")]
    Key(#[from] crate::KeyError),
}

impl MasterKey {
    /// This key encrypted under `under` (the key replacing it), bound to
    /// `label`, which [`MasterKey::unwrap`] must be given again.
    pub fn wrap(&self, under: &MasterKey, label: &[u8]) -> Result<WrappedKey, WrapError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|error| WrapError::Random(error.to_string()))?;
        let ciphertext = cipher(under)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: self.bytes(),
                    aad: label,
                },
            )
            .map_err(|_| WrapError::Seal)?;
        Ok(WrappedKey { nonce, ciphertext })
    }

    /// The key `wrapped` holds, if `with` wrapped it for `label`.
    pub fn unwrap(
        wrapped: &WrappedKey,
        with: &MasterKey,
        label: &[u8],
    ) -> Result<MasterKey, WrapError> {
        let bytes = cipher(with)
            .decrypt(
                XNonce::from_slice(&wrapped.nonce),
                Payload {
                    msg: &wrapped.ciphertext,
                    aad: label,
                },
            )
            .map_err(|_| WrapError::Open)?;
        Ok(MasterKey::from_bytes(bytes)?)
    }
}

fn cipher(key: &MasterKey) -> XChaCha20Poly1305 {
    let derived = Zeroizing::new(blake3::derive_key(WRAPPING_CONTEXT, key.bytes()));
    XChaCha20Poly1305::new(Key::from_slice(derived.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(vec![byte; 32]).unwrap()
    }

    #[test]
    fn opens_with_the_key_that_wrapped_it_and_the_same_label_only() {
        let (old, new) = (key(1), key(2));
        let wrapped = old.wrap(&new, b"retired at 5").unwrap();
        assert!(
            !wrapped
                .ciphertext
                .windows(32)
                .any(|window| window == [1u8; 32]),
            "no plaintext key bytes"
        );
        let opened = MasterKey::unwrap(&wrapped, &new, b"retired at 5").unwrap();
        assert_eq!(opened.fingerprint(), old.fingerprint());
        assert!(matches!(
            MasterKey::unwrap(&wrapped, &old, b"retired at 5"),
            Err(WrapError::Open)
        ));
        assert!(matches!(
            MasterKey::unwrap(&wrapped, &new, b"retired at 6"),
            Err(WrapError::Open)
        ));
        let mut changed = wrapped.clone();
        changed.ciphertext[0] ^= 1;
        assert!(MasterKey::unwrap(&changed, &new, b"retired at 5").is_err());
    }
}
