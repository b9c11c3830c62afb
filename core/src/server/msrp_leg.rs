//! The server's MSRP endpoint on each leg (back-to-back MSRP, specs/msrp.md): the
//! per-leg state (own path and session-id, the terminal's path, who connects, the
//! bound connection, requests queued until it is bound, the chunk reassembler), the
//! SDP the server puts on a leg, and MSRP URI comparison (RFC 4975 §6.1, §7.3;
//! RFC 6714).
//!
//! What it is *not*: the handling of MSRP requests and the relay (see
//! `msrp_relay`), or the MSRP codec (`wire::msrp`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use super::command::Command;
use super::connections::CORE_CONN_BASE;
use super::timer::LegKey;
use super::Server;
use crate::ids::{ConnId, TransactionId};
use crate::msrp::reassembly::Reassembler;
use crate::msrp::{MsrpMessage, MsrpMethod, MsrpRequest};
use crate::sdp::{Sdp, SdpAttribute, SdpMedia};
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
    fn token(self) -> &'static str {
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
    /// The server's session-id on this leg (fresh per leg).
    pub(crate) session_id: String,
    /// The server's own URI on this leg (its `a=path`).
    pub(crate) local_path: String,
    /// The terminal's `a=path` (empty until its SDP is known).
    pub(crate) peer_path: Vec<String>,
    pub(crate) setup: Setup,
    /// The connection bound to this leg (MSRP-2).
    pub(crate) conn: Option<ConnId>,
    /// Encoded requests waiting for the connection to be bound (bounded: MSRP-9).
    pub(crate) queue: VecDeque<Vec<u8>>,
    /// `a=accept-types` / `a=accept-wrapped-types` the server advertises on this leg.
    pub(crate) accept_types: String,
    pub(crate) accept_wrapped: Option<String>,
    pub(crate) reassembler: Reassembler,
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
    pub(crate) legs: BTreeMap<LegKey, MsrpLeg>,
    /// Session-id (of the server's URI) → leg.
    pub(crate) by_session: BTreeMap<String, LegKey>,
    pub(crate) conns: BTreeMap<ConnId, MsrpConn>,
    /// Transaction ids of the server's own outgoing SENDs whose response is due
    /// (consumed when it arrives; bounded, oldest forgotten first).
    pub(crate) outgoing: VecDeque<TransactionId>,
}

/// Offset of the connection numbers of `MsrpConnect` above [`CORE_CONN_BASE`].
const MSRP_CONN_OFFSET: u64 = 1 << 61;

/// Most outgoing transactions remembered for their responses.
const MAX_OUTGOING: usize = 1024;

