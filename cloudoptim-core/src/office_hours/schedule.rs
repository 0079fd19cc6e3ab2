//! The schedule grammar, in the style users know from kube-downscaler, and
//! whether a schedule is "up" at an instant.
//!
//! ```text
//! schedule := [uptime | downtime] window ("," window)* clause*
//! window   := days times ("," times)* [zone]
//! days     := day-item ("," day-item)*          Mon,Wed,Fri   Mon-Fri   Fri-Mon (wraps)
//! day-item := DAY | DAY "-" DAY                 DAY: Mon Tue Wed Thu Fri Sat Sun (any case)
//! times    := HH:MM "-" HH:MM                   09:00-18:00   22:00-06:00 (crosses midnight)   00:00-24:00
//! zone     := an IANA time zone name            Europe/Berlin   UTC
//! clause   := (off | on) DATE ("," DATE)*       off 2026-12-25,2026-12-31   on 2026-12-27
//! ```
//!
//! - **Form.** An *uptime* schedule (the default) lists when workloads run;
//!   a *downtime* schedule lists when they are scaled down.
//! - **Zone.** Every schedule has exactly one time zone, from the IANA
//!   database compiled into this library (never the host's files), so a
//!   schedule means the same on every machine. It may be written after every
//!   window, kube-downscaler style (`Sat-Sun 00:00-24:00 CET,Fri 20:00-24:00 CET`),
//!   or once after the last; windows without one take it; two different
//!   zones in one schedule are an error.
//! - **Windows.** `HH:MM-HH:MM` on each listed day, in local wall-clock
//!   time, end excluded. `24:00` is the end of the day. A window whose end
//!   is not after its start crosses midnight and belongs to the day it
//!   starts on: `Fri 22:00-06:00` runs from Friday 22:00 to Saturday 06:00.
//! - **Dates.** `off` dates are holidays: the whole local day is down, and
//!   uptime windows starting that day (their part after midnight too) do not
//!   happen. `on` dates are one-off exceptions the other way: the whole day is
//!   up and downtime windows starting that day do not happen. More `off`
//!   dates can be given as a separate list ([`Schedule::with_holidays`]).
//!
//! # Daylight-saving time
//!
//! An instant is classified by the local wall-clock time it shows
//! ([`Schedule::is_up`]), exactly as if someone read the clock on the wall
//! every minute. Hence, on the days clocks change:
//! - a window boundary the clocks skip (02:30 on a spring-forward night in
//!   Europe/Berlin) takes effect at the first instant after the jump (03:00
//!   local): a window `02:30-10:00` starts at 03:00 that day;
//! - a boundary inside a repeated hour (02:30 on a fall-back night) is
//!   crossed twice, once per pass of the clock: `02:30-10:00` is up from the
//!   first 02:30, down again when clocks go back to 02:00, and up from the
//!   second 02:30. Business hours never put a boundary there; night windows
//!   should not either (`22:00-06:00` is unaffected);
//! - windows keep their wall-clock length in hours shown, not in elapsed
//!   hours: `00:00-24:00` lasts 23 hours on a spring-forward day.
//!
//! ```
//! use cloudoptim_core::office_hours::Schedule;
//!
//! let s = Schedule::parse("Mon-Fri 09:00-18:00 Europe/Berlin off 2026-12-25").unwrap();
//! // Monday 2026-11-23, 10:00 in Berlin (09:00 UTC): up.
//! assert!(s.is_up("2026-11-23T09:00:00Z".parse().unwrap()));
//! // 18:00 Berlin: the window's end is excluded.
//! assert!(!s.is_up("2026-11-23T17:00:00Z".parse().unwrap()));
//! // Christmas, a Friday: a holiday.
//! assert!(!s.is_up("2026-12-25T09:00:00Z".parse().unwrap()));
//!
//! let err = Schedule::parse("Mon-Fry 09:00-18:00 Europe/Berlin").unwrap_err();
//! assert_eq!((err.token.as_str(), err.offset), ("Mon-Fry", 0));
//! assert!(Schedule::parse("Mon-Fri 09:00-18:00 Europe/Atlantis").is_err());
//! ```

