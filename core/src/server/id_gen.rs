//! Minting of tags, branches, Call-IDs and UUIDs from the injected [`Seed`] and a
//! counter in state, through the keyed PRF of [`super::token`]: deterministic for a
//! given seed (the model and tests replay exactly), unpredictable without the key,
//! unique across boots and instances (the key differs). The counters never reach the
//! wire.
//!
//! The server's own non-2xx answers outside any dialog take a tag of the request
//! itself ([`IdGen::answer_tag`]): a keyed PRF of its identity, from no counter.
//!
//! Tags, branches (after `z9hG4bK`) and Call-IDs are 22 base64url digits of 128 PRF
//! bits ([`token::b64url_digits`]): a tag or Call-ID is held inline (24 bytes) in
//! every copy a message, key or record makes. Call-IDs carry no `@host` (RFC 3261
//! §8.1.1.4 makes it optional; the key, not the host, makes them unique).

use super::config::Seed;
use super::memo::Memo;
use super::token::{self, Stream};
use crate::ids::{Branch, CallId, ConversationId, Tag};
use crate::sip::Response;
use compact_str::CompactString;

/// First connection number the core hands out for its own `Connect`s (a range far
/// above the numbers a runtime hands out, so the two never collide).
pub const CORE_CONN_BASE: u64 = 1 << 62;

/// The counter-based token source. Part of the server state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct IdGen {
    seed: Seed,
    counter: u64,
    /// MSRP ids count separately, so the SIP ids a session mints do not depend on
    /// its MSRP media (recorded traces replay with the same tags and Call-IDs).
    msrp_counter: u64,
    /// The SIP and UUID streams' generators, left at the next token: setting up a
    /// generator is ~1,300 instructions, reading on a few dozen (a session mints
    /// a handful of tokens a few counter values apart).
    sip_rng: Memo<Option<token::Sequential>>,
    uuid_rng: Memo<Option<token::Sequential>>,
    /// The MSRP stream's generator, left at the next token (two or more MSRP
    /// tokens are minted per relayed message, one after the other).
    msrp_rng: Memo<Option<token::Sequential>>,
    /// Store tickets' own counter.
    tickets: u64,
    /// The key of the dialogs' branch streams, a function of the seed (hence a
    /// memo: equal and hashed as nothing, like the generators above).
    leg_key: Memo<SecretKey>,
    /// The key of the tags of the server's own non-2xx answers ([`token::answer_key`],
    /// a function of the seed: a memo like `leg_key`).
    answer_key: Memo<SecretKey>,
}

/// A key derived from the seed (the dialogs' branch key, [`token::leg_key`]; the
/// answers' tag key, [`token::answer_key`]); its `Debug` does not print it.
#[derive(Clone)]
struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A dialog's branch stream: the number the server gave the leg when it made it,
/// and how many branches it has minted on it. Part of the leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LegStream {
    number: u64,
    minted: u64,
}

impl IdGen {
    pub(crate) fn new(seed: Seed) -> Self {
        Self {
            seed,
            counter: 0,
            msrp_counter: 0,
            msrp_rng: Memo(None),
            sip_rng: Memo(None),
            uuid_rng: Memo(None),
            tickets: 0,
            leg_key: Memo(SecretKey(token::leg_key(&seed))),
            answer_key: Memo(SecretKey(token::answer_key(&seed))),
        }
    }

    /// A new leg's branch stream, numbered from the server-wide counter.
    pub(crate) fn leg_stream(&mut self) -> LegStream {
        LegStream {
            number: self.next_number(),
            minted: 0,
        }
    }

    /// The next branch of a leg's stream.
    pub(crate) fn leg_branch(&self, stream: &mut LegStream) -> Branch {
        self.numbered_leg_branch(stream).0
    }

    /// The next branch of a leg's stream and its place in it, so that the same
    /// branch can be made again later ([`Self::leg_branch_at`]) without keeping it.
    pub(crate) fn numbered_leg_branch(&self, stream: &mut LegStream) -> (Branch, u64) {
        stream.minted += 1;
        (self.leg_branch_at(stream, stream.minted), stream.minted)
    }

    /// The branch [`Self::numbered_leg_branch`] made at place `n` of `stream`.
    pub(crate) fn leg_branch_at(&self, stream: &LegStream, n: u64) -> Branch {
        branch_of(token::leg_prf(&self.leg_key.0 .0, stream.number, n))
    }

    /// A fresh store ticket number (its own counter).
    pub(crate) fn next_ticket(&mut self) -> u64 {
        self.tickets += 1;
        self.tickets
    }

    /// 128 bits of the SIP stream at the next counter value.
    fn sip_bits(&mut self) -> u128 {
        self.counter += 1;
        token::Sequential::prf(&mut self.sip_rng.0, &self.seed, Stream::Sip, self.counter)
    }