/// The media an SDP body describes for MSRP: path, setup, accept-types, and the
/// layout of all its m-lines (so that an answer can mirror them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PeerMedia {
    pub(crate) path: Vec<String>,
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
        Some(Self {
            path: m.msrp_path().into_iter().map(str::to_owned).collect(),
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

/// Default `a=accept-types` when the terminal's SDP named none.
const DEFAULT_ACCEPT: &str = "message/cpim";
/// Default `a=accept-wrapped-types`.
const DEFAULT_WRAPPED: &str = "text/plain message/imdn+xml";

impl Server {
    /// A new MSRP endpoint for `leg`: fresh session-id, the server's URI, the
    /// accept-types of `media` (the terminal's or the relayed SDP).
    fn new_msrp_leg(&mut self, leg: &LegKey, media: Option<&PeerMedia>, setup: Setup) {
        let session_id = self.ids.msrp_token();
        let local_path = own_uri(self.config.msrp.advertised, &session_id);
        let msrp = MsrpLeg {
            session_id: session_id.clone(),
            local_path,
            peer_path: Vec::new(),
            setup,
            conn: None,
            queue: VecDeque::new(),
            accept_types: media
                .and_then(|m| m.accept_types.clone())
                .unwrap_or_else(|| DEFAULT_ACCEPT.to_owned()),
            accept_wrapped: media
                .and_then(|m| m.accept_wrapped.clone())
                .or_else(|| Some(DEFAULT_WRAPPED.to_owned())),
            reassembler: Reassembler::new(),
            offer_lines: Vec::new(),
        };
        self.msrp.by_session.insert(session_id, leg.clone());
        self.msrp.legs.insert(leg.clone(), msrp);
    }

    /// The server answers a terminal's offer on `leg` (MSRP-1): the terminal's path is
    /// known; offer `passive` → the server is active, anything else → passive.
    /// Returns the answer SDP (`accept` names the types to advertise; the offer's
    /// when `None`).
    pub(crate) fn msrp_answer_offer(
        &mut self,
        leg: &LegKey,
        offer: &PeerMedia,
        accept: Option<&PeerMedia>,
    ) -> Vec<u8> {
        let setup = if offer.setup.as_deref() == Some("passive") {
            Setup::Active
        } else {
            Setup::Passive
        };
        self.new_msrp_leg(leg, Some(accept.unwrap_or(offer)), setup);
        if let Some(m) = self.msrp.legs.get_mut(leg) {
            m.peer_path = offer.path.clone();
            m.offer_lines = offer.lines.clone();
        }
        self.msrp_sdp(leg)
    }

    /// The server offers MSRP to a terminal on `leg` (`actpass`, MSRP-1), with the
    /// accept-types of `relayed` (the SDP it stands for). Returns the offer SDP.
    pub(crate) fn msrp_offer(&mut self, leg: &LegKey, relayed: Option<&PeerMedia>) -> Vec<u8> {
        self.new_msrp_leg(leg, relayed, Setup::Offered);
        self.msrp_sdp(leg)
    }

    /// The terminal answered the server's offer on `leg`: `active` → it connects;
    /// `passive` or no `a=setup` (RFC 4975: the offerer connects) → the server does.
    pub(crate) fn msrp_offer_answered(&mut self, leg: &LegKey, answer: &PeerMedia) {
        let Some(m) = self.msrp.legs.get_mut(leg) else {
            return;
        };
        m.peer_path = answer.path.clone();
        if m.setup == Setup::Offered {
            m.setup = if answer.setup.as_deref() == Some("active") {
                Setup::Passive
            } else {
                Setup::Active
            };
        }
        self.msrp_start(leg);
    }

    /// The accept-types the server advertises on `leg` become those of `media` (the
    /// other side's answer it stands for).
    pub(crate) fn msrp_accept_types(&mut self, leg: &LegKey, media: &PeerMedia) {
        if let Some(m) = self.msrp.legs.get_mut(leg) {
            if let Some(t) = &media.accept_types {
                m.accept_types = t.clone();
            }
            if media.accept_wrapped.is_some() {
                m.accept_wrapped = media.accept_wrapped.clone();
            }
        }
    }

    /// A re-offer or re-answer on `leg` (re-INVITE, UPDATE): the terminal's path may
    /// have changed; the connection stays (specs/msrp.md).
    pub(crate) fn msrp_learn(&mut self, leg: &LegKey, media: &PeerMedia) {
        if let Some(m) = self.msrp.legs.get_mut(leg) {
            if !media.path.is_empty() {
                m.peer_path = media.path.clone();
            }
        }
    }

    /// The SDP the server puts on `leg` (offer or answer): its own listener, path
    /// and setup role.
    pub(crate) fn msrp_sdp(&self, leg: &LegKey) -> Vec<u8> {
        let Some(m) = self.msrp.legs.get(leg) else {
            return Vec::new();
        };
        let addr = self.config.msrp.advertised;
        let ip = addr.ip().to_string();
        let mut attributes = vec![attr("accept-types", Some(&m.accept_types))];
        if let Some(w) = &m.accept_wrapped {
            attributes.push(attr("accept-wrapped-types", Some(w)));
        }
        attributes.push(attr("path", Some(&m.local_path)));
        attributes.push(attr("setup", Some(m.setup.token())));
        attributes.push(attr("sendrecv", None));
        let ours = SdpMedia {
            media: "message".into(),
            port: addr.port(),
            proto: "TCP/MSRP".into(),
            formats: vec!["*".into()],
            connection_address: None,
            attributes,
        };
        // An answer has one m-line per offered one, in order; those the server does
        // not take get port 0 (RFC 3264 §6, MSRP-11).
        let media = if m.offer_lines.is_empty() {
            vec![ours]
        } else {
            m.offer_lines
                .iter()
                .map(|line| match line {
                    None => ours.clone(),
                    Some((media, proto, formats)) => SdpMedia {
                        media: media.clone(),
                        port: 0,
                        proto: proto.clone(),
                        formats: formats.clone(),
                        connection_address: None,
                        attributes: Vec::new(),
                    },
                })
                .collect()
        };
        let sdp = Sdp {
            raw: String::new(),
            origin_address: ip.clone(),
            connection_address: Some(ip),
            attributes: Vec::new(),
            media,
        };
        wire::sdp::encode(&sdp).into_bytes()
    }

    /// Once the SDP exchange of `leg` is complete: if the server is the active
    /// party, it connects to the first hop of the terminal's path and binds the
    /// connection with an empty SEND (MSRP-2).
    pub(crate) fn msrp_start(&mut self, leg: &LegKey) {
        let Some(m) = self.msrp.legs.get(leg) else {
            return;
        };
        if m.setup != Setup::Active || m.conn.is_some() {
            return;
        }
        let Some(peer) = m.peer_path.first().and_then(|u| uri_socket(u)) else {
            self.out.event(super::command::Event::MsrpRefused {
                conn: None,
                reason: "terminal's msrp path has no ip address to connect to".into(),
            });
            return;
        };
        // Their own range above the core's SIP connections (CORE_CONN_BASE + n).
        let conn = ConnId::new(CORE_CONN_BASE + MSRP_CONN_OFFSET + self.ids.msrp_number());
        self.out.command(Command::MsrpConnect { conn, peer });
        let tid = TransactionId::new(self.ids.msrp_token());
        let Some(m) = self.msrp.legs.get_mut(leg) else {
            return;
        };
        let bind = MsrpRequest::new(
            tid.clone(),
            MsrpMethod::Send,
            m.peer_path.clone(),
            vec![m.local_path.clone()],
        );
        self.msrp.conns.entry(conn).or_default();
        self.out.command(Command::MsrpSend {
            conn,
            bytes: wire::msrp::encode(&MsrpMessage::Request(bind)),
        });
        self.note_outgoing(tid);
        self.msrp_bind(leg, conn);
    }

    /// Binds `conn` to `leg` and flushes what was queued for it.
    pub(crate) fn msrp_bind(&mut self, leg: &LegKey, conn: ConnId) {
        let Some(m) = self.msrp.legs.get_mut(leg) else {
            return;
        };
        if let Some(old) = m.conn.replace(conn) {
            if old != conn {
                if let Some(c) = self.msrp.conns.get_mut(&old) {
                    c.legs.remove(leg);
                }
            }
        }
        let queued: Vec<Vec<u8>> = m.queue.drain(..).collect();
        self.msrp
            .conns
            .entry(conn)
            .or_default()
            .legs
            .insert(leg.clone());
        for bytes in queued {
            self.out.command(Command::MsrpSend { conn, bytes });
        }
    }

    pub(crate) fn note_outgoing(&mut self, tid: TransactionId) {
        if self.msrp.outgoing.len() >= MAX_OUTGOING {
            self.msrp.outgoing.pop_front();
        }
        self.msrp.outgoing.push_back(tid);
    }

    /// Forgets the MSRP endpoint of a leg that is gone; a connection no leg uses any
    /// more is closed.
    pub(crate) fn forget_msrp_leg(&mut self, leg: &LegKey) {
        let Some(m) = self.msrp.legs.remove(leg) else {
            return;
        };
        self.msrp.by_session.remove(&m.session_id);
        if let Some(conn) = m.conn {
            let unused = self.msrp.conns.get_mut(&conn).is_some_and(|c| {
                c.legs.remove(leg);
                c.legs.is_empty()
            });
            if unused {
                self.msrp.conns.remove(&conn);
                self.out.command(Command::Close { conn });
            }
        }
    }

    /// Whether a message can be carried to `leg` over MSRP now or once bound: false
    /// only when its queue is full (MSRP-9).
    pub(crate) fn msrp_has_room(&self, leg: &LegKey) -> bool {
        self.msrp
            .legs
            .get(leg)
            .is_none_or(|m| m.conn.is_some() || m.queue.len() < self.config.msrp.max_queued)
    }
}

fn attr(name: &str, value: Option<&str>) -> SdpAttribute {
    SdpAttribute {
        name: name.to_owned(),
        value: value.map(str::to_owned),
    }
}

/// The server's MSRP URI: `msrp://<ip>:<port>/<session-id>;tcp`.
pub(crate) fn own_uri(addr: SocketAddr, session_id: &str) -> String {
    let host = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("msrp://{host}:{}/{session_id};tcp", addr.port())
}

/// An MSRP URI's parts as RFC 4975 §6.1 compares them: scheme and host
/// case-insensitive, port, session-id case-sensitive, transport case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MsrpUri {
    scheme: String,
    host: String,
    port: Option<u16>,
    pub(crate) session_id: String,
    transport: String,
}

/// Parses `msrp[s]://[userinfo@]host[:port][/session-id];transport`.
pub(crate) fn parse_uri(uri: &str) -> Option<MsrpUri> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "msrp" && scheme != "msrps" {
        return None;
    }
    let (rest, transport) = rest.split_once(';').unwrap_or((rest, ""));
    let transport = transport
        .split(';')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (authority, session_id) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some(MsrpUri {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        session_id: session_id.to_owned(),
        transport,
    })
}

