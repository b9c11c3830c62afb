//! The RFC 5322 objects of the CPM Message Storage (specs/protocol.md §5), as pure
//! functions of what was stored: the session info object
//! (`Application/X-CPM-Session`), the message object (`Message/CPIM`), the group
//! state object (`application/group-state-object+xml`) and the standalone message
//! object, plus the mailbox names they are filed under.
//!
//! No I/O and no clock: dates come in as Unix seconds. Header values are cleaned of
//! CR and LF (a client-chosen Subject must not add headers) and XML text and
//! attributes are escaped. Line ends are CRLF. Not here: where each object goes and
//! for whom (the store logic in `write.rs`).

use cpmd_core::server::{ParticipantRecord, SessionInfo, SessionType};
use cpmd_core::UserUri;

/// IMAP hierarchy delimiter of the mailbox names.
pub const DELIMITER: char = '/';
/// The per-user root folder.
pub const ROOT: &str = "Default";
/// The mailbox IMAP requires every user to have (empty here).
pub const INBOX: &str = "INBOX";

/// How a user's copy of a message relates to them (`Message-Direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The user sent it.
    Sent,
    /// The user received it.
    Received,
}

impl Direction {
    fn token(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// One path component: `/` (the delimiter) and `%` are percent-encoded, so a
/// client-chosen ID can neither add a level nor collide with another.
fn component(id: &str) -> String {
    if !id.contains(['%', DELIMITER]) {
        return id.to_owned();
    }
    id.replace('%', "%25").replace(DELIMITER, "%2F")
}

/// `Default/<Conversation-ID>`: the conversation history folder.
pub fn conversation_mailbox(conversation_id: &str) -> String {
    format!("{ROOT}{DELIMITER}{}", component(conversation_id))
}

/// Whether `name` is a conversation history folder's (`Default/<component>`).
/// Such a folder has no `mailboxes` row until an object is filed in it (a
/// standalone message): as the parent of session folders it is implicit, listed
/// and selected from them (`store/mail.rs`, specs/store.md STORE-15).
pub fn is_conversation_mailbox(name: &str) -> bool {
    name.strip_prefix(ROOT)
        .and_then(|rest| rest.strip_prefix(DELIMITER))
        .is_some_and(|id| !id.is_empty() && !id.contains(DELIMITER))
}

/// The conversation folder `name` lies under, when it is a folder below one
/// (`Default/<c>/…` gives `Default/<c>`).
pub fn parent_conversation_mailbox(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(ROOT)?.strip_prefix(DELIMITER)?;
    let end = rest.find(DELIMITER)?;
    (end > 0).then(|| &name[..ROOT.len() + DELIMITER.len_utf8() + end])
}

/// `Default/<Conversation-ID>/<Contribution-ID>`: a session history folder.
pub fn session_mailbox(conversation_id: &str, contribution_id: &str) -> String {
    format!(
        "{}{DELIMITER}{}",
        conversation_mailbox(conversation_id),
        component(contribution_id)
    )
}

/// The `session-type` token of the session info object.
pub fn session_type_token(t: SessionType) -> &'static str {
    match t {
        SessionType::OneToOne => "1-1",
        SessionType::AdHoc => "Ad-Hoc",
    }
}

/// A header value on one line: CR and LF become spaces.
fn header_value(v: &str) -> String {
    v.replace(['\r', '\n'], " ")
}

/// An address header value: `<uri>`, unless it is already in angle brackets.
fn address(v: &str) -> String {
    let v = header_value(v.trim());
    if v.contains('<') {
        v
    } else {
        format!("<{v}>")
    }
}

/// XML text or attribute content, escaped.
pub fn xml_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Headers then body, CRLF line ends; bare LFs of `body` become CRLF.
fn object(headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 512);
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    push_crlf_body(&mut out, body);
    out
}

