//! One IMAP connection's state (not authenticated, authenticated, selected) and
//! what each command does to it: the answers it produces from the [`MailStore`].
//!
//! The connection driver (`conn.rs`) owns the socket and the protocol flows
//! (literals, AUTHENTICATE, IDLE); this file only turns decoded commands into
//! responses. The user is fixed at login and every store call names that user: a
//! client cannot reach another user's store.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;

use cpmd_core::UserUri;
use imap_next::imap_types::auth::AuthMechanism;
use imap_next::imap_types::command::{
    Command, CommandBody, FetchModifier, SelectParameter, StoreModifier,
};
use imap_next::imap_types::core::{AString, Charset, IString, QuotedChar, Tag, Text, Vec1};
use imap_next::imap_types::extensions::enable::CapabilityEnable;
use imap_next::imap_types::extensions::namespace::Namespace;
use imap_next::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItem};
use imap_next::imap_types::flag::{Flag, FlagNameAttribute, FlagPerm, StoreResponse, StoreType};
use imap_next::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_next::imap_types::response::{
    Capability, Code, CodeOther, Data, Status, StatusBody, StatusKind, Tagged,
};
use imap_next::imap_types::search::SearchKey;
use imap_next::imap_types::sequence::SequenceSet;
use imap_next::imap_types::status::{StatusDataItem, StatusDataItemName};

use super::auth::Users;
use super::fetch;
use super::list::{self, Listing};
use super::login_limit::{gate_login, Login};
use super::message::Parsed;
use super::pattern::{resolve, DELIMITER, MAX_LIST_PATTERN};
use super::search::{self, Candidate, Largest};
use super::tls::Security;
use crate::mailstore::{
    FlagChange, MailError, MailFlag, MailObject, MailResult, MailStore, MailSummary, MailboxStatus,
};

/// What every connection shares: the store and the users.
#[derive(Clone)]
pub struct Shared {
    /// The mailbox view of the store.
    pub store: Arc<dyn MailStore>,
    /// Who may log in.
    pub users: Users,
}

/// A response to send.
#[derive(Debug)]
pub enum Out {
    /// Untagged data.
    Data(Data<'static>),
    /// A status (tagged, untagged or BYE).
    Status(Status<'static>),
}

/// Whether the connection goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// Close once the responses are sent (LOGOUT).
    Close,
    /// Send the responses, then begin the TLS handshake (STARTTLS accepted).
    StartTls,
}

/// The selected mailbox as this client knows it: UIDs by sequence number and the
/// MODSEQ last reported for each, so that changes can be announced.
#[derive(Debug)]
struct Selected {
    name: String,
    read_only: bool,
    uids: Vec<u32>,
    modseqs: BTreeMap<u32, u64>,
}

impl Selected {
    fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids
            .binary_search(&uid)
            .ok()
            .and_then(|i| u32::try_from(i + 1).ok())
    }

    fn count(&self) -> u32 {
        u32::try_from(self.uids.len()).unwrap_or(u32::MAX)
    }
}

/// What a command needs before it may run (RFC 3501 §6: the state it is valid in).
enum Need {
    Nothing,
    Auth,
    Selected,
}

fn needs(body: &CommandBody<'_>) -> Need {
    match body {
        CommandBody::Capability
        | CommandBody::Noop
        | CommandBody::Logout
        | CommandBody::Login { .. }
        | CommandBody::Authenticate { .. }
        | CommandBody::Idle
        | CommandBody::Check
        | CommandBody::StartTLS => Need::Nothing,
        CommandBody::Namespace
        | CommandBody::Enable { .. }
        | CommandBody::List { .. }
        | CommandBody::Lsub { .. }
        | CommandBody::Status { .. }
        | CommandBody::Select { .. }
        | CommandBody::Examine { .. }
        | CommandBody::Subscribe { .. }
        | CommandBody::Unsubscribe { .. }
        | CommandBody::Create { .. }
        | CommandBody::Delete { .. }
        | CommandBody::Rename { .. }
        | CommandBody::Append { .. }
        | CommandBody::Compress { .. }
        | CommandBody::GetQuota { .. }
        | CommandBody::GetQuotaRoot { .. }
        | CommandBody::SetQuota { .. } => Need::Auth,
        CommandBody::Unselect
        | CommandBody::Close
        | CommandBody::Expunge
        | CommandBody::ExpungeUid { .. }
        | CommandBody::Search { .. }
        | CommandBody::Sort { .. }
        | CommandBody::Thread { .. }
        | CommandBody::Fetch { .. }
        | CommandBody::Store { .. }
        | CommandBody::Copy { .. }
        | CommandBody::Move { .. } => Need::Selected,
    }
}

/// A FETCH as decoded.
struct FetchRequest<'r> {
    set: &'r SequenceSet,
    items: &'r MacroOrMessageDataItemNames<'static>,
    by_uid: bool,
    modifiers: &'r [FetchModifier],
}

/// A STORE as decoded.
struct StoreRequest<'r> {
    set: &'r SequenceSet,
    change: FlagChange,
    silent: bool,
    flags: &'r [Flag<'static>],
    by_uid: bool,
    unchanged_since: Option<u64>,
}

