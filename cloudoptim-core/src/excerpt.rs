//! Values from outside, quoted in error messages: shortened when huge, so
//! that an error about a 65 KB field is still a line a person can read.

/// Longest excerpt kept whole, in bytes.
pub const EXCERPT_BYTES: usize = 64;

/// `value`, or its first [`EXCERPT_BYTES`] bytes (cut at a character
/// boundary) followed by `… (N bytes)`.
///
/// ```
/// use cloudoptim_core::excerpt::excerpt;
/// assert_eq!(excerpt("500m"), "500m");
/// assert_eq!(excerpt(&"9".repeat(1000)), format!("{}… (1000 bytes)", "9".repeat(64)));
/// ```
pub fn excerpt(value: &str) -> String {
    if value.len() <= EXCERPT_BYTES {
        return value.to_owned();
    }
    let mut end = EXCERPT_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &value[..end], value.len())
}
