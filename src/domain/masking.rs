//! How personal data may appear in a log line: phone numbers masked.
//!
//! Operators need to tell calls apart in a log (`138****8888` is enough for
//! that); they must not be able to read customers' numbers out of it. Log
//! lines that carry a phone print it through [`MaskedPhone`]; free text that
//! comes from a request (a path) goes through [`mask_long_numbers`], since it
//! may hold a number nobody declared as one.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// A phone number for a log line: of 11 characters or more, the first 3 and
/// the last 4 are shown (`13812345678` → `138****5678`, `+8613812345678` →
/// `+86*******5678`); of 6 to 10, the last 2; of fewer, none.
pub struct MaskedPhone<'a>(pub &'a str);

impl fmt::Display for MaskedPhone<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.trim().chars().collect();
        let (head, tail) = match chars.len() {
            n if n >= 11 => (3, 4),
            n if n >= 6 => (0, 2),
            _ => (0, 0),
        };
        let hidden = chars.len() - head - tail;
        for (position, &c) in chars.iter().enumerate() {
            let shown = position < head || position >= head + hidden;
            f.write_char(if shown { c } else { '*' })?;
        }
        Ok(())
    }
}

/// Runs of digits at least this long may be phone numbers.
const PHONE_DIGITS: usize = 7;

/// `text` with every run of 7 or more ASCII digits masked as a phone number;
/// borrowed when there is none.
pub fn mask_long_numbers(text: &str) -> Cow<'_, str> {
    let mut masked = String::new();
    let mut copied = 0;
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |length| start + length);
        if end - start >= PHONE_DIGITS {
            masked.push_str(&text[copied..start]);
            masked.push_str(&MaskedPhone(&text[start..end]).to_string());
            copied = end;
        }
        start = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    masked.push_str(&text[copied..]);
    Cow::Owned(masked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mobile_number_keeps_its_prefix_and_its_last_four_digits() {
        assert_eq!(MaskedPhone("13812348888").to_string(), "138****8888");
        assert_eq!(MaskedPhone(" 13812348888 ").to_string(), "138****8888");
        assert_eq!(MaskedPhone("+8613812348888").to_string(), "+86*******8888");
    }

    #[test]
    fn short_numbers_show_less_and_tiny_ones_nothing() {
        assert_eq!(MaskedPhone("62345678").to_string(), "******78");
        assert_eq!(MaskedPhone("10086").to_string(), "*****");
        assert_eq!(MaskedPhone("").to_string(), "");
        assert_eq!(
            MaskedPhone("电话号码12345678").to_string(),
            "电话号*****5678"
        );
    }

    #[test]
    fn long_numbers_in_free_text_are_masked_and_short_ones_kept() {
        assert_eq!(
            mask_long_numbers("/calls/13812348888/recording"),
            "/calls/138****8888/recording"
        );
        assert_eq!(
            mask_long_numbers("tel:02112345678,13812348888"),
            "tel:021****5678,138****8888"
        );
        assert_eq!(
            mask_long_numbers("/graphiql/v3.min.js"),
            "/graphiql/v3.min.js"
        );
        assert!(matches!(mask_long_numbers("/livez"), Cow::Borrowed(_)));
        assert_eq!(mask_long_numbers("a1234567"), "a*****67");
    }
}
