//! The CRI container log format.
//!
//! kubelet reads a container's output from a file the runtime writes, one record per line:
//!
//! ```text
//! 2026-11-22T00:17:09.669794202Z stdout F hello world
//! 2026-11-22T00:17:09.669813045Z stderr P a long line, first piece,
//! 2026-11-22T00:17:09.669813045Z stderr F  and its end
//! ```
//!
//! The timestamp is RFC 3339 in UTC with exactly nine fractional digits; the stream is `stdout`
//! or `stderr`; the tag is `F` for a record that ends a line (the line's newline is not written)
//! or `P` for a piece the following records of the same stream continue. kubelet joins `P...F`
//! runs back into one line.
//!
//! [`CriLogWriter`] writes the format the way conmon does; [`parse_line`] and [`join_records`]
//! read it back the way kubelet does, for tests and the conformance suite.

use crate::model::Timestamp;
use std::borrow::Borrow;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// The longest content one record carries before the writer splits it (conmon's default).
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Which of the container's output streams a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The stream's name in a log record: `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stream {
    type Err = LogParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "stdout" => Ok(Stream::Stdout),
            "stderr" => Ok(Stream::Stderr),
            _ => Err(LogParseError::Stream {
                value: value.to_owned(),
            }),
        }
    }
}

/// Whether a record ends a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// `F`: the record ends a line; the line's newline was consumed.
    Full,
    /// `P`: the line continues in the stream's next record.
    Partial,
}

impl Tag {
    /// The tag's letter in a log record: `F` or `P`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Full => "F",
            Tag::Partial => "P",
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a log line that [`parse_line`] rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogParseError {
    /// The line ends before one of its space-separated fields.
    #[error("log line has no {field} field")]
    MissingField {
        /// The missing field: `timestamp`, `stream` or `tag`.
        field: &'static str,
    },
    /// The timestamp is not RFC 3339 UTC with nine fractional digits, or is out of range.
    #[error("invalid timestamp {value:?}: {reason}")]
    Timestamp {
        /// The timestamp as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The stream is neither `stdout` nor `stderr`.
    #[error("unknown stream {value:?}, expected stdout or stderr")]
    Stream {
        /// The stream as written.
        value: String,
    },
    /// The tag is neither `F` nor `P` (optionally followed by `:`-separated extensions).
    #[error("unknown tag {value:?}, expected F or P")]
    Tag {
        /// The tag as written.
        value: String,
    },
    /// The content holds a newline: a record is exactly one line.
    #[error("log record content contains a newline")]
    EmbeddedNewline,
}

/// One parsed log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the runtime read the output, in nanoseconds since the Unix epoch.
    pub timestamp: Timestamp,
    /// The stream it came from.
    pub stream: Stream,
    /// Whether it ends a line.
    pub tag: Tag,
    /// The content, without the record's trailing newline.
    pub content: String,
}

/// Writes the record without its trailing newline.
impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            format_timestamp(self.timestamp),
            self.stream,
            self.tag,
            self.content
        )
    }
}

/// Formats nanoseconds since the Unix epoch as a CRI log timestamp:
/// `2026-11-22T00:17:09.669794202Z`. Every `i64` has a representation (years 1677 to 2262).
pub fn format_timestamp(ns: i64) -> String {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let nanos = ns.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let secs_of_day = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// Parses a CRI log timestamp (RFC 3339 in UTC with exactly nine fractional digits) into
/// nanoseconds since the Unix epoch.
pub fn parse_timestamp(value: &str) -> Result<Timestamp, LogParseError> {
    let fail = |reason| LogParseError::Timestamp {
        value: value.to_owned(),
        reason,
    };
    let bytes = value.as_bytes();
    if bytes.len() != 30 {
        return Err(fail("expected YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ"));
    }
    for (index, expected) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        if bytes[index] != expected {
            return Err(fail("expected YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ"));
        }
    }
    if bytes[19] != b'.' {
        return Err(fail("expected nine fractional digits"));
    }
    if bytes[29] != b'Z' {
        return Err(fail("expected UTC (a trailing Z)"));
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, LogParseError> {
        let digits = &bytes[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(fail("non-digit in a numeric field"));
        }
        Ok(digits
            .iter()
            .fold(0, |acc, digit| acc * 10 + i64::from(digit - b'0')))
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let nanos = number(20..29)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(fail("no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(fail("no such time of day"));
    }
    let secs =
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second;
    let ns = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos);
    Timestamp::try_from(ns).map_err(|_| fail("outside the range of nanoseconds since the epoch"))
}

/// Parses one record of a CRI log file. A trailing `\n` is allowed and removed; a `\r` before it
/// is content.
pub fn parse_line(line: &str) -> Result<LogLine, LogParseError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let (timestamp, rest) = line
        .split_once(' ')
        .ok_or(LogParseError::MissingField { field: "timestamp" })?;
    let timestamp = parse_timestamp(timestamp)?;
    let (stream, rest) = rest
        .split_once(' ')
        .ok_or(LogParseError::MissingField { field: "stream" })?;
    let stream = stream.parse()?;
    let (tag, content) = rest
        .split_once(' ')
        .ok_or(LogParseError::MissingField { field: "tag" })?;
    // kubelet reads the tag as `:`-separated fields and looks at the first one only.
    let tag = match tag.split(':').next() {
        Some("F") => Tag::Full,
        Some("P") => Tag::Partial,
        _ => {
            return Err(LogParseError::Tag {
                value: tag.to_owned(),
            });
        }
    };
    if content.contains('\n') {
        return Err(LogParseError::EmbeddedNewline);
    }
    Ok(LogLine {
        timestamp,
        stream,
        tag,
        content: content.to_owned(),
    })
}

/// Joins records back into the lines the container wrote, as kubelet does: each stream's `P`
/// records are concatenated with the `F` record that ends them. Messages come out in the order
/// their `F` record appears, without their newline; a stream's unfinished `P` run at the end of
/// the input comes out last, in the order those runs began.
pub fn join_records<I>(lines: I) -> Vec<(Stream, String)>
where
    I: IntoIterator,
    I::Item: Borrow<LogLine>,
{
    let mut messages = Vec::new();
    // At most one unfinished run per stream, in the order the runs began.
    let mut pending: Vec<(Stream, String)> = Vec::with_capacity(2);
    for line in lines {
        let line = line.borrow();
        let index = match pending
            .iter()
            .position(|(stream, _)| *stream == line.stream)
        {
            Some(index) => index,
            None => {
                pending.push((line.stream, String::new()));
                pending.len() - 1
            }
        };
        pending[index].1.push_str(&line.content);
        if line.tag == Tag::Full {
            messages.push(pending.remove(index));
        }
    }
    messages.extend(pending);
    messages
}

/// Writes a container's output in the CRI log format.
///
/// Each chunk handed to [`CriLogWriter::write`] is output as the runtime read it from the
/// container's pipe: every complete line becomes an `F` record, and a trailing piece without a
/// newline is written at once as a `P` record (a chunk boundary ends a record, as in conmon).
/// Content longer than the maximum line length is split into `P` records, backing off to a
/// UTF-8 character boundary when the split would cut one.
#[derive(Debug)]
pub struct CriLogWriter<W: Write> {
    inner: W,
    max_line: usize,
    buffer: Vec<u8>,
}

impl<W: Write> CriLogWriter<W> {
    /// A writer with the default maximum line length, [`DEFAULT_MAX_LINE`].
    pub fn new(inner: W) -> Self {
        Self::with_max_line(inner, DEFAULT_MAX_LINE)
    }

    /// A writer that splits content longer than `max_bytes` (at least 1) into several records.
    pub fn with_max_line(inner: W, max_bytes: usize) -> Self {
        CriLogWriter {
            inner,
            max_line: max_bytes.max(1),
            buffer: Vec::new(),
        }
    }

    /// The longest content of one record.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Writes one chunk of the container's output on `stream`, read at `timestamp` (nanoseconds
    /// since the epoch), with a single write to the underlying writer. An empty chunk writes
    /// nothing.
    pub fn write(&mut self, stream: Stream, timestamp: Timestamp, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let header = format_timestamp(timestamp);
        self.buffer.clear();
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&byte| byte == b'\n') {
            self.push_pieces(&header, stream, &rest[..newline], true);
            rest = &rest[newline + 1..];
        }
        self.push_pieces(&header, stream, rest, false);
        self.inner.write_all(&self.buffer)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer, mutably (to reopen a rotated file, say).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Gives back the underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Buffers the records of `content`: all `P` but the last, which is `F` when `ends_line`.
    /// A line that ends with no content still gets its (empty) `F` record.
    fn push_pieces(&mut self, header: &str, stream: Stream, content: &[u8], ends_line: bool) {
        let mut rest = content;
        loop {
            let last = rest.len() <= self.max_line;
            if last && (rest.is_empty() && !ends_line) {
                return;
            }
            let cut = if last {
                rest.len()
            } else {
                split_point(rest, self.max_line)
            };
            let tag = if last && ends_line {
                Tag::Full
            } else {
                Tag::Partial
            };
            self.buffer.extend_from_slice(header.as_bytes());
            self.buffer.push(b' ');
            self.buffer.extend_from_slice(stream.as_str().as_bytes());
            self.buffer.push(b' ');
            self.buffer.extend_from_slice(tag.as_str().as_bytes());
            self.buffer.push(b' ');
            self.buffer.extend_from_slice(&rest[..cut]);
            self.buffer.push(b'\n');
            rest = &rest[cut..];
            if last {
                return;
            }
        }
    }
}

/// Where to cut `content` (longer than `max`) so the first piece holds at most `max` bytes:
/// at `max`, or up to three bytes earlier if that keeps a UTF-8 character whole.
fn split_point(content: &[u8], max: usize) -> usize {
    let is_continuation = |byte: u8| byte & 0b1100_0000 == 0b1000_0000;
    let mut cut = max;
    while cut > 0 && max - cut < 3 && is_continuation(content[cut]) {
        cut -= 1;
    }
    if cut == 0 || is_continuation(content[cut]) {
        max
    } else {
        cut
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day, counted from 1970-01-01, of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn written(max: usize, chunks: &[(Stream, &[u8])]) -> String {
        let mut writer = CriLogWriter::with_max_line(Vec::new(), max);
        for (index, (stream, bytes)) in chunks.iter().enumerate() {
            writer.write(*stream, index as i64, bytes).unwrap();
        }
        String::from_utf8(writer.into_inner()).unwrap()
    }

    /// The records of a log as (stream, tag, content), timestamps dropped.
    fn records(log: &str) -> Vec<(Stream, Tag, String)> {
        log.split_terminator('\n')
            .map(|line| {
                let parsed = parse_line(line).unwrap();
                (parsed.stream, parsed.tag, parsed.content)
            })
            .collect()
    }

    fn humantime_format(ns: i64) -> String {
        let time = UNIX_EPOCH + Duration::from_nanos(ns as u64);
        humantime::format_rfc3339_nanos(time).to_string()
    }

    #[test]
    fn formats_known_timestamps() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_timestamp(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        let time = humantime::parse_rfc3339("2026-11-22T00:17:09.669794202Z").unwrap();
        let ns = time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
        assert_eq!(format_timestamp(ns), "2026-11-22T00:17:09.669794202Z");
    }

    #[test]
    fn extreme_timestamps_format_and_parse_back() {
        for ns in [
            i64::MIN,
            i64::MIN + 1,
            -NANOS_PER_SEC,
            i64::MAX - 1,
            i64::MAX,
        ] {
            let text = format_timestamp(ns);
            assert_eq!(text.len(), 30, "{text}");
            assert_eq!(parse_timestamp(&text), Ok(ns), "{text}");
        }
        assert_eq!(format_timestamp(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_timestamp(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn timestamp_out_of_range_is_an_error_not_a_panic() {
        for text in [
            "2262-04-11T23:47:16.854775808Z",
            "1677-09-21T00:12:43.145224191Z",
            "9999-12-31T23:59:59.999999999Z",
            "0000-01-01T00:00:00.000000000Z",
        ] {
            assert!(
                matches!(parse_timestamp(text), Err(LogParseError::Timestamp { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for text in [
            "2026-11-22T00:17:09.669794Z",
            "2026-11-22T00:17:09.669794202+00:00",
            "2026-11-22 00:17:09.669794202Z",
            "2026-13-22T00:17:09.669794202Z",
            "2026-02-29T00:17:09.669794202Z",
            "2026-11-22T24:17:09.669794202Z",
            "2026-11-22T00:17:60.669794202Z",
            "2026-1a-22T00:17:09.669794202Z",
            "2026-11-22T00:17:09,669794202Z",
        ] {
            assert!(
                matches!(parse_timestamp(text), Err(LogParseError::Timestamp { .. })),
                "{text}"
            );
        }
        assert!(parse_timestamp("2024-02-29T00:00:00.000000000Z").is_ok());
    }

    #[test]
    fn timestamps_agree_with_humantime() {
        // A linear congruential walk over 1970..2262.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let ns = (state >> 1) as i64;
            let text = format_timestamp(ns);
            assert_eq!(text, humantime_format(ns));
            assert_eq!(parse_timestamp(&text), Ok(ns));
            let parsed = humantime::parse_rfc3339(&text).unwrap();
            assert_eq!(parsed, UNIX_EPOCH + Duration::from_nanos(ns as u64));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert_eq!(format_timestamp(now), humantime_format(now));
    }

    #[test]
    fn complete_lines_become_full_records() {
        let log = written(DEFAULT_MAX_LINE, &[(Stream::Stdout, b"one\ntwo\n")]);
        assert_eq!(
            log,
            "1970-01-01T00:00:00.000000000Z stdout F one\n1970-01-01T00:00:00.000000000Z stdout F two\n"
        );
    }

    #[test]
    fn a_trailing_piece_is_written_at_once_as_partial() {
        let log = written(
            DEFAULT_MAX_LINE,
            &[
                (Stream::Stderr, b"done\nhalf"),
                (Stream::Stderr, b" more\n"),
            ],
        );
        assert_eq!(
            records(&log),
            vec![
                (Stream::Stderr, Tag::Full, "done".to_owned()),
                (Stream::Stderr, Tag::Partial, "half".to_owned()),
                (Stream::Stderr, Tag::Full, " more".to_owned()),
            ]
        );
        assert!(
            log.lines()
                .nth(2)
                .unwrap()
                .starts_with("1970-01-01T00:00:00.000000001Z stderr F")
        );
    }

    #[test]
    fn empty_chunks_write_nothing_and_empty_lines_write_empty_records() {
        assert_eq!(written(DEFAULT_MAX_LINE, &[(Stream::Stdout, b"")]), "");
        let log = written(DEFAULT_MAX_LINE, &[(Stream::Stdout, b"\n\n")]);
        assert_eq!(log, "1970-01-01T00:00:00.000000000Z stdout F \n".repeat(2));
        assert_eq!(records(&log)[0].2, "");
    }

    #[test]
    fn carriage_returns_stay_in_the_content() {
        let log = written(DEFAULT_MAX_LINE, &[(Stream::Stdout, b"dos\r\n")]);
        assert_eq!(
            records(&log),
            vec![(Stream::Stdout, Tag::Full, "dos\r".to_owned())]
        );
    }

    #[test]
    fn long_lines_split_at_the_default_maximum() {
        let line = "x".repeat(DEFAULT_MAX_LINE * 2 + 5) + "\n";
        let log = written(DEFAULT_MAX_LINE, &[(Stream::Stdout, line.as_bytes())]);
        let records = records(&log);
        let shape: Vec<(Tag, usize)> = records.iter().map(|(_, tag, c)| (*tag, c.len())).collect();
        assert_eq!(
            shape,
            vec![
                (Tag::Partial, DEFAULT_MAX_LINE),
                (Tag::Partial, DEFAULT_MAX_LINE),
                (Tag::Full, 5)
            ]
        );
        let exact = "y".repeat(DEFAULT_MAX_LINE) + "\n";
        let log = written(DEFAULT_MAX_LINE, &[(Stream::Stdout, exact.as_bytes())]);
        assert_eq!(log.lines().count(), 1);
        assert_eq!(CriLogWriter::new(Vec::new()).max_line(), DEFAULT_MAX_LINE);
    }

    #[test]
    fn split_partial_pieces_and_exact_multiples() {
        let log = written(4, &[(Stream::Stdout, b"abcdefgh\nabcdefghij")]);
        let contents: Vec<(Tag, String)> =
            records(&log).into_iter().map(|(_, t, c)| (t, c)).collect();
        assert_eq!(
            contents,
            vec![
                (Tag::Partial, "abcd".to_owned()),
                (Tag::Full, "efgh".to_owned()),
                (Tag::Partial, "abcd".to_owned()),
                (Tag::Partial, "efgh".to_owned()),
                (Tag::Partial, "ij".to_owned()),
            ]
        );
    }

    #[test]
    fn splitting_keeps_utf8_characters_whole() {
        // "aé€" is a(1) é(2) €(3): a cut at 4 would fall inside the euro sign.
        let log = written(4, &[(Stream::Stdout, "aé€\n".as_bytes())]);
        let contents: Vec<String> = records(&log).into_iter().map(|(_, _, c)| c).collect();
        assert_eq!(contents, vec!["aé".to_owned(), "€".to_owned()]);
        // A maximum smaller than a character still makes progress.
        let mut writer = CriLogWriter::with_max_line(Vec::new(), 1);
        writer.write(Stream::Stdout, 0, "€".as_bytes()).unwrap();
        assert_eq!(writer.get_ref().iter().filter(|&&b| b == b'\n').count(), 3);
        assert_eq!(CriLogWriter::with_max_line(Vec::new(), 0).max_line(), 1);
    }

    #[test]
    fn get_mut_reaches_the_underlying_writer() {
        let mut writer = CriLogWriter::new(Vec::new());
        writer.write(Stream::Stdout, 0, b"a\n").unwrap();
        writer.get_mut().clear();
        writer.write(Stream::Stderr, 0, b"b\n").unwrap();
        writer.flush().unwrap();
        assert_eq!(
            records(&String::from_utf8(writer.into_inner()).unwrap()),
            vec![(Stream::Stderr, Tag::Full, "b".to_owned())]
        );
    }

    #[test]
    fn parses_a_line() {
        let line = parse_line("2026-11-22T00:17:09.669794202Z stderr P  two  spaces \n").unwrap();
        assert_eq!(line.stream, Stream::Stderr);
        assert_eq!(line.tag, Tag::Partial);
        assert_eq!(line.content, " two  spaces ");
        assert_eq!(
            format_timestamp(line.timestamp),
            "2026-11-22T00:17:09.669794202Z"
        );
        assert_eq!(
            line.to_string(),
            "2026-11-22T00:17:09.669794202Z stderr P  two  spaces "
        );
        let tagged = parse_line("2026-11-22T00:17:09.669794202Z stdout F:x:y hi").unwrap();
        assert_eq!((tagged.tag, tagged.content.as_str()), (Tag::Full, "hi"));
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let ts = "2026-11-22T00:17:09.669794202Z";
        assert_eq!(
            parse_line("garbage"),
            Err(LogParseError::MissingField { field: "timestamp" })
        );
        assert_eq!(
            parse_line(&format!("{ts} stdout")),
            Err(LogParseError::MissingField { field: "stream" })
        );
        assert_eq!(
            parse_line(&format!("{ts} stdout F")),
            Err(LogParseError::MissingField { field: "tag" })
        );
        assert_eq!(
            parse_line(&format!("{ts} stdin F x")),
            Err(LogParseError::Stream {
                value: "stdin".to_owned()
            })
        );
        assert_eq!(
            parse_line(&format!("{ts} stdout X x")),
            Err(LogParseError::Tag {
                value: "X".to_owned()
            })
        );
        assert_eq!(
            parse_line(&format!("{ts} stdout F a\nb")),
            Err(LogParseError::EmbeddedNewline)
        );
        assert!(matches!(
            parse_line("2026 stdout F x"),
            Err(LogParseError::Timestamp { .. })
        ));
        let message = parse_line(&format!("{ts} stdin F x"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("stdin"), "{message}");
        assert_eq!("stderr".parse::<Stream>(), Ok(Stream::Stderr));
    }

    #[test]
    fn joins_partial_runs_per_stream() {
        let log = written(
            DEFAULT_MAX_LINE,
            &[
                (Stream::Stdout, b"out-"),
                (Stream::Stderr, b"err-"),
                (Stream::Stdout, b"one\nout-two\n"),
                (Stream::Stderr, b"one\nunfinished"),
                (Stream::Stdout, b"tail"),
            ],
        );
        let lines: Vec<LogLine> = log.lines().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(
            join_records(&lines),
            vec![
                (Stream::Stdout, "out-one".to_owned()),
                (Stream::Stdout, "out-two".to_owned()),
                (Stream::Stderr, "err-one".to_owned()),
                (Stream::Stderr, "unfinished".to_owned()),
                (Stream::Stdout, "tail".to_owned()),
            ]
        );
        assert_eq!(join_records(lines).len(), 5);
    }

    proptest! {
        #[test]
        fn writing_then_joining_gives_back_the_output(
            chunks in proptest::collection::vec((any::<bool>(), "[a-c\n]{0,12}"), 0..12),
            max in 1usize..6,
        ) {
            let mut writer = CriLogWriter::with_max_line(Vec::new(), max);
            let mut expected = [String::new(), String::new()];
            for (index, (is_err, text)) in chunks.iter().enumerate() {
                let stream = if *is_err { Stream::Stderr } else { Stream::Stdout };
                writer.write(stream, index as i64, text.as_bytes()).unwrap();
                expected[usize::from(*is_err)].push_str(text);
            }
            let log = String::from_utf8(writer.into_inner()).unwrap();
            let lines: Vec<LogLine> = log.lines().map(|l| parse_line(l).unwrap()).collect();
            prop_assert!(lines.iter().all(|l| l.content.len() <= max));
            let joined = join_records(&lines);
            for (stream, text) in [(Stream::Stdout, &expected[0]), (Stream::Stderr, &expected[1])] {
                let messages: Vec<&str> = joined.iter().filter(|(s, _)| *s == stream).map(|(_, m)| m.as_str()).collect();
                let mut rebuilt = messages.join("\n");
                if text.ends_with('\n') {
                    rebuilt.push('\n');
                }
                prop_assert_eq!(&rebuilt, text);
            }
        }
    }
}
