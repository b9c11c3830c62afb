//! Minting of tags, branches, Call-IDs and UUIDs from the injected [`Seed`] and a
//! counter in state, through the keyed PRF of [`super::token`]: deterministic for a
//! given seed (the model and tests replay exactly), unpredictable without the key,
//! unique across boots and instances (the key differs). The counters never reach the
//! wire.
//!
//! Tags, branches (after `z9hG4bK`) and Call-IDs are 22 base64url digits of 128 PRF
//! bits ([`token::b64url_digits`]): a tag or Call-ID is held inline (24 bytes) in
//! every copy a message, key or record makes. Call-IDs carry no `@host` (RFC 3261
//! §8.1.1.4 makes it optional; the key, not the host, makes them unique).

use super::config::Seed;
use super::memo::Memo;
use super::token::{self, Stream};
use crate::ids::{Branch, CallId, ConversationId, Tag};
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
        }
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

    pub(crate) fn branch(&mut self) -> Branch {
        let bits = self.sip_bits();
        branch_of(bits)
    }

    /// A fresh branch and the counter value it was made from, so that the same
    /// branch can be made again later ([`Self::branch_at`]) without keeping it.
    pub(crate) fn numbered_branch(&mut self) -> (Branch, u64) {
        let bits = self.sip_bits();
        (branch_of(bits), self.counter)
    }

    /// The branch [`Self::numbered_branch`] made at counter value `number`.
    pub(crate) fn branch_at(&self, number: u64) -> Branch {
        branch_of(token::prf(&self.seed, Stream::Sip, number))
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
    fn a_numbered_branch_is_made_again_from_its_number() {
        let seed = Seed {
            instance: 7,
            key: [3; 32],
        };
        let mut plain = IdGen::new(seed);
        let mut numbered = IdGen::new(seed);
        for _ in 0..5 {
            let (branch, number) = numbered.numbered_branch();
            // The same counter values as `branch`, so minted ids do not move.
            assert_eq!(branch, plain.branch());
            assert_eq!(numbered.branch_at(number), branch);
        }
        assert_eq!(numbered.tag(), plain.tag());
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