use std::collections::BTreeSet;

use jiff::civil::{Date, DateTime};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::Timestamp;
use serde::{Serialize, Serializer};

/// Minutes in a day.
const MINUTES_PER_DAY: u16 = 24 * 60;

/// Whether a schedule lists when workloads run or when they are down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// The windows are when workloads run (the default).
    Uptime,
    /// The windows are when workloads are scaled down.
    Downtime,
}

/// A set of weekdays, Monday = bit 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Whether `day` (0 = Monday … 6 = Sunday) is in the set.
    pub fn contains(self, day: u8) -> bool {
        day < 7 && self.0 & (1 << day) != 0
    }

    fn insert(&mut self, day: u8) {
        self.0 |= 1 << (day % 7);
    }
}

/// One window: `start..end` minutes of local wall-clock time on each of
/// `days`; an `end` not after `start` continues past midnight into the next
/// day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// The days it starts on.
    pub days: Weekdays,
    /// Start, minutes after local midnight (0..1440).
    pub start_minute: u16,
    /// End, minutes after local midnight (1..=1440; 1440 is `24:00`).
    pub end_minute: u16,
}

impl Window {
    /// Whether the window crosses midnight.
    pub fn crosses_midnight(self) -> bool {
        self.end_minute <= self.start_minute
    }
}

/// What is wrong with a schedule's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// The schedule is empty.
    #[error("the schedule is empty")]
    Empty,
    /// Days were expected (`Mon-Fri`, `Sat,Sun`, `Mon`).
    #[error("expected days such as `Mon-Fri` or `Mon,Wed,Fri`")]
    ExpectedDays,
    /// Times were expected (`09:00-18:00`).
    #[error("expected times such as `09:00-18:00`")]
    ExpectedTimes,
    /// A time is not `HH:MM` from `00:00` to `24:00`.
    #[error("not a time of day (`HH:MM`, 00:00 to 24:00)")]
    BadTime,
    /// A window that starts where it ends, or at `24:00`.
    #[error("an empty window (it starts where it ends, or at 24:00)")]
    EmptyWindow,
    /// A time zone name the IANA database does not have.
    #[error("unknown time zone (an IANA name such as `Europe/Berlin` or `UTC`)")]
    UnknownTimeZone,
    /// Two different time zones in one schedule.
    #[error("a second, different time zone: a schedule has one")]
    MixedTimeZones,
    /// No time zone anywhere.
    #[error("no time zone: end the schedule with one, such as `Europe/Berlin` or `UTC`")]
    MissingTimeZone,
    /// A date is not `YYYY-MM-DD`.
    #[error("not a date (`YYYY-MM-DD`)")]
    BadDate,
    /// A date listed both `off` and `on`.
    #[error("the date is listed both off and on")]
    OffAndOn,
    /// A form keyword after the first window.
    #[error("`uptime`/`downtime` can only start the schedule")]
    MisplacedForm,
    /// Something else where it does not belong.
    #[error("unexpected")]
    Unexpected,
}

/// A schedule that does not parse: what, and which token (its text and
/// byte offset in the schedule; an empty token at the end for something
/// missing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("schedule `{schedule}`: {problem}: `{token}` at byte {offset}")]
pub struct ScheduleError {
    /// The whole schedule text.
    pub schedule: String,
    /// The offending token.
    pub token: String,
    /// Its byte offset in `schedule`.
    pub offset: usize,
    /// What is wrong.
    pub problem: Problem,
}

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    text: String,
    form: Form,
    windows: Vec<Window>,
    zone_name: String,
    zone: TimeZone,
    off: BTreeSet<Date>,
    on: BTreeSet<Date>,
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The zone of this name, from the database compiled into the library
/// (never `/usr/share/zoneinfo` nor `TZ`).
pub fn time_zone(name: &str) -> Option<TimeZone> {
    TimeZoneDatabase::bundled().get(name).ok()
}