    /// A fresh SIP token: 22 base64url digits (128 bits), held inline.
    fn token(&mut self) -> CompactString {
        let digits = token::b64url_digits(self.sip_bits());
        CompactString::from(std::str::from_utf8(&digits).unwrap_or_default())
    }

    /// A fresh token as 32 hex digits (128 bits): the random part of a nonce
    /// (`nonces`, which reads it back as hex) and of a focus user name (a URI
    /// user, which some peers compare without case).
    pub(crate) fn hex_token(&mut self) -> String {
        let mut out = String::with_capacity(32);
        token::push_hex_bits(&mut out, self.sip_bits());
        out
    }

    /// A fresh token for MSRP session-ids, transaction ids and Message-IDs: 32 hex
    /// digits (128 random-looking bits; RFC 4975 §7.1 asks at least 64 in transaction
    /// ids; an MSRP ident holds at most 32 characters), from the MSRP stream of the
    /// PRF.
    pub(crate) fn msrp_token(&mut self) -> String {
        self.msrp_counter += 1;
        let bits = token::Sequential::prf(
            &mut self.msrp_rng.0,
            &self.seed,
            Stream::Msrp,
            self.msrp_counter,
        );
        let mut out = String::with_capacity(32);
        token::push_hex_bits(&mut out, bits);
        out
    }

    /// A fresh number from the MSRP counter (connection numbers of `MsrpConnect`).
    pub(crate) fn msrp_number(&mut self) -> u64 {
        self.msrp_counter += 1;
        self.msrp_counter
    }

    pub(crate) fn tag(&mut self) -> Tag {
        Tag::new(self.token())
    }

    /// The To-tag of the server's own non-2xx answer `resp` to a request outside any
    /// dialog: the keyed PRF ([`token::answer_prf`]) of the request's Call-ID,
    /// From-tag, top Via branch and CSeq, which the answer carries over from it.
    /// Unpredictable without the key and different across boots like every token,
    /// the same for every answer to one request (RFC 3261 §8.2.6.2: a retransmitted
    /// request is answered from its transaction anyway), and minted from no counter:
    /// such an answer changes nothing here, so it commutes with every other mint.
    /// Not for a 2xx, whose tag may make a dialog: a repeated request would make the
    /// same one.
    pub(crate) fn answer_tag(&self, resp: &Response) -> Tag {
        let h = &resp.headers;
        let from_tag = h.from.tag();
        let branch = h.via.first().and_then(|v| v.branch()).unwrap_or_default();
        let bits = token::answer_prf(
            &self.answer_key.0 .0,
            &[
                h.call_id.as_str().as_bytes(),
                from_tag.as_ref().map_or("", |t| t.as_str()).as_bytes(),
                branch.as_bytes(),
                &h.cseq.seq.to_be_bytes(),
                h.cseq.method.as_str().as_bytes(),
            ],
        );
        let digits = token::b64url_digits(bits);
        Tag::new(std::str::from_utf8(&digits).unwrap_or_default())
    }

    /// A branch outside any dialog (a pager MESSAGE's); in a dialog, the leg's own
    /// stream ([`Self::leg_branch`]).
    pub(crate) fn branch(&mut self) -> Branch {
        let bits = self.sip_bits();
        branch_of(bits)
    }

    pub(crate) fn call_id(&mut self) -> CallId {
        CallId::new(self.token())
    }

    /// An RFC 4122 version-4-shaped UUID (for Conversation-IDs synthesised for
    /// legacy clients and Contribution-IDs the server mints).
    pub(crate) fn uuid(&mut self) -> String {
        self.counter += 1;
        let bits =
            token::Sequential::prf(&mut self.uuid_rng.0, &self.seed, Stream::Uuid, self.counter);
        let hi = (bits >> 64) as u64;
        let lo = bits as u64;
        let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }

    pub(crate) fn conversation_id(&mut self) -> ConversationId {
        ConversationId::new(self.uuid())
    }

