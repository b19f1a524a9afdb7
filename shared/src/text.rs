//! Text bound for the database never carries NUL (U+0000).
//!
//! PostgreSQL refuses NUL in `text` (SQLSTATE 22021) and in `jsonb`. A provider redelivers a
//! refused delivery, and every redelivery fails the same way: Calendly gives up after 24 hours and
//! disables the workspace's whole subscription. So the rule, applied before any SQL runs:
//! - free text (a cancel reason, a tracking value, an email used for matching, a time zone) has
//!   its NULs removed: the rest of the text is still what the provider meant;
//! - an identifier (a provider URI or id, a lead or client id, a cursor) holding one is refused:
//!   without the NUL it would name something else.
//!
//! [`crate::Observation::normalized`] applies it to everything the write path stores or matches
//! on; entry points apply [`check_id`] to the ids they look up before they reach the write path.
//!
//! Error messages that repeat a caller's input (an operator invocation's `errorMessage`, its log
//! line) repeat at most [`EXCERPT_CHARS`] characters of it: [`excerpt`].

use std::borrow::Cow;

/// The one character PostgreSQL's text types cannot hold.
pub const NUL: char = '\0';

/// Why an identifier is refused; the text names no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("contains a NUL character")]
pub struct NulInId;

/// Free text without its NULs.
pub fn strip_nul(mut text: String) -> String {
    if text.contains(NUL) {
        text.retain(|c| c != NUL);
    }
    text
}

/// An identifier, if it can be stored and looked up: it holds no NUL.
pub fn check_id(id: &str) -> Result<&str, NulInId> {
    if id.contains(NUL) {
        Err(NulInId)
    } else {
        Ok(id)
    }
}

/// The most characters of a caller's text that an error message or a log line repeats.
pub const EXCERPT_CHARS: usize = 200;

/// The text, or its first [`EXCERPT_CHARS`] characters and an ellipsis: what an error may echo of
/// an input (an invocation of 100 KB must not come back as a 100 KB `errorMessage` and log line).
pub fn excerpt(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_keep_short_text_and_cut_long_text_at_a_character() {
        assert_eq!(excerpt(""), "");
        assert_eq!(excerpt("invalid input: field `mode`"), "invalid input: field `mode`");
        let exact = "x".repeat(EXCERPT_CHARS);
        assert!(matches!(excerpt(&exact), Cow::Borrowed(_)));
        let long = "é".repeat(100_000);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with("é…"));
        assert_eq!(excerpt(&format!("{exact}!")), format!("{exact}…"));
    }

    #[test]
    fn free_text_loses_its_nuls() {
        let table = [
            ("", ""),
            ("plain", "plain"),
            ("\0", ""),
            ("a\0b", "ab"),
            ("\0\0lead_1\0", "lead_1"),
            ("Dana\u{0}.W@example.com", "Dana.W@example.com"),
            ("Europe/\0Berlin", "Europe/Berlin"),
            // Other control characters are valid in PostgreSQL text and are kept.
            ("tab\there\u{1}", "tab\there\u{1}"),
            ("é\0ü", "éü"),
        ];
        crate::testing::assert_table(table.map(|(input, kept)| (input, kept.to_string())), |input| strip_nul(input.to_string()));
    }

    #[test]
    fn identifiers_with_a_nul_are_refused() {
        let table: [(&str, bool); 7] = [
            ("lead_1", true),
            ("", true), // emptiness is each caller's own rule
            ("https://api.calendly.com/scheduled_events/e/invitees/i", true),
            ("\0", false),
            ("lead_1\0", false),
            ("https://api.calendly.com/scheduled_events/e/invitees/i\0x", false),
            ("c\u{1}", true),
        ];
        crate::testing::assert_table(table, |id| check_id(id).is_ok());
        assert_eq!(NulInId.to_string(), "contains a NUL character");
    }
}
