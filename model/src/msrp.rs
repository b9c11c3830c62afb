//! The terminals' MSRP side (specs/msrp.md): which connection a terminal's leg uses,
//! how a terminal cuts its chat message into SENDs (whole, a first chunk, the last
//! chunk, an abort `#`), what it asks for in `Failure-Report`/`Success-Report`, and
//! how the model reads back the bytes the server writes (`Command::MsrpSend`).
//!
//! What it is *not*: an MSRP stack. Every identifier is derived from the message's
//! identity ([`Msg`]) so the same path always yields the same bytes and the checker
//! merges equal states; the server's side is the core's own (`msrp_relay.rs`).

use cpmd_core::msrp::{
    ByteRange, Continuation, FailureReport, MsrpMessage, MsrpMethod, MsrpRequest, MsrpResponse,
};
use cpmd_core::wire::{self, Limits};
use cpmd_core::{ConnId, TransactionId};

use crate::model::{Msg, Sess};
use crate::terminal::Term;

/// The server's `chunk_size` in the MSRP configurations: every model message id
/// (`alice-one-1`, 11 bytes and more) goes out in two chunks.
pub const CHUNK: usize = 8;

/// Which part of a message a SEND carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The whole message in one SEND (`$`).
    Whole,
    /// The first `CHUNK` bytes (`+`).
    First,
    /// The rest (`$`).
    Last,
    /// The rest, aborted (`#`): the message is dropped (RFC 4975 §7.1.1).
    Abort,
}

impl Part {
    fn index(self) -> u8 {
        match self {
            Part::Whole => 0,
            Part::First => 1,
            Part::Last => 2,
            Part::Abort => 3,
        }
    }

    fn from_index(i: u8) -> Option<Part> {
        [Part::Whole, Part::First, Part::Last, Part::Abort]
            .into_iter()
            .find(|p| p.index() == i)
    }

    /// Whether the SEND ends the message (its answer is the message's outcome).
    pub fn is_final(self) -> bool {
        match self {
            Part::Whole | Part::Last => true,
            Part::First | Part::Abort => false,
        }
    }
}

/// Index of a session in per-leg arrays (`Sess::Other`, the attacker's, has no leg).
pub fn leg_index(sess: Sess) -> Option<usize> {
    match sess {
        Sess::One => Some(0),
        Sess::Group => Some(1),
        Sess::Other => None,
    }
}

/// The MSRP connection a terminal opened for its leg of `sess` (the terminals are
/// the active party: they connect, the runtime numbers the accepted connection).
pub fn conn(t: Term, leg: usize) -> ConnId {
    ConnId::new(500 + 10 * leg as u64 + t.index() as u64)
}

/// The terminal and leg index of one of [`conn`]'s connections.
pub fn leg_of_conn(c: ConnId) -> Option<(Term, usize)> {
    Term::ALL
        .into_iter()
        .flat_map(|t| [(t, 0), (t, 1)])
        .find(|(t, l)| conn(*t, *l) == c)
}

/// The terminal's own `a=path` URI (`Term::sdp`).
pub fn own_path(t: Term) -> String {
    format!("msrp://10.0.0.{}:7000/{}-s;tcp", t.index() + 1, t.name())
}

/// The `a=path` of an SDP body (the server's URI on the terminal's leg).
pub fn path_of(sdp: &[u8]) -> Option<String> {
    std::str::from_utf8(sdp)
        .ok()?
        .lines()
        .find_map(|l| l.trim().strip_prefix("a=path:"))
        .map(str::to_owned)
}

/// What `msg`'s sender asks for: A every response and a success REPORT, B failures
/// only, C nothing (the three `Failure-Report` values of MSRP-4).
pub fn reports(msg: Msg) -> (FailureReport, bool) {
    match msg.sender {
        Term::A | Term::M => (FailureReport::Yes, true),
        Term::B => (FailureReport::Partial, false),
        Term::C => (FailureReport::No, false),
    }
}

/// The transaction id of `part` of `msg`.
fn tid(msg: Msg, part: Part) -> TransactionId {
    TransactionId::new(format!("{}.{}", msg.id().as_str(), part.index()))
}

