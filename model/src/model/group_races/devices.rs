//! Two devices of one invitee (specs/group.md "Every device of a participant",
//! GRP-31): carol is registered on two devices of this file's own, not the terminal
//! C (whose binding is removed in the initial state), so the focus forks its group
//! INVITE to both. Each device rings, may answer 2xx at any moment, answers a
//! CANCEL that finds it ringing with 487, and answers BYE. What the server sends a
//! device waits in its inbox (a TCP connection: FIFO, lossless) until the device
//! reads it; what a device sends reaches the server in the same step.
//!
//! GRP-31 is judged on what the server sends: a device is in the group from the
//! server's ACK of its 2xx until the server's BYE. At most one device is in after
//! any step; in an end state every 2xx was ACKed and exactly one device is in.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use cpmd_core::server::{Flow, Transport};
use cpmd_core::shared::Shared;
use cpmd_core::sip::{MediaType, Method, Request, SipMessage, StatusCode};
use cpmd_core::testing;
use cpmd_core::{CallId, ConnId, Tag};

use super::{RaceAction, RaceReached};
use crate::model::{note, note_local, Action, CpmModel, Log, Node, Reached, State, NOW};
use crate::terminal::{self, Term};

/// One of carol's devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Device {
    /// What the server sent it and it has not read yet, oldest first.
    pub inbox: Vec<Shared<SipMessage>>,
    /// The group INVITE it rings for (read, not answered).
    pub ringing: Option<Request>,
    /// It answered the group INVITE 2xx.
    pub answered: bool,
    /// The server ACKed its 2xx (observed as sent).
    pub acked: bool,
    /// The server sent it a BYE (observed as sent).
    pub byed: bool,
}

impl Device {
    /// In the group as the server has it: 2xx ACKed, not ended.
    fn joined(&self) -> bool {
        self.acked && !self.byed
    }
}

/// Device `i`'s address (10.0.0.5, 10.0.0.6).
fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 5 + i as u8), 5060)
}

fn flow(i: usize) -> Flow {
    Flow {
        transport: Transport::Tcp,
        conn: ConnId::new(105 + i as u64),
        peer: SocketAddr::V4(addr(i)),
    }
}

fn device_of(peer: SocketAddr) -> Option<usize> {
    (0..2).find(|i| SocketAddr::V4(addr(*i)) == peer)
}

fn tag(i: usize) -> Tag {
    Tag::new(format!("carol-dev{i}"))
}

impl CpmModel {
    /// Carol's devices register; the terminal C's binding goes (Expires: 0), so the
    /// focus invites carol on these two devices only.
    pub(super) fn devices_init(&self, st: &mut State) {
        let mut gone = terminal::register(Term::C, Transport::Tcp);
        gone.headers.expires = Some(0);
        gone.headers.cseq.seq += 1;
        st.server
            .handle_message(NOW, Term::C.flow(Transport::Tcp), SipMessage::Request(gone));
        for i in 0..2 {
            let contact = testing::contact("carol", addr(i));
            let sender = testing::Sender::new(
                Term::C.uri(),
                &Tag::new(format!("carol-dev{i}-reg")),
                CallId::new(format!("carol-dev{i}-call-reg")),
                testing::via(Transport::Tcp, addr(i), &format!("carol-dev{i}-reg")),
                contact,
            );
            let reg = testing::register(terminal::DOMAIN, Term::C.uri(), 3600, sender);
            st.server
                .handle_message(NOW, flow(i), SipMessage::Request(reg));
        }
        while st.server.poll_command().is_some() {}
        while st.server.poll_event().is_some() {}
    }

    pub(super) fn device_actions(&self, st: &State, out: &mut Vec<Action>) {
        for (i, d) in st.races.devices.iter().enumerate() {
            if !d.inbox.is_empty() {
                out.push(Action::Race(RaceAction::DeviceReceives(i)));
            }
            if d.ringing.is_some() {
                out.push(Action::Race(RaceAction::DeviceAnswers(i)));
            }
        }
    }

