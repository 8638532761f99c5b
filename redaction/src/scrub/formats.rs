//! Formats recognised by their shape: PEM private keys, JSON Web Tokens,
//! authorization headers, e-mail addresses, payment card numbers and
//! IBANs — each with a check on what matched where the shape alone would
//! catch too much (Luhn, mod 97, systemd units).
use std::ops::Range;

use super::Captures;

pub(crate) const PRIVATE_KEY: &str = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)";
pub(crate) const JWT: &str = r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}";
/// `Bearer x`, `Basic x`, and the other schemes after `Authorization:`.
pub(crate) const AUTHORIZATION: &str = r#"(?i)\b(?:(?:bearer|basic)\s+(?P<secret>[a-z0-9\-._~+/]{8,}=*)|(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:token|digest|negotiate|ntlm|apikey|sso-key|dpop|hoba|mutual)\s+(?P<other>[^\s'"]{6,}))"#;
pub(crate) const EMAIL: &str =
    r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b(?P<scp>:)?";
/// Grouped as printed (4-4-4-4, or 4-6-5 for American Express) or
/// written out: a greedy "any digits and spaces" would swallow the expiry
/// after a number and fail the Luhn check.
pub(crate) const CARD_NUMBER: &str =
    r"\b(?:\d{4}(?:[ -]\d{4}){3}|\d{4}[ -]\d{6}[ -]\d{5}|\d{13,19})\b";
/// Compact, or in groups of four as printed.
pub(crate) const IBAN: &str =
    r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b";

/// Whether `text` has the 13 digits a [`CARD_NUMBER`] needs: a count,
/// cheaper than the pattern's scan.
pub(crate) fn may_hold_card_number(text: &[u8]) -> bool {
    // Branch-free, so the count runs on vector registers.
    text.iter()
        .map(|byte| u32::from(byte.wrapping_sub(b'0') < 10))
        .sum::<u32>()
        >= 13
}

/// Whether `text` has the country code and check digits an [`IBAN`]
/// starts with (`[A-Z]{2}\d{2}`): two capitals counted first, as most
/// command lines have fewer.
pub(crate) fn may_hold_iban(text: &[u8]) -> bool {
    let capitals: u32 = text
        .iter()
        .map(|byte| u32::from(byte.wrapping_sub(b'A') < 26))
        .sum();
    capitals >= 2
        && text.windows(4).any(|window| {
            window[0].is_ascii_uppercase()
                && window[1].is_ascii_uppercase()
                && window[2].is_ascii_digit()
                && window[3].is_ascii_digit()
        })
}

/// The credentials of an authorization, unless prose (`basic settings`).
pub(crate) fn authorization(captures: &Captures<'_>) -> Option<Range<usize>> {
    let secret = captures.name("secret").or_else(|| captures.name("other"))?;
    let value = secret.as_str();
    let prose = value
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte == b'-');
    (!prose && !value.starts_with('-') && !super::flags::is_reference(value))
        .then(|| secret.range())
}

/// `git@github.com:org/repo` is a host to copy from and
/// `postgresql@15-main.service` a systemd unit, not mailboxes.
pub(crate) fn email(captures: &Captures<'_>) -> Option<Range<usize>> {
    let found = captures.get(0)?;
    (captures.name("scp").is_none() && !is_systemd_unit(found.as_str())).then(|| found.range())
}

/// A card number, unless given as an identifier's value (`--order-id N`,
/// `order_id=N`): a number that names a record is that record's id.
pub(crate) fn card_number(text: &str, captures: &Captures<'_>) -> Option<Range<usize>> {
    let found = captures.get(0)?;
    let before = text[..found.start()].trim_end_matches([' ', '=', ':', '"', '\'']);
    let words = super::flags::words(before.rsplit(char::is_whitespace).next().unwrap_or(""));
    let identifier = words.last().is_some_and(|word| {
        matches!(
            word.as_str(),
            "id" | "ref" | "seq" | "ts" | "timestamp" | "nonce"
        )
    });
    (!identifier && passes_luhn(found.as_str()) && plausible_card(found.as_str()))
        .then(|| found.range())
}

pub(crate) fn iban(captures: &Captures<'_>) -> Option<Range<usize>> {
    let found = captures.get(0)?;
    passes_mod97(found.as_str()).then(|| found.range())
}

/// `name@instance.service` and the other systemd unit types.
fn is_systemd_unit(text: &str) -> bool {
    const UNIT_TYPES: &[&str] = &[
        "service",
        "socket",
        "timer",
        "mount",
        "automount",
        "target",
        "slice",
        "scope",
        "path",
        "device",
        "swap",
    ];
    text.rsplit('.')
        .next()
        .is_some_and(|suffix| UNIT_TYPES.contains(&suffix))
}

/// Card numbers start with an issuer's prefix and have its length: Visa 4
/// (13, 16 or 19 digits), Mastercard 51-55 and 2221-2720 (16), American
/// Express 34 and 37 (15), Discover and others 6 (16 to 19), Diners 36 and
/// 38 (14). Order numbers and millisecond timestamps mostly do not.
fn plausible_card(candidate: &str) -> bool {
    let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
    let prefix = |length: usize| digits[..length].parse::<u32>().unwrap_or(0);
    match (digits.as_bytes().first(), digits.len()) {
        (Some(b'4'), 13 | 16 | 19) => true,
        (Some(b'5'), 16) => (51..=55).contains(&prefix(2)),
        (Some(b'2'), 16) => (2221..=2720).contains(&prefix(4)),
        (Some(b'3'), 15) => matches!(prefix(2), 34 | 37),
        (Some(b'3'), 14) => matches!(prefix(2), 36 | 38),
        (Some(b'6'), 16..=19) => true,
        _ => false,
    }
}

fn passes_luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, &digit)| {
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn passes_mod97(candidate: &str) -> bool {
    let compact: Vec<char> = candidate.chars().filter(|c| *c != ' ').collect();
    if compact.len() < 15 {
        return false;
    }
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let mut remainder = 0u32;
    for c in rearranged {
        let Some(value) = c.to_digit(36) else {
            return false;
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_gate_cards_and_ibans() {
        assert!(may_hold_card_number(b"4111 1111 1111 1111"));
        assert!(!may_hold_card_number(b"port 8080 and 443 then 12"));
        assert!(may_hold_iban(b"iban GB82 WEST"));
        assert!(may_hold_iban(b"DE89370400440532013000"));
        assert!(!may_hold_iban(b"GB8 and G82 and Gb82"));
    }

    #[test]
    fn checks_cards_and_ibans() {
        assert!(passes_luhn("4111111111111111"));
        assert!(!passes_luhn("4111111111111112"));
        assert!(passes_mod97("GB82 WEST 1234 5698 7654 32"));
        assert!(!passes_mod97("GB82WEST12345698765433"));
    }
}
