//! The calls of a span as a spreadsheet or a data tool takes them: CSV
//! (UTF-8 with a byte-order mark, so Excel keeps Chinese intact; CRLF rows
//! as RFC 4180 has them) or NDJSON, one call a row, `calls_readable`'s
//! columns. Shared by `udesk-calls export` and `GET /export/calls.csv`,
//! which hand it the store's pages one at a time.
//!
//! A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` as a
//! formula, and a customer's name or a custom field comes from outside:
//! such a text cell is written behind a `'` in CSV (a cell that is wholly
//! a number or a phone number, like `+8613800138000`, is left as it is).
//! NDJSON keeps every value exactly.

use chrono::{DateTime, Days, FixedOffset, NaiveTime, Utc};
use serde_json::Value;

use crate::config::parse_instant;

use crate::storage::export::{Cell, ExportPage};

/// What an export is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Encodes an export's pages, each into its own bytes.
#[derive(Debug)]
pub struct Encoder {
    format: Format,
    started: bool,
}

impl Encoder {
    pub fn new(format: Format) -> Encoder {
        Encoder {
            format,
            started: false,
        }
    }

    /// The bytes of `page`; the first page's begin with the byte-order mark
    /// and the header row (CSV).
    pub fn page(&mut self, page: &ExportPage) -> Vec<u8> {
        let mut out = Vec::new();
        match self.format {
            Format::Csv => {
                if !self.started {
                    out.extend_from_slice("\u{feff}".as_bytes());
                }
                let mut writer = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(&mut out);
                if !self.started {
                    write_csv_row(&mut writer, page.columns.iter().map(String::as_bytes));
                }
                for row in &page.rows {
                    let texts: Vec<String> = row.iter().map(csv_text).collect();
                    write_csv_row(&mut writer, texts.iter().map(String::as_bytes));
                }
                drop(writer);
            }
            Format::Ndjson => {
                // Written by hand to keep the view's column order.
                for row in &page.rows {
                    out.push(b'{');
                    for (index, (column, cell)) in page.columns.iter().zip(row).enumerate() {
                        if index > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(Value::from(column.as_str()).to_string().as_bytes());
                        out.push(b':');
                        out.extend_from_slice(json_value(cell).to_string().as_bytes());
                    }
                    out.extend_from_slice(b"}\n");
                }
            }
        }
        self.started = true;
        out
    }
}

/// The span an export asks for, its ends named `names` in what it is told:
/// both ends (a time or a date, read in `offset`), or neither for today
/// (midnight to midnight in `offset`).
pub fn span_asked(
    from: Option<&str>,
    to: Option<&str>,
    names: (&str, &str),
    offset: FixedOffset,
    now: DateTime<Utc>,
) -> Result<(DateTime<FixedOffset>, DateTime<FixedOffset>), String> {
    let (from_name, to_name) = names;
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (
            parse_instant(from, offset).map_err(|problem| format!("{from_name}: {problem}"))?,
            parse_instant(to, offset).map_err(|problem| format!("{to_name}: {problem}"))?,
        ),
        (None, None) => {
            let today = now.with_timezone(&offset).date_naive();
            let midnight = |date: chrono::NaiveDate| {
                date.and_time(NaiveTime::MIN)
                    .and_local_timezone(offset)
                    .single()
                    .expect("a fixed offset has every local time once")
            };
            let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
            (midnight(today), midnight(tomorrow))
        }
        _ => {
            return Err(format!(
                "give both `{from_name}` and `{to_name}` (the calls that started from one and before the other), or neither for today's calls"
            ));
        }
    };
    if from >= to {
        return Err(format!("`{from_name}` must come before `{to_name}`"));
    }
    Ok((from, to))
}

fn write_csv_row<'a>(
    writer: &mut csv::Writer<&mut Vec<u8>>,
    fields: impl Iterator<Item = &'a [u8]>,
) {
    // Writing to memory cannot fail.
    writer
        .write_record(fields)
        .expect("a CSV row is written to memory");
}

