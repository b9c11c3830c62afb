//! The I/O loop of one IMAP connection: bytes from the socket into `imap-next`'s
//! sans-IO [`Server`], its output back to the socket, and the protocol flows it
//! hands back (commands, AUTHENTICATE PLAIN, IDLE with pushes from the store's
//! watch feed), with an idle timeout.
//!
//! Not here: what commands do (`session.rs`), accepting and counting connections
//! (`mod.rs`).

use std::time::Duration;

use imap_next::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_next::imap_types::core::Tag;
use imap_next::imap_types::response::{CommandContinuationRequest, Greeting, GreetingKind, Status};
use imap_next::server::{Error as ServerError, Event, Options, ResponseHandle, Server};
use imap_next::{Interrupt, Io, State as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use super::session::{bad, no, ok, privacy_required, Flow, Out, Session, Shared};
use super::tls::Security;
use super::Settings;
use crate::mailstore::MailChange;

/// How long a write may block before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Consecutive malformed commands after which the connection is closed.
const MAX_BAD: u32 = 20;

/// Queues the responses; returns the handle of the last one.
fn enqueue(server: &mut Server, out: Vec<Out>) -> Option<ResponseHandle> {
    let mut last = None;
    for o in out {
        last = Some(match o {
            Out::Data(d) => server.enqueue_data(d),
            Out::Status(s) => server.enqueue_status(s),
        });
    }
    last
}

/// Whether a write (or flush) finished within [`WRITE_TIMEOUT`]; if not, says why the
/// connection is about to close: a client that stops reading a long response is
/// dropped (the write path is bounded, specs/limits.md), and an operator should see it.
fn write_went_through(
    peer: Option<std::net::SocketAddr>,
    result: Result<std::io::Result<()>, tokio::time::error::Elapsed>,
) -> bool {
    match result {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(?peer, error = %e, "imap: write failed; connection closed");
            false
        }
        Err(_) => {
            tracing::info!(
                ?peer,
                seconds = WRITE_TIMEOUT.as_secs(),
                "imap: client read nothing within the write timeout; connection closed"
            );
            false
        }
    }
}

fn bye(text: &'static str) -> Out {
    Out::Status(Status::bye(None, text).expect("valid text"))
}

/// The tag at the start of a command the codec could not decode, if it has one.
fn tag_of(bytes: &[u8]) -> Option<Tag<'static>> {
    let end = bytes
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    Tag::try_from(bytes[..end].to_vec()).ok()
}

