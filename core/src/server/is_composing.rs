//! RFC 3994 "is composing" indications (`application/im-iscomposing+xml`, bare or as
//! the content of a `message/cpim` body), over MSRP or as a pager MESSAGE: relayed
//! like any message but never stored, numbered or counted as delivered. They are
//! not messages of the conversation, only the typing state of the moment (MSG-7,
//! PAGER-5 in `specs/one-to-one.md`).

use super::chat_log::{ChatSend, Origin};
use super::output::{ChatOutcome, Command};
use super::Server;
use crate::cpim::essence;
use crate::ids::SessionId;
use crate::record::StoredMessage;
use crate::uri::UserUri;
use crate::wire;

const IS_COMPOSING: &str = "application/im-iscomposing+xml";

/// Whether a body of `content_type` is an is-composing indication, bare or in CPIM.
pub(crate) fn is_composing(content_type: &str, body: &[u8]) -> bool {
    let ct = essence(content_type);
    if ct.eq_ignore_ascii_case(IS_COMPOSING) {
        return true;
    }
    ct.eq_ignore_ascii_case("message/cpim")
        && wire::cpim_codec::decode(body)
            .is_ok_and(|cpim| essence(&cpim.content_type).eq_ignore_ascii_case(IS_COMPOSING))
}

impl Server {
    /// Relays an is-composing indication from `chat.sender` on session `sid` to each
    /// recipient whose leg can take it, and answers it, without a `Persist`.
    pub(crate) fn relay_unstored(
        &mut self,
        sid: SessionId,
        chat: &ChatSend,
        recipients: Vec<UserUri>,
        origin: &Origin,
    ) {
        let Some(key) = self.sessions.get(&sid).map(|s| s.info().key.clone()) else {
            return;
        };
        let message = StoredMessage {
            key,
            // Not a message of the session: no sequence number.
            seq: 0,
            sender: chat.sender.clone(),
            recipients: recipients.clone(),
            message_id: chat.message_id.clone(),
            content_type: chat.content_type.clone(),
            body: chat.body.clone(),
        };
        for recipient in recipients {
            if !self.recipient_open(sid, &recipient) {
                continue;
            }
            match origin {
                // An indication is not a message: nothing waits for its bind.
                Origin::Msrp(_) => {
                    self.msrp_deliver(sid, &recipient, &message);
                }
                Origin::Typed => self.out.command(Command::ChatDeliver {
                    recipient,
                    message: message.clone(),
                }),
            }
        }
        self.answer_chat(
            &chat.contribution_id,
            &chat.sender,
            &chat.message_id,
            origin,
            ChatOutcome::Accepted,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_wrapped_indications_are_recognised() {
        assert!(is_composing("application/im-iscomposing+xml", b"<x/>"));
        assert!(is_composing(
            "Application/IM-isComposing+XML; charset=utf-8",
            b""
        ));
        let cpim = b"From: <sip:a@example.com>\r\nTo: <sip:b@example.com>\r\n\r\n\
Content-Type: application/im-iscomposing+xml\r\n\r\n<isComposing/>";
        assert!(is_composing("message/cpim", cpim));
        let text = b"From: <sip:a@example.com>\r\nTo: <sip:b@example.com>\r\n\r\n\
Content-Type: text/plain\r\n\r\nhello";
        assert!(!is_composing("message/cpim", text));
        assert!(!is_composing(
            "text/plain",
            b"application/im-iscomposing+xml"
        ));
    }
}
