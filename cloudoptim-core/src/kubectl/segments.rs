//! The JSON parts of `kubectl` output, read from any [`std::io::Read`]
//! without holding the whole of it.
//!
//! `kubectl cluster-info dump` prints lists with container logs between
//! them (`==== START logs for …` to `==== END logs for …`); a
//! [`Segments`] hands out the JSON between such blocks one segment at a
//! time, and counts lines so that errors say where in the whole input
//! they are.

use std::io::{ErrorKind, Read};

const START: &[u8] = b"==== START logs for";
const END: &[u8] = b"==== END logs for";
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Bytes read from the source at a time.
const CHUNK_BYTES: usize = 64 * 1024;

/// Where a segment starts in the whole input.
#[derive(Clone, Copy, Debug)]
pub struct SegmentStart {
    /// Line of its first JSON token, from 1.
    pub line: usize,
    /// Blanks before that token on its line: the columns a parser that
    /// starts at the token does not see.
    pub column: usize,
}

/// JSON segments of `kubectl` output. As a [`Read`], it yields the current
/// segment and then ends (returns 0) at the next log block or the end of
/// the input; [`Segments::next_segment`] moves on to the next one.
pub struct Segments<R> {
    source: R,
    buffer: Vec<u8>,
    /// Start of the unread bytes in `buffer`.
    at: usize,
    /// Whether `source` has ended.
    source_done: bool,
    /// Whether the next unread byte starts a line.
    line_start: bool,
    /// Line of the next unread byte, from 1.
    line: usize,
    /// Whether the current segment has ended at a log block.
    at_log_block: bool,
}

impl<R: Read> Segments<R> {
    /// Segments of `source`; a UTF-8 byte-order mark at its start is skipped.
    pub fn new(source: R) -> std::io::Result<Segments<R>> {
        let mut segments = Segments {
            source,
            buffer: Vec::with_capacity(CHUNK_BYTES),
            at: 0,
            source_done: false,
            line_start: true,
            line: 1,
            at_log_block: false,
        };
        if segments.lookahead(BOM.len())?.starts_with(BOM) {
            segments.at += BOM.len();
        }
        Ok(segments)
    }

    /// Move to the next segment that holds more than blanks, past the log
    /// blocks and blank lines before it; `None` at the end of the input.
    pub fn next_segment(&mut self) -> std::io::Result<Option<SegmentStart>> {
        self.at_log_block = false;
        let mut column = 0;
        loop {
            if self.line_start && self.lookahead(START.len())?.starts_with(START) {
                self.skip_log_block()?;
                column = 0;
                continue;
            }
            match self.lookahead(1)?.first() {
                None => return Ok(None),
                Some(b'\n') => {
                    self.consume(1);
                    column = 0;
                }
                Some(b' ' | b'\t' | b'\r') => {
                    self.consume(1);
                    column += 1;
                }
                Some(_) => {
                    return Ok(Some(SegmentStart {
                        line: self.line,
                        column,
                    }))
                }
            }
        }
    }

    /// Skip lines up to and including the next line that starts with the
    /// END marker (or to the end of the input).
    fn skip_log_block(&mut self) -> std::io::Result<()> {
        // The START line itself.
        self.skip_line()?;
        loop {
            if self.lookahead(1)?.is_empty() {
                return Ok(());
            }
            let end = self.lookahead(END.len())?.starts_with(END);
            self.skip_line()?;
            if end {
                return Ok(());
            }
        }
    }

