//! `cpmd --check-config`: everything [`crate::serve`] checks before it serves,
//! without binding a socket or opening the store, so an operator (or a package's
//! pre-start hook) learns of a bad file before a restart: the TLS files load, the
//! listeners that need `[tls]` have it, the store URL and `[push] url` parse, and
//! the core accepts its configuration (`cpmd_core::Config::validate`).
//!
//! What it is *not*: a connectivity check. Whether the addresses can be bound or the
//! database reached is only known by starting.

use std::net::SocketAddr;

use crate::config::FileConfig;
use crate::{tls, Listen, ServeError};

/// Checks `file` with the SIP listeners `order` and the MSRP listeners `msrp` as
/// [`crate::serve`] would use them; the first error found.
pub fn check_config(
    file: &FileConfig,
    order: &[Listen],
    msrp: &[SocketAddr],
) -> Result<(), ServeError> {
    let tls = match file.tls.files()? {
        Some(files) => Some(tls::Tls::load(files)?),
        None => None,
    };
    if tls.is_some() {
        tls::client::client_config(file.tls.verify_peers, file.tls.peer_ca.as_deref())?;
    } else if !file.listen.tls.is_empty() {
        return Err(ServeError::SipTlsWithoutTls);
    } else if !file.listen.msrps.is_empty() {
        return Err(ServeError::MsrpsWithoutTls);
    } else if !file.listen.imaps.is_empty() {
        return Err(ServeError::ImapsWithoutTls);
    }
    let advertised = match order.first().ok_or(ServeError::NoSipListener)? {
        Listen::Udp(a) | Listen::Tcp(a) => *a,
    };
    let msrp = *msrp.first().ok_or(ServeError::NoMsrpListener)?;
    // The key only seeds IDs; any value validates the same.
    let mut core = file.core_config(advertised, msrp, [0; 32])?;
    core.advertised_tls_port = file.listen.tls.first().map(SocketAddr::port);
    core.msrp.advertised_tls = file.listen.msrps.first().copied();
    core.validate().map_err(ServeError::InvalidConfig)?;
    file.store_url()?;
    if let Some(url) = &file.push.url {
        crate::push::Target::parse(url)?;
    }
    Ok(())
}
