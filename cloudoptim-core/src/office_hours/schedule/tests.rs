use jiff::civil::{date, DateTime};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn err(text: &str) -> ScheduleError {
    Schedule::parse(text).unwrap_err()
}

#[test]
fn parses_the_forms_users_know() {
    let s = Schedule::parse("Mon-Fri 07:30-20:30 Europe/Berlin").unwrap();
    assert_eq!(s.form(), Form::Uptime);
    assert_eq!(s.zone_name(), "Europe/Berlin");
    assert_eq!(s.windows().len(), 1);
    let w = s.windows()[0];
    assert_eq!((w.start_minute, w.end_minute), (450, 1230));
    assert!((0..5).all(|d| w.days.contains(d)) && !w.days.contains(5) && !w.days.contains(6));

    let s = Schedule::parse("downtime Sat-Sun 00:00-24:00 CET,Fri-Fri 20:00-24:00 CET").unwrap();
    assert_eq!(s.form(), Form::Downtime);
    assert_eq!(s.windows().len(), 2);

    let s = Schedule::parse("Mon,Wed,Fri 09:00-12:00,13:00-17:00, Sat 10:00-14:00 UTC").unwrap();
    assert_eq!(s.windows().len(), 3);
    let days = s.windows()[0].days;
    assert!(days.contains(0) && days.contains(2) && days.contains(4) && !days.contains(1));

    // Fri-Mon wraps over the weekend.
    let s = Schedule::parse(
        "Fri-Mon 22:00-06:00 America/New_York off 2026-12-25,2026-12-31 on 2026-12-27",
    )
    .unwrap();
    let d = s.windows()[0].days;
    assert!([4, 5, 6, 0].iter().all(|&x| d.contains(x)) && !d.contains(1));
    assert!(s.windows()[0].crosses_midnight());
    assert_eq!(s.off_dates().len(), 2);
    assert!(s.on_dates().contains(&date(2026, 12, 27)));
    // Case does not matter.
    assert!(Schedule::parse("mon-FRI 09:00-18:00 europe/berlin").is_ok());
}

#[test]
fn errors_point_at_the_bad_token() {
    let cases: [(&str, &str, usize, Problem); 13] = [
        ("", "", 0, Problem::Empty),
        (
            "Mon-Fry 09:00-18:00 UTC",
            "Mon-Fry",
            0,
            Problem::ExpectedDays,
        ),
        ("Mon-Fri 9:00-18:00 UTC", "9:00-18:00", 8, Problem::BadTime),
        (
            "Mon-Fri 09:00-25:00 UTC",
            "09:00-25:00",
            8,
            Problem::BadTime,
        ),
        (
            "Mon-Fri 09:60-18:00 UTC",
            "09:60-18:00",
            8,
            Problem::BadTime,
        ),
        (
            "Mon-Fri 09:00-09:00 UTC",
            "09:00-09:00",
            8,
            Problem::EmptyWindow,
        ),
        (
            "Mon-Fri 24:00-06:00 UTC",
            "24:00-06:00",
            8,
            Problem::EmptyWindow,
        ),
        (
            "Mon-Fri 09:00-18:00 Europe/Atlantis",
            "Europe/Atlantis",
            20,
            Problem::UnknownTimeZone,
        ),
        ("Mon-Fri 09:00-18:00", "", 19, Problem::MissingTimeZone),
        (
            "Mon-Fri 09:00-18:00 UTC, Sat 10:00-12:00 Europe/Berlin",
            "Europe/Berlin",
            41,
            Problem::MixedTimeZones,
        ),
        (
            "Mon-Fri 09:00-18:00 UTC off 2026-02-30",
            "2026-02-30",
            28,
            Problem::BadDate,
        ),
        (
            "Mon-Fri 09:00-18:00 UTC off 2026-12-25 on 2026-12-25",
            "2026-12-25",
            42,
            Problem::OffAndOn,
        ),
        (
            "Mon-Fri 09:00-18:00 UTC extra",
            "extra",
            24,
            Problem::Unexpected,
        ),
    ];
    for (text, token, offset, problem) in cases {
        let e = err(text);
        assert_eq!(
            (e.token.as_str(), e.offset, e.problem),
            (token, offset, problem),
            "{text}"
        );
        // The offset points at the token in the text.
        assert_eq!(text.get(e.offset..e.offset + e.token.len()), Some(token));
        assert!(e.to_string().contains(&format!("byte {offset}")));
    }
    assert_eq!(
        err("Mon-Fri downtime 09:00-18:00 UTC").problem,
        Problem::ExpectedTimes
    );
    assert_eq!(
        err("Mon-Fri 09:00-18:00 UTC, downtime Sat 10:00-11:00").problem,
        Problem::MisplacedForm
    );
}