/// One connection's IMAP state.
pub struct Session {
    shared: Shared,
    user: Option<UserUri>,
    selected: Option<Selected>,
    /// CONDSTORE enabled (RFC 7162 §3.1): FETCH answers carry MODSEQ.
    condstore: bool,
    /// What the transport allows: STARTTLS offered, plain-text login accepted.
    security: Security,
    /// The client's address (SEC-4f).
    source: std::net::IpAddr,
    /// A LIST or LSUB whose answer is still being streamed (LIM-17).
    listing: Option<Listing>,
}

/// Text for a status line: no control characters, never empty.
fn text(s: &str) -> Text<'static> {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    Text::try_from(clean).unwrap_or_else(|_| Text::unvalidated("-"))
}

fn tagged(tag: Tag<'static>, kind: StatusKind, code: Option<Code<'static>>, t: &str) -> Out {
    Out::Status(Status::Tagged(Tagged {
        tag,
        body: StatusBody {
            kind,
            code,
            text: text(t),
        },
    }))
}

/// A tagged OK.
pub fn ok(tag: Tag<'static>, t: &str) -> Out {
    tagged(tag, StatusKind::Ok, None, t)
}

/// A tagged NO.
/// The text of a login refused for too many failures (SEC-4f; IMAP has no
/// Retry-After, the text says it).
pub fn blocked_text(wait: std::time::Duration) -> String {
    format!(
        "too many failed logins; retry in {} s",
        wait.as_millis().div_ceil(1000).max(1)
    )
}

pub fn no(tag: Tag<'static>, t: &str) -> Out {
    tagged(tag, StatusKind::No, None, t)
}

/// A tagged `NO [PRIVACYREQUIRED]` (RFC 5530): login refused before STARTTLS
/// (specs/tls.md, TLS-5).
pub fn privacy_required(tag: Tag<'static>) -> Out {
    tagged(
        tag,
        StatusKind::No,
        Some(Code::Other(CodeOther::unvalidated(&b"PRIVACYREQUIRED"[..]))),
        "LOGINDISABLED: use STARTTLS (or port 993) first",
    )
}

/// A tagged `NO [LIMIT]` (RFC 5530): the command ran into one of the server's
/// limits (specs/imap.md, IMAP-7).
pub fn limit(tag: Tag<'static>, t: &str) -> Out {
    tagged(
        tag,
        StatusKind::No,
        Some(Code::Other(CodeOther::unvalidated(&b"LIMIT"[..]))),
        t,
    )
}

/// A tagged BAD.
pub fn bad(tag: Tag<'static>, t: &str) -> Out {
    tagged(tag, StatusKind::Bad, None, t)
}

/// An untagged status with a response code.
fn untagged(code: Code<'static>, t: &str) -> Out {
    Out::Status(Status::Untagged(StatusBody {
        kind: StatusKind::Ok,
        code: Some(code),
        text: text(t),
    }))
}

/// The capabilities advertised (greeting, CAPABILITY) on a connection with `security`: `STARTTLS` where
/// offered, `LOGINDISABLED` (and no `AUTH=PLAIN`) where login must wait for TLS.
pub fn capabilities_for(security: Security) -> Vec1<Capability<'static>> {
    let mut caps = vec![Capability::Imap4Rev1];
    if security.starttls {
        caps.push(Capability::StartTls);
    }
    if security.login {
        caps.push(Capability::Auth(AuthMechanism::Plain));
    } else {
        caps.push(Capability::LoginDisabled);
    }
    caps.extend([
        Capability::SaslIr,
        Capability::Idle,
        Capability::CondStore,
        Capability::Namespace,
        Capability::UidPlus,
        Capability::Enable,
        Capability::Unselect,
    ]);
    Vec1::try_from(caps).expect("the list is not empty")
}

fn mailbox_name(m: &Mailbox<'_>) -> String {
    match m {
        Mailbox::Inbox => "INBOX".into(),
        Mailbox::Other(o) => String::from_utf8_lossy(o.inner().as_ref()).into_owned(),
    }
}

/// A mailbox name as the codec sends it.
pub(super) fn to_mailbox(name: &str) -> Mailbox<'static> {
    Mailbox::from(AString::try_from(name.to_owned()).unwrap_or_else(|_| {
        AString::from(imap_next::imap_types::core::Atom::unvalidated("INVALID"))
    }))
}

fn list_text(m: &ListMailbox<'_>) -> String {
    match m {
        ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
        ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
    }
}

fn mail_flags(flags: &[Flag<'_>]) -> BTreeSet<MailFlag> {
    flags
        .iter()
        .filter_map(|f| match f {
            Flag::Seen => Some(MailFlag::Seen),
            Flag::Deleted => Some(MailFlag::Deleted),
            Flag::Flagged => Some(MailFlag::Flagged),
            Flag::Answered => Some(MailFlag::Answered),
            Flag::Draft => Some(MailFlag::Draft),
            // The store keeps no keywords; PERMANENTFLAGS does not offer them.
            Flag::Extension(_) | Flag::Keyword(_) => None,
        })
        .collect()
}

fn system_flags() -> Vec<Flag<'static>> {
    vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ]
}

