//! Minting of tags, branches, Call-IDs and UUIDs from the injected [`Seed`] and a
//! counter in state: deterministic for a given seed (the model and tests replay
//! exactly), unique across boots and instances (the seed differs).

use super::config::Seed;
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
}

/// SplitMix64 finaliser: spreads the seed and counter bits so tokens do not look
/// sequential (they are identifiers, not secrets).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl IdGen {
    pub(crate) fn new(seed: Seed) -> Self {
        Self {
            seed,
            counter: 0,
            msrp_counter: 0,
        }
    }

    /// A fresh token: 16 hex digits of mixed seed, then the counter, so two tokens of
    /// one boot never collide and tokens of different boots differ in the prefix.
    fn token(&mut self) -> String {
        self.counter += 1;
        let prefix = mix(self.seed.boot ^ mix(self.seed.instance) ^ self.counter);
        format!("{prefix:016x}{:x}", self.counter)
    }

    /// A fresh token for MSRP session-ids, transaction ids and Message-IDs: 15 hex
    /// digits of mixed seed, `m`, the MSRP counter (alphanumeric, at most 32
    /// characters: valid in all three; never equal to a SIP token, which has no `m`).
    pub(crate) fn msrp_token(&mut self) -> String {
        self.msrp_counter += 1;
        let prefix =
            mix(self.seed.boot ^ mix(self.seed.instance ^ 0x6d73_7270) ^ self.msrp_counter);
        format!("{:015x}m{:x}", prefix >> 4, self.msrp_counter)
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
        Branch::new(format!("z9hG4bK{}", self.token()))
    }

    pub(crate) fn call_id(&mut self, domain: &str) -> CallId {
        CallId::new(format!("{}@{domain}", self.token()))
    }

    /// An RFC 4122 version-4-shaped UUID (for Conversation-IDs synthesised for
    /// legacy clients and Contribution-IDs the server mints).
    pub(crate) fn uuid(&mut self) -> String {
        self.counter += 1;
        let hi = mix(self.seed.boot ^ mix(self.seed.instance ^ self.counter));
        let lo = mix(hi ^ self.counter);
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
    fn tokens_are_unique_within_and_across_boots() {
        let mut seen = BTreeSet::new();
        for boot in 0..4 {
            let mut g = IdGen::new(Seed { instance: 1, boot });
            for _ in 0..1000 {
                assert!(seen.insert(g.tag().as_str().to_owned()));
            }
        }
    }

    #[test]
    fn msrp_tokens_are_msrp_idents_apart_from_sip_tokens() {
        let mut g = IdGen::new(Seed {
            instance: u64::MAX,
            boot: u64::MAX,
        });
        g.msrp_counter = u64::MAX - 2;
        let t = g.msrp_token();
        assert!(t.len() <= 32 && t.len() >= 4, "{t}");
        assert!(crate::wire::msrp::is_ident(&t), "{t}");
        let sip = g.tag();
        assert!(!sip.as_str().contains('m'));
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
