//! Reading one stored object as IMAP sees it: the header block, header fields, the
//! text, BODYSTRUCTURE and ENVELOPE of an RFC 5322 message.
//!
//! Stored objects are single-part (session info object, group state object,
//! `Message/CPIM` message objects, standalone messages): part 1 is the text. This is
//! not a MIME parser: multipart bodies are described as their top-level type only.

use imap_next::imap_types::body::{BasicFields, Body, BodyStructure, SpecificFields};
use imap_next::imap_types::core::{IString, NString};
use imap_next::imap_types::envelope::{Address, Envelope};

/// One header field: its name and where its raw lines (with continuations and the
/// final line end) sit in the object.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    start: usize,
    end: usize,
}

/// An object split into header fields and text.
#[derive(Debug)]
pub struct Parsed<'a> {
    raw: &'a [u8],
    fields: Vec<Field>,
    /// Offset just past the blank line that ends the header (or the object's end).
    header_end: usize,
}

impl<'a> Parsed<'a> {
    /// Splits `raw` (CRLF or bare LF line ends) at the first empty line.
    pub fn new(raw: &'a [u8]) -> Self {
        let mut fields: Vec<Field> = Vec::new();
        let mut pos = 0;
        let mut header_end = raw.len();
        while pos < raw.len() {
            let end = raw[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(raw.len(), |i| pos + i + 1);
            let line = &raw[pos..end];
            if line == b"\r\n" || line == b"\n" {
                header_end = end;
                break;
            }
            if matches!(line.first(), Some(b' ' | b'\t')) {
                if let Some(last) = fields.last_mut() {
                    last.end = end;
                }
            } else if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = String::from_utf8_lossy(&line[..colon]).trim().to_owned();
                fields.push(Field {
                    name,
                    start: pos,
                    end,
                });
            }
            pos = end;
        }
        Self {
            raw,
            fields,
            header_end,
        }
    }

    /// The header block including the blank line that ends it (`BODY[HEADER]`).
    pub fn header(&self) -> &'a [u8] {
        &self.raw[..self.header_end]
    }

    /// Everything after the blank line (`BODY[TEXT]`, `BODY[1]`).
    pub fn text(&self) -> &'a [u8] {
        &self.raw[self.header_end..]
    }

    /// The raw lines of the fields named (or, with `not`, of all others) in object
    /// order, followed by the blank line (`BODY[HEADER.FIELDS (...)]`).
    pub fn header_fields(&self, names: &[String], not: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.fields {
            let listed = names.iter().any(|n| n.eq_ignore_ascii_case(&f.name));
            if listed != not {
                out.extend_from_slice(&self.raw[f.start..f.end]);
                if !out.ends_with(b"\n") {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The unfolded values of every field called `name` (case-insensitive).
    pub fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = String> + 's {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| {
                let line = &self.raw[f.start..f.end];
                let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
                let value = String::from_utf8_lossy(&line[colon + 1..]);
                value
                    .split(['\r', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
    }

    /// The first value of `name`.
    pub fn value(&self, name: &str) -> Option<String> {
        self.values(name).next()
    }

    /// BODYSTRUCTURE (and BODY) of the object, as one part.
    pub fn body_structure(&self) -> BodyStructure<'static> {
        let content_type = self
            .value("Content-Type")
            .unwrap_or_else(|| "text/plain; charset=us-ascii".into());
        let mut parts = content_type.split(';');
        let mime = parts.next().unwrap_or("text/plain").trim();
        let (kind, subtype) = mime
            .split_once('/')
            .unwrap_or(("application", "octet-stream"));
        let parameter_list = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                let v = v.trim().trim_matches('"');
                Some((istr(k.trim()), istr(v)))
            })
            .collect();
        let text = self.text();
        let encoding = self
            .value("Content-Transfer-Encoding")
            .unwrap_or_else(|| "7BIT".into());
        let basic = BasicFields {
            parameter_list,
            id: nstr(self.value("Content-ID").as_deref()),
            description: nstr(self.value("Content-Description").as_deref()),
            content_transfer_encoding: istr(&encoding),
            size: u32::try_from(text.len()).unwrap_or(u32::MAX),
        };
        let specific = if kind.eq_ignore_ascii_case("text") {
            let lines = text.iter().filter(|&&b| b == b'\n').count();
            SpecificFields::Text {
                subtype: istr(subtype),
                number_of_lines: u32::try_from(lines).unwrap_or(u32::MAX),
            }
        } else {
            SpecificFields::Basic {
                r#type: istr(kind),
                subtype: istr(subtype),
            }
        };
        BodyStructure::Single {
            body: Body { basic, specific },
            extension_data: None,
        }
    }

    /// ENVELOPE of the object (addresses split as `mailbox@host`; SIP and tel URIs
    /// keep their scheme in the mailbox part).
    pub fn envelope(&self) -> Envelope<'static> {
        let from = addresses(self.value("From").as_deref());
        let sender = addresses(self.value("Sender").as_deref());
        let reply_to = addresses(self.value("Reply-To").as_deref());
        Envelope {
            date: nstr(self.value("Date").as_deref()),
            subject: nstr(self.value("Subject").as_deref()),
            // RFC 3501: sender and reply-to default to from.
            sender: if sender.is_empty() {
                from.clone()
            } else {
                sender
            },
            reply_to: if reply_to.is_empty() {
                from.clone()
            } else {
                reply_to
            },
            from,
            to: addresses(self.value("To").as_deref()),
            cc: addresses(self.value("Cc").as_deref()),
            bcc: addresses(self.value("Bcc").as_deref()),
            in_reply_to: nstr(self.value("In-Reply-To").as_deref()),
            message_id: nstr(self.value("Message-ID").as_deref()),
        }
    }
}