fn set_of(values: &[u32]) -> Option<SequenceSet> {
    let v: Vec<NonZeroU32> = values.iter().filter_map(|&n| NonZeroU32::new(n)).collect();
    SequenceSet::try_from(v).ok()
}

/// Answers for a store failure.
fn store_failed(tag: Tag<'static>, e: &MailError) -> Out {
    match e {
        MailError::NoMailbox(_) => no(tag, "no such mailbox"),
        MailError::Backend(msg) => {
            tracing::warn!(error = %msg, "imap: store failed");
            no(tag, "store unavailable, try again")
        }
    }
}

impl Session {
    /// A new, unauthenticated session on a transport with `security`.
    pub fn with_security(shared: Shared, security: Security) -> Self {
        Self {
            shared,
            user: None,
            selected: None,
            condstore: false,
            security,
            source: std::net::IpAddr::from([0, 0, 0, 0]),
            listing: None,
        }
    }

    /// The client's address, which keys its failed logins (SEC-4f); unset, every
    /// such session shares `0.0.0.0`.
    pub fn set_source(&mut self, source: std::net::IpAddr) {
        self.source = source;
    }

    /// Whether LOGIN and AUTHENTICATE are accepted on this connection now.
    pub fn login_allowed(&self) -> bool {
        self.security.login
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&UserUri> {
        self.user.as_ref()
    }

    /// The selected mailbox's name.
    pub fn selected_mailbox(&self) -> Option<&str> {
        self.selected.as_ref().map(|s| s.name.as_str())
    }

    /// Logs in with a SASL PLAIN message, through the failure table (SEC-4f): a
    /// failure returns after its delay.
    pub async fn login_plain(&mut self, message: &[u8]) -> Login<()> {
        let checked = self.shared.users.check_plain(message);
        let key = self.shared.users.key_of_plain(message);
        match gate_login(self.shared.users.gate(), &key, self.source, checked).await {
            Login::Ok(user) => {
                tracing::info!(user = %user.as_str(), "imap: authenticated");
                self.user = Some(user);
                Login::Ok(())
            }
            Login::Failed => Login::Failed,
            Login::Blocked(d) => Login::Blocked(d),
        }
    }

    /// Runs a blocking store call off the async thread for the logged-in user.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MailStore, &UserUri) -> MailResult<T> + Send + 'static,
    ) -> MailResult<T> {
        let store = self.shared.store.clone();
        let user = self
            .user
            .clone()
            .ok_or_else(|| MailError::Backend("not authenticated".into()))?;
        tokio::task::spawn_blocking(move || f(&*store, &user))
            .await
            .map_err(|e| MailError::Backend(e.to_string()))?
    }

