//! The sizes of the core's and the loop's tables, logged every [`TABLES_PERIOD`] at
//! debug level under the target `cpmd::tables` (`RUST_LOG=cpmd::tables=debug`):
//! a soak (`scripts/soak`) reads them next to cpmd's RSS to tell which table, if
//! any, follows the traffic. Not the metrics (those are `crate::metrics`).

use std::time::{Duration, Instant};

use super::EventLoop;

/// How often the table sizes are logged.
pub(super) const TABLES_PERIOD: Duration = Duration::from_secs(10);

impl EventLoop {
    /// Logs the table sizes when [`TABLES_PERIOD`] has passed since the last time
    /// (and only when the target is enabled: walking the tables is not free).
    pub(super) fn log_tables(&mut self, now: Instant) {
        if now < self.tables_at || !tracing::enabled!(target: "cpmd::tables", tracing::Level::DEBUG)
        {
            return;
        }
        self.tables_at = now + TABLES_PERIOD;
        let core = self.server.table_sizes();
        let txs = self.server.transaction_stats();
        tracing::debug!(
            target: "cpmd::tables",
            transactions = core.transactions,
            lingering = txs.lingering,
            lingering_bytes = txs.bytes,
            legs = core.legs,
            sessions = core.sessions,
            contributions = core.contributions,
            tickets = core.tickets,
            timers = core.timers,
            bindings = core.bindings,
            decoders = core.decoders,
            msrp_legs = core.msrp_legs,
            msrp_conns = core.msrp_conns,
            msrp_outgoing = core.msrp_outgoing,
            held = core.held,
            pager_forks = core.pager_forks,
            deferred = core.deferred,
            tcp = self.tcp.len(),
            msrp = self.msrp.len(),
            store_pending = self.store_pending,
            store_sent = self.metrics.as_ref().map_or(0, |o| o.store_sent.len()),
            msrp_out = self.msrp_out.capacity(),
            "tables"
        );
    }
}