/// What the connection is in the middle of.
enum Flowing {
    Commands,
    /// AUTHENTICATE PLAIN waiting for the client's response.
    Authenticate(Tag<'static>),
    /// IDLE accepted, waiting for DONE.
    Idle(Tag<'static>),
}

/// Serves one connection over any stream (TCP or TLS) until LOGOUT, EOF, an I/O
/// error or the idle timeout; or until STARTTLS was accepted: then the stream is
/// handed back, its answer sent, for the handshake (`tls.rs`). `greeting` is `None`
/// after STARTTLS (RFC 3501 §6.2.1: no new greeting). Input the client sent after
/// STARTTLS, before the handshake, is dropped with this connection's buffers.
pub async fn serve_stream<S>(
    stream: S,
    peer: Option<std::net::SocketAddr>,
    shared: Shared,
    settings: Settings,
    greeting: Option<Greeting<'static>>,
    security: Security,
) -> Option<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let mut wr = BufWriter::new(wr);
    let mut options = Options::default();
    options.crlf_relaxed = true;
    options.max_literal_size = settings.max_literal;
    options.max_command_size = settings.max_literal.saturating_add(64 * 1024);
    let mut server = match greeting {
        Some(greeting) => Server::new(options, greeting),
        None => silent_server(options),
    };
    let mut session = Session::with_security(shared.clone(), security);
    if let Some(peer) = peer {
        session.set_source(peer.ip());
    }
    let mut upgrade = false;
    let mut watch: Option<broadcast::Receiver<MailChange>> = None;
    let mut flowing = Flowing::Commands;
    let mut closing = false;
    let mut bad_in_a_row = 0u32;
    let mut buf = vec![0u8; 16 * 1024];
    // The last response of a streamed page (LIM-17) not yet written out.
    let mut page_end: Option<ResponseHandle> = None;
    loop {
        // A streamed answer (LIST) gets its next page only once the previous one
        // is written, and before any further command is read: one page in memory.
        if page_end.is_none() && session.streaming() {
            let out = session.more().await;
            page_end = enqueue(&mut server, out);
            continue;
        }
        match server.next() {
            Ok(event) => {
                if upgrade
                    && !matches!(
                        event,
                        Event::GreetingSent { .. } | Event::ResponseSent { .. }
                    )
                {
                    // Input after STARTTLS, before the handshake: never executed
                    // (TLS-4); it is dropped with this server's buffer.
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.flush()).await;
                    tracing::debug!(?peer, "imap: STARTTLS, pipelined input dropped");
                    return Some(rd.unsplit(wr.into_inner()));
                }
                let flow = match event {
                    Event::GreetingSent { .. } => Flow::Continue,
                    Event::ResponseSent { handle, .. } => {
                        if page_end == Some(handle) {
                            page_end = None;
                        }
                        Flow::Continue
                    }
                    Event::CommandReceived { command } => {
                        bad_in_a_row = 0;
                        let (out, flow) = session.command(command).await;
                        let last = enqueue(&mut server, out);
                        if session.streaming() {
                            page_end = last;
                        }
                        flow
                    }
                    Event::CommandAuthenticateReceived {
                        command_authenticate,
                    } => {
                        bad_in_a_row = 0;
                        let tag = command_authenticate.tag;
                        let status = if session.user().is_some() {
                            Some(bad(tag, "already authenticated"))
                        } else if !session.login_allowed() {
                            Some(privacy_required(tag))
                        } else if command_authenticate.mechanism != AuthMechanism::Plain {
                            Some(no(tag, "only AUTHENTICATE PLAIN is supported"))
                        } else if let Some(ir) = command_authenticate.initial_response {
                            Some(plain_result(&mut session, tag, ir.declassify()).await)
                        } else {
                            let cont = CommandContinuationRequest::base64(Vec::new());
                            let _ = server.authenticate_continue(cont);
                            flowing = Flowing::Authenticate(tag);
                            None
                        };
                        if let Some(Out::Status(s)) = status {
                            let _ = server.authenticate_finish(s);
                        }
                        Flow::Continue
                    }
                    Event::AuthenticateDataReceived { authenticate_data } => {
                        if let Flowing::Authenticate(tag) =
                            std::mem::replace(&mut flowing, Flowing::Commands)
                        {
                            let status = match authenticate_data {
                                AuthenticateData::Continue(data) => {
                                    plain_result(&mut session, tag, data.declassify()).await
                                }
                                AuthenticateData::Cancel => bad(tag, "AUTHENTICATE cancelled"),
                            };
                            if let Out::Status(s) = status {
                                let _ = server.authenticate_finish(s);
                            }
                        }
                        Flow::Continue
                    }
                    Event::IdleCommandReceived { tag } => {
                        if session.user().is_none() {
                            if let Out::Status(s) = bad(tag, "log in first") {
                                let _ = server.idle_reject(s);
                            }
                        } else {
                            let cont = CommandContinuationRequest::basic(None, "idling, send DONE")
                                .expect("valid text");
                            let _ = server.idle_accept(cont);
                            if watch.is_none() {
                                watch = Some(shared.store.watch());
                            }
                            // What happened before IDLE began is told at once.
                            let out = session.refresh().await;
                            enqueue(&mut server, out);
                            flowing = Flowing::Idle(tag);
                        }
                        Flow::Continue
                    }
                    Event::IdleDoneReceived => {
                        if let Flowing::Idle(tag) =
                            std::mem::replace(&mut flowing, Flowing::Commands)
                        {
                            enqueue(&mut server, vec![ok(tag, "IDLE terminated")]);
                        }
                        Flow::Continue
                    }
                };
                match flow {
                    Flow::Continue => {}
                    Flow::Close => closing = true,
                    Flow::StartTls => upgrade = true,
                }
            }
            Err(Interrupt::Io(Io::Output(bytes))) => {
                let written = tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&bytes)).await;
                if !write_went_through(peer, written) {
                    break;
                }
            }
            Err(Interrupt::Io(Io::NeedMoreInput)) => {
                // Everything queued has been handed over: send it before waiting.
                let flushed = tokio::time::timeout(WRITE_TIMEOUT, wr.flush()).await;
                if !write_went_through(peer, flushed) || closing {
                    break;
                }
                if upgrade {
                    tracing::debug!(?peer, "imap: STARTTLS");
                    return Some(rd.unsplit(wr.into_inner()));
                }
                let idling = matches!(flowing, Flowing::Idle(_));
                // LIM-7: a client that has not logged in gets the short timeout.
                let wait = if session.user().is_some() {
                    settings.idle_timeout
                } else {
                    settings.login_timeout.min(settings.idle_timeout)
                };
                tokio::select! {
                    read = tokio::time::timeout(wait, rd.read(&mut buf)) => {
                        match read {
                            Ok(Ok(0)) | Ok(Err(_)) => break,
                            Ok(Ok(n)) => server.enqueue_input(&buf[..n]),
                            Err(_) => {
                                enqueue(&mut server, vec![bye("idle timeout")]);
                                closing = true;
                            }
                        }
                    }
                    change = next_change(&mut watch), if idling => {
                        if change_concerns(&change, &session) {
                            let out = session.refresh().await;
                            enqueue(&mut server, out);
                        }
                    }
                }
            }
            Err(Interrupt::Error(e)) => {
                bad_in_a_row += 1;
                match e {
                    ServerError::MalformedMessage { discarded_bytes }
                    | ServerError::ExpectedCrlfGotLf { discarded_bytes } => {
                        let status = match tag_of(discarded_bytes.declassify()) {
                            Some(tag) => bad(tag, "unknown command or bad syntax"),
                            None => Out::Status(
                                Status::bad(None, None, "unknown command or bad syntax")
                                    .expect("valid text"),
                            ),
                        };
                        enqueue(&mut server, vec![status]);
                    }
                    // imap-next already answered BAD for the refused literal.
                    ServerError::LiteralTooLong { .. } => {}
                    ServerError::CommandTooLong { .. } => {
                        enqueue(&mut server, vec![bye("command too long")]);
                        closing = true;
                    }
                }
                if bad_in_a_row >= MAX_BAD {
                    enqueue(&mut server, vec![bye("too many bad commands")]);
                    closing = true;
                }
            }
        }
    }
    let _ = wr.flush().await;
    tracing::debug!(?peer, "imap: connection closed");
    None
}