    /// Handles one command (not AUTHENTICATE or IDLE, which `conn.rs` runs).
    pub async fn command(&mut self, cmd: Command<'static>) -> (Vec<Out>, Flow) {
        let tag = cmd.tag;
        let mut out = Vec::new();
        match needs(&cmd.body) {
            Need::Auth if self.user.is_none() => {
                out.push(bad(tag, "log in first"));
                return (out, Flow::Continue);
            }
            Need::Selected if self.selected.is_none() => {
                let text = if self.user.is_none() {
                    "log in first"
                } else {
                    "select a mailbox first"
                };
                out.push(bad(tag, text));
                return (out, Flow::Continue);
            }
            Need::Nothing | Need::Auth | Need::Selected => {}
        }
        match cmd.body {
            CommandBody::Capability => {
                out.push(Out::Data(Data::Capability(capabilities_for(self.security))));
                out.push(ok(tag, "CAPABILITY completed"));
            }
            CommandBody::Noop | CommandBody::Check => {
                if self.selected.is_some() {
                    out.extend(self.refresh().await);
                }
                out.push(ok(tag, "completed"));
            }
            CommandBody::Logout => {
                out.push(Out::Status(
                    Status::bye(None, "cpmd IMAP logging out").expect("valid text"),
                ));
                out.push(ok(tag, "LOGOUT completed"));
                return (out, Flow::Close);
            }
            CommandBody::Login { username, password } => {
                if self.user.is_some() {
                    out.push(bad(tag, "already authenticated"));
                } else if !self.security.login {
                    out.push(privacy_required(tag));
                } else {
                    let users = &self.shared.users;
                    let checked = users.check(username.as_ref(), password.declassify().as_ref());
                    let key = users.key_of(username.as_ref());
                    // SEC-4f: counted with SIP digest failures; a failure returns
                    // after its delay.
                    match gate_login(users.gate(), &key, self.source, checked).await {
                        Login::Ok(user) => {
                            tracing::info!(user = %user.as_str(), "imap: logged in");
                            self.user = Some(user);
                            out.push(ok(tag, "LOGIN completed"));
                        }
                        Login::Failed => out.push(no(tag, "login failed")),
                        Login::Blocked(wait) => out.push(no(tag, &blocked_text(wait))),
                    }
                }
            }
            CommandBody::StartTLS => {
                if !self.security.starttls {
                    out.push(bad(tag, "STARTTLS not available on this connection"));
                } else if self.user.is_some() {
                    out.push(bad(tag, "STARTTLS only before login"));
                } else {
                    out.push(ok(tag, "begin TLS negotiation now"));
                    return (out, Flow::StartTls);
                }
            }
            CommandBody::Authenticate { .. } | CommandBody::Idle => {
                // imap-next hands these to conn.rs as their own events.
                out.push(bad(tag, "unexpected"));
            }
            CommandBody::Namespace => {
                let personal = Namespace::new(
                    IString::try_from("").expect("empty quoted string"),
                    QuotedChar::try_from(DELIMITER).ok(),
                );
                out.push(Out::Data(Data::Namespace {
                    personal: vec![personal],
                    other: Vec::new(),
                    shared: Vec::new(),
                }));
                out.push(ok(tag, "NAMESPACE completed"));
            }
            CommandBody::Enable { capabilities } => {
                let mut enabled = Vec::new();
                for c in capabilities {
                    if matches!(c, CapabilityEnable::CondStore) {
                        self.condstore = true;
                        enabled.push(c);
                    }
                }
                out.push(Out::Data(Data::Enabled {
                    capabilities: enabled,
                }));
                out.push(ok(tag, "ENABLE completed"));
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => {
                self.list(tag, &reference, &mailbox_wildcard, false, &mut out);
            }
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                self.list(tag, &reference, &mailbox_wildcard, true, &mut out);
            }
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(tag, &mailbox, &item_names, &mut out).await,
            CommandBody::Select {
                mailbox,
                parameters,
            } => {
                self.select(tag, &mailbox, &parameters, false, &mut out)
                    .await;
            }
            CommandBody::Examine {
                mailbox,
                parameters,
            } => {
                self.select(tag, &mailbox, &parameters, true, &mut out)
                    .await
            }
            CommandBody::Subscribe { .. } | CommandBody::Unsubscribe { .. } => {
                // Every mailbox counts as subscribed (LSUB lists them all).
                out.push(ok(tag, "completed"));
            }
            CommandBody::Create { .. }
            | CommandBody::Delete { .. }
            | CommandBody::Rename { .. }
            | CommandBody::Append { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. } => {
                out.push(no(tag, "the message store is written by the server only"));
            }
            CommandBody::Unselect => {
                self.selected = None;
                out.push(ok(tag, "UNSELECT completed"));
            }
            CommandBody::Close => self.close(tag, &mut out).await,
            CommandBody::Expunge => self.expunge(tag, None, &mut out).await,
            CommandBody::ExpungeUid { sequence_set } => {
                self.expunge(tag, Some(sequence_set), &mut out).await;
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => self.search(tag, charset, criteria, uid, &mut out).await,
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                let req = FetchRequest {
                    set: &sequence_set,
                    items: &macro_or_item_names,
                    by_uid: uid,
                    modifiers: &modifiers,
                };
                self.fetch(tag, req, &mut out).await;
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                let req = StoreRequest {
                    set: &sequence_set,
                    change: match kind {
                        StoreType::Replace => FlagChange::Replace,
                        StoreType::Add => FlagChange::Add,
                        StoreType::Remove => FlagChange::Remove,
                    },
                    silent: matches!(response, StoreResponse::Silent),
                    flags: &flags,
                    by_uid: uid,
                    unchanged_since: modifiers
                        .iter()
                        .map(|StoreModifier::UnchangedSince(n)| *n)
                        .next(),
                };
                self.store(tag, req, &mut out).await;
            }
            CommandBody::Sort { .. }
            | CommandBody::Thread { .. }
            | CommandBody::Compress { .. }
            | CommandBody::GetQuota { .. }
            | CommandBody::GetQuotaRoot { .. }
            | CommandBody::SetQuota { .. } => {
                out.push(bad(tag, "command not supported"));
            }
        }
        (out, Flow::Continue)
    }

    async fn close(&mut self, tag: Tag<'static>, out: &mut Vec<Out>) {
        if let Some(sel) = self.selected.take() {
            // RFC 3501 §6.4.2: CLOSE expunges silently, unless read-only.
            if !sel.read_only {
                let name = sel.name.clone();
                if let Err(e) = self.call(move |s, u| s.expunge(u, &name, None)).await {
                    return out.push(store_failed(tag, &e));
                }
            }
        }
        out.push(ok(tag, "CLOSE completed"));
    }

    fn list(
        &mut self,
        tag: Tag<'static>,
        reference: &Mailbox<'static>,
        pattern: &ListMailbox<'static>,
        lsub: bool,
        out: &mut Vec<Out>,
    ) {
        let pattern = list_text(pattern);
        let reference = match reference {
            // The empty reference decodes as a mailbox named "".
            Mailbox::Other(_) | Mailbox::Inbox => mailbox_name(reference),
        };
        let delimiter = QuotedChar::try_from(DELIMITER).ok();
        if pattern.is_empty() {
            // RFC 3501 §6.3.8: the hierarchy delimiter and root.
            out.push(Out::Data(Data::List {
                items: vec![FlagNameAttribute::Noselect],
                delimiter,
                mailbox: to_mailbox(""),
            }));
            out.push(ok(tag, "LIST completed"));
            return;
        }
        let full = format!("{reference}{pattern}");
        if full.chars().count() > MAX_LIST_PATTERN {
            return out.push(limit(tag, "pattern too long"));
        }
        // The answer is streamed a page at a time (LIM-17): `conn.rs` asks for
        // each page through `more` once the previous one is sent.
        self.listing = Some(Listing::new(tag, full, lsub));
    }

