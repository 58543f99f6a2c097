//! The one normalised form of a request path (SPEC §6), read by every rule that looks at a
//! path: routing, the access log's redaction, `next`, and the realm prefixes.
//!
//! Percent-encoded unreserved characters (letters, digits, `-._~`) are decoded, as RFC 3986
//! §6.2.2.2 says, and the hex digits of every other escape are upper-cased (§6.2.2.1). So
//! `/%61dmin` is `/admin` for every rule, and `%2f` and `%2F` are one spelling.

use std::borrow::Cow;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `raw` in its normalised form; borrowed when it already is.
pub fn normalise(raw: &str) -> Cow<'_, str> {
    let bytes = raw.as_bytes();
    if !bytes.contains(&b'%') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                let decoded = h * 16 + l;
                if unreserved(decoded) {
                    out.push(char::from(decoded));
                } else {
                    out.push('%');
                    out.push(char::from(bytes[i + 1].to_ascii_uppercase()));
                    out.push(char::from(bytes[i + 2].to_ascii_uppercase()));
                }
                i += 3;
                continue;
            }
        }
        // Anything else, a broken escape included, passes as it is. `raw` is a `str`, and
        // what was pushed so far ends on a character boundary.
        let len = raw[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&raw[i..i + len]);
        i += len;
    }
    if out == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn decodes_unreserved_only() {
        assert_eq!(normalise("/%61dmin"), "/admin");
        assert_eq!(normalise("/p%61ssword/reset/x"), "/password/reset/x");
        assert_eq!(normalise("/%7E%2d%2E%5f"), "/~-._");
        assert_eq!(normalise("/a%2fb"), "/a%2Fb");
        assert_eq!(normalise("/a%2Fb%5c"), "/a%2Fb%5C");
        assert_eq!(normalise("/%25"), "/%25");
        assert_eq!(normalise("/%2561"), "/%2561", "decoded once, never twice");
        assert_eq!(normalise("/bad%zz%4"), "/bad%zz%4");
        assert_eq!(normalise("/é%41"), "/éA");
        assert!(matches!(normalise("/plain"), std::borrow::Cow::Borrowed(_)));
    }
}