impl Schedule {
    /// Parse a schedule (grammar in the [module docs](self)).
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        Parser::new(text).schedule()
    }

    /// The same schedule with more holidays: `dates` is a comma-separated
    /// list of `YYYY-MM-DD` (a separate annotation, say). Errors point into
    /// `dates`.
    pub fn with_holidays(mut self, dates: &str) -> Result<Schedule, ScheduleError> {
        let mut p = Parser::new(dates);
        if p.tokens.is_empty() {
            return Ok(self);
        }
        let listed = p.dates()?;
        p.finish()?;
        for (date, token) in listed {
            if self.on.contains(&date) {
                return Err(p.error(&token, Problem::OffAndOn));
            }
            self.off.insert(date);
        }
        Ok(self)
    }

    /// The text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Uptime or downtime.
    pub fn form(&self) -> Form {
        self.form
    }

    /// Its windows.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Its time zone's IANA name, as written.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Its time zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Holidays (whole days down).
    pub fn off_dates(&self) -> &BTreeSet<Date> {
        &self.off
    }

    /// One-off exceptions (whole days up).
    pub fn on_dates(&self) -> &BTreeSet<Date> {
        &self.on
    }

    /// Whether workloads should run at `t`, judged by the local wall-clock
    /// time `t` shows in the schedule's zone (see the module docs on DST).
    pub fn is_up(&self, t: Timestamp) -> bool {
        self.is_up_at_local(self.zone.to_datetime(t))
    }

    /// Whether workloads should run at this local wall-clock time.
    pub fn is_up_at_local(&self, local: DateTime) -> bool {
        let date = local.date();
        if self.on.contains(&date) {
            return true;
        }
        if self.off.contains(&date) {
            return false;
        }
        let inside = self.in_a_window(local);
        match self.form {
            Form::Uptime => inside,
            Form::Downtime => !inside,
        }
    }

    /// Whether `t` or any instant up to `lead` after it is up: the schedule
    /// with business hours starting `lead` early (pre-warm). Evaluated at
    /// `t` and every whole minute after it up to `t + lead`: boundaries fall
    /// on whole local minutes and every zone's offset (since 1972) is whole
    /// minutes, so nothing between them is missed.
    pub fn is_up_within(&self, t: Timestamp, lead: jiff::SignedDuration) -> bool {
        if self.is_up(t) {
            return true;
        }
        let lead_seconds = lead.as_secs().clamp(0, 7 * 24 * 3600);
        let from = t.as_second();
        let first_minute = from.div_euclid(60) + 1;
        let last_minute = (from.saturating_add(lead_seconds)).div_euclid(60);
        (first_minute..=last_minute).any(|minute| {
            Timestamp::from_second(minute.saturating_mul(60)).is_ok_and(|s| self.is_up(s))
        })
    }

    fn in_a_window(&self, local: DateTime) -> bool {
        let date = local.date();
        let day = weekday(date);
        let minute =
            u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        let yesterday = date.yesterday().ok();
        // A window that started yesterday and crosses midnight, unless
        // yesterday cancelled windows of this schedule's form.
        let tail_counts = yesterday.is_some_and(|y| match self.form {
            Form::Uptime => !self.off.contains(&y),
            Form::Downtime => !self.on.contains(&y),
        });
        let previous = (day + 6) % 7;
        self.windows.iter().any(|w| {
            if w.crosses_midnight() {
                (w.days.contains(day) && minute >= w.start_minute)
                    || (tail_counts && w.days.contains(previous) && minute < w.end_minute)
            } else {
                w.days.contains(day) && minute >= w.start_minute && minute < w.end_minute
            }
        })
    }
}

/// 0 = Monday … 6 = Sunday.
fn weekday(date: Date) -> u8 {
    u8::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0)
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| *d == lower)
        .and_then(|i| u8::try_from(i).ok())
}

/// A lexical token: a word (anything between spaces and commas) or a comma.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word { text: String, offset: usize },
    Comma { offset: usize },
}

impl Token {
    fn text(&self) -> &str {
        match self {
            Token::Word { text, .. } => text,
            Token::Comma { .. } => ",",
        }
    }

    fn offset(&self) -> usize {
        match self {
            Token::Word { offset, .. } | Token::Comma { offset } => *offset,
        }
    }