    /// Whether a streamed answer (LIST, LSUB) has pages still to send: the
    /// connection sends what it has, then calls [`Session::more`] before it reads
    /// the next command.
    pub fn streaming(&self) -> bool {
        self.listing.is_some()
    }

    /// The next page of the streamed answer (its last ends with the tagged
    /// status). Matching and the store read run on a blocking thread (LIM-4).
    pub async fn more(&mut self) -> Vec<Out> {
        let Some(mut listing) = self.listing.take() else {
            return Vec::new();
        };
        let query = listing.query();
        let mut out = Vec::new();
        match self.call(move |s, u| list::next_page(s, u, &query)).await {
            Ok(page) => {
                if !listing.answer(page, &mut out) {
                    self.listing = Some(listing);
                }
            }
            Err(e) => out.push(store_failed(listing.tag(), &e)),
        }
        out
    }

    async fn status(
        &mut self,
        tag: Tag<'static>,
        mailbox: &Mailbox<'static>,
        names: &[StatusDataItemName],
        out: &mut Vec<Out>,
    ) {
        let name = mailbox_name(mailbox);
        let st = {
            let name = name.clone();
            match self.call(move |s, u| s.status(u, &name)).await {
                Ok(st) => st,
                Err(e) => return out.push(store_failed(tag, &e)),
            }
        };
        let mut items = Vec::new();
        for n in names {
            items.push(match n {
                StatusDataItemName::Messages => StatusDataItem::Messages(st.messages),
                StatusDataItemName::Recent => StatusDataItem::Recent(0),
                StatusDataItemName::UidNext => {
                    StatusDataItem::UidNext(NonZeroU32::new(st.uid_next).unwrap_or(NonZeroU32::MIN))
                }
                StatusDataItemName::UidValidity => StatusDataItem::UidValidity(
                    NonZeroU32::new(st.uid_validity).unwrap_or(NonZeroU32::MIN),
                ),
                StatusDataItemName::Unseen => StatusDataItem::Unseen(st.unseen),
                StatusDataItemName::HighestModSeq => {
                    StatusDataItem::HighestModSeq(st.highest_modseq)
                }
                // Not kept: deleted-message counts (RFC 9051) are not offered.
                StatusDataItemName::Deleted | StatusDataItemName::DeletedStorage => continue,
            });
        }
        out.push(Out::Data(Data::Status {
            mailbox: to_mailbox(&st.name),
            items: Cow::Owned(items),
        }));
        out.push(ok(tag, "STATUS completed"));
    }

    async fn select(
        &mut self,
        tag: Tag<'static>,
        mailbox: &Mailbox<'static>,
        parameters: &[SelectParameter],
        read_only: bool,
        out: &mut Vec<Out>,
    ) {
        // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
        self.selected = None;
        if parameters
            .iter()
            .any(|p| matches!(p, SelectParameter::CondStore))
        {
            self.condstore = true;
        }
        if parameters
            .iter()
            .any(|p| matches!(p, SelectParameter::QResync { .. }))
        {
            return out.push(bad(tag, "QRESYNC is not supported"));
        }
        let name = mailbox_name(mailbox);
        let got = {
            let name = name.clone();
            self.call(move |s, u| {
                let st = s.status(u, &name)?;
                let all = s.summaries(u, &name, None)?;
                Ok((st, all))
            })
            .await
        };
        let (st, all): (MailboxStatus, Vec<MailSummary>) = match got {
            Ok(x) => x,
            Err(e) => return out.push(store_failed(tag, &e)),
        };
        let sel = Selected {
            name: st.name.clone(),
            read_only,
            uids: all.iter().map(|s| s.uid).collect(),
            modseqs: all.iter().map(|s| (s.uid, s.modseq)).collect(),
        };
        out.push(Out::Data(Data::Flags(system_flags())));
        out.push(Out::Data(Data::Exists(sel.count())));
        out.push(Out::Data(Data::Recent(0)));
        if let Some(first) = all.iter().position(|s| !s.flags.contains(&MailFlag::Seen)) {
            if let Some(n) = u32::try_from(first + 1).ok().and_then(NonZeroU32::new) {
                out.push(untagged(Code::Unseen(n), "first unseen"));
            }
        }
        let perm = if read_only {
            Vec::new()
        } else {
            system_flags().into_iter().map(FlagPerm::Flag).collect()
        };
        out.push(untagged(Code::PermanentFlags(perm), "flags kept"));
        if let Some(v) = NonZeroU32::new(st.uid_validity) {
            out.push(untagged(Code::UidValidity(v), "UIDs valid"));
        }
        if let Some(n) = NonZeroU32::new(st.uid_next) {
            out.push(untagged(Code::UidNext(n), "predicted next UID"));
        }
        let highest = NonZeroU64::new(st.highest_modseq).unwrap_or(NonZeroU64::MIN);
        out.push(untagged(Code::HighestModSeq(highest), "highest"));
        self.selected = Some(sel);
        let (code, done) = if read_only {
            (Code::ReadOnly, "EXAMINE completed")
        } else {
            (Code::ReadWrite, "SELECT completed")
        };
        out.push(tagged(tag, StatusKind::Ok, Some(code), done));
    }