/// A protocol server for a connection after STARTTLS: imap-next always queues a
/// greeting, which is encoded here and thrown away.
fn silent_server(options: Options) -> Server {
    let greeting = Greeting::new(GreetingKind::Ok, None, "-").expect("valid greeting");
    let mut server = Server::new(options, greeting);
    while let Err(Interrupt::Io(Io::Output(_))) = server.next() {}
    server
}

async fn plain_result(session: &mut Session, tag: Tag<'static>, message: &[u8]) -> Out {
    match session.login_plain(message).await {
        super::login_limit::Login::Ok(()) => ok(tag, "AUTHENTICATE completed"),
        super::login_limit::Login::Failed => no(tag, "authentication failed"),
        super::login_limit::Login::Blocked(wait) => no(tag, &super::session::blocked_text(wait)),
    }
}

/// The next change from the feed; `None` when changes were missed (lagged) or
/// the feed closed (then the caller refreshes, which is always correct).
async fn next_change(watch: &mut Option<broadcast::Receiver<MailChange>>) -> Option<MailChange> {
    match watch {
        Some(rx) => match rx.recv().await {
            Ok(c) => Some(c),
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Whether a change is for this user's selected mailbox (`None`: unknown, so yes).
fn change_concerns(change: &Option<MailChange>, session: &Session) -> bool {
    match change {
        None => true,
        Some(c) => {
            session.user() == Some(&c.user)
                && session.selected_mailbox() == Some(c.mailbox.as_str())
        }
    }
}

/// Sends the BYE greeting of a connection over the limit, then closes.
pub async fn refuse(mut stream: TcpStream, greeting: Greeting<'static>) {
    let mut server = Server::new(Options::default(), greeting);
    while let Err(Interrupt::Io(Io::Output(bytes))) = server.next() {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await;
    }
}