/// An IMAP string (quoted when it can be, else a literal).
pub fn istr(s: &str) -> IString<'static> {
    IString::try_from(s.to_owned()).unwrap_or_else(|_| {
        // Only NUL bytes are refused by both forms; stored text has none, but a
        // value must never take the connection down.
        IString::try_from(s.replace('\0', "")).unwrap_or_else(|_| IString::try_from("").unwrap())
    })
}

/// An IMAP nstring: NIL for `None`.
pub fn nstr(s: Option<&str>) -> NString<'static> {
    NString(s.map(istr))
}

/// Bytes as an nstring (a literal when they are not quotable). NUL bytes, which no
/// IMAP string may carry, are dropped.
pub fn nbytes(bytes: &[u8]) -> NString<'static> {
    match NString::try_from(bytes.to_vec()) {
        Ok(n) => n,
        Err(_) => {
            let clean: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
            NString::try_from(clean).unwrap_or(NString(None))
        }
    }
}

/// Splits an address-list header (`"Alice" <sip:alice@example.com>, <tel:+1555>`).
fn addresses(value: Option<&str>) -> Vec<Address<'static>> {
    let Some(value) = value else {
        return Vec::new();
    };
    let mut items = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                items.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&value[start..]);
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, addr) = match (item.find('<'), item.rfind('>')) {
                (Some(lt), Some(gt)) if lt < gt => {
                    let name = item[..lt].trim().trim_matches('"').trim();
                    (
                        (!name.is_empty()).then(|| name.to_owned()),
                        &item[lt + 1..gt],
                    )
                }
                _ => (None, item),
            };
            let (mailbox, host) = addr.rsplit_once('@').unwrap_or((addr, ""));
            Address {
                name: nstr(name.as_deref()),
                adl: NString(None),
                mailbox: nstr(Some(mailbox)),
                // An empty host, never NIL: NIL would make it a group marker.
                host: nstr(Some(host)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJ: &[u8] = b"From: <sip:alice@example.com>\r\nTo: \"Bob\" <sip:bob@example.com>\r\nSubject: a\r\n long one\r\nContent-Type: Application/X-CPM-Session\r\n\r\n<session/>\r\n";

    #[test]
    fn header_text_and_fields_split_at_the_blank_line() {
        let p = Parsed::new(OBJ);
        assert!(p.header().ends_with(b"Session\r\n\r\n"));
        assert_eq!(p.text(), b"<session/>\r\n");
        assert_eq!(p.value("subject").as_deref(), Some("a long one"));
        assert_eq!(
            p.header_fields(&["SUBJECT".into()], false),
            b"Subject: a\r\n long one\r\n\r\n"
        );
        let not = p.header_fields(&["subject".into(), "content-type".into()], true);
        assert_eq!(
            not,
            b"From: <sip:alice@example.com>\r\nTo: \"Bob\" <sip:bob@example.com>\r\n\r\n"
        );
    }

    #[test]
    fn structure_and_envelope_follow_the_headers() {
        let p = Parsed::new(OBJ);
        let BodyStructure::Single { body, .. } = p.body_structure() else {
            panic!("single part expected");
        };
        assert_eq!(body.basic.size, 12);
        match body.specific {
            SpecificFields::Basic { r#type, subtype } => {
                assert_eq!(r#type.as_ref(), b"Application");
                assert_eq!(subtype.as_ref(), b"X-CPM-Session");
            }
            other @ (SpecificFields::Message { .. } | SpecificFields::Text { .. }) => {
                panic!("basic expected, got {other:?}")
            }
        }
        let env = p.envelope();
        assert_eq!(env.to.len(), 1);
        assert_eq!(env.to[0].mailbox, nstr(Some("sip:bob")));
        assert_eq!(env.to[0].host, nstr(Some("example.com")));
        assert_eq!(env.to[0].name, nstr(Some("Bob")));
        assert_eq!(env.sender, env.from);
    }

    #[test]
    fn an_object_without_a_blank_line_is_all_header() {
        let p = Parsed::new(b"From: x\r\n");
        assert_eq!(p.text(), b"");
        assert_eq!(p.header(), b"From: x\r\n");
    }
}