    /// What changed in the selected mailbox since the client last heard:
    /// EXPUNGE for removed objects, FETCH FLAGS for changed flags, EXISTS for new
    /// objects (RFC 3501 §7.3–7.4).
    pub async fn refresh(&mut self) -> Vec<Out> {
        let Some(name) = self.selected.as_ref().map(|s| s.name.clone()) else {
            return Vec::new();
        };
        let all = match self.call(move |s, u| s.summaries(u, &name, None)).await {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(error = %e, "imap: refresh failed");
                return Vec::new();
            }
        };
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_mut() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let present: BTreeSet<u32> = all.iter().map(|s| s.uid).collect();
        // Highest first, so each sequence number is still right when sent.
        for i in (0..sel.uids.len()).rev() {
            let uid = sel.uids[i];
            if !present.contains(&uid) {
                sel.uids.remove(i);
                sel.modseqs.remove(&uid);
                if let Some(n) = u32::try_from(i + 1).ok().and_then(NonZeroU32::new) {
                    out.push(Out::Data(Data::Expunge(n)));
                }
            }
        }
        let last = sel.uids.last().copied().unwrap_or(0);
        let mut added = false;
        for s in &all {
            match sel.modseqs.get(&s.uid) {
                Some(&m) if s.modseq > m => {
                    sel.modseqs.insert(s.uid, s.modseq);
                    if let Some(seq) = sel.seq_of(s.uid).and_then(NonZeroU32::new) {
                        let mut items = vec![
                            MessageDataItem::Uid(NonZeroU32::new(s.uid).unwrap_or(NonZeroU32::MIN)),
                            MessageDataItem::Flags(fetch::flags(s)),
                        ];
                        if condstore {
                            items.push(MessageDataItem::ModSeq(
                                NonZeroU64::new(s.modseq).unwrap_or(NonZeroU64::MIN),
                            ));
                        }
                        if let Ok(items) = Vec1::try_from(items) {
                            out.push(Out::Data(Data::Fetch { seq, items }));
                        }
                    }
                }
                Some(_) => {}
                None if s.uid > last => {
                    sel.uids.push(s.uid);
                    sel.modseqs.insert(s.uid, s.modseq);
                    added = true;
                }
                None => {}
            }
        }
        if added {
            out.push(Out::Data(Data::Exists(sel.count())));
        }
        out
    }

    async fn expunge(&mut self, tag: Tag<'static>, only: Option<SequenceSet>, out: &mut Vec<Out>) {
        let Some(sel) = self.selected.as_ref() else {
            return out.push(bad(tag, "select a mailbox first"));
        };
        if sel.read_only {
            return out.push(no(tag, "mailbox is read-only"));
        }
        let name = sel.name.clone();
        let uids: Option<Vec<u32>> = only.map(|set| {
            resolve(&set, &sel.uids, true)
                .into_iter()
                .map(|i| sel.uids[i])
                .collect()
        });
        let gone = match self
            .call(move |s, u| s.expunge(u, &name, uids.as_deref()))
            .await
        {
            Ok(g) => g,
            Err(e) => return out.push(store_failed(tag, &e)),
        };
        if let Some(sel) = self.selected.as_mut() {
            for uid in gone {
                if let Ok(i) = sel.uids.binary_search(&uid) {
                    sel.uids.remove(i);
                    sel.modseqs.remove(&uid);
                    if let Some(n) = u32::try_from(i + 1).ok().and_then(NonZeroU32::new) {
                        out.push(Out::Data(Data::Expunge(n)));
                    }
                }
            }
        }
        out.push(ok(tag, "EXPUNGE completed"));
    }

    async fn search(
        &mut self,
        tag: Tag<'static>,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
        by_uid: bool,
        out: &mut Vec<Out>,
    ) {
        if let Some(c) = &charset {
            let c = c.as_ref();
            if !c.eq_ignore_ascii_case("US-ASCII") && !c.eq_ignore_ascii_case("UTF-8") {
                return out.push(tagged(
                    tag,
                    StatusKind::No,
                    Some(Code::badcharset(Vec::new())),
                    "charset not supported",
                ));
            }
        }
        let Some(sel) = self.selected.as_ref() else {
            return out.push(bad(tag, "select a mailbox first"));
        };
        let key = SearchKey::And(criteria);
        let needs_raw = search::needs_raw(&key);
        let name = sel.name.clone();
        let known = sel.uids.clone();
        let largest = Largest {
            seq: sel.count(),
            uid: sel.uids.last().copied().unwrap_or(0),
        };
        let criteria = key.clone();
        // Reading and matching run on a blocking thread, a chunk of objects at a
        // time: a costly search never holds up the event loop (IMAP-7).
        let got = self
            .call(move |s, u| {
                let summaries = s.summaries(u, &name, None)?;
                let mut hits = Vec::new();
                let mut top_modseq = 0;
                let mut check = |o: &MailObject| {
                    let Some(seq) = known
                        .binary_search(&o.summary.uid)
                        .ok()
                        .and_then(|i| u32::try_from(i + 1).ok())
                    else {
                        return;
                    };
                    let parsed = needs_raw.then(|| Parsed::new(&o.raw));
                    let c = Candidate {
                        seq,
                        summary: &o.summary,
                        parsed: parsed.as_ref(),
                        raw: needs_raw.then_some(o.raw.as_slice()),
                    };
                    if search::matches(&criteria, &c, largest) {
                        let n = if by_uid { o.summary.uid } else { seq };
                        hits.extend(NonZeroU32::new(n));
                        top_modseq = top_modseq.max(o.summary.modseq);
                    }
                };
                if needs_raw {
                    let uids: Vec<u32> = summaries.iter().map(|x| x.uid).collect();
                    for chunk in uids.chunks(FETCH_CHUNK) {
                        s.fetch(u, &name, chunk)?.iter().for_each(&mut check);
                    }
                } else {
                    for summary in summaries {
                        check(&MailObject {
                            summary,
                            raw: Vec::new(),
                        });
                    }
                }
                Ok((hits, top_modseq))
            })
            .await;
        let (hits, top_modseq) = match got {
            Ok(x) => x,
            Err(e) => return out.push(store_failed(tag, &e)),
        };
        let modseq = if search::uses_modseq(&key) {
            self.condstore = true;
            NonZeroU64::new(top_modseq)
        } else {
            None
        };
        out.push(Out::Data(Data::Search(hits, modseq)));
        out.push(ok(tag, "SEARCH completed"));
    }

    async fn fetch(&mut self, tag: Tag<'static>, req: FetchRequest<'_>, out: &mut Vec<Out>) {
        let FetchRequest {
            set,
            items: request,
            by_uid,
            modifiers,
        } = req;
        let mut changed_since = None;
        for m in modifiers {
            match m {
                FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
                FetchModifier::Vanished => return out.push(bad(tag, "QRESYNC is not supported")),
            }
        }
        if changed_since.is_some() {
            self.condstore = true;
        }
        let wants_modseq = matches!(request, MacroOrMessageDataItemNames::MessageDataItemNames(v)
            if v.contains(&imap_next::imap_types::fetch::MessageDataItemName::ModSeq));
        if wants_modseq {
            self.condstore = true;
        }
        let plan = match fetch::plan(request, by_uid, self.condstore) {
            Ok(p) => p,
            Err(fetch::Unsupported(why)) => return out.push(bad(tag, why)),
        };
        if plan.items.len() > fetch::MAX_FETCH_ITEMS {
            return out.push(limit(tag, "too many FETCH items"));
        }
        let Some(sel) = self.selected.as_ref() else {
            return out.push(bad(tag, "select a mailbox first"));
        };
        let targets: Vec<u32> = resolve(set, &sel.uids, by_uid)
            .into_iter()
            .map(|i| sel.uids[i])
            .collect();
        let name = sel.name.clone();
        let set_seen = plan.sets_seen && !sel.read_only;
        let known = sel.uids.clone();
        // Reading, flagging and building the answer all run on a blocking thread:
        // a big FETCH never holds up the event loop (IMAP-7).
        let got = self
            .call(move |s, u| {
                fetch_answer(s, u, &name, targets, changed_since, set_seen, &plan, &known)
            })
            .await;
        let (answers, seen_now) = match got {
            Ok(Some(x)) => x,
            Ok(None) => {
                return out.push(limit(
                    tag,
                    "answer too large: fetch fewer messages or use partial BODY[]<n.m>",
                ))
            }
            Err(e) => return out.push(store_failed(tag, &e)),
        };
        let Some(sel) = self.selected.as_mut() else {
            return out.push(bad(tag, "select a mailbox first"));
        };
        for (uid, modseq) in seen_now {
            sel.modseqs.insert(uid, modseq);
        }
        for (seq, items) in answers {
            out.push(Out::Data(Data::Fetch { seq, items }));
        }
        out.push(ok(tag, "FETCH completed"));
    }

    async fn store(&mut self, tag: Tag<'static>, req: StoreRequest<'_>, out: &mut Vec<Out>) {
        let StoreRequest {
            set,
            change,
            silent,
            flags,
            by_uid,
            unchanged_since,
        } = req;
        let Some(sel) = self.selected.as_ref() else {
            return out.push(bad(tag, "select a mailbox first"));
        };
        if sel.read_only {
            return out.push(no(tag, "mailbox is read-only"));
        }
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let uids: Vec<u32> = resolve(set, &sel.uids, by_uid)
            .into_iter()
            .map(|i| sel.uids[i])
            .collect();
        let name = sel.name.clone();
        let wanted = mail_flags(flags);
        let outcome = match self
            .call(move |s, u| s.store_flags(u, &name, &uids, change, &wanted, unchanged_since))
            .await
        {
            Ok(o) => o,
            Err(e) => return out.push(store_failed(tag, &e)),
        };
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_mut() else {
            return out.push(bad(tag, "select a mailbox first"));
        };
        for s in &outcome.updated {
            sel.modseqs.insert(s.uid, s.modseq);
            let Some(seq) = sel.seq_of(s.uid).and_then(NonZeroU32::new) else {
                continue;
            };
            if silent {
                continue;
            }
            let mut items = vec![MessageDataItem::Flags(fetch::flags(s))];
            if by_uid {
                items.push(MessageDataItem::Uid(
                    NonZeroU32::new(s.uid).unwrap_or(NonZeroU32::MIN),
                ));
            }
            if condstore {
                items.push(MessageDataItem::ModSeq(
                    NonZeroU64::new(s.modseq).unwrap_or(NonZeroU64::MIN),
                ));
            }
            if let Ok(items) = Vec1::try_from(items) {
                out.push(Out::Data(Data::Fetch { seq, items }));
            }
        }
        let modified: Vec<u32> = if by_uid {
            outcome.modified.clone()
        } else {
            outcome
                .modified
                .iter()
                .filter_map(|u| sel.seq_of(*u))
                .collect()
        };
        match set_of(&modified) {
            Some(m) => out.push(tagged(
                tag,
                StatusKind::Ok,
                Some(Code::Modified(m)),
                "conditional STORE failed for some",
            )),
            None => out.push(ok(tag, "STORE completed")),
        }
    }
}

