use super::*;

const BEIJING: i32 = 8 * 3600;

/// 2024-01-01 00:00 in Beijing, Unix milliseconds.
const NEW_YEAR: i64 = 1_704_038_400_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn day_rows(from: &str, to: &str) -> Source {
    Source::Rollup {
        family: Family::Totals,
        grain: Grain::Day,
        from: Some(from.into()),
        to: Some(to.into()),
    }
}

fn hour_rows(from: &str, to: &str) -> Source {
    Source::Rollup {
        family: Family::Totals,
        grain: Grain::Hour,
        from: Some(from.into()),
        to: Some(to.into()),
    }
}

#[test]
fn whole_days_are_read_from_the_day_table() {
    let sources = sources(
        Family::Totals,
        Some(NEW_YEAR),
        Some(NEW_YEAR + 30 * DAY),
        false,
        BEIJING,
    );
    assert_eq!(sources, vec![day_rows("2024-01-01", "2024-01-31")]);
}

#[test]
fn hours_at_either_end_come_from_the_hour_table_and_minutes_from_calls() {
    let from = NEW_YEAR + 22 * HOUR + 90_000; // 22:01:30
    let to = NEW_YEAR + 2 * DAY + 3 * HOUR + 60_000; // two days later, 03:01
    let sources = sources(Family::Totals, Some(from), Some(to), false, BEIJING);
    assert_eq!(
        sources,
        vec![
            Source::Calls {
                from_ms: Some(from),
                to_ms: Some(NEW_YEAR + 23 * HOUR)
            },
            Source::Calls {
                from_ms: Some(NEW_YEAR + 2 * DAY + 3 * HOUR),
                to_ms: Some(to)
            },
            day_rows("2024-01-02", "2024-01-03"),
            hour_rows("2024-01-01 23:00", "2024-01-02 00:00"),
            hour_rows("2024-01-03 00:00", "2024-01-03 03:00"),
        ]
    );
}

#[test]
fn a_range_within_one_hour_reads_calls_only() {
    let from = NEW_YEAR + 60_000;
    let sources = sources(
        Family::ByAgent,
        Some(from),
        Some(from + 600_000),
        false,
        BEIJING,
    );
    assert_eq!(
        sources,
        vec![Source::Calls {
            from_ms: Some(from),
            to_ms: Some(from + 600_000)
        }]
    );
}

#[test]
fn grouping_by_hour_reads_hours_and_no_range_reads_everything() {
    let sources_by_hour = sources(
        Family::Totals,
        Some(NEW_YEAR),
        Some(NEW_YEAR + DAY),
        true,
        BEIJING,
    );
    assert_eq!(
        sources_by_hour,
        vec![hour_rows("2024-01-01 00:00", "2024-01-02 00:00")]
    );
    let everything = sources(Family::Totals, None, None, false, BEIJING);
    assert_eq!(
        everything,
        vec![Source::Rollup {
            family: Family::Totals,
            grain: Grain::Day,
            from: None,
            to: None
        }]
    );
}

#[test]
fn filters_on_kept_columns_pick_the_smallest_family_that_keeps_them() {
    let filter = CallFilter {
        call_results: Some(vec!["客户接听".into()]),
        ..CallFilter::default()
    };
    let columns = filtered_columns(&filter).unwrap();
    assert_eq!(family_for(&columns), Some(Family::ByResult));
    assert_eq!(family_for(&[]), Some(Family::Totals));
    assert_eq!(family_for(&["category"]), Some(Family::ByCategory));
    assert_eq!(
        family_for(&["call_result", "defeat_cause"]),
        Some(Family::ByOutcome)
    );
    assert_eq!(family_for(&["agent_id", "call_result"]), None);
    let phone = CallFilter {
        customer_phones: Some(vec!["13800000000".into()]),
        ..CallFilter::default()
    };
    assert_eq!(filtered_columns(&phone), None);
}