/// Appends `body` with its bare LFs as CRLF.
fn push_crlf_body(out: &mut Vec<u8>, body: &[u8]) {
    // The runs between LFs are copied whole (a 4 KiB body was pushed byte by byte,
    // twice per message), and found with `memchr` (a byte-by-byte search cost the
    // store thread ~31,000 instructions per 4 KiB message).
    let mut rest = body;
    let mut prev = 0u8;
    while let Some(i) = memchr::memchr(b'\n', rest) {
        let before = if i > 0 { rest[i - 1] } else { prev };
        out.extend_from_slice(&rest[..i]);
        if before != b'\r' {
            out.push(b'\r');
        }
        out.push(b'\n');
        prev = b'\n';
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// The session info object. `crashed`: the session was sealed at start-up after a
/// crash, from what had been stored (an `<ended-by>crash</ended-by>` element says
/// so).
pub fn session_info_object(info: &SessionInfo, crashed: bool) -> Vec<u8> {
    let in_reply_to = info.in_reply_to.as_ref().map(|c| c.as_str());
    let row = InfoRow {
        session_type: session_type_token(info.session_type),
        from: info.from.as_str(),
        to: &info.to,
        date: &info.date,
        subject: info.subject.as_deref(),
        in_reply_to,
        sdp: &info.sdp,
        conversation_id: info.key.conversation_id.as_str(),
        contribution_id: info.key.contribution_id.as_str(),
    };
    print_info(&row, info.invited.iter().map(UserUri::as_str), crashed)
}

/// A session's info as its `sessions` row holds it (the session type as its
/// token, the invited as the newline-separated `invited` column), with the
/// session's Conversation-ID and Contribution-ID: what a sealed 1-to-1's info
/// object is printed from, both when it is filed and when IMAP reads it (the
/// object is not stored per party: `entries.body_elsewhere` 2, STORE-13).
#[derive(Debug, Clone, Copy)]
pub struct InfoRow<'a> {
    pub session_type: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub date: &'a str,
    pub subject: Option<&'a str>,
    pub in_reply_to: Option<&'a str>,
    pub sdp: &'a str,
    pub conversation_id: &'a str,
    pub contribution_id: &'a str,
}

/// The info object of a sealed (not crashed) session from its row; `invited` is
/// the `invited` column. The same bytes as [`session_info_object`] for the info
/// the row was written from (`join_list` keeps each URI, which holds no LF).
pub fn info_object_of_row(row: &InfoRow<'_>, invited: &str) -> Vec<u8> {
    print_info(row, invited.split('\n').filter(|s| !s.is_empty()), false)
}

fn print_info<'a>(
    info: &InfoRow<'_>,
    invited: impl Iterator<Item = &'a str>,
    crashed: bool,
) -> Vec<u8> {
    // Printed straight into one buffer (a `String` per header value and per
    // escaped text cost the store thread about 15,000 instructions per seal).
    let mut out = Vec::with_capacity(512 + info.sdp.len());
    push_header_with(&mut out, "From", |out| push_address(out, info.from));
    push_header_with(&mut out, "To", |out| push_address(out, info.to));
    push_header(&mut out, "Date", info.date);
    if let Some(s) = info.subject {
        push_header(&mut out, "Subject", s);
    }
    push_header(&mut out, "Conversation-ID", info.conversation_id);
    push_header(&mut out, "Contribution-ID", info.contribution_id);
    if let Some(r) = info.in_reply_to {
        push_header(&mut out, "InReplyTo-Contribution-ID", r);
    }
    out.extend_from_slice(
        b"Content-Type: Application/X-CPM-Session\r\n\r\n<session>\r\n  <session-type>",
    );
    out.extend_from_slice(info.session_type.as_bytes());
    out.extend_from_slice(b"</session-type>\r\n  <sdp>");
    push_xml_body(&mut out, info.sdp.trim_end());
    out.extend_from_slice(b"</sdp>\r\n  <invited-participants>");
    for (i, u) in invited.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        push_xml_body(&mut out, u);
    }
    out.extend_from_slice(b"</invited-participants>\r\n");
    if crashed {
        out.extend_from_slice(b"  <ended-by>crash</ended-by>\r\n");
    }
    out.extend_from_slice(b"</session>\r\n");
    out
}

