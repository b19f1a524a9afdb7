//! Masking of free text before it is stored ("Security and privacy" in docs/architecture.md): the
//! only provider free text we keep is a cancellation reason, with emails and phone numbers masked
//! and the length capped.

use std::sync::LazyLock;

use regex::Regex;

/// Longest stored cancellation reason, in characters (after masking).
pub const MAX_REASON_CHARS: usize = 280;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+").expect("email pattern"));
// Seven or more digits, optionally led by + and separated by spaces, dots, dashes or parentheses:
// catches +1 415 555 0134, 415-555-0134, (415) 555.0134, 4155550134; leaves times and short numbers.
static PHONE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+?\(?\d(?:[\s().\-]{0,2}\d){6,}").expect("phone pattern"));

/// Masks emails and phone numbers, collapses whitespace and truncates on a character boundary.
/// Returns `None` for empty text.
pub fn mask_reason(text: &str) -> Option<String> {
    let masked = EMAIL.replace_all(text, "[email]");
    let masked = PHONE.replace_all(&masked, "[phone]");
    let collapsed = masked.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return None;
    }
    let mut out: String = collapsed.chars().take(MAX_REASON_CHARS).collect();
    if collapsed.chars().count() > MAX_REASON_CHARS {
        out.pop();
        out.push('…');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_as_a_table() {
        let cases = [
            (
                "Travelling that day, moving to Thursday. Reach me at dana.whitfield@example.com",
                "Travelling that day, moving to Thursday. Reach me at [email]",
            ),
            (
                "Prospect asked us to call 415-555-0134 instead; cancelling the slot.",
                "Prospect asked us to call [phone] instead; cancelling the slot.",
            ),
            ("call me on +1 415 555 0134 please", "call me on [phone] please"),
            ("(415) 555.0134 or Sam.O+x@Example.ORG", "[phone] or [email]"),
            ("meeting at 10:30, room 12", "meeting at 10:30, room 12"),
            ("  spaced \n\t out  ", "spaced out"),
        ];
        crate::testing::assert_table(cases.map(|(input, masked)| (input, Some(masked.to_string()))), |input| mask_reason(input));
        assert_eq!(mask_reason("   "), None);
    }

    #[test]
    fn truncates_on_char_boundary() {
        let long = "é".repeat(1000);
        let out = mask_reason(&long).unwrap();
        assert_eq!(out.chars().count(), MAX_REASON_CHARS);
        assert!(out.ends_with('…'));
        let exact = "a".repeat(MAX_REASON_CHARS);
        assert_eq!(mask_reason(&exact).unwrap(), exact);
    }
}