/// One FETCH answer line: the message's sequence number and its items.
type FetchLine = (NonZeroU32, Vec1<MessageDataItem<'static>>);

/// A FETCH answer: its lines and the `(uid, modseq)` of each message it set
/// `\Seen` on; `None` when over [`fetch::MAX_FETCH_BYTES`].
type FetchAnswer = Option<(Vec<FetchLine>, Vec<(u32, u64)>)>;

/// Objects read per store call while building a FETCH answer.
const FETCH_CHUNK: usize = 256;

/// Builds a FETCH answer (blocking; runs on a store thread): the lines and the
/// `(uid, modseq)` of the messages this FETCH set `\Seen` on. `None` when the
/// answer would carry more than [`fetch::MAX_FETCH_BYTES`] of content (checked from
/// the sizes before any content is read).
#[allow(clippy::too_many_arguments)]
fn fetch_answer(
    s: &dyn MailStore,
    u: &UserUri,
    name: &str,
    mut wanted: Vec<u32>,
    changed_since: Option<u64>,
    set_seen: bool,
    plan: &fetch::Plan,
    known: &[u32],
) -> MailResult<FetchAnswer> {
    let summaries = s.summaries(u, name, None)?;
    if let Some(cs) = changed_since {
        let changed: BTreeSet<u32> = summaries
            .iter()
            .filter(|x| x.modseq > cs)
            .map(|x| x.uid)
            .collect();
        wanted.retain(|u| changed.contains(u));
    }
    let w: BTreeSet<u32> = wanted.iter().copied().collect();
    let content: u64 = summaries
        .iter()
        .filter(|x| w.contains(&x.uid))
        .map(|x| u64::from(x.size))
        .sum::<u64>()
        .saturating_mul(plan.content_items as u64);
    if content > fetch::MAX_FETCH_BYTES {
        return Ok(None);
    }
    let mut objects_of_summaries: Vec<MailObject> = Vec::new();
    if !plan.needs_raw {
        objects_of_summaries = summaries
            .into_iter()
            .filter(|x| w.contains(&x.uid))
            .map(|summary| MailObject {
                summary,
                raw: Vec::new(),
            })
            .collect();
    }
    let mut lines = Vec::new();
    let mut seen = Vec::new();
    let wanted: Vec<u32> = w.into_iter().collect();
    let chunks: Vec<&[u32]> = if plan.needs_raw {
        wanted.chunks(FETCH_CHUNK).collect()
    } else {
        vec![&[]]
    };
    for chunk in chunks {
        let mut objects = if plan.needs_raw {
            s.fetch(u, name, chunk)?
        } else {
            std::mem::take(&mut objects_of_summaries)
        };
        let mut seen_now = BTreeSet::new();
        if set_seen {
            let unseen: Vec<u32> = objects
                .iter()
                .filter(|o| !o.summary.flags.contains(&MailFlag::Seen))
                .map(|o| o.summary.uid)
                .collect();
            if !unseen.is_empty() {
                let flags = BTreeSet::from([MailFlag::Seen]);
                let done = s.store_flags(u, name, &unseen, FlagChange::Add, &flags, None)?;
                let by_uid: BTreeMap<u32, MailSummary> =
                    done.updated.into_iter().map(|x| (x.uid, x)).collect();
                for o in &mut objects {
                    if let Some(x) = by_uid.get(&o.summary.uid) {
                        o.summary = x.clone();
                        seen_now.insert(x.uid);
                    }
                }
            }
        }
        for o in &objects {
            let seq = known
                .binary_search(&o.summary.uid)
                .ok()
                .and_then(|i| u32::try_from(i + 1).ok())
                .and_then(NonZeroU32::new);
            let Some(seq) = seq else {
                continue;
            };
            let mut items = fetch::items(plan, &o.summary, Some(&o.raw));
            if seen_now.contains(&o.summary.uid) {
                seen.push((o.summary.uid, o.summary.modseq));
                if !items.iter().any(|i| matches!(i, MessageDataItem::Flags(_))) {
                    items.push(MessageDataItem::Flags(fetch::flags(&o.summary)));
                }
            }
            if let Ok(items) = Vec1::try_from(items) {
                lines.push((seq, items));
            }
        }
    }
    Ok(Some((lines, seen)))
}