    /// What the server sends to an address that is no terminal's: a device's inbox
    /// (and the observer's view of ACKs and BYEs). Returns whether it was a device's.
    pub(in crate::model) fn device_transmit(
        &self,
        st: &mut State,
        peer: SocketAddr,
        msg: SipMessage,
        log: &mut Log,
    ) -> bool {
        if !self.setup.races.devices {
            return false;
        }
        let Some(i) = device_of(peer) else {
            return false;
        };
        note(
            log,
            Node::Server,
            Node::T(Term::C),
            format!("dev{i}: {}", super::super::describe(&msg)),
        );
        if let SipMessage::Request(r) = &msg {
            let races = &mut *st.races;
            let d = &mut races.devices[i];
            if r.method == Method::Ack && d.answered {
                d.acked = true;
            }
            if r.method == Method::Bye {
                d.byed = true;
            }
            if races.devices.iter().any(Device::joined) && st.term(Term::B).group.is_some() {
                st.ghost.reach(Reached::GroupJoined);
            }
        }
        st.races.devices[i].inbox.push(msg.into());
        true
    }

    /// Device `i` reads the oldest thing the server sent it.
    pub(super) fn device_receives(&self, st: &mut State, i: usize, log: &mut Log) {
        let msg = st.races.devices[i].inbox.remove(0);
        let SipMessage::Request(req) = Shared::unwrap_or_clone(msg) else {
            // The devices send no requests: nothing to read in a response.
            return;
        };
        match req.method {
            Method::Invite => {
                note_local(log, Term::C, format!("dev{i} rings"));
                st.races.devices[i].ringing = Some(req);
            }
            Method::Ack => {}
            Method::Cancel => {
                self.device_reply(st, i, &req, StatusCode::OK, log);
                if let Some(invite) = st.races.devices[i].ringing.take() {
                    let terminated = StatusCode::new(487).expect("487 is a status code");
                    self.device_reply(st, i, &invite, terminated, log);
                    st.races.reach(RaceReached::DeviceCancelled);
                }
            }
            Method::Bye => {
                if st.races.devices[i].answered {
                    st.races.reach(RaceReached::CrossingTwoHundred);
                }
                self.device_reply(st, i, &req, StatusCode::OK, log);
            }
            Method::Register
            | Method::Options
            | Method::Message
            | Method::Update
            | Method::Info
            | Method::Prack
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Publish
            | Method::Other(_) => self.device_reply(st, i, &req, StatusCode::OK, log),
        }
    }

    /// Device `i` answers the INVITE it rings for with 2xx and its SDP.
    pub(super) fn device_answers(&self, st: &mut State, i: usize, log: &mut Log) {
        let Some(invite) = st.races.devices[i].ringing.take() else {
            return;
        };
        st.races.devices[i].answered = true;
        self.device_reply(st, i, &invite, StatusCode::OK, log);
    }

    fn device_reply(
        &self,
        st: &mut State,
        i: usize,
        req: &Request,
        status: StatusCode,
        log: &mut Log,
    ) {
        let to_tag = req.headers.to.tag().is_none().then(|| tag(i));
        let mut resp = testing::response(
            req,
            status,
            to_tag.as_ref(),
            testing::contact("carol", addr(i)),
        );
        if req.method == Method::Invite && status.is_success() {
            resp.headers.content_type = Some(MediaType::new("application", "sdp"));
            resp.body = Term::C.sdp().into_bytes();
        }
        let msg = SipMessage::Response(resp);
        note(
            log,
            Node::T(Term::C),
            Node::Server,
            format!("dev{i}: {}", super::super::describe(&msg)),
        );
        st.server.handle_message(NOW, flow(i), msg);
    }
}

/// GRP-31: never two of carol's devices in the group after a step; in an end state every 2xx was
/// ACKed and, if any device answered 2xx, exactly one is in.
pub(super) fn grp_31(model: &CpmModel, st: &State) -> bool {
    // Judged after each step: the server ACKs a losing device's crossing 2xx and
    // sends its BYE in one step.
    let d = &st.races.devices;
    if d.iter().filter(|d| d.joined()).count() > 1 {
        return false;
    }
    if !model.is_end(st) {
        return true;
    }
    let all_acked = d.iter().all(|d| !d.answered || d.acked);
    let any = d.iter().any(|d| d.answered);
    all_acked && (!any || d.iter().filter(|d| d.joined()).count() == 1)
}