    /// A plain counter value for numbering (sessions, tickets, connections).
    pub(crate) fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// The RFC 3261 branch of 128 token bits: the magic cookie and their base64url digits.
fn branch_of(bits: u128) -> Branch {
    let mut branch = String::with_capacity(7 + token::SIP_TOKEN_LEN);
    branch.push_str("z9hG4bK");
    token::push_b64url(&mut branch, bits);
    Branch::new(branch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_numbered_leg_branch_is_made_again_from_its_number() {
        let seed = Seed {
            instance: 7,
            key: [3; 32],
        };
        let mut g = IdGen::new(seed);
        let mut plain = g.leg_stream();
        let mut numbered = plain;
        for _ in 0..5 {
            let (branch, n) = g.numbered_leg_branch(&mut numbered);
            // The same places as `leg_branch`, so minted ids do not move.
            assert_eq!(branch, g.leg_branch(&mut plain));
            assert_eq!(g.leg_branch_at(&numbered, n), branch);
        }
    }

    /// A leg's branches depend on the leg's number and place alone: not on what the
    /// server-wide counter or other legs minted in between (the point of the
    /// streams), and not on the order legs mint in.
    #[test]
    fn leg_branches_do_not_depend_on_other_mints() {
        let seed = Seed {
            instance: 4,
            key: [8; 32],
        };
        let mut g = IdGen::new(seed);
        let (mut a, mut b) = (g.leg_stream(), g.leg_stream());
        let (a0, b0) = (a, b);
        let a1 = g.leg_branch(&mut a);
        g.tag();
        g.next_ticket();
        let b1 = g.leg_branch(&mut b);
        let a2 = g.leg_branch(&mut a);
        // The other order, on a second generator with the same seed.
        let h = IdGen::new(seed);
        let (mut a, mut b) = (a0, b0);
        assert_eq!(h.leg_branch(&mut b), b1);
        assert_eq!(h.leg_branch(&mut a), a1);
        assert_eq!(h.leg_branch(&mut a), a2);
        assert_eq!(
            g.counter, 3,
            "two leg numbers and a tag; tickets count apart"
        );
    }

    /// No branch repeats across legs, places, keys or instances, and none equals a
    /// token of the server-wide stream (each is a distinct PRF input, and the leg
    /// key is not the seed's key).
    #[test]
    fn branches_are_unique_per_leg_number() {
        let mut seen = BTreeSet::new();
        for (instance, byte) in [(0, 1), (1, 1), (0, 2)] {
            let mut g = IdGen::new(Seed {
                instance,
                key: [byte; 32],
            });
            for _ in 0..40 {
                let mut leg = g.leg_stream();
                for _ in 0..25 {
                    let branch = g.leg_branch(&mut leg);
                    let digits = branch.as_str().trim_start_matches("z9hG4bK").to_owned();
                    assert!(seen.insert(digits), "{branch} repeated");
                }
                let plain = g.branch();
                let digits = plain.as_str().trim_start_matches("z9hG4bK").to_owned();
                assert!(seen.insert(digits), "{plain} repeated");
            }
        }
        let shown = format!("{:?}", IdGen::new(Seed::default()));
        assert_eq!(shown.matches("SecretKey(..)").count(), 2, "{shown}");
    }

    /// Tags and Call-IDs are held inline (the point of their form), branches are
    /// the cookie and a token, and every kind reads the PRF at its counter value.
    #[test]
    fn sip_tokens_are_inline_base64url_of_the_prf() {
        let seed = Seed {
            instance: 2,
            key: [5; 32],
        };
        let mut g = IdGen::new(seed);
        let digits = |n: u64| {
            let mut text = String::new();
            token::push_b64url(&mut text, token::prf(&seed, Stream::Sip, n));
            text
        };
        let tag = g.tag();
        assert_eq!(tag.as_str(), digits(1));
        assert!(!CompactString::from(tag.as_str()).is_heap_allocated());
        let call_id = g.call_id();
        assert_eq!(call_id.as_str(), digits(2));
        let session = g.next_number();
        let branch = g.branch();
        assert_eq!(branch.as_str(), format!("z9hG4bK{}", digits(session + 1)));
        let hex = g.hex_token();
        assert_eq!(hex, token::hex(&seed, Stream::Sip, session + 2));
        // A leg's branch: the leg key's keystream at (leg number, place).
        let mut leg = g.leg_stream();
        let number = session + 3;
        let in_leg = g.leg_branch(&mut leg);
        let mut text = String::from("z9hG4bK");
        token::push_b64url(&mut text, token::leg_prf(&token::leg_key(&seed), number, 1));
        assert_eq!(in_leg.as_str(), text);
    }

    #[test]
    fn tokens_are_unique_within_and_across_boots() {
        let mut seen = BTreeSet::new();
        for byte in 0..4 {
            let mut g = IdGen::new(Seed {
                instance: 1,
                key: [byte; 32],
            });
            for _ in 0..1000 {
                assert!(seen.insert(g.tag().as_str().to_owned()));
            }
        }
    }

    #[test]
    fn msrp_tokens_are_msrp_idents_apart_from_sip_tokens() {
        let mut g = IdGen::new(Seed {
            instance: u64::MAX,
            key: [0xff; 32],
        });
        g.msrp_counter = u64::MAX - 2;
        let t = g.msrp_token();
        assert_eq!(t.len(), 32, "{t}");
        assert!(crate::wire::msrp::is_ident(&t), "{t}");
        let sip = g.tag();
        assert_ne!(sip.as_str(), t);
        assert_eq!(g.counter, 1, "the SIP counter is untouched by MSRP ids");
    }

    #[test]
    fn uuids_have_version_and_variant() {
        let mut g = IdGen::new(Seed::default());
        let u = g.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
