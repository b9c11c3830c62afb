//! Minting of tags, branches, Call-IDs and UUIDs from the injected [`Seed`] and a
//! counter in state, through the keyed PRF of [`super::token`]: deterministic for a
//! given seed (the model and tests replay exactly), unpredictable without the key,
//! unique across boots and instances (the key differs). The counters never reach the
//! wire.

use super::config::Seed;
use super::memo::Memo;
use super::token::{self, Stream};
use crate::ids::{Branch, CallId, ConversationId, Tag};

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
        }
    }

    /// A fresh token: 32 hex digits (128 bits) of the PRF at the next counter value.
    fn token(&mut self) -> String {
        self.counter += 1;
        token::hex(&self.seed, Stream::Sip, self.counter)
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
        self.counter += 1;
        let mut branch = String::with_capacity(39);
        branch.push_str("z9hG4bK");
        token::push_hex(&mut branch, &self.seed, Stream::Sip, self.counter);
        Branch::new(branch)
    }

    /// A fresh branch and the counter value it was made from, so that the same
    /// branch can be made again later ([`Self::branch_at`]) without keeping it.
    pub(crate) fn numbered_branch(&mut self) -> (Branch, u64) {
        self.counter += 1;
        (self.branch_at(self.counter), self.counter)
    }

    /// The branch [`Self::numbered_branch`] made at counter value `number`.
    pub(crate) fn branch_at(&self, number: u64) -> Branch {
        Branch::new(format!(
            "z9hG4bK{}",
            token::hex(&self.seed, Stream::Sip, number)
        ))
    }

    pub(crate) fn call_id(&mut self, domain: &str) -> CallId {
        self.counter += 1;
        let mut call_id = String::with_capacity(33 + domain.len());
        token::push_hex(&mut call_id, &self.seed, Stream::Sip, self.counter);
        call_id.push('@');
        call_id.push_str(domain);
        CallId::new(call_id)
    }

    /// An RFC 4122 version-4-shaped UUID (for Conversation-IDs synthesised for
    /// legacy clients and Contribution-IDs the server mints).
    pub(crate) fn uuid(&mut self) -> String {
        self.counter += 1;
        let bits = token::prf(&self.seed, Stream::Uuid, self.counter);
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