#[test]
fn holidays_from_a_separate_list() {
    let s = Schedule::parse("Mon-Fri 09:00-18:00 UTC")
        .unwrap()
        .with_holidays("2026-12-24, 2026-12-25")
        .unwrap();
    assert!(!s.is_up(ts("2026-12-24T10:00:00Z")));
    assert!(s.is_up(ts("2026-12-23T10:00:00Z")));
    let e = Schedule::parse("Mon-Fri 09:00-18:00 UTC")
        .unwrap()
        .with_holidays("2026-12-24,tomorrow")
        .unwrap_err();
    assert_eq!(
        (e.token.as_str(), e.offset, e.problem),
        ("tomorrow", 11, Problem::BadDate)
    );
}

#[test]
fn windows_cross_midnight_and_belong_to_their_start_day() {
    // Friday night shift: Friday 22:00 to Saturday 06:00, not Thursday's night.
    let s = Schedule::parse("Fri 22:00-06:00 UTC").unwrap();
    assert!(!s.is_up(ts("2026-11-26T23:00:00Z"))); // Thursday 23:00
    assert!(!s.is_up(ts("2026-11-27T05:00:00Z"))); // Friday 05:00
    assert!(s.is_up(ts("2026-11-27T22:00:00Z"))); // Friday 22:00
    assert!(s.is_up(ts("2026-11-28T05:59:00Z"))); // Saturday 05:59
    assert!(!s.is_up(ts("2026-11-28T06:00:00Z")));
    // A holiday on Friday cancels the whole shift, its Saturday part too.
    let off = Schedule::parse("Fri 22:00-06:00 UTC off 2026-11-27").unwrap();
    assert!(!off.is_up(ts("2026-11-27T22:00:00Z")));
    assert!(!off.is_up(ts("2026-11-28T05:00:00Z")));
    // 24:00 is the end of the day; 00:00-24:00 the whole day.
    let s = Schedule::parse("Sat-Sun 00:00-24:00 UTC").unwrap();
    assert!(s.is_up(ts("2026-11-29T23:59:59Z")));
    assert!(!s.is_up(ts("2026-11-30T00:00:00Z")));
}

#[test]
fn downtime_is_the_complement_and_on_dates_cancel_it() {
    let s = Schedule::parse("downtime Mon-Fri 20:00-08:00 UTC on 2026-11-23").unwrap();
    assert!(s.is_up(ts("2026-11-24T12:00:00Z")));
    assert!(!s.is_up(ts("2026-11-24T21:00:00Z")));
    assert!(!s.is_up(ts("2026-11-25T07:00:00Z")));
    // Monday 2026-11-23 is an exception: up all day, and its night's downtime is cancelled.
    assert!(s.is_up(ts("2026-11-23T21:00:00Z")));
    assert!(s.is_up(ts("2026-11-24T07:00:00Z")));
}