/// The session-id of an MSRP URI (`None` when it does not parse).
pub(crate) fn session_of(uri: &str) -> Option<String> {
    parse_uri(uri).map(|u| u.session_id)
}

/// Where to connect for an MSRP URI whose host is an IP literal (the core resolves
/// no names).
pub(crate) fn uri_socket(uri: &str) -> Option<SocketAddr> {
    let u = parse_uri(uri)?;
    let ip: IpAddr = u.host.parse().ok()?;
    Some(SocketAddr::new(ip, u.port?))
}

/// RFC 4975 §7.3: the `From-Path` of a request must match the terminal's `a=path`
/// URI by URI; RFC 6714 relaxed: only the session-id of the last URI (the terminal's
/// own) counts.
pub(crate) fn paths_match(from_path: &[String], sdp_path: &[String], relaxed: bool) -> bool {
    if relaxed {
        let last = |p: &[String]| p.last().and_then(|u| session_of(u));
        return last(from_path).is_some() && last(from_path) == last(sdp_path);
    }
    from_path.len() == sdp_path.len()
        && from_path.iter().zip(sdp_path).all(|(a, b)| {
            let (Some(a), Some(b)) = (parse_uri(a), parse_uri(b)) else {
                return false;
            };
            a == b
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_compare_per_rfc4975() {
        let a = vec!["msrp://Host.Example:7394/abcD;TCP".to_owned()];
        let b = vec!["MSRP://host.example:7394/abcD;tcp".to_owned()];
        let c = vec!["msrp://host.example:7394/abcd;tcp".to_owned()];
        assert!(paths_match(&a, &b, false));
        assert!(!paths_match(&a, &c, false), "session-id is case-sensitive");
        let relay = vec![
            "msrp://10.0.0.9:2856/relay;tcp".to_owned(),
            "msrp://10.1.1.1:9/abcD;tcp".to_owned(),
        ];
        assert!(!paths_match(&relay, &a, false));
        assert!(paths_match(&relay, &a, true), "relaxed: last session-id");
        assert!(!paths_match(&c, &a, true));
    }

    #[test]
    fn uri_socket_needs_an_ip_literal() {
        assert_eq!(
            uri_socket("msrp://[::1]:2855/s;tcp"),
            Some("[::1]:2855".parse().unwrap())
        );
        assert_eq!(
            uri_socket("msrp://10.0.0.1:7/s;tcp"),
            Some("10.0.0.1:7".parse().unwrap())
        );
        assert_eq!(uri_socket("msrp://host.example:7/s;tcp"), None);
        assert_eq!(uri_socket("sip:x@y"), None);
        assert_eq!(
            own_uri("[::1]:9".parse().unwrap(), "x"),
            "msrp://[::1]:9/x;tcp"
        );
    }
}