    /// Skip to the start of the next line (or the end of the input).
    fn skip_line(&mut self) -> std::io::Result<()> {
        loop {
            let unread = self.lookahead(1)?;
            if unread.is_empty() {
                return Ok(());
            }
            match unread.iter().position(|&b| b == b'\n') {
                Some(n) => {
                    self.consume(n + 1);
                    return Ok(());
                }
                None => {
                    let n = unread.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Mark `n` unread bytes read, counting lines.
    fn consume(&mut self, n: usize) {
        let end = (self.at + n).min(self.buffer.len());
        if let Some(read) = self.buffer.get(self.at..end) {
            self.line += read.iter().filter(|&&b| b == b'\n').count();
            if let Some(&last) = read.last() {
                self.line_start = last == b'\n';
            }
        }
        self.at = end;
    }

    /// The unread bytes, at least `n` of them unless the input ends first.
    fn lookahead(&mut self, n: usize) -> std::io::Result<&[u8]> {
        while self.buffer.len() - self.at < n && !self.source_done {
            if self.at > 0 {
                self.buffer.drain(..self.at);
                self.at = 0;
            }
            let filled = self.buffer.len();
            self.buffer.resize(filled + CHUNK_BYTES.max(n), 0);
            let read = loop {
                match self.source.read(&mut self.buffer[filled..]) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let read = match read {
                Ok(read) => read,
                Err(e) => {
                    self.buffer.truncate(filled);
                    return Err(e);
                }
            };
            self.buffer.truncate(filled + read);
            self.source_done = read == 0;
        }
        Ok(self.buffer.get(self.at..).unwrap_or_default())
    }
}

impl<R: Read> Read for Segments<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() || self.at_log_block {
            return Ok(0);
        }
        if self.line_start && self.lookahead(START.len())?.starts_with(START) {
            self.at_log_block = true;
            return Ok(0);
        }
        let source_done = self.source_done;
        let unread = self.lookahead(1)?;
        let mut n = out.len().min(unread.len());
        // Stop after a newline whose next line starts a log block, or
        // might: the next read checks it.
        let mut from = 0;
        while let Some(i) = unread[from..n].iter().position(|&b| b == b'\n') {
            let next_line = &unread[from + i + 1..];
            if next_line.starts_with(START) || (next_line.len() < START.len() && !source_done) {
                n = from + i + 1;
                break;
            }
            from += i + 1;
        }
        out[..n].copy_from_slice(&unread[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Error;

    fn segments(text: &str) -> Vec<(usize, usize, String)> {
        let mut s = Segments::new(text.as_bytes()).unwrap();
        let mut out = Vec::new();
        while let Some(start) = s.next_segment().unwrap() {
            let mut json = String::new();
            s.read_to_string(&mut json).unwrap();
            out.push((start.line, start.column, json));
        }
        out
    }

    #[test]
    fn log_blocks_and_blank_lines_are_skipped_and_lines_counted() {
        let text = "\u{feff}\n  {\"a\": 1}\n==== START logs for x ====\nlog {\n==== END logs for x ====\n\n\t[2]\n==== START logs for y\nno end";
        assert_eq!(
            segments(text),
            vec![
                (2, 2, "{\"a\": 1}\n".to_owned()),
                (7, 1, "[2]\n".to_owned())
            ]
        );
    }

    #[test]
    fn a_marker_not_at_a_line_start_is_json() {
        let text = "[\"x ==== START logs for\"]";
        assert_eq!(segments(text), vec![(1, 0, text.to_owned())]);
    }

    /// Hands out its text a few bytes at a time, as a pipe might, then
    /// fails if told to.
    struct Trickle<'a> {
        text: &'a [u8],
        step: usize,
        fail_at_end: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.text.is_empty() && self.fail_at_end {
                return Err(Error::other("the disk went away"));
            }
            let n = self.step.min(out.len()).min(self.text.len());
            out[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    fn node_list(name: &str) -> String {
        format!(
            "{{\n  \"kind\": \"NodeList\",\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    {{\"metadata\": {{\"name\": \"{name}\"}}}}\n  ]\n}}\n"
        )
    }

    #[test]
    fn a_dump_read_in_small_pieces_reads_as_the_whole_text() {
        use crate::kubectl::{read_list, read_list_from};
        let dump = format!(
            "{}==== START logs for container a of pod p ====\n{{ not json\n==== END logs for container a of pod p ====\n{}",
            node_list("n1"),
            node_list("n2")
        );
        let whole = read_list(&dump).unwrap();
        assert_eq!(whole.snapshot.nodes.len(), 2);
        for step in 1..=40 {
            let trickle = Trickle {
                text: dump.as_bytes(),
                step,
                fail_at_end: false,
            };
            assert_eq!(
                read_list_from(trickle).unwrap(),
                whole,
                "{step} bytes at a time"
            );
        }
    }

    #[test]
    fn json_errors_say_where_in_the_whole_input() {
        use crate::kubectl::{read_list, KubectlError};
        for bad in [
            "\n\n   {\"items\": ]}",
            "  {\"a\": }",
            "{\"items\": [\n  {\"kind\": 1,]}",
        ] {
            let parser = serde_json::from_str::<serde_json::Value>(bad).unwrap_err();
            match read_list(bad) {
                Err(KubectlError::Json { line, column, .. }) => {
                    assert_eq!((line, column), (parser.line(), parser.column()), "{bad:?}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // After a log block, lines count from the start of the input.
        let dump = format!(
            "{}==== START logs for x\nlog\n==== END logs for x\n{{]",
            node_list("n1")
        );
        match read_list(&dump) {
            Err(KubectlError::Json { line, column, .. }) => assert_eq!((line, column), (11, 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_reader_is_a_read_error() {
        use crate::kubectl::{read_list_from, KubectlError};
        let text = node_list("n1");
        let trickle = Trickle {
            text: &text.as_bytes()[..20],
            step: 7,
            fail_at_end: true,
        };
        match read_list_from(trickle) {
            Err(KubectlError::Read { message }) => assert!(message.contains("the disk went away")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn blank_input_has_no_segment() {
        assert!(segments(" \n\r\n").is_empty());
        assert!(segments("").is_empty());
    }
}