/// The message and part a transaction id of [`tid`] names.
pub fn parse_tid(tid: &TransactionId) -> Option<(Msg, Part)> {
    let (id, part) = tid.as_str().rsplit_once('.')?;
    let msg = Msg::parse(&cpmd_core::MessageId::new(id))?;
    Some((msg, Part::from_index(part.parse().ok()?)?))
}

/// The empty SEND that binds the terminal's connection to its leg (MSRP-2).
pub fn bind(t: Term, leg: usize, server_path: &str) -> Vec<u8> {
    let tid = TransactionId::new(format!("{}-bind-{leg}", t.name()));
    let req = MsrpRequest::new(
        tid,
        MsrpMethod::Send,
        vec![server_path.to_owned()],
        vec![own_path(t)],
    );
    wire::msrp::encode(&MsrpMessage::Request(req))
}

/// One SEND of `msg` on the sender's leg: the body is the message id itself, so the
/// recipient's copy tells which message it is and whether it came whole.
pub fn send(msg: Msg, part: Part, server_path: &str) -> Vec<u8> {
    let body = msg.id().as_str().as_bytes().to_vec();
    let total = body.len() as u64;
    let cut = CHUNK.min(body.len());
    let (start, data, flag) = match part {
        Part::Whole => (0, &body[..], Continuation::Complete),
        Part::First => (0, &body[..cut], Continuation::More),
        Part::Last => (cut, &body[cut..], Continuation::Complete),
        Part::Abort => (cut, &body[cut..], Continuation::Aborted),
    };
    let mut req = MsrpRequest::new(
        tid(msg, part),
        MsrpMethod::Send,
        vec![server_path.to_owned()],
        vec![own_path(msg.sender)],
    );
    let (failure, success) = reports(msg);
    req.failure_report = failure;
    req.success_report = success.then_some(true);
    req.message_id = Some(msg.id().as_str().to_owned());
    req.byte_range = Some(ByteRange {
        start: start as u64 + 1,
        end: Some((start + data.len()) as u64),
        total: Some(total),
    });
    req.content_type = Some("text/plain".into());
    req.body = data.to_vec();
    req.continuation = flag;
    wire::msrp::encode(&MsrpMessage::Request(req))
}

/// A terminal's 200 to one of the server's SENDs.
pub fn ok(t: Term, req: &MsrpRequest) -> Vec<u8> {
    let resp = MsrpResponse {
        transaction_id: req.transaction_id.clone(),
        status: 200,
        comment: Some("OK".into()),
        to_path: req.from_path.first().cloned().into_iter().collect(),
        from_path: vec![own_path(t)],
        other: Vec::new(),
    };
    wire::msrp::encode(&MsrpMessage::Response(resp))
}

/// A terminal's success REPORT on a message the server relayed to it (`req`, its
/// last chunk; `total` the message's size): MSRP-5 says the server never answers it.
pub fn report(t: Term, req: &MsrpRequest, total: u64) -> Vec<u8> {
    let mut rep = MsrpRequest::new(
        // RFC 4975 §9: a transaction id is at most 32 characters.
        TransactionId::new(format!("{}-report", t.name())),
        MsrpMethod::Report,
        req.from_path.first().cloned().into_iter().collect(),
        vec![own_path(t)],
    );
    rep.message_id = req.message_id.clone();
    rep.byte_range = Some(ByteRange {
        start: 1,
        end: Some(total),
        total: Some(total),
    });
    rep.status = Some((200, Some("OK".into())));
    wire::msrp::encode(&MsrpMessage::Request(rep))
}

/// The `a=setup` role of an SDP body.
pub fn setup_of(sdp: &[u8]) -> Option<String> {
    std::str::from_utf8(sdp)
        .ok()?
        .lines()
        .find_map(|l| l.trim().strip_prefix("a=setup:"))
        .map(str::to_owned)
}

/// The MSRP messages in what the server wrote (whole messages only).
pub fn decode_all(bytes: &[u8]) -> Vec<MsrpMessage> {
    let limits = Limits::default();
    let mut dec = wire::msrp::MsrpDecoder::default();
    dec.push(bytes);
    let mut out = Vec::new();
    while let Some(Ok(m)) = dec.next_message(&limits) {
        out.push(m);
    }
    out
}