fn csv_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Integer(number) => number.to_string(),
        Cell::Real(number) => number.to_string(),
        Cell::Text(text) if runs_as_formula(text) => format!("'{text}"),
        Cell::Text(text) => text.clone(),
    }
}

/// Whether a spreadsheet would read `text` as a formula (OWASP's list):
/// it begins with `=`, `+`, `-`, `@`, a tab or a carriage return, unless
/// the whole of it is a signed number or phone number
/// (`+8613800138000`, `-5`, `+86 (10) 1234-5678`).
fn runs_as_formula(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => {
            let rest = chars.as_str();
            let number_like = rest.starts_with(|c: char| c.is_ascii_digit())
                && rest
                    .chars()
                    .all(|c| c.is_ascii_digit() || " ().-".contains(c));
            !number_like
        }
        _ => false,
    }
}

fn json_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Integer(number) => Value::from(*number),
        Cell::Real(number) => Value::from(*number),
        Cell::Text(text) => Value::from(text.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(rows: Vec<Vec<Cell>>) -> ExportPage {
        ExportPage {
            columns: vec!["conversation_id".into(), "customer_name".into()],
            rows,
            next: None,
        }
    }

    #[test]
    fn csv_begins_with_a_byte_order_mark_and_the_header_once() {
        let mut encoder = Encoder::new(Format::Csv);
        let first = encoder.page(&page(vec![vec![
            Cell::Integer(1),
            Cell::Text("张三, \"老王\"".into()),
        ]]));
        let second = encoder.page(&page(vec![vec![Cell::Integer(2), Cell::Null]]));
        assert_eq!(
            String::from_utf8(first).unwrap(),
            "\u{feff}conversation_id,customer_name\r\n1,\"张三, \"\"老王\"\"\"\r\n"
        );
        assert_eq!(String::from_utf8(second).unwrap(), "2,\r\n");
    }

    #[test]
    fn a_text_a_spreadsheet_would_run_is_written_behind_an_apostrophe() {
        for (text, written) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-cmd", "'-cmd"),
            ("+8613800138000", "+8613800138000"),
            ("+86 (10) 1234-5678", "+86 (10) 1234-5678"),
            ("-5", "-5"),
            ("-1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0"),
            ("+1+HYPERLINK(\"x\")", "'+1+HYPERLINK(\"x\")"),
            ("王", "王"),
        ] {
            assert_eq!(csv_text(&Cell::Text(text.into())), written);
        }
    }

    #[test]
    fn no_span_is_today_in_the_services_offset() {
        let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
        let now = "2024-05-01T20:30:00Z".parse().unwrap();
        let (from, to) = span_asked(None, None, ("from", "to"), beijing, now).unwrap();
        assert_eq!(from.to_rfc3339(), "2024-05-02T00:00:00+08:00");
        assert_eq!(to.to_rfc3339(), "2024-05-03T00:00:00+08:00");
    }

    #[test]
    fn a_span_with_one_end_or_backwards_is_refused_naming_the_ends() {
        let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
        let names = ("--from", "--to");
        let half = span_asked(Some("2024-05-01"), None, names, beijing, Utc::now());
        assert!(half.unwrap_err().contains("both `--from` and `--to`"));
        let backwards = span_asked(
            Some("2024-05-02"),
            Some("2024-05-01"),
            names,
            beijing,
            Utc::now(),
        );
        assert!(
            backwards
                .unwrap_err()
                .contains("`--from` must come before `--to`")
        );
    }

    #[test]
    fn ndjson_keeps_every_value_exactly() {
        let mut encoder = Encoder::new(Format::Ndjson);
        let bytes = encoder.page(&page(vec![vec![
            Cell::Integer(7),
            Cell::Text("=1+1".into()),
        ]]));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"conversation_id\":7,\"customer_name\":\"=1+1\"}\n"
        );
    }
}