/// `v` XML-escaped (as [`xml_escape`]) into an object's body, its bare LFs as
/// CRLF (as [`push_crlf_body`]: escaping never makes or removes a CR, so the
/// byte before an LF is the output's last).
fn push_xml_body(out: &mut Vec<u8>, v: &str) {
    for &b in v.as_bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            b'\n' => {
                if out.last() != Some(&b'\r') {
                    out.push(b'\r');
                }
                out.push(b'\n');
            }
            b => out.push(b),
        }
    }
}

/// The parts of a message object that do not come from the session info.
#[derive(Debug, Clone, Copy)]
pub struct MessageParts<'a> {
    /// Conversation-ID.
    pub conversation_id: &'a str,
    /// Contribution-ID (of the session, or of the standalone message if it had one).
    pub contribution_id: Option<&'a str>,
    /// The authenticated sender.
    pub sender: &'a str,
    /// The recipients.
    pub recipients: &'a [String],
    /// IMDN Message-ID.
    pub message_id: &'a str,
    /// Content type of the stored body.
    pub content_type: &'a str,
    /// The stored body (a CPIM message when the content type says so).
    pub body: &'a [u8],
    /// RFC 5322 date of the server's receive time.
    pub date: &'a str,
    /// ISO 8601 form of the same time (for a CPIM wrapper built here).
    pub date_time: &'a str,
}

/// A message object (chat or standalone) as `direction`'s user sees it. A body that
/// is not `message/cpim` (a pager MESSAGE without CPIM) is wrapped in a minimal CPIM
/// message, so the object is always `Message/CPIM`.
pub fn message_object(m: &MessageParts<'_>, direction: Direction) -> Vec<u8> {
    message_object_at(m, direction).0
}

/// The sender's and the recipients' message objects (`sent`, `received`): built
/// once, the second made from the first by swapping the `Message-Direction` token
/// (the two differ in nothing else; building each from the parts cost the store
/// thread some 10,000 instructions per chat message).
pub fn message_objects(m: &MessageParts<'_>) -> (Vec<u8>, Vec<u8>) {
    let (sent, at) = message_object_at(m, Direction::Sent);
    let received = with_direction(&sent, at, Direction::Received);
    (sent, received)
}

/// The heads of the sender's and the recipients' message objects (`sent`,
/// `received`) when each object is its head followed by the body byte for byte,
/// so the body need not be printed to be stored apart from it (STORE-13:
/// `message_objects(m).0 == [sent head, m.body].concat()`); `None` when it is not
/// (a body that is not CPIM, or empty, is wrapped; a bare LF of the body is
/// written as CRLF): then [`message_objects`].
///
/// Why: the store files a chat message's objects without the body its row holds;
/// printing the body into both objects only to cut it off again cost the store
/// thread two copies and a scan of the body per message (~35,000 instructions
/// at 4 KiB).
pub fn message_heads(m: &MessageParts<'_>) -> Option<(Vec<u8>, Vec<u8>)> {
    if is_wrapped(m) || has_bare_lf(m.body) {
        return None;
    }
    let mut sent = Vec::with_capacity(512);
    let at = push_message_head(&mut sent, m, Direction::Sent);
    let received = with_direction(&sent, at, Direction::Received);
    Some((sent, received))
}

/// Whether `body` holds an LF not preceded by CR (one at its start included:
/// [`push_crlf_body`] writes each as CRLF).
fn has_bare_lf(body: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', body).any(|i| i == 0 || body.get(i - 1) != Some(&b'\r'))
}

/// Whether the object wraps the body in a minimal CPIM message of its own: not
/// CPIM, or an empty body (one not stored, `store_messages = false`, BODIES-1,
/// whose metadata the wrapper still carries).
fn is_wrapped(m: &MessageParts<'_>) -> bool {
    !m.content_type.trim().eq_ignore_ascii_case("message/cpim") || m.body.is_empty()
}

/// `object` (of [`Direction::Sent`], its token at `at`) with `direction`'s token.
fn with_direction(object: &[u8], at: usize, direction: Direction) -> Vec<u8> {
    let token = Direction::Sent.token().len();
    let (before, after) = object.split_at(at);
    let after = after.get(token..).unwrap_or_default();
    let other = direction.token().as_bytes();
    let mut out = Vec::with_capacity(object.len() + other.len() - token);
    out.extend_from_slice(before);
    out.extend_from_slice(other);
    out.extend_from_slice(after);
    out
}