#[test]
fn prewarm_starts_business_hours_early() {
    let s = Schedule::parse("Mon-Fri 09:00-09:30 UTC").unwrap();
    let lead = SignedDuration::from_mins(60);
    assert!(!s.is_up_within(ts("2026-11-23T07:59:00Z"), lead));
    assert!(s.is_up_within(ts("2026-11-23T08:00:00Z"), lead));
    // A window shorter than the lead is still seen from inside the lead.
    assert!(s.is_up_within(ts("2026-11-23T08:45:00Z"), lead));
    // The end is not extended.
    assert!(!s.is_up_within(ts("2026-11-23T09:30:00Z"), lead));
    assert!(!s.is_up_within(ts("2026-11-23T09:30:00Z"), SignedDuration::ZERO));
}

/// Berlin springs forward on 2026-03-29 (02:00 CET → 03:00 CEST, 01:00 UTC)
/// and falls back on 2026-10-25 (03:00 CEST → 02:00 CET, 01:00 UTC).
#[test]
fn dst_skipped_and_repeated_boundaries_behave_as_documented() {
    let s = Schedule::parse("Sun 02:30-10:00 Europe/Berlin").unwrap();
    // Skipped 02:30: the window starts when the clock jumps to 03:00.
    assert!(!s.is_up(ts("2026-03-29T00:59:59Z"))); // 01:59:59 CET
    assert!(s.is_up(ts("2026-03-29T01:00:00Z"))); // 03:00 CEST
                                                  // Repeated 02:30: entered at the first, left when clocks go back, re-entered at the second.
    assert!(!s.is_up(ts("2026-10-25T00:29:00Z"))); // 02:29 CEST
    assert!(s.is_up(ts("2026-10-25T00:30:00Z"))); // 02:30 CEST
    assert!(!s.is_up(ts("2026-10-25T01:00:00Z"))); // 02:00 CET
    assert!(s.is_up(ts("2026-10-25T01:30:00Z"))); // 02:30 CET
                                                  // A whole day on a spring-forward day lasts 23 hours.
    let day = Schedule::parse("Sun 00:00-24:00 Europe/Berlin").unwrap();
    let up_minutes = (0..48 * 60)
        .map(|m| ts("2026-03-28T12:00:00Z") + SignedDuration::from_mins(m))
        .filter(|t| day.is_up(*t))
        .count();
    assert_eq!(up_minutes, 23 * 60);
    // Business hours keep their local times on both sides of the change.
    let office = Schedule::parse("Mon-Fri 09:00-18:00 Europe/Berlin").unwrap();
    assert!(office.is_up(ts("2026-03-27T08:00:00Z"))); // Fri 09:00 CET
    assert!(!office.is_up(ts("2026-03-30T06:30:00Z"))); // Mon 08:30 CEST
    assert!(office.is_up(ts("2026-03-30T07:00:00Z"))); // Mon 09:00 CEST
}

/// An independent reading of a schedule: list every window occurrence that
/// could cover `local` as civil intervals `[start, end)` and test
/// containment, with the holiday rules stated in the module docs.
fn reference(s: &Schedule, local: DateTime) -> bool {
    let d = local.date();
    if s.on_dates().contains(&d) {
        return true;
    }
    if s.off_dates().contains(&d) {
        return false;
    }
    let cancelled = |start: jiff::civil::Date| match s.form() {
        Form::Uptime => s.off_dates().contains(&start),
        Form::Downtime => s.on_dates().contains(&start),
    };
    let mut inside = false;
    for start_date in [d.yesterday().unwrap(), d] {
        if cancelled(start_date) && start_date != d {
            continue;
        }
        let wd = start_date.weekday().to_monday_zero_offset() as u8;
        for w in s.windows() {
            if !w.days.contains(wd) {
                continue;
            }
            let at = |minute: u16, day: jiff::civil::Date| {
                day.at(0, 0, 0, 0) + SignedDuration::from_mins(i64::from(minute))
            };
            let start = at(w.start_minute, start_date);
            let end_day = if w.crosses_midnight() {
                start_date.tomorrow().unwrap()
            } else {
                start_date
            };
            let end = at(w.end_minute, end_day);
            inside |= start <= local && local < end;
        }
    }
    match s.form() {
        Form::Uptime => inside,
        Form::Downtime => !inside,
    }
}

