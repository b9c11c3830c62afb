//! A user's mailboxes a page at a time, and one mailbox's children, from the
//! `(user_id, name)` index in byte order of the names (specs/limits.md, LIM-17):
//! what LIST, SELECT and STATUS read, in time and memory that do not grow with the
//! number of mailboxes a user has (one conversation folder per chat, without end).
//!
//! Keyset pagination: a page is the names after the last one the previous page
//! read, `LIMIT` rows; a LIST prefix narrows the range the index is read over. A
//! conversation folder without a row (STORE-15) is listed from its session
//! folders, as the parent of the first one a page reads. Not
//! here: matching LIST patterns (`imap/pattern.rs`; its function comes in as
//! [`ListQuery::keep`]) and building the answer (`imap/list.rs`).

use crate::mailstore::{ListPage, ListQuery, MailboxListing};
use crate::store::layout::{self, DELIMITER};
use crate::store::sql::{Conn, DbError, Val};

/// The smallest string above every string that starts with `prefix`, in byte
/// (code point) order; `None` when there is none (an empty prefix, or one of
/// `char::MAX` only).
pub fn after_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        let next = match u32::from(c) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// One page of the user's mailboxes (see [`ListQuery`]).
pub fn page<C: Conn + ?Sized>(
    conn: &mut C,
    user_id: i64,
    query: &ListQuery<'_>,
) -> Result<ListPage, DbError> {
    let by = conn.byte_order();
    // Whether a row has children is one probe of the same index, inside the query
    // (a round trip per row would cost more than the probe).
    let mut sql = format!(
        "SELECT m.name, CASE WHEN EXISTS (SELECT 1 FROM mailboxes c WHERE c.user_id = $1 \
         AND c.name{by} >= m.name || '{DELIMITER}' AND c.name{by} < m.name || '{AFTER_DELIMITER}') \
         THEN 1 ELSE 0 END FROM mailboxes m WHERE m.user_id = $1 AND m.name{by} >= $2"
    );
    let mut params: Vec<Val> = vec![user_id.into(), query.prefix.into()];
    if let Some(after) = query.after {
        params.push(after.into());
        sql.push_str(&format!(" AND m.name{by} > ${}", params.len()));
    }
    if let Some(end) = after_prefix(query.prefix) {
        params.push(end.into());
        sql.push_str(&format!(" AND m.name{by} < ${}", params.len()));
    }
    let limit = i64::try_from(query.limit.max(1)).unwrap_or(i64::MAX);
    params.push(limit.into());
    sql.push_str(&format!(" ORDER BY m.name{by} LIMIT ${}", params.len()));
    let rows = conn.query(&sql, &params)?;
    let mut out = ListPage {
        read: rows.len(),
        ..ListPage::default()
    };
    let mut names = Vec::with_capacity(rows.len());
    for r in &rows {
        let name = r.text(0)?;
        if (query.keep)(&name) {
            out.mailboxes.push(MailboxListing {
                name: name.clone(),
                has_children: r.int(1)? != 0,
            });
        }
        names.push(name);
    }
    for name in implicit_parents(conn, user_id, query, &names)? {
        if (query.keep)(&name) {
            out.mailboxes.push(MailboxListing {
                name,
                has_children: true,
            });
        }
    }
    out.mailboxes.sort_by(|a, b| a.name.cmp(&b.name));
    if rows.len() as i64 >= limit {
        out.next = names.pop();
    }
    Ok(out)
}

/// The conversation folders without a row (STORE-15) that this page lists: the
/// parent of the first child of each, in byte order (a folder's children are
/// contiguous in that order, so the first is the one whose predecessor, the
/// previous row or the previous page's last, is not one of them). A parent in
/// the page's range is a row of the page if it has one; one at or before the
/// previous page's last name (it sorts before its first child, and names such as
/// `<parent>-x` may lie between them) is looked up, in one query. Such a parent
/// is answered in this page, after the previous page's names (rare: it needs a
/// Conversation-ID that another extends with a character below `/`); every
/// other name keeps its byte order.
fn implicit_parents<C: Conn + ?Sized>(
    conn: &mut C,
    user_id: i64,
    query: &ListQuery<'_>,
    names: &[String],
) -> Result<Vec<String>, DbError> {
    let mut found = Vec::new();
    let mut look_up = Vec::new();
    let mut rows = std::collections::HashSet::new();
    let mut prev = query.after;
    for name in names {
        if layout::is_conversation_mailbox(name) {
            rows.insert(name.as_str());
        }
        let parent = layout::parent_conversation_mailbox(name);
        if let Some(p) = parent.filter(|p| *p >= query.prefix) {
            let first = prev.and_then(layout::parent_conversation_mailbox) != Some(p);
            if first {
                if query.after.is_some_and(|after| p <= after) {
                    look_up.push(p);
                } else if !rows.contains(p) {
                    found.push(p.to_owned());
                }
            }
        }
        prev = Some(name);
    }
    if !look_up.is_empty() {
        let list: Vec<String> = (0..look_up.len()).map(|i| format!("${}", i + 2)).collect();
        let mut params: Vec<Val> = vec![user_id.into()];
        params.extend(look_up.iter().map(|p| Val::from(*p)));
        let existing = conn.query(
            &format!(
                "SELECT name FROM mailboxes WHERE user_id = $1 AND name IN ({})",
                list.join(", ")
            ),
            &params,
        )?;
        let existing: Vec<String> = existing
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<_, _>>()?;
        found.extend(
            look_up
                .into_iter()
                .filter(|p| !existing.iter().any(|e| e == p))
                .map(str::to_owned),
        );
    }
    Ok(found)
}

/// The character after [`DELIMITER`] (`/` + 1): `name/…` sorts below `name0`.
const AFTER_DELIMITER: char = '0';

/// Whether the user has a mailbox under `name` (`name/…`): one index probe.
pub fn has_children<C: Conn + ?Sized>(
    conn: &mut C,
    user_id: i64,
    name: &str,
) -> Result<bool, DbError> {
    let by = conn.byte_order();
    let lo = format!("{name}{DELIMITER}");
    let hi = format!("{name}{AFTER_DELIMITER}");
    let row = conn.query_opt(
        &format!(
            "SELECT 1 FROM mailboxes WHERE user_id = $1 AND name{by} >= $2 AND name{by} < $3 \
             LIMIT 1"
        ),
        &[user_id.into(), lo.into(), hi.into()],
    )?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_prefix_bounds_every_extension() {
        assert_eq!(
            after_prefix(&DELIMITER.to_string()),
            Some(AFTER_DELIMITER.to_string())
        );
        assert_eq!(after_prefix("Default/"), Some("Default0".to_owned()));
        assert_eq!(after_prefix("ab"), Some("ac".to_owned()));
        assert_eq!(after_prefix(""), None);
        assert_eq!(after_prefix("a\u{10FFFF}"), Some("b".to_owned()));
        assert_eq!(after_prefix("\u{D7FF}"), Some("\u{E000}".to_owned()));
        for name in ["Default/", "Default/x", "Default/\u{10FFFF}\u{10FFFF}"] {
            assert!(name < after_prefix("Default/").unwrap().as_str());
        }
    }
}