    fn word(&self) -> Option<&str> {
        match self {
            Token::Word { text, .. } => Some(text),
            Token::Comma { .. } => None,
        }
    }
}

fn lex(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let flush = |tokens: &mut Vec<Token>, start: &mut Option<usize>, end: usize| {
        if let Some(s) = start.take() {
            tokens.push(Token::Word {
                text: text.get(s..end).unwrap_or_default().to_owned(),
                offset: s,
            });
        }
    };
    for (i, c) in text.char_indices() {
        if c == ',' {
            flush(&mut tokens, &mut start, i);
            tokens.push(Token::Comma { offset: i });
        } else if c.is_whitespace() {
            flush(&mut tokens, &mut start, i);
        } else if start.is_none() {
            start = Some(i);
        }
    }
    flush(&mut tokens, &mut start, text.len());
    tokens
}

fn is_keyword(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

fn parse_days(word: &str) -> Option<Weekdays> {
    let mut days = Weekdays::default();
    match word.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (day_index(from)?, day_index(to)?);
            let mut d = from;
            loop {
                days.insert(d);
                if d == to {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        None => days.insert(day_index(word)?),
    }
    Some(days)
}

/// `HH:MM` as minutes after midnight, `24:00` allowed.
fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn looks_like_times(word: &str) -> bool {
    word.as_bytes().first().is_some_and(u8::is_ascii_digit) && word.contains(':')
}

fn looks_like_date(word: &str) -> bool {
    word.len() == 10
        && word.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && !word.contains(':')
}

fn parse_date(word: &str) -> Option<Date> {
    if !looks_like_date(word) {
        return None;
    }
    let mut parts = word.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            tokens: lex(text),
            at: 0,
        }
    }

    fn error(&self, token: &Token, problem: Problem) -> ScheduleError {
        ScheduleError {
            schedule: self.text.to_owned(),
            token: token.text().to_owned(),
            offset: token.offset(),
            problem,
        }
    }

    /// An error at the current token, or at the end.
    fn error_here(&self, problem: Problem) -> ScheduleError {
        match self.tokens.get(self.at) {
            Some(t) => self.error(t, problem),
            None => ScheduleError {
                schedule: self.text.to_owned(),
                token: String::new(),
                offset: self.text.len(),
                problem,
            },
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_word(&self, ahead: usize) -> Option<&str> {
        self.tokens.get(self.at + ahead).and_then(Token::word)
    }

    fn next_is_comma(&self) -> bool {
        matches!(self.peek(), Some(Token::Comma { .. }))
    }

    fn finish(&self) -> Result<(), ScheduleError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error_here(Problem::Unexpected)),
        }
    }

    fn schedule(mut self) -> Result<Schedule, ScheduleError> {
        if self.tokens.is_empty() {
            return Err(self.error_here(Problem::Empty));
        }
        let mut form = Form::Uptime;
        if let Some(word) = self.peek_word(0) {
            if is_keyword(word, "uptime") {
                self.at += 1;
            } else if is_keyword(word, "downtime") {
                form = Form::Downtime;
                self.at += 1;
            }
        }
        let mut windows = Vec::new();
        let mut zone: Option<(String, TimeZone)> = None;
        loop {
            self.window(&mut windows, &mut zone)?;
            // `, Mon …` starts another window; a comma before `off`/`on` is tolerated.
            if self.next_is_comma() {
                self.at += 1;
                if self
                    .peek_word(0)
                    .is_some_and(|w| is_keyword(w, "off") || is_keyword(w, "on"))
                {
                    break;
                }
                continue;
            }
            break;
        }
        let (mut off, mut on) = (BTreeSet::new(), BTreeSet::new());
        while let Some(word) = self.peek_word(0) {
            let is_off = is_keyword(word, "off");
            if !is_off && !is_keyword(word, "on") {
                if is_keyword(word, "uptime") || is_keyword(word, "downtime") {
                    return Err(self.error_here(Problem::MisplacedForm));
                }
                return Err(self.error_here(Problem::Unexpected));
            }
            self.at += 1;
            for (date, token) in self.dates()? {
                let other = if is_off { &on } else { &off };
                if other.contains(&date) {
                    return Err(self.error(&token, Problem::OffAndOn));
                }
                if is_off {
                    off.insert(date);
                } else {
                    on.insert(date);
                }
            }
        }
        self.finish()?;
        let Some((zone_name, zone)) = zone else {
            return Err(self.error_here(Problem::MissingTimeZone));
        };
        Ok(Schedule {
            text: self.text.trim().to_owned(),
            form,
            windows,
            zone_name,
            zone,
            off,
            on,
        })
    }

    fn window(
        &mut self,
        windows: &mut Vec<Window>,
        zone: &mut Option<(String, TimeZone)>,
    ) -> Result<(), ScheduleError> {
        // Days: `Mon-Fri`, or `Mon,Wed,Fri`.
        let mut days = Weekdays::default();
        loop {
            let Some(token) = self.peek().cloned() else {
                return Err(self.error_here(Problem::ExpectedDays));
            };
            let parsed = token.word().and_then(parse_days);
            let Some(d) = parsed else {
                let word = token.word().unwrap_or_default();
                if is_keyword(word, "uptime") || is_keyword(word, "downtime") {
                    return Err(self.error(&token, Problem::MisplacedForm));
                }
                return Err(self.error(&token, Problem::ExpectedDays));
            };
            days.0 |= d.0;
            self.at += 1;
            if self.next_is_comma() && self.peek_word(1).and_then(parse_days).is_some() {
                self.at += 1;
                continue;
            }
            break;
        }
        // Times: `09:00-12:00,13:00-18:00`.
        loop {
            let Some(token) = self.peek().cloned() else {
                return Err(self.error_here(Problem::ExpectedTimes));
            };
            let word = token.word().unwrap_or_default();
            if !looks_like_times(word) {
                return Err(self.error(&token, Problem::ExpectedTimes));
            }
            let (start, end) = word
                .split_once('-')
                .and_then(|(a, b)| Some((parse_time(a)?, parse_time(b)?)))
                .ok_or_else(|| self.error(&token, Problem::BadTime))?;
            let end = if end == 0 { MINUTES_PER_DAY } else { end };
            if start == MINUTES_PER_DAY || start == end {
                return Err(self.error(&token, Problem::EmptyWindow));
            }
            windows.push(Window {
                days,
                start_minute: start,
                end_minute: end,
            });
            self.at += 1;
            if self.next_is_comma() && self.peek_word(1).is_some_and(looks_like_times) {
                self.at += 1;
                continue;
            }
            break;
        }
        // An optional zone: any word that is not days, times, a date or a keyword.
        if let Some(token) = self.peek().cloned() {
            if let Some(word) = token.word() {
                let keyword = ["off", "on", "uptime", "downtime"]
                    .iter()
                    .any(|k| is_keyword(word, k));
                if !keyword
                    && parse_days(word).is_none()
                    && !looks_like_times(word)
                    && !looks_like_date(word)
                {
                    let tz = time_zone(word)
                        .ok_or_else(|| self.error(&token, Problem::UnknownTimeZone))?;
                    match zone {
                        Some((_, existing)) if *existing != tz => {
                            return Err(self.error(&token, Problem::MixedTimeZones));
                        }
                        Some(_) => {}
                        None => *zone = Some((word.to_owned(), tz)),
                    }
                    self.at += 1;
                }
            }
        }
        Ok(())
    }

    /// `DATE ("," DATE)*`, each with its token.
    fn dates(&mut self) -> Result<Vec<(Date, Token)>, ScheduleError> {
        let mut out = Vec::new();
        loop {
            let Some(token) = self.peek().cloned() else {
                return Err(self.error_here(Problem::BadDate));
            };
            let date = token
                .word()
                .and_then(parse_date)
                .ok_or_else(|| self.error(&token, Problem::BadDate))?;
            out.push((date, token));
            self.at += 1;
            // After a date, a comma always means another date.
            if self.next_is_comma() {
                self.at += 1;
                continue;
            }
            break;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