const ZONES: [&str; 4] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
];

fn arb_schedule_text() -> impl Strategy<Value = String> {
    // Boundaries on a 30-minute grid, so DST hours (02:00, 02:30, 03:00) come up often.
    let time = (0u16..=48).prop_map(|half_hours| {
        let m = half_hours * 30;
        format!("{:02}:{:02}", m / 60, m % 60)
    });
    let window = (0usize..7, 0usize..7, time.clone(), time).prop_filter_map(
        "non-empty window",
        |(a, b, start, end)| {
            let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            let (s, e) = (parse_time(&start)?, parse_time(&end)?);
            let e = if e == 0 { MINUTES_PER_DAY } else { e };
            (s != e && s != MINUTES_PER_DAY)
                .then(|| format!("{}-{} {start}-{end}", days[a], days[b]))
        },
    );
    (
        proptest::collection::vec(window, 1..4),
        0usize..4,
        any::<bool>(),
        proptest::option::of((0u8..3, 0u8..28)),
    )
        .prop_map(|(windows, zone, downtime, dates)| {
            let mut text = String::new();
            if downtime {
                text.push_str("downtime ");
            }
            text.push_str(&windows.join(", "));
            text.push(' ');
            text.push_str(ZONES[zone]);
            // Holidays and exceptions near the transitions (March/April, October).
            if let Some((month, day)) = dates {
                let month = [3, 4, 10][usize::from(month)];
                text.push_str(&format!(" off 2026-{month:02}-{:02}", day + 1));
                text.push_str(&format!(" on 2026-{month:02}-{:02}", (day + 14) % 28 + 1));
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Around every DST transition of 2026 in each zone (and, for
    /// Asia/Kolkata, which has none, around the same dates), every minute
    /// is classified as the independent reading of its local wall time.
    #[test]
    fn every_minute_across_dst_matches_the_wall_clock_reading(text in arb_schedule_text()) {
        let s = Schedule::parse(&text).unwrap();
        let zone = s.zone().clone();
        let year_start = ts("2026-01-01T00:00:00Z");
        let mut centres: Vec<Timestamp> = zone
            .following(year_start)
            .take_while(|t| t.timestamp() < ts("2027-01-01T00:00:00Z"))
            .map(|t| t.timestamp())
            .collect();
        if centres.is_empty() {
            centres = vec![ts("2026-03-29T01:00:00Z"), ts("2026-10-25T01:00:00Z")];
        }
        prop_assert!(!centres.is_empty());
        for centre in centres {
            // 36 hours either side, minute by minute, plus a second before each minute.
            for m in -36 * 60..36 * 60 {
                let t = centre + SignedDuration::from_mins(m);
                for t in [t, t - SignedDuration::from_secs(1)] {
                    let local = zone.to_datetime(t);
                    prop_assert_eq!(s.is_up(t), reference(&s, local), "{} at {} ({})", text, t, local);
                }
            }
        }
    }

    /// Pre-warm is "up now or at some minute within the lead", checked
    /// minute by minute.
    #[test]
    fn prewarm_matches_a_minute_scan(text in arb_schedule_text(), lead in 0i64..180, offset in 0i64..(14 * 24 * 60)) {
        let s = Schedule::parse(&text).unwrap();
        let t = ts("2026-03-20T00:00:17Z") + SignedDuration::from_mins(offset);
        let scan = s.is_up(t)
            || (1..=lead).any(|k| s.is_up(Timestamp::from_second((t.as_second() / 60 + k) * 60).unwrap()));
        prop_assert_eq!(s.is_up_within(t, SignedDuration::from_mins(lead)), scan);
    }

    /// The parser never panics and every error points inside the text.
    #[test]
    fn parse_never_panics(text in "[ -~]{0,60}") {
        if let Err(e) = Schedule::parse(&text) {
            prop_assert!(e.offset <= text.len());
            prop_assert_eq!(text.get(e.offset..e.offset + e.token.len()), Some(e.token.as_str()));
        }
    }
}
