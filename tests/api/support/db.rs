//! Read-only views of a database file, for comparisons.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use udesk_calls::domain::CollectionKind;
use udesk_calls::storage::bodies::Bodies;
use udesk_calls::storage::bodies::chains::{BodyReader, StoredBody};

pub fn open_read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the database file opens")
}

/// A stored push read back: its call, Content-Type and body as received.
pub struct EventBody {
    pub conversation_id: i64,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Every stored push in arrival order, its body as received (compressed
/// ones decompressed, deltas applied to their bases).
pub fn events_as_received(db: &Path) -> Vec<EventBody> {
    let conn = open_read_only(db);
    let bodies = Bodies::load(&conn).unwrap();
    let mut reader = BodyReader::new(&bodies, &conn, 16);
    let rows: Vec<(StoredBody, i64, Option<String>)> = conn
        .prepare(
            "SELECT id, body, body_dictionary, body_base, conversation_id, content_type
             FROM events ORDER BY id",
        )
        .unwrap()
        .query_map([], |row| {
            let stored = StoredBody {
                event_id: row.get(0)?,
                stored: row.get_ref(1)?.as_bytes()?.to_vec(),
                dictionary: row.get(2)?,
                base: row.get(3)?,
            };
            Ok((stored, row.get(4)?, row.get(5)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.into_iter()
        .map(|(stored, conversation_id, content_type)| EventBody {
            conversation_id,
            content_type,
            body: reader.read(stored).unwrap(),
        })
        .collect()
}

/// The bodies of every stored event as received, as text.
pub fn event_bodies(db: &Path) -> std::collections::HashSet<String> {
    events_as_received(db)
        .into_iter()
        .map(|event| String::from_utf8(event.body).unwrap())
        .collect()
}

pub fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Every row of a query, each column rendered as text, for comparisons.
pub fn rows(db: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut statement = db.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(v) => String::from_utf8_lossy(v).into(),
                        rusqlite::types::ValueRef::Blob(v) => format!("blob:{}", v.len()),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The merged picture of every call: `calls` and its collections, without
/// the columns that record when this particular database received things.
pub fn projection_dump(db: &Connection) -> Vec<(String, Vec<Vec<String>>)> {
    let call_columns: Vec<String> = rows(db, "SELECT name FROM pragma_table_info('calls')")
        .into_iter()
        .map(|row| row[0].clone())
        .filter(|name| !matches!(name.as_str(), "first_received_at" | "last_received_at"))
        .collect();
    let mut dump = vec![(
        "calls".to_owned(),
        rows(
            db,
            &format!(
                "SELECT {} FROM calls ORDER BY conversation_id",
                call_columns.join(", ")
            ),
        ),
    )];
    for table in CollectionKind::ALL.iter().map(|kind| kind.table()) {
        dump.push((
            table.to_string(),
            rows(
                db,
                &format!("SELECT * FROM {table} ORDER BY conversation_id, position"),
            ),
        ));
    }
    dump
}

/// Waits until the upkeep has compressed every body it can.
pub fn wait_until_compressed(db: &Path) {
    let started = Instant::now();
    loop {
        let conn = open_read_only(db);
        let raw = count(
            &conn,
            "SELECT count(*) FROM events WHERE body_dictionary IS NULL",
        );
        if raw == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{raw} bodies still stored as received: {:?}",
            rows(
                &conn,
                "SELECT id, length(body), typeof(body) FROM events WHERE body_dictionary IS NULL"
            )
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
