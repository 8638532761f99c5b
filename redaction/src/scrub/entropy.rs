//! The last line: a value after a weakly secret-ish name (bare `key`,
//! `signature`, `cookie`) is scrubbed only when it looks random — long,
//! mixed, high in Shannon entropy — and is not one of the random-looking
//! values that are identifiers rather than secrets: hex digests and
//! commit ids, trace and span ids (all hex), UUIDs, and base64 images.

/// Shannon entropy, in bits per byte, of `value`.
fn bits_per_byte(value: &str) -> f64 {
    let mut counts = [0u32; 256];
    for byte in value.bytes() {
        counts[usize::from(byte)] += 1;
    }
    let length = value.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f64::from(count) / length;
            -p * p.log2()
        })
        .sum()
}

/// A UUID in its 8-4-4-4-12 form.
fn is_uuid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// Base64 image data: a `data:` URI, or the base64 of a PNG, JPEG, GIF or
/// WebP header.
fn is_image(value: &str) -> bool {
    value.starts_with("data:")
        || ["iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR"]
            .iter()
            .any(|magic| value.starts_with(magic))
}

/// Whether `value` looks like a random secret rather than a word, a
/// number or an identifier.
pub(crate) fn looks_random(value: &str) -> bool {
    if value.len() < 16
        || is_uuid(value)
        || is_image(value)
        || value.bytes().all(|byte| byte.is_ascii_hexdigit())
        || value.contains("://")
        || value.starts_with('/')
    {
        return false;
    }
    if !value
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"+/=_-.~".contains(&byte))
    {
        return false;
    }
    let classes = [
        value.bytes().any(|byte| byte.is_ascii_lowercase()),
        value.bytes().any(|byte| byte.is_ascii_uppercase()),
        value.bytes().any(|byte| byte.is_ascii_digit()),
    ]
    .iter()
    .filter(|&&present| present)
    .count();
    classes >= 2 && bits_per_byte(value) >= 3.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_random() {
        for value in [
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
            "q8Xv2LmN0pRt5sWz",
        ] {
            assert!(looks_random(value), "{value}");
        }
    }

    #[test]
    fn identifiers_are_not() {
        for value in [
            "3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
            "550e8400-e29b-41d4-a716-446655440000",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
            "data:image/png;base64,iVBORw0KGgo",
            "production-eu-west",
            "short1A",
            "/var/lib/app/keys/primary",
        ] {
            assert!(!looks_random(value), "{value}");
        }
    }
}
