//! What the server knows of the MSRP media of each leg (specs/msrp.md): the per-leg
//! endpoint state (own path and session-id, the terminal's path, who connects, the
//! bound connection, requests queued until it is bound, the chunk reassembler), the
//! MSRP connections, and the media an SDP body offers.
//!
//! What it is *not*: what the server does with them (`msrp_leg`: endpoints, SDP,
//! binding; `msrp_relay`: MSRP requests) or MSRP URI parsing (`wire::msrp_uri`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::keys::LegKey;
use super::memo::Memo;
use crate::ids::ConnId;
use crate::msrp::reassembly::Reassembler;
use crate::sdp::Sdp;
use crate::wire::{self, msrp::MsrpDecoder};

/// Who opens the MSRP connection of a leg (RFC 4145 `a=setup` as RFC 6135 uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Setup {
    /// The server offered `actpass` and waits for the answer.
    Offered,
    /// The server connects (and sends the empty bind SEND).
    Active,
    /// The terminal connects to the server's listener.
    Passive,
}

impl Setup {
    pub(crate) fn token(self) -> &'static str {
        match self {
            Setup::Offered => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
        }
    }
}

/// The server's MSRP endpoint on one leg.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MsrpLeg {
    /// The server's session-id on this leg (fresh per leg); shared with its entry
    /// in [`MsrpState::by_session`].
    pub(crate) session_id: Arc<str>,
    /// The server's own URI on this leg (its `a=path`).
    pub(crate) local_path: String,
    /// The terminal's `a=path` (empty until its SDP is known).
    pub(crate) peer_path: Vec<String>,
    pub(crate) setup: Setup,
    /// MSRP over TLS on this leg (`msrps:`, `TCP/TLS/MSRP`): the terminal's offer
    /// or answer says so (specs/tls.md, TLS-11).
    pub(crate) tls: bool,
    /// The connection bound to this leg (MSRP-2).
    pub(crate) conn: Option<ConnId>,
    /// Encoded requests waiting for the connection to be bound (bounded: MSRP-9).
    pub(crate) queue: VecDeque<Vec<u8>>,
    /// The 1-to-1 messages in `queue`, delivered only when it is written out
    /// (`msrp_held`).
    pub(crate) held: Vec<super::chat_log::HeldMessage>,
    /// `a=accept-types` / `a=accept-wrapped-types` the server advertises on this leg.
    pub(crate) accept_types: String,
    pub(crate) accept_wrapped: Option<String>,
    pub(crate) reassembler: Reassembler,
    /// The last CPIM `From` value SEC-3 found to be this leg's user (a terminal
    /// writes the same one in every message): the same bytes again pass without
    /// parsing the URI (~4,000 instructions per message). A memo: the check is a
    /// pure function of the value and the leg's user, which never changes.
    pub(crate) from_ok: Memo<Option<Box<str>>>,
    /// When the server answers an offer on this leg: the offer's m-lines, which the
    /// answer mirrors (RFC 3264 §6; empty when the server is the offerer).
    pub(crate) offer_lines: Vec<OfferLine>,
}

/// One MSRP connection: its decode buffer and the legs bound to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct MsrpConn {
    pub(crate) decoder: MsrpDecoder,
    pub(crate) legs: BTreeSet<LegKey>,
}

/// Every MSRP endpoint of the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct MsrpState {
    /// Boxed: an endpoint is some 250 bytes, and a B-tree node holds room for
    /// eleven values whether it holds them or not.
    pub(crate) legs: BTreeMap<LegKey, Box<MsrpLeg>>,
    /// Session-id (of the server's URI) → leg.
    pub(crate) by_session: BTreeMap<Arc<str>, LegKey>,
    pub(crate) conns: BTreeMap<ConnId, MsrpConn>,
    /// The bytes of partial messages each leg's reassembler holds, for the legs
    /// holding any (LIM-5's all-legs cap; updated whenever a leg takes a chunk,
    /// the only time its reassembler changes, and dropped with the leg).
    pub(crate) pending_legs: BTreeMap<LegKey, u64>,
    /// The server's own outgoing SENDs whose response is due, by transaction id
    /// (consumed when it arrives; bounded, oldest forgotten first): each with its
    /// number in sending order, and [`MsrpState::outgoing_order`] the other way.
    /// Two maps, not one queue: a response found its SEND by a scan of up to
    /// 1,024 ids, the whole queue for a response to one already forgotten (with
    /// 16 sessions of 128 SENDs in flight, most of them).
    /// Keyed by the id's bits ([`own_tid_bits`]: the server's ids are 32 hex
    /// digits), not the id's text: a string comparison per B-tree step was ~1,000
    /// instructions per insert into a full map.
    pub(crate) outgoing: BTreeMap<u128, u64>,
    /// Sending number → transaction id (bits) of [`MsrpState::outgoing`].
    pub(crate) outgoing_order: BTreeMap<u64, u128>,
    /// The next sending number.
    pub(crate) outgoing_next: u64,
}