/// Prints a message object's head (its headers and the blank line) into `out`;
/// returns where the `Message-Direction` token starts.
fn push_message_head(out: &mut Vec<u8>, m: &MessageParts<'_>, direction: Direction) -> usize {
    push_header_with(out, "From", |out| push_address(out, m.sender));
    push_header_with(out, "To", |out| {
        for (i, r) in m.recipients.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            push_address(out, r);
        }
    });
    push_header(out, "Date", m.date);
    push_header(out, "Conversation-ID", m.conversation_id);
    if let Some(c) = m.contribution_id {
        push_header(out, "Contribution-ID", c);
    }
    push_header(out, "IMDN-Message-ID", m.message_id);
    out.extend_from_slice(b"Message-Direction: ");
    let at = out.len();
    out.extend_from_slice(direction.token().as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: Message/CPIM\r\n\r\n");
    at
}

/// [`message_object`], and where in it the `Message-Direction` token starts.
/// Printed straight into one buffer: no `String` per header value.
fn message_object_at(m: &MessageParts<'_>, direction: Direction) -> (Vec<u8>, usize) {
    let wrapped = is_wrapped(m);
    let mut out = Vec::with_capacity(m.body.len() + 512 + if wrapped { 256 } else { 0 });
    let at = push_message_head(&mut out, m, direction);
    if !wrapped {
        push_crlf_body(&mut out, m.body);
        return (out, at);
    }
    // The minimal CPIM wrapper (its own CRLFs; the body's bare LFs become CRLF as
    // in every object).
    push_header_with(&mut out, "From", |out| push_address(out, m.sender));
    push_header_with(&mut out, "To", |out| {
        if let Some(first) = m.recipients.first() {
            push_address(out, first);
        }
    });
    out.extend_from_slice(b"NS: imdn <urn:ietf:params:imdn>\r\n");
    push_header(&mut out, "imdn.Message-ID", m.message_id);
    out.extend_from_slice(b"DateTime: ");
    out.extend_from_slice(m.date_time.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    push_header(&mut out, "Content-Type", m.content_type);
    out.extend_from_slice(b"\r\n");
    push_crlf_body(&mut out, m.body);
    (out, at)
}

/// `name: value` CRLF, the value on one line (as [`header_value`] makes it).
fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    push_header_with(out, name, |out| push_one_line(out, value));
}

/// `name: ` CRLF around what `value` prints.
fn push_header_with(out: &mut Vec<u8>, name: &str, value: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    value(out);
    out.extend_from_slice(b"\r\n");
}

/// `v` with CR and LF as spaces ([`header_value`] without a `String`).
fn push_one_line(out: &mut Vec<u8>, v: &str) {
    let start = out.len();
    out.extend_from_slice(v.as_bytes());
    // Found with `memchr2`: a value rarely holds either, and the heads of every
    // chat message are printed from a dozen values.
    for i in memchr::memchr2_iter(b'\r', b'\n', v.as_bytes()) {
        if let Some(b) = out.get_mut(start + i) {
            *b = b' ';
        }
    }
}

/// [`address`] printed into `out`.
fn push_address(out: &mut Vec<u8>, v: &str) {
    let v = v.trim();
    if v.contains('<') {
        push_one_line(out, v);
    } else {
        out.push(b'<');
        push_one_line(out, v);
        out.push(b'>');
    }
}

/// The group state object: the last participant set of a group session, and the
/// group's focus URI as `lastfocussessionid` (GRP-8).
pub fn group_state_object(
    info: &SessionInfo,
    participants: &[ParticipantRecord],
    focus: &str,
    date: &str,
    date_time: &str,
) -> Vec<u8> {
    group_state_with_subject(info, None, participants, focus, date, date_time)
}

