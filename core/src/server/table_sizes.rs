//! The sizes of the core's tables at one moment, for the runtime to log now and
//! then: a soak (`scripts/soak`) reads them next to cpmd's RSS to tell which table,
//! if any, follows the traffic. A read-only view; not state, not for the model.

use super::Server;

/// Entries in each of the core's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableSizes {
    /// Transactions, server and client (LIM-11), finished ones included.
    pub transactions: usize,
    /// Legs (dialogs).
    pub legs: usize,
    /// Sessions, 1-to-1 and group (LIM-12).
    pub sessions: usize,
    /// Sessions by Contribution-ID.
    pub contributions: usize,
    /// Store tickets awaiting their answer.
    pub tickets: usize,
    /// Armed timers.
    pub timers: usize,
    /// Registered contacts.
    pub bindings: usize,
    /// SIP stream decoders (one per TCP connection).
    pub decoders: usize,
    /// MSRP legs.
    pub msrp_legs: usize,
    /// MSRP connections.
    pub msrp_conns: usize,
    /// The server's own MSRP SENDs awaiting their response.
    pub msrp_outgoing: usize,
    /// Responses held for a transaction.
    pub held: usize,
    /// Pager MESSAGE forks in flight.
    pub pager_forks: usize,
    /// Deferred messages waiting, over all recipients.
    pub deferred: usize,
}

impl Server {
    /// The size of every table (walks the deferred queues: call it now and then,
    /// not per input).
    #[must_use]
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            transactions: self.tx.len(),
            legs: self.legs.len(),
            sessions: self.sessions.len(),
            contributions: self.by_contribution.len(),
            tickets: self.tickets.len(),
            timers: self.out.armed().count(),
            bindings: self.registrar.total(),
            decoders: self.decoders.len(),
            msrp_legs: self.msrp.legs.len(),
            msrp_conns: self.msrp.conns.len(),
            msrp_outgoing: self.msrp.outgoing.len(),
            held: self.held.len(),
            pager_forks: self.pager_forks.len(),
            deferred: self.deferred.queues.values().map(|q| q.len()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn a_new_server_holds_nothing() {
        let server = Server::new(Config::new("example.com"));
        assert_eq!(server.table_sizes(), TableSizes::default());
    }
}
