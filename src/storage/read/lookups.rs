//! Agents seen, Udesk's code lists, and rejected pushes.

use chrono::{DateTime, FixedOffset};
use rusqlite::Connection;

use crate::domain::UdeskId;
use crate::storage::StoreError;
use crate::storage::sql::{read_required_time, read_time};

/// An agent as the calls show them: the latest details by start time.
#[derive(Clone, Debug)]
pub struct Agent {
    pub agent_id: UdeskId,
    pub email: Option<String>,
    pub nick_name: Option<String>,
    pub group_id: Option<UdeskId>,
    pub group_name: Option<String>,
    pub call_count: i64,
    pub last_call_at: Option<DateTime<FixedOffset>>,
}

/// Every agent with at least one call, by id. The counts come from the agent
/// index alone; the details from each agent's latest call, one indexed
/// lookup per agent.
pub fn agents(conn: &Connection) -> Result<Vec<Agent>, StoreError> {
    let counts: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT agent_id, count(*) FROM calls WHERE agent_id IS NOT NULL
             GROUP BY agent_id ORDER BY agent_id",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut latest = conn.prepare_cached(
        "SELECT agent_email, agent_nick_name, user_group_id, user_group_name, started_at
         FROM calls WHERE agent_id = ?1
         ORDER BY started_at_ms DESC, conversation_id DESC LIMIT 1",
    )?;
    counts
        .into_iter()
        .map(|(agent_id, call_count)| {
            Ok(latest.query_row([agent_id], |row| {
                Ok(Agent {
                    agent_id: UdeskId(agent_id),
                    email: row.get(0)?,
                    nick_name: row.get(1)?,
                    group_id: row.get::<_, Option<i64>>(2)?.map(UdeskId),
                    group_name: row.get(3)?,
                    call_count,
                    last_call_at: read_time(row, 4)?,
                })
            })?)
        })
        .collect()
}

/// A code of Udesk's lists with its labels.
#[derive(Clone, Debug)]
pub struct CodeLabel {
    /// The code as pushed, e.g. `out_direct`.
    pub code: String,
    /// Udesk's Chinese label.
    pub name_zh: String,
    /// An English label.
    pub name_en: String,
}

/// Udesk's code lists kept in reference tables.
#[derive(Clone, Copy, Debug)]
pub enum CodeList {
    Occasions,
    Categories,
    Workflows,
}

pub fn code_list(conn: &Connection, list: CodeList) -> Result<Vec<CodeLabel>, StoreError> {
    let table = match list {
        CodeList::Occasions => "occasions",
        CodeList::Categories => "categories",
        CodeList::Workflows => "workflows",
    };
    // rowid order is the vendor document's order; WITHOUT ROWID tables have
    // none, so the code order is the stable choice.
    let sql = format!("SELECT code, name_zh, name_en FROM {table} ORDER BY code");
    Ok(conn
        .prepare_cached(&sql)?
        .query_map([], |row| {
            Ok(CodeLabel {
                code: row.get(0)?,
                name_zh: row.get(1)?,
                name_en: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

#[derive(Clone, Debug)]
pub struct DefeatCause {
    pub id: UdeskId,
    pub name: String,
    pub alias: String,
    pub description: String,
    pub description_en: String,
}

pub fn defeat_causes(conn: &Connection) -> Result<Vec<DefeatCause>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, alias, description, description_en FROM defeat_causes ORDER BY id",
        )?
        .query_map([], |row| {
            Ok(DefeatCause {
                id: UdeskId(row.get(0)?),
                name: row.get(1)?,
                alias: row.get(2)?,
                description: row.get(3)?,
                description_en: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// A body the webhook refused.
#[derive(Clone, Debug)]
pub struct RejectedPush {
    pub id: i64,
    pub received_at: DateTime<FixedOffset>,
    pub http_status: i64,
    pub error: String,
    pub content_type: Option<String>,
    /// The body as text; bytes that are not UTF-8 become U+FFFD.
    pub body: String,
}

/// Rejected pushes newest first, strictly older than `before_id`; one more
/// than `limit` is read to tell whether more exist.
pub fn rejected_pushes(
    conn: &Connection,
    before_id: Option<i64>,
    limit: usize,
) -> Result<(Vec<RejectedPush>, bool), StoreError> {
    let mut rows: Vec<RejectedPush> = conn
        .prepare_cached(
            "SELECT id, received_at, http_status, error, content_type, body FROM rejected_pushes
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?
        .query_map(
            rusqlite::params![before_id.unwrap_or(i64::MAX), limit as i64 + 1],
            |row| {
                Ok(RejectedPush {
                    id: row.get(0)?,
                    received_at: read_required_time(row, 1)?,
                    http_status: row.get(2)?,
                    error: row.get(3)?,
                    content_type: row.get(4)?,
                    body: String::from_utf8_lossy(row.get_ref(5)?.as_bytes()?).into_owned(),
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, has_more))
}

pub fn count_rejected_pushes(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM rejected_pushes", [], |row| row.get(0))?)
}

/// Whether a rejected push with this id or a newer one exists (the pages
/// before a cursor).
pub fn any_rejected_from(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM rejected_pushes WHERE id >= ?1)",
        [id],
        |row| row.get(0),
    )?)
}