/// A group state object that also names the group's subject now (a `Subject`
/// header): the per-change versions of GRP-20.
pub fn group_state_with_subject(
    info: &SessionInfo,
    subject: Option<&str>,
    participants: &[ParticipantRecord],
    focus: &str,
    date: &str,
    date_time: &str,
) -> Vec<u8> {
    let mut headers = vec![
        ("From", address(info.from.as_str())),
        ("To", address(&info.to)),
        ("Date", header_value(date)),
    ];
    if let Some(s) = subject {
        headers.push(("Subject", header_value(s)));
    }
    headers.extend([
        (
            "Conversation-ID",
            header_value(info.key.conversation_id.as_str()),
        ),
        (
            "Contribution-ID",
            header_value(info.key.contribution_id.as_str()),
        ),
        ("Content-Type", "application/group-state-object+xml".into()),
    ]);
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<groupstate timestamp=\"{}\" lastfocussessionid=\"{}\" group-type=\"closed\">\n",
        xml_escape(date_time),
        xml_escape(focus),
    );
    for p in participants {
        body.push_str(&format!(
            "  <participant name=\"\" comm-addr=\"{}\" state=\"{}\"/>\n",
            xml_escape(p.user.as_str()),
            xml_escape(&p.state)
        ));
    }
    body.push_str("</groupstate>\n");
    object(&headers, body.as_bytes())
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31) (proleptic Gregorian; H.
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// An RFC 5322 date in UTC: `Thu, 26 Nov 2026 12:00:00 +0000`.
pub fn rfc5322_date(unix_s: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_s.div_euclid(86_400);
    let secs = unix_s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// An ISO 8601 date-time in UTC: `2026-11-26T12:00:00Z`.
pub fn iso8601(unix_s: i64) -> String {
    let (y, m, d) = civil_from_days(unix_s.div_euclid(86_400));
    let secs = unix_s.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpmd_core::server::SessionKey;
    use cpmd_core::{ContributionId, ConversationId, SessionId, UserUri};

    fn info() -> SessionInfo {
        SessionInfo {
            key: SessionKey {
                session: SessionId::new(1),
                conversation_id: ConversationId::new("conv-1"),
                contribution_id: ContributionId::new("k1"),
            },
            session_type: SessionType::OneToOne,
            from: UserUri::new_canonical("sip:alice@example.com"),
            to: "sip:bob@example.com".into(),
            date: "Thu, 26 Nov 2026 12:00:00 +0000".into(),
            subject: Some("lunch?\r\nBcc: evil".into()),
            in_reply_to: Some(ContributionId::new("k0")),
            sdp: "m=message 2855 TCP/MSRP *\r\na=accept-types:message/cpim\r\na=x:<&>\r\n".into(),
            media_attributes: vec![],
            invited: vec![UserUri::new_canonical("sip:bob@example.com")],
        }
    }

    #[test]
    fn session_info_object_has_the_headers_and_escaped_xml() {
        let text = String::from_utf8(session_info_object(&info(), false)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(
            lines,
            [
                "From: <sip:alice@example.com>",
                "To: <sip:bob@example.com>",
                "Date: Thu, 26 Nov 2026 12:00:00 +0000",
                "Subject: lunch?  Bcc: evil",
                "Conversation-ID: conv-1",
                "Contribution-ID: k1",
                "InReplyTo-Contribution-ID: k0",
                "Content-Type: Application/X-CPM-Session",
            ]
        );
        assert!(body.contains("<session-type>1-1</session-type>"), "{body}");
        assert!(body.contains("a=x:&lt;&amp;&gt;"), "{body}");
        assert!(
            body.contains("<sdp>m=message 2855 TCP/MSRP *\r\n"),
            "{body}"
        );
        assert!(body.contains("<invited-participants>sip:bob@example.com</invited-participants>"));
        assert!(!body.contains("ended-by"));
        let crashed = String::from_utf8(session_info_object(&info(), true)).unwrap();
        assert!(crashed.contains("<ended-by>crash</ended-by>"));
    }

    /// The session info object as it was built before it was printed into one
    /// buffer: from a `String` per header value, the XML body with LF line ends
    /// and `object`'s CRLF conversion.
    fn session_info_object_of_strings(info: &SessionInfo, crashed: bool) -> Vec<u8> {
        let mut headers = vec![
            ("From", address(info.from.as_str())),
            ("To", address(&info.to)),
            ("Date", header_value(&info.date)),
        ];
        if let Some(s) = &info.subject {
            headers.push(("Subject", header_value(s)));
        }
        headers.push((
            "Conversation-ID",
            header_value(info.key.conversation_id.as_str()),
        ));
        headers.push((
            "Contribution-ID",
            header_value(info.key.contribution_id.as_str()),
        ));
        if let Some(r) = &info.in_reply_to {
            headers.push(("InReplyTo-Contribution-ID", header_value(r.as_str())));
        }
        headers.push(("Content-Type", "Application/X-CPM-Session".into()));
        let invited: Vec<String> = info
            .invited
            .iter()
            .map(|u| xml_escape(u.as_str()))
            .collect();
        let mut body = format!(
            "<session>\n  <session-type>{}</session-type>\n  <sdp>{}</sdp>\n  <invited-participants>{}</invited-participants>\n",
            session_type_token(info.session_type),
            xml_escape(info.sdp.trim_end()),
            invited.join(" "),
        );
        if crashed {
            body.push_str("  <ended-by>crash</ended-by>\n");
        }
        body.push_str("</session>\n");
        object(&headers, body.as_bytes())
    }

    /// The one-buffer session info object is byte for byte the one built from
    /// strings: bare LFs, lone CRs and quotes in the SDP, several invited users
    /// with XML specials, addresses already in brackets, optional headers absent.
    #[test]
    fn session_info_object_in_one_buffer_is_the_same_bytes() {
        let sdps = [
            "m=message 2855 TCP/MSRP *\r\na=x:<&>\r\n",
            "v=0\nm=message 1 TCP/MSRP *\n\na=\"q\" 'a'\r\r\n  \n",
            "\nstarts with LF\rlone CR\r\nend",
            "",
        ];
        for (i, sdp) in sdps.iter().enumerate() {
            for crashed in [false, true] {
                let mut v = info();
                v.sdp = (*sdp).into();
                if i % 2 == 1 {
                    v.subject = None;
                    v.in_reply_to = None;
                    v.to = " <sip:bob@example.com>;tag=x\r\n".into();
                    v.session_type = SessionType::AdHoc;
                    v.invited = vec![
                        UserUri::new_canonical("sip:b&b@example.com"),
                        UserUri::new_canonical("sip:c<c>@example.com"),
                    ];
                }
                if i == 3 {
                    v.invited = vec![];
                }
                assert_eq!(
                    String::from_utf8_lossy(&session_info_object(&v, crashed)),
                    String::from_utf8_lossy(&session_info_object_of_strings(&v, crashed)),
                    "sdp {i}, crashed {crashed}"
                );
            }
        }
    }

    fn parts<'a>(
        recipients: &'a [String],
        content_type: &'a str,
        body: &'a [u8],
    ) -> MessageParts<'a> {
        MessageParts {
            conversation_id: "conv-1",
            contribution_id: Some("k1"),
            sender: "sip:alice@example.com",
            recipients,
            message_id: "m-1",
            content_type,
            body,
            date: "Thu, 26 Nov 2026 12:00:00 +0000",
            date_time: "2026-11-26T12:00:00Z",
        }
    }

    /// The message object as it was built before it was printed into one buffer
    /// (a `String` per header value, `format!` for the CPIM wrapper): the oracle
    /// the one-buffer printer must match byte for byte.
    fn reference_object(m: &MessageParts<'_>, direction: Direction) -> Vec<u8> {
        let to: Vec<String> = m.recipients.iter().map(|r| address(r)).collect();
        let mut headers = vec![
            ("From", address(m.sender)),
            ("To", to.join(", ")),
            ("Date", header_value(m.date)),
            ("Conversation-ID", header_value(m.conversation_id)),
        ];
        if let Some(c) = m.contribution_id {
            headers.push(("Contribution-ID", header_value(c)));
        }
        headers.push(("IMDN-Message-ID", header_value(m.message_id)));
        headers.push(("Message-Direction", direction.token().into()));
        headers.push(("Content-Type", "Message/CPIM".into()));
        if m.content_type.trim().eq_ignore_ascii_case("message/cpim") && !m.body.is_empty() {
            return object(&headers, m.body);
        }
        let mut cpim = format!(
            "From: {}\r\nTo: {}\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {}\r\nDateTime: {}\r\n\r\nContent-Type: {}\r\n\r\n",
            address(m.sender),
            to.first().map_or("", String::as_str),
            header_value(m.message_id),
            m.date_time,
            header_value(m.content_type),
        )
        .into_bytes();
        cpim.extend_from_slice(m.body);
        object(&headers, &cpim)
    }

    /// Both objects of a message, from `message_objects` and `message_object`, are
    /// what the reference builds: plain and wrapped bodies, empty ones (BODIES-1),
    /// bare LFs (first byte included), values with CR/LF, addresses with and without
    /// angle brackets, no recipient, several, no Contribution-ID.
    #[test]
    fn message_objects_match_the_reference_byte_for_byte() {
        let many = vec![
            " sip:bob@example.com ".to_owned(),
            "Carol <sip:carol@example.com>".to_owned(),
            "sip:x@e\r\nBcc: evil".to_owned(),
        ];
        let none: Vec<String> = Vec::new();
        let bodies: [&[u8]; 5] = [
            b"",
            b"hi",
            b"\nstarts with LF\r\nthen CRLF\nthen LF\n",
            b"From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\nx",
            b"\r\n\n",
        ];
        for recipients in [&many, &none] {
            for content_type in ["message/cpim", " Message/CPIM ", "text/plain", "te\nxt/x"] {
                for body in bodies {
                    for contribution_id in [Some("k1"), None, Some("k\r\n2")] {
                        let mut m = parts(recipients, content_type, body);
                        m.contribution_id = contribution_id;
                        m.message_id = "m\n-1";
                        let (sent, received) = message_objects(&m);
                        assert_eq!(sent, reference_object(&m, Direction::Sent));
                        assert_eq!(received, reference_object(&m, Direction::Received));
                        assert_eq!(message_object(&m, Direction::Received), received);
                        // The heads, where given, are the objects without the body.
                        let heads = message_heads(&m);
                        if let Some((sent_head, received_head)) = &heads {
                            assert_eq!([&sent_head[..], body].concat(), sent);
                            assert_eq!([&received_head[..], body].concat(), received);
                        }
                        // Given for every CPIM body the objects end with unchanged.
                        let plain_cpim = content_type.trim() == "message/cpim"
                            || content_type.trim() == "Message/CPIM";
                        let unchanged = matches!(
                            body,
                            b"hi" | b"From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\nx"
                        );
                        assert_eq!(heads.is_some(), plain_cpim && unchanged, "{body:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn message_object_per_direction_keeps_the_cpim_body() {
        let to = vec!["sip:bob@example.com".to_owned()];
        let cpim = b"From: <sip:anonymous@anonymous.invalid>\nTo: <sip:anonymous@anonymous.invalid>\n\nContent-Type: text/plain\n\nhi";
        let sent = String::from_utf8(message_object(
            &parts(&to, "message/cpim", cpim),
            Direction::Sent,
        ))
        .unwrap();
        assert!(sent.starts_with("From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\nConversation-ID: conv-1\r\nContribution-ID: k1\r\nIMDN-Message-ID: m-1\r\nMessage-Direction: sent\r\nContent-Type: Message/CPIM\r\n\r\nFrom: <sip:anonymous@anonymous.invalid>\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\nhi"));
        let received = String::from_utf8(message_object(
            &parts(&to, "message/cpim", cpim),
            Direction::Received,
        ))
        .unwrap();
        assert!(received.contains("Message-Direction: received\r\n"));
    }

    #[test]
    fn a_plain_body_is_wrapped_in_cpim() {
        let to = vec!["sip:bob@example.com".to_owned()];
        let text = String::from_utf8(message_object(
            &parts(&to, "text/plain", b"hello"),
            Direction::Received,
        ))
        .unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            body.starts_with("From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n"),
            "{body}"
        );
        assert!(body.contains("imdn.Message-ID: m-1\r\nDateTime: 2026-11-26T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nhello"), "{body}");
    }

    /// BODIES-1: a message whose body was not stored still shows its metadata, in
    /// a CPIM part without content.
    #[test]
    fn bodies_1_an_unstored_body_leaves_the_metadata() {
        let to = vec!["sip:bob@example.com".to_owned()];
        let text = String::from_utf8(message_object(
            &parts(&to, "message/cpim", b""),
            Direction::Received,
        ))
        .unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(
                "IMDN-Message-ID: m-1\r\nMessage-Direction: received\r\nContent-Type: Message/CPIM"
            ),
            "{head}"
        );
        assert!(
            body.starts_with("From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n"),
            "{body}"
        );
        assert!(body.contains("imdn.Message-ID: m-1\r\n"), "{body}");
        assert!(
            body.ends_with("Content-Type: message/cpim\r\n\r\n"),
            "{body}"
        );
    }

    #[test]
    fn group_state_lists_participants_escaped() {
        let mut i = info();
        i.session_type = SessionType::AdHoc;
        i.to = "sip:conf-factory@example.com".into();
        let p = [ParticipantRecord {
            user: UserUri::new_canonical("sip:c&d@example.com"),
            state: "joined".into(),
        }];
        let text = String::from_utf8(group_state_object(
            &i,
            &p,
            "sip:conf-1a2b@example.com",
            "D",
            "2026-11-26T12:00:00Z",
        ))
        .unwrap();
        assert!(text.contains("Content-Type: application/group-state-object+xml\r\n"));
        assert!(text.contains("<groupstate timestamp=\"2026-11-26T12:00:00Z\" lastfocussessionid=\"sip:conf-1a2b@example.com\" group-type=\"closed\">"), "{text}");
        assert!(
            text.contains("comm-addr=\"sip:c&amp;d@example.com\" state=\"joined\""),
            "{text}"
        );
    }

    #[test]
    fn mailbox_names_escape_the_delimiter() {
        assert_eq!(session_mailbox("c/1", "k%2"), "Default/c%2F1/k%252");
        assert_eq!(conversation_mailbox("c"), "Default/c");
        assert!(is_conversation_mailbox("Default/c%2F1"));
        for name in ["Default", "Default/", "Default/c/k", "INBOX", "Defaultx/c"] {
            assert!(!is_conversation_mailbox(name), "{name}");
        }
        assert_eq!(
            parent_conversation_mailbox("Default/c%2F1/k%252"),
            Some("Default/c%2F1")
        );
        assert_eq!(
            parent_conversation_mailbox("Default/c/k/x"),
            Some("Default/c")
        );
        for name in ["Default/c", "Default//k", "INBOX/a/b", "Default"] {
            assert_eq!(parent_conversation_mailbox(name), None, "{name}");
        }
    }

    #[test]
    fn dates_are_rfc5322_and_iso8601() {
        // 2026-11-26 12:00:00 UTC, a Thursday.
        let t = 1_795_694_400;
        assert_eq!(rfc5322_date(t), "Thu, 26 Nov 2026 12:00:00 +0000");
        assert_eq!(iso8601(t), "2026-11-26T12:00:00Z");
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }

    /// The object's body: bare LFs become CRLF, everything else byte for byte (the
    /// run-copying loop against the byte-by-byte rule it replaced).
    #[test]
    fn object_bodies_get_crlf_for_bare_lf_only() {
        fn byte_by_byte(body: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut prev = 0u8;
            for &b in body {
                if b == b'\n' && prev != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                prev = b;
            }
            out
        }
        let bodies: [&[u8]; 9] = [
            b"",
            b"\n",
            b"\r\n",
            b"\n\n",
            b"a\nb\r\nc\n",
            b"\r\r\n\n\rx",
            b"no line end",
            b"\xff\n\x00\r\n",
            b"end\r",
        ];
        for body in bodies {
            let whole = object(&[("A", "b".to_owned())], body);
            assert_eq!(
                whole,
                [&b"A: b\r\n\r\n"[..], &byte_by_byte(body)].concat(),
                "{body:?}"
            );
        }
    }
}