/// Offset of the connection numbers of `MsrpConnect` above [`crate::server::CORE_CONN_BASE`].
pub(crate) const MSRP_CONN_OFFSET: u64 = 1 << 61;

/// Most outgoing transactions remembered for their responses.
pub(crate) const MAX_OUTGOING: usize = 1024;

/// The media an SDP body describes for MSRP: path, setup, accept-types, and the
/// layout of all its m-lines (so that an answer can mirror them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PeerMedia {
    pub(crate) path: Vec<String>,
    /// The m-line is `TCP/TLS/MSRP`.
    pub(crate) tls: bool,
    pub(crate) setup: Option<String>,
    pub(crate) accept_types: Option<String>,
    pub(crate) accept_wrapped: Option<String>,
    /// Every m-line of the SDP in order: `None` for the MSRP one the server takes,
    /// `(media, proto, formats)` for the others.
    pub(crate) lines: Vec<OfferLine>,
}

/// One m-line of an offer, as an answer must mirror it (RFC 3264 §6): `None` is the
/// MSRP stream the server answers; `Some((media, proto, formats))` is a stream it
/// declines with port 0.
pub(crate) type OfferLine = Option<(String, String, Vec<String>)>;

impl PeerMedia {
    /// The MSRP media of an SDP (the first `m=message` section); `None` without one.
    pub(crate) fn of(sdp: &Sdp) -> Option<Self> {
        let m = sdp.message_media()?;
        let taken = sdp.media.iter().position(|x| std::ptr::eq(x, m));
        let lines = sdp
            .media
            .iter()
            .enumerate()
            .map(|(i, x)| {
                (Some(i) != taken).then(|| (x.media.clone(), x.proto.clone(), x.formats.clone()))
            })
            .collect();
        let session_setup = sdp
            .attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case("setup"))
            .and_then(|a| a.value.clone());
        // A path with a URI that is not an MSRP URI is no path: nothing is relayed
        // to it (offers with one are refused with 488 before, `offer_of`).
        let path = m.msrp_path();
        let path = if wire::msrp_uri::is_msrp_path(&path) {
            path.into_iter().map(str::to_owned).collect()
        } else {
            Vec::new()
        };
        Some(Self {
            path,
            tls: m.is_msrp_tls(),
            setup: m
                .attribute("setup")
                .map(str::to_owned)
                .or(session_setup)
                .map(|s| s.to_ascii_lowercase()),
            accept_types: m.attribute("accept-types").map(str::to_owned),
            accept_wrapped: m.attribute("accept-wrapped-types").map(str::to_owned),
            lines,
        })
    }

    /// The MSRP media of a body that should be an SDP (an undecodable one has none).
    pub(crate) fn of_body(body: &[u8]) -> Option<Self> {
        if body.is_empty() {
            return None;
        }
        wire::sdp::decode(body).ok().as_ref().and_then(Self::of)
    }
}

/// The 128 bits a transaction id of the server's own prints as 32 lowercase hex
/// digits (`IdGen::msrp_token`), or `None` for any other id. One-to-one between
/// such ids and their bits, so matching by the bits is matching by the id; a B-tree
/// of `u128`s compares two integers per step, where one of `TransactionId`s called
/// a string comparison (the due SENDs are up to 1,024, and every relayed message
/// adds one and its response removes one).
pub(crate) fn own_tid_bits(tid: &str) -> Option<u128> {
    let digits = tid.as_bytes();
    if digits.len() != 32 {
        return None;
    }
    let mut bits: u128 = 0;
    for &c in digits {
        // A table, not a `match` of two ranges per digit: every relayed message
        // reads two ids (its SEND's and the 200's).
        let d = HEX_DIGIT[usize::from(c)];
        if d > 0xf {
            return None;
        }
        bits = (bits << 4) | u128::from(d);
    }
    Some(bits)
}

/// The value of each lowercase hex digit, `0xff` for every other byte.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        let c = if i < 10 { b'0' + i } else { b'a' + i - 10 };
        table[c as usize] = i;
        i += 1;
    }
    table
};
