//! A user's mailboxes a page at a time, and one mailbox's children, from the
//! `(user_id, name)` index in byte order of the names (specs/limits.md, LIM-17):
//! what LIST, SELECT and STATUS read, in time and memory that do not grow with the
//! number of mailboxes a user has (one conversation folder per chat, without end).
//!
//! Keyset pagination: a page is the names after the last one the previous page
//! read, `LIMIT` rows; a LIST prefix narrows the range the index is read over. Not
//! here: matching LIST patterns (`imap/pattern.rs`; its function comes in as
//! [`ListQuery::keep`]) and building the answer (`imap/list.rs`).

use crate::mailstore::{ListPage, ListQuery, MailboxListing};
use crate::store::layout::DELIMITER;
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
    let mut last = None;
    for r in &rows {
        let name = r.text(0)?;
        if (query.keep)(&name) {
            out.mailboxes.push(MailboxListing {
                name: name.clone(),
                has_children: r.int(1)? != 0,
            });
        }
        last = Some(name);
    }
    if rows.len() as i64 >= limit {
        out.next = last;
    }
    Ok(out)
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
