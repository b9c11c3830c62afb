//! Identifier newtypes.
//!
//! Each identifier is its own type so that two roles sharing one representation
//! (a Call-ID and a Conversation-ID are both strings) can never be mixed up.
//! None of them exposes its inner value as a public field or through `Deref`.

use std::fmt;

// Identifiers are held inline up to 24 bytes (a sipp Call-ID, a tag): a message's
// identifiers are decoded, copied into keys and records, and compared, and each of
// those was a heap allocation when they were `String`s (bench/core_ir.sh).
use compact_str::CompactString;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(CompactString);

        impl $name {
            /// Wraps a value; the wire layer has already checked its syntax.
            pub fn new(value: impl Into<CompactString>) -> Self {
                Self(value.into())
            }

            /// The value exactly as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

macro_rules! number_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a number handed out by a counter.
            pub const fn new(value: u64) -> Self {
                Self(value)
            }

            /// The number.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// OMA CPM `Conversation-ID`: "identifies the conversation a session or message
    /// belongs to"; globally unique, compared byte by byte (case-sensitive).
    ConversationId
);
string_id!(
    /// OMA CPM `Contribution-ID`: identifies one session, standalone message or file
    /// transfer within its conversation. A group session that replaces a 1-to-1 has a
    /// new one.
    ContributionId
);
string_id!(
    /// RFC 3261 `Call-ID`: "uniquely identifies a particular invitation or all
    /// registrations of a particular client".
    CallId
);
string_id!(
    /// RFC 3261 `tag` parameter of From/To: "serves as a general mechanism to identify
    /// the dialog".
    Tag
);
string_id!(
    /// RFC 3261 Via `branch` parameter: "identifies the transaction created by that
    /// request". Ours always start with the magic cookie `z9hG4bK`.
    Branch
);
string_id!(
    /// IMDN / MSRP message identifier of one chat message (`imdn.Message-ID`).
    MessageId
);

string_id!(
    /// RFC 4975 MSRP `transact-id`: "identifies the transaction" a request and its
    /// response belong to, and delimits the request's body (the end-line repeats it).
    TransactionId
);

number_id!(
    /// One connection-oriented flow (a TCP connection) or one datagram socket, as the
    /// runtime numbers them. The core frames stream bytes per `ConnId`.
    ConnId
);
number_id!(
    /// A 1-to-1 or group session the server relays (one per Contribution-ID).
    SessionId
);
number_id!(
    /// The ticket of one `Persist`/`SealSession` command; the store's answer carries it
    /// back in `handle_store_result`.
    StoreTicket
);

/// RFC 3261 §12: "A dialog is identified at each UA with a dialog ID, which consists
/// of a Call-ID value, a local tag and a remote tag." Local and remote are the
/// server's view.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    call_id: CallId,
    local_tag: Tag,
    remote_tag: Tag,
}

impl DialogId {
    /// Builds a dialog id from the server's point of view.
    pub fn new(call_id: CallId, local_tag: Tag, remote_tag: Tag) -> Self {
        Self {
            call_id,
            local_tag,
            remote_tag,
        }
    }

    /// The Call-ID shared by both ends.
    pub fn call_id(&self) -> &CallId {
        &self.call_id
    }

    /// The server's tag.
    pub fn local_tag(&self) -> &Tag {
        &self.local_tag
    }

    /// The terminal's tag.
    pub fn remote_tag(&self) -> &Tag {
        &self.remote_tag
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}
