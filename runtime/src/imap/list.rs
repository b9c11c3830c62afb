//! LIST and LSUB answered as a stream (specs/limits.md, LIM-17): the matching
//! mailboxes are read from the store a page at a time ([`MailStore::list_page`],
//! keyset pagination in byte order of the names, the pattern's literal prefix
//! narrowing the range read) and each page's answer lines are sent before the next
//! page is read, so neither the store read nor the answer is ever held whole, and
//! its cost per page does not depend on how many mailboxes the user has.
//!
//! Not here: the pattern matcher (`pattern.rs`), the store's query
//! (`store/mail_list.rs`), the connection loop that asks for the next page once the
//! previous one is sent (`conn.rs`).

use cpmd_core::UserUri;
use imap_next::imap_types::core::{Atom, QuotedChar, Tag};
use imap_next::imap_types::flag::FlagNameAttribute;
use imap_next::imap_types::response::Data;

use super::pattern::{list_matches, DELIMITER};
use super::session::{ok, to_mailbox, Out};
use crate::mailstore::{ListPage, ListQuery, MailResult, MailStore, LIST_PAGE};

/// A LIST or LSUB under way: what it matches and where the next page starts.
#[derive(Debug)]
pub struct Listing {
    tag: Tag<'static>,
    pattern: String,
    prefix: String,
    after: Option<String>,
    lsub: bool,
}

/// What the next page of a [`Listing`] is read with (moved to a store thread).
#[derive(Debug, Clone)]
pub struct PageQuery {
    pattern: String,
    prefix: String,
    after: Option<String>,
}

/// The part of a LIST pattern before its first wildcard: every name it matches
/// starts with it. `INBOX`, matched without regard to case, is its own prefix.
pub fn literal_prefix(pattern: &str) -> String {
    if pattern.eq_ignore_ascii_case("INBOX") {
        return "INBOX".to_owned();
    }
    pattern
        .split(['*', '%'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Listing {
    /// A listing of the names `pattern` (reference and pattern joined) matches.
    pub fn new(tag: Tag<'static>, pattern: String, lsub: bool) -> Self {
        Self {
            tag,
            prefix: literal_prefix(&pattern),
            pattern,
            after: None,
            lsub,
        }
    }

    /// The query of the next page.
    pub fn query(&self) -> PageQuery {
        PageQuery {
            pattern: self.pattern.clone(),
            prefix: self.prefix.clone(),
            after: self.after.clone(),
        }
    }

    /// The answer lines of a page read with [`Listing::query`]; after the last
    /// page, the tagged OK too. Returns whether the listing is complete.
    pub fn answer(&mut self, page: ListPage, out: &mut Vec<Out>) -> bool {
        let delimiter = QuotedChar::try_from(DELIMITER).ok();
        for b in page.mailboxes {
            let child = if b.has_children {
                "HasChildren"
            } else {
                "HasNoChildren"
            };
            let items = vec![FlagNameAttribute::from(Atom::unvalidated(child))];
            let mailbox = to_mailbox(&b.name);
            out.push(Out::Data(if self.lsub {
                Data::Lsub {
                    items,
                    delimiter,
                    mailbox,
                }
            } else {
                Data::List {
                    items,
                    delimiter,
                    mailbox,
                }
            }));
        }
        match page.next {
            Some(next) => {
                self.after = Some(next);
                false
            }
            None => {
                let done = if self.lsub {
                    "LSUB completed"
                } else {
                    "LIST completed"
                };
                out.push(ok(self.tag.clone(), done));
                true
            }
        }
    }

    /// The tag of the command, for a failure answer.
    pub fn tag(&self) -> Tag<'static> {
        self.tag.clone()
    }
}

/// Reads pages (blocking; on a store thread) until one has a matching mailbox or
/// the listing ends, so an answer page is never empty but the last. Each page
/// reads at most [`LIST_PAGE`] rows; the matcher runs here, off the event loop
/// (LIM-4).
pub fn next_page(s: &dyn MailStore, user: &UserUri, q: &PageQuery) -> MailResult<ListPage> {
    let keep = |name: &str| list_matches(&q.pattern, name);
    let mut after = q.after.clone();
    loop {
        let page = s.list_page(
            user,
            &ListQuery {
                prefix: &q.prefix,
                after: after.as_deref(),
                limit: LIST_PAGE,
                keep: &keep,
            },
        )?;
        if !page.mailboxes.is_empty() || page.next.is_none() {
            return Ok(page);
        }
        after = page.next;
    }
}
