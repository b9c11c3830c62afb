//! A sound partial-order reduction (`Setup::por`, `--set por=true`): in a state where
//! a packet is on its way to a terminal and its receipt is a *safe receipt* (below),
//! the checker explores only that packet's fate (its delivery, and over UDP its loss
//! or duplication while a budget is left) instead of every enabled action. Every
//! other order of the other actions with that receipt reaches the same states.
//!
//! What it is not: a change of the server or of what the terminals do. It changes
//! which actions `Model::actions` offers, and (with `por` or `por_check`) keeps two
//! parts of the state in a canonical order so that orders that commute give equal
//! states: a terminal's remembered answers (`TermState::answered`, searched only)
//! are kept sorted, and over TCP the network is kept sorted by connection, in send
//! order within each (only the head of a connection is ever delivered).
//!
//! **Safe receipt.** The delivery of packet `p` from the server to terminal `t` when
//! `p` is not a BYE and is not (over UDP) the 2xx that creates a caller's dialog. If
//! `p` is a final response to `t`'s oldest unanswered request and a retransmission
//! is left, `t`'s retransmission is in the ample set beside `p`'s fate (its
//! *companion*, below). Only where the setup has no MSRP, no
//! restart, no group race and no REFER (there a receipt calls back into the server:
//! an MSRP bind, a 481 of a lost dialog; or the focus's BYE and the REFERs read the
//! terminals' dialogs): elsewhere the reduction is off whatever the setting.
//!
//! **Why the reduced graph loses no violation and no `sometimes`.** The standard
//! ample-set conditions (Peled; Godefroid's persistent sets), for `A(s)` = the
//! actions on `p` (Deliver, Drop, Duplicate):
//!
//! * C0: `A(s)` is not empty (the delivery is enabled).
//! * C1, persistence: on any path from `s` that does not touch `p`, every action is
//!   independent of the delivery of `p` (neither disables the other and both orders
//!   give the same state). A terminal's receipt reads and writes only that
//!   terminal's state (`terminal_request` / `terminal_response`), takes `p` off the
//!   network and puts at most one answer or ACK on it towards the server. So:
//!   - *server inputs* (deliveries to the server, timers, the store's answers, chat
//!     sends' `handle_chat`) do not read the terminal's state, except the model's
//!     observers, which read a terminal's dialogs' Call-IDs (set once, at the
//!     INVITE or 2xx that creates the dialog, before the terminal sends anything on
//!     it or the server sends anything in it but that INVITE's retransmissions) and
//!     A's `silent` (set only by `IgnoreBye`, a BYE's fate: not reduced);
//!   - *other terminals' actions* do not read `t`'s state (the attacker's INVITE
//!     reads A's 1-to-1 dialog, which only the first 2xx sets);
//!   - *`t`'s own actions* (chat, BYE, extension, leave) are disabled only by a
//!     BYE's receipt (`bye_received`, `left_group`), which is never safe, and read
//!     nothing a safe receipt writes but the dialog it creates (then they were not
//!     enabled before). `t`'s retransmission reads its oldest unanswered request,
//!     which a final response to it removes: hence the companion (below);
//!   - *other receipts at `t`*, of packets in flight or that the server sends later
//!     (UDP reorders them): two receipts at `t` touch different dialogs or
//!     transactions and commute once the remembered answers are kept sorted,
//!     except a BYE and the response that creates its dialog: a BYE arriving before
//!     the caller's 2xx (the server relays B's BYE while its 2xx to A is still in
//!     flight) finds no dialog, so A answers it without taking the 1-to-1 as ended.
//!     Hence that 2xx is not reduced over UDP (`por_check` found it). A callee's
//!     dialog is created by the INVITE's first copy, before it answered, so before
//!     the server can send anything in it. A BYE is itself never reduced (it
//!     disables the terminal's own chat, BYE and extension, and A may ignore it).
//!     Over TCP a later packet to `t` queues behind `p`.
//!   - Loss and duplication of other packets spend budgets `p`'s delivery does not
//!     read; its own loss or duplication are in `A(s)`.
//! * C2, invisibility: a safe receipt changes nothing the `always` properties read
//!   (they read the ghost's logs and verdicts, and, in end states only, the
//!   terminals' unanswered requests and the budgets): it only ever adds a `Reached`
//!   flag (B and C joined; B's lost BYE answered), which no `always` property reads
//!   and every `sometimes` property only gains from. End states are reached exactly
//!   (persistent sets preserve them: a path to an end state must take an action of
//!   `A(s)`, which commutes to the front); a non-end state's `always` verdicts are
//!   the ghost's, which a safe receipt leaves as they were, and a `sometimes` flag a
//!   full path sets stays set on the reduced path that carries it forward.
//! * C3, cycles: every reduced step lowers (retransmissions left, duplications
//!   left, packets on their way weighted) lexicographically (a receipt removes one and sends only towards
//!   the server; a loss removes one; a duplication spends its budget), so no cycle of
//!   the reduced graph is made of reduced states only: the proviso holds.
//!
//! **Server-side receipts** (`Setup::por_server`, on in `combined` only). The
//! server's receipt of a terminal's final answer (200, 481, …) to the server's own
//! BYE is safe too (over UDP with that BYE's retransmission as its companion)
//! when no other input may still make the server mint (`may_mint`: the extension or
//! the attack still to be sent, group messages or leaves configured, an INVITE on
//! its way to either side, a 2xx to an INVITE on its way to the server, a group's
//! info waiting for the store, `replaced_bye_timeout` armed), nor may A still
//! ignore a BYE on its way (a retransmitted copy: the seal's observer reads A's
//! silence). Why, from the core
//! (`core/src/server/termination.rs`, `on_bye_answer`; `transaction.rs`): the
//! answer ends the BYE's client transaction (its `Retransmit` timer, hence the
//! retransmission clause), closes the leg and takes it off the handshake's
//! awaited set, and if it was the last one awaited and no message waits for the
//! store, seals (`SealSession`, whose store ticket is the next number of the
//! server's ticket counter). Everything else it touches is that session's: so it
//! commutes with every input that mints no ticket, and two orders of it and another
//! input that takes a ticket would give the two numbers the other way round (states
//! that differ: the renaming of session 8 merges none). Until session 12 the core
//! minted tickets, tags, branches and Call-IDs from one counter, so any minting input
//! conflicted; now a dialog's branches come from its own stream and tickets from
//! their own counter (`core/src/server/id_gen.rs`), and `may_mint`, written for the
//! one counter, is wider than needed (taking every answer as safe, `glare`, `attack`, `extension`,
//! the extension with a message and `group-end` all pass the check now; narrowing it to the inputs that take a ticket is the next step, to be
//! checked by `por_check` as it was). It stays sound: a narrower reduction is. Its clauses only ever
//! turn false along a path (the extension and the attack are sent once; what is
//! under way is delivered; a retransmission needs the budget). Against `bye_wait`
//! firing (which seals the same way the answer would) the receipt disables the
//! timer, but the timer then the receipt reach the state the receipt alone does:
//! the timer is *absorbed*, and a path through it loses nothing the receipt's path
//! does not reach (the check accepts exactly that). The answer also writes the
//! observer's records (the leg's side of the handshake is done; the seal's own
//! checks), so its invisibility (C2) is judged on what the properties read: every
//! `always` verdict stays, no `sometimes` is lost. C3: it lowers the packets on
//! their way to the server and sends none to a terminal.
//!
//! **The 2xx to the server's INVITEs** (`por_server` too, session 13): the server's
//! receipt of a terminal's 2xx to one of its INVITEs (B's to the 1-to-1's, B's and
//! C's to the focus's) is safe when it is the *first* final answer to that client
//! transaction (its timeout is still armed: `first_answer`; over UDP the INVITE's
//! retransmission is its companion), and the answering terminal may send no chat message on
//! that dialog any more (`may_chat_on`). Why, from the core: `receive_response`
//! (`transaction.rs`) disarms the transaction's `Retransmit` and `Timeout`, arms its
//! `Linger` (neither offered once the budget is spent) and marks it accepted; then
//! the owner's answer: the 1-to-1's `fork_won` (`fork.rs`) ACKs on B's leg (a branch
//! of that leg's own stream, `id_gen.rs`), CANCELs other forks (one device here) and
//! relays the 200 to A on A's leg (its tag minted when the leg was made) and arms
//! that leg's `Retransmit2xx`; the focus's `group_fork_won` (`group_fork.rs`) ACKs,
//! sets the participant joined and arms `replaced_bye_timeout` while the 1-to-1
//! is established. None of it takes a number of the server-wide counter or a store
//! ticket, and it reads and writes that dialog's leg, transaction and session only,
//! so it commutes with every other input but three, each excluded: a retransmission
//! of the INVITE (a timer the receipt disarms: the budget clause); a later copy of
//! the 2xx (answering a retransmitted INVITE: the server repeats its ACK while the
//! session lasts and not after, so the copy does not commute with the seal's
//! confirmation: `first_answer`, which `por_check` found in `lossy`); and the
//! answering terminal's own chat on that dialog, which the server takes differently
//! before and after the 2xx (`may_chat_on`; found in `glare`). It enables actions
//! (the ACK's and the 200's deliveries, `Retransmit2xx`) and disables none but the
//! disarmed timers. C3: the measure is now (duplications, the packets' weight
//! summed), a packet weighing more than the packets its receipt may send (`weight`:
//! an INVITE to a terminal more than its 2xx, the 2xx to the server more than the
//! 200 and the ACK it sends on).
//!
//! **Companions** (session 13b). Every receipt above ends a retransmission when it
//! is the final answer to what is retransmitted: a terminal's answer to `t`'s oldest
//! request (`t`'s `Retransmit`), the server's receipt of a 2xx or of an answer to its
//! BYE (that client transaction's `Fire(Retransmit)`). Until session 13 such a
//! receipt waited for the budget to be spent; now, while one is left, the ample set
//! is the packet's fate *and* that retransmission `c` (`companion`). What `c` must
//! meet, against every action `b` outside the set: `b` does not disable `c` unless it
//! spent the budget (then `c` never comes back on that path, so the first action of
//! the set on the path, if any, is the receipt, which commutes as above); `c` and `b`
//! commute, or `c` absorbs `b` (`b` then `c` is `c`: an ACK delivered that `c` would
//! deliver at once), or `c` *simulates* `b` (next paragraph); `c` changes no
//! property's verdict and lowers the C3 measure (it spends the retransmission,
//! first in the measure). `b` leaves `c` the receipt's companion while `c` is
//! enabled (so each action on a path from `s` meets `c` in a checked state).
//!
//! **With `eager_acks`** (`eager_ack.rs`, on in `combined`): spending the last
//! retransmission delivers every ACK in flight to the server at once, so `c`
//! disables the loss and the duplication of such an ACK, and `b` (losing it) then
//! `c` is not `c`: the ACK never reaches the server and the loss is spent. Session
//! 13's attempt excluded every state where an ACK was, or could still be, on its way
//! before the budget was spent, which left 0.4–9 % of gains. The joint argument: `b`
//! then `c` reaches `x`, `c` alone reaches `y`, and `y` is `x` with that ACK
//! delivered and the fault budget `b` spent given back (for a duplicate: delivered
//! once instead of twice); `ack_fate_undone` rebuilds `y` from `x` that way and the
//! check asserts the equality. From there on no retransmission is left in either,
//! and that is exactly the situation `eager_acks` itself rests on: once the budget
//! is spent, an ACK delivered, delivered twice or never leaves states that differ
//! only in what nothing reads (`core/src/server/transaction.rs`, `ack_in_server_tx`:
//! the INVITE server transaction's Completed or Confirmed and its `Retransmit`,
//! `Timeout` and `Linger`; `one_to_one.rs`, `on_ack`: the leg's unacknowledged 2xx
//! and `Retransmit2xx`; the model fires no `Timeout`/`Linger` and no retransmission
//! with the budget spent), and a state with more fault budget can take every step
//! the one with less takes. So every path from `x` is a path from `y`, step for step,
//! through states with the same ghost and network, hence the same `always` verdicts
//! and `Reached` flags; end states coincide (the network and the enabled actions are
//! the same once the path has used up what `x` has), and `x`'s are judged less, not
//! more: a loss with no retransmission left is a `lossy_end`, which only the ghost's
//! flaws judge. The completeness proof of persistent sets goes through with "reaches
//! a state that simulates" in place of "reaches the same state": moving `c` to the
//! front of `b1 … bk c ρ` gives `c b1' … bk' ρ'` (the `bi` that were such losses or
//! duplications dropped), whose end simulates the original's, by induction from the
//! last swap, since the relation is preserved by every step taken from both sides.
//!
//! **The outsider's INVITE** (session 14). Mallory's attack (an extension INVITE
//! naming A's 1-to-1, `Action::Attack`) is answered by the server itself: 403 while
//! the 1-to-1 is established, 603 once it is replaced or ending, 481 once it is
//! forgotten (`extension.rs`, `find_replaced`, `check_replacement`). Until session
//! 14 that answer's To-tag was the next number of the server-wide counter, which
//! also numbers the legs the extension makes, so Mallory's INVITE and every input
//! that makes a leg gave two numberings in their two orders. Now the server's own
//! non-2xx answers outside a dialog take a tag of the request itself, a keyed PRF
//! (`core/src/server/id_gen.rs`, `answer_tag`): the receipt mints nothing, and what
//! it writes is the INVITE server transaction under Mallory's branch and its timers
//! and the answer on its way to Mallory. Two steps use that:
//!
//! * *The attack itself*, taken alone wherever it is enabled (`attack_alone`, with
//!   `por`): it reads A's 1-to-1 dialog (the Replaces it names), which only A's
//!   first 2xx sets and nothing changes after (restarts are outside the reduction),
//!   and writes only Mallory's state and one packet towards the server. So every
//!   other action commutes with it and none disables it (nothing sets Mallory's
//!   `extended` but the attack); no ghost field changes. C3: the measure has
//!   "the attack still to be sent" before the packets' weights.
//! * *The server's receipt of that INVITE once the answer can no longer change*
//!   (`refused_for_good`, with `por_server`): after the store confirmed the seal of
//!   the 1-to-1 (`seal_durable`), the server has forgotten the session and its legs
//!   (`on_sealed`, `drop_session`) and answers 481 from then on: no leg is ever made
//!   again under A's Call-ID and the server's tag. Before that, a BYE's receipt, the
//!   extension's or the seal's answer changes 403 into 603 into 481, so the receipt
//!   commutes with none of them (`the_check_fails_on_an_early_attack_receipt`).
//!   Once fixed, the receipt reads nothing another input writes (the transaction
//!   table is keyed by branch), enables the answer's delivery and, over UDP, the
//!   answer's retransmission timer, and disables nothing. Its answer's receipt by
//!   Mallory is a terminal's safe receipt as above. C3: the INVITE weighs more
//!   than the answers it sends.
//! * *The server's receipt of Mallory's ACK of that answer* (`acks_refusal`, with
//!   `por_server`), while the INVITE's transaction is Completed or Confirmed: it
//!   moves the transaction to Confirmed, disarms its `Retransmit` and `Timeout` and
//!   arms `Linger` (`transaction.rs`, `ack_in_server_tx`; a copy in Confirmed is
//!   absorbed), which nothing else reads but the answer's repeat: the transaction's
//!   `Retransmit`, its companion while a retransmission is left. With `eager_acks`
//!   any action that spends the last retransmission delivers the ACK itself, so it
//!   disables the receipt by *absorbing* it: the receipt then that action reach the
//!   state the action alone does, and on such a path the receipt moves to the front
//!   with the action unchanged after it (the check accepts exactly that; it found
//!   the case: `Retransmit2xx` and `Retransmit(B)` take the ACK in with them).
//!
//! Once the ACK is in and nothing of Mallory's is on its way, the server forgets
//! her transaction at once (`spent_attack.rs`): the answer it kept was the last
//! trace of when the INVITE came, so the states after a 403, a 603 and a 481 merge.
//!
//! **Session 15: the chat messages' multiplier.** One chat message each way
//! multiplied `combined` by 44 (642 150 unique states without, 28.4 million with).
//! The messages themselves are not what the reduction cannot take: `Chat` commutes
//! with almost every other action (it writes the sender's count, the ghost, and in
//! the server the session's chat log, a ticket and a `Persist`). They multiplied
//! the space because three clauses above, written for them, kept classes out of
//! the ample sets wherever a message could still come, and because two ways a
//! late message fails kept states apart that nothing tells apart:
//!
//! * *Only the 1-to-1's parties chat on it* (`may_chat_on`). C's and Mallory's
//!   `one` stays empty, which the clause read as "on any dialog": C's 2xx to the
//!   focus's INVITE was never taken while a 1-to-1 message was still to come. Now
//!   the 1-to-1 clause is A's and B's only (`enabled` offers 1-to-1 chats to no
//!   one else). A narrower exclusion is not a wider class: the 2xx of the party
//!   that may still chat on that dialog stays out
//!   (`the_check_fails_on_a_wrong_2xx_classification`).
//! * *A chat after the 1-to-1 ended takes no ticket* (`may_mint`). Once a BYE on the
//!   1-to-1 reached the server, or the server ended it itself (`one_ended`), a leg
//!   of the 1-to-1 is closed and the server refuses a chat on it at once
//!   (`chat.rs`, `chat_recipients`: `RecipientGone` or `NotAParty`; `NoSession`
//!   once it is forgotten), with no ticket and no `Persist`; so the chat clause of
//!   `may_mint` ends there. Every answer to the server's BYE on the 1-to-1 comes
//!   after that end, so while A or B still had a message to send no answer to the
//!   server's BYE was taken before. The clause still only turns false along a path
//!   (`one_ended` is never cleared), as the stability check asserts.
//! * *The caller's 2xx that creates its group dialog* (over UDP). A BYE arriving
//!   before the 2xx that creates its dialog finds no dialog (above), so that 2xx was
//!   never taken over UDP. The focus sends a BYE on A's group dialog only when the
//!   group ends or removes A: a leave, a decline that ends it, a REFER or a race.
//!   With no leavers and no declines (the others are outside the reduction) no BYE
//!   can overtake A's 2xx to its extension INVITE, and that receipt is an ordinary
//!   safe receipt (it creates a dialog nothing else at A reads and sends the ACK;
//!   C3: a response to a terminal weighs more than the ACK). The 1-to-1's 2xx
//!   stays out (`bye_may_overtake`; `the_check_fails_when_the_one_to_ones_2xx_is_taken`).
//! * *One recorded value for a 1-to-1 message's failure* (`canonical_outcome`, with
//!   the canonical state: `por` or `por_check`). A chat after the 1-to-1 ended fails
//!   `RecipientGone` until the store confirms the seal and `NoSession` after; a
//!   store failure fails it `StoreFailed`. The observer recorded the reason, so each
//!   order of a late chat and the seal's confirmation gave two states with equal
//!   servers, networks and terminals, and no property reads the reason: MSG-1 and
//!   EXT-8 read acceptance and that a result came, GRP-5 reads `NotAParty` of a
//!   *group* message, when the result is given (its flaw is recorded then, from the
//!   real outcome). Recording every failure of a 1-to-1 message as one value merges
//!   exactly such states: a quotient by a relation that every property respects and
//!   every step preserves (the rest of the state is equal, so the same actions
//!   lead to states related again), so it loses no violation, end state or
//!   `sometimes`. Checked, not assumed: `no_property_reads_why_a_one_to_one_message_failed`
//!   evaluates every property at every state of three unreduced configurations with
//!   the results recorded both ways, and shows that recording acceptance as failure
//!   too would change MSG-1's verdict.
//!
//! * *A BYE that disables nothing* (`bye_disables_nothing`). A BYE's receipt was
//!   never safe: it disables the terminal's chat, BYE and extension, and A may
//!   ignore it. Two cases disable nothing and leave no choice: A decided to be
//!   silent (the receipt then only takes the packet off the network, or repeats
//!   a remembered answer), and a BYE on the 1-to-1 dialog that `t` already has
//!   (so it cannot overtake the 2xx that creates it) after `t` sent its own BYE
//!   on it (its chat and BYE are no longer enabled, nor A's extension, which
//!   comes before A's BYE) and got its final answer, when `t` may not ignore it
//!   (not A with `silent_a`). The answer is needed for the mutants, not for the
//!   real server: with `t`'s glare BYE still on its way, taking the receipt first
//!   puts `t`'s 200 on the network before the server has `t`'s BYE, and with
//!   `por_server` that 200 is then taken first; the real server answers the BYE
//!   alike in either order (the check holds), but `UnansweredGlareBye`'s does
//!   not, and the reduced graph lost its bad end state (found by
//!   `mutants_still_break_their_properties_with_the_reduction`).
//!   The receipt then writes `bye_received` and answers 200 (or 481 for a lost
//!   dialog): no ghost field; `bye_received` is read only by `enabled` for the
//!   moves already over and by `may_mint`/`may_chat_on`, which it only turns
//!   false. `bye_sent` and `silent` are never cleared, so the class is stable.
//!   C3: a request to a terminal weighs more than the answer it sends. Taking
//!   a BYE that still disables a move fails the check
//!   (`the_check_fails_on_a_bye_that_disables_a_move`).
//!
//! **Tested, not assumed** (`por_tests.rs`): `por_check` adds a property that, at
//! every state of the *unreduced* (canonical) graph, takes every safe receipt `a`
//! (with `por_server`, the server's too; with `por`, Mallory's attack) and every
//! other enabled action `b` and asserts that `b` does not disable `a` (unless `b`
//! absorbs it: `a` then `b` is `b`) and leaves it safe (so the class is stable
//! on every path that leaves the packet in flight), that `a` does not disable `b`
//! unless `b` then `a` reach the state `a` does (absorbed), that both orders reach
//! the same state, that `a` changes no ghost field but adds `Reached` flags (a
//! server receipt: no property's verdict), and that `a` lowers the C3 measure. Over
//! an exhausted graph that covers every pair C1 needs: on a path from `s` the
//! packet stays in flight and its receipt stays safe (asserted at each step), so
//! each action on the path meets it in a checked state.

use cpmd_core::server::{ChatFailure, ChatOutcome};
use cpmd_core::sip::{Method, Response, SipMessage};
use cpmd_core::Timer;

use super::{Action, CpmModel, Ghost, Node, Packet, State};
use crate::terminal::Term;

impl CpmModel {
    /// Whether the setup is one the reduction is argued for (see the module docs).
    pub(super) fn por_setup(&self) -> bool {
        let s = &self.setup;
        !s.msrp && s.restarts == 0 && !s.refers && s.races == super::Races::default()
    }

    /// Whether the state is kept in the canonical order the reduction needs.
    pub(super) fn canonical(&self) -> bool {
        (self.setup.por || self.setup.por_check) && self.por_setup()
    }

    /// Whether delivering packet `i` is a safe receipt (module docs).
    pub(crate) fn safe_receipt(&self, st: &State, i: usize) -> bool {
        if !self.por_setup() {
            return false;
        }
        let Some(p) = st.net.get(i) else {
            return false;
        };
        let Node::T(t) = p.dst else {
            return self.setup.por_server && self.safe_at_server(st, p);
        };
        // Over UDP the server's BYE may overtake the 2xx that creates the caller's
        // dialog, and is answered differently then: that receipt is not reduced. A
        // callee's dialog is created by the INVITE's first copy, before it answered,
        // so before the server can send anything in that dialog.
        let udp = self.udp();
        match &*p.msg {
            SipMessage::Request(r) => {
                r.method != Method::Bye || self.bye_disables_nothing(st, t, r)
            }
            SipMessage::Response(r) => {
                let awaited = st.term(t).outstanding.iter().any(|q| {
                    q.headers.call_id == r.headers.call_id && q.headers.cseq == r.headers.cseq
                });
                let creates =
                    awaited && r.headers.cseq.method == Method::Invite && r.status.is_success();
                // An answer to `t`'s oldest request ends what `t`'s retransmission
                // resends: that retransmission is the receipt's companion.
                !(udp && creates && self.bye_may_overtake(r))
            }
        }
    }

    /// The retransmission that the receipt of packet `i` would disable, if it is
    /// enabled (module docs, "Companions"): `t`'s own when the packet is the final
    /// answer to `t`'s oldest unanswered request, the server's timer of the
    /// transaction a 2xx or an answer to its BYE answers. The reduced state keeps it
    /// beside the packet's fate.
    pub(crate) fn companion(&self, st: &State, i: usize) -> Option<Action> {
        let p = st.net.get(i)?;
        if !self.udp() || st.budget.retransmits == 0 {
            return None;
        }
        let r = match &*p.msg {
            SipMessage::Response(r) => r,
            // Mallory's ACK ends the repeats of the answer it acknowledges.
            SipMessage::Request(r) if r.method == Method::Ack && p.dst == Node::Server => {
                let branch = r.headers.via.first().and_then(|v| v.branch())?;
                return st.server.armed_timers().find_map(|(timer, _)| {
                    let Timer::Retransmit(k) = timer else {
                        return None;
                    };
                    k.is_server_of(&Method::Invite, branch)
                        .then(|| Action::Fire(timer.clone()))
                });
            }
            SipMessage::Request(_) => return None,
        };
        if !r.status.is_final() {
            return None;
        }
        match p.dst {
            Node::T(t) => {
                let q = st.term(t).outstanding.first()?;
                (q.headers.call_id == r.headers.call_id && q.headers.cseq == r.headers.cseq)
                    .then_some(Action::Retransmit(t))
            }
            Node::Server => {
                let branch = r.headers.via.first().and_then(|v| v.branch())?;
                let method = &r.headers.cseq.method;
                st.server.armed_timers().find_map(|(timer, _)| {
                    let Timer::Retransmit(k) = timer else {
                        return None;
                    };
                    k.is_client_of(method, branch)
                        .then(|| Action::Fire(timer.clone()))
                })
            }
        }
    }

    /// Whether the server's receipt of `p` is a safe one (module docs, "Server-side
    /// receipts", "The 2xx to the server's INVITEs"): a terminal's final answer to
    /// the server's BYE or its first 2xx to the server's INVITE (while a
    /// retransmission is left, its companion is in the ample set: `companion`).
    fn safe_at_server(&self, st: &State, p: &Packet) -> bool {
        let Node::T(from) = p.src else {
            return false;
        };
        let SipMessage::Response(r) = &*p.msg else {
            return from == Term::M && (refused_for_good(st, p) || acks_refusal(st, p));
        };
        if r.headers.cseq.method == Method::Invite && r.status.is_success() {
            return !self.may_chat_on(st, from, &r.headers.call_id) && first_answer(st, r);
        }
        r.headers.cseq.method == Method::Bye
            && r.status.is_final()
            && !self.may_mint(st)
            && !self.may_turn_silent(st)
    }

    /// Whether `t`'s receipt of the BYE `r` is safe (module docs, "Session 15"): A
    /// decided to be silent (the receipt changes nothing at A but the packet), or
    /// `r` is on the 1-to-1 dialog `t` already has, `t` sent its own BYE on it (its
    /// chat, BYE and extension are over) and `t` has no choice to ignore it.
    fn bye_disables_nothing(&self, st: &State, t: Term, r: &cpmd_core::sip::Request) -> bool {
        let ts = st.term(t);
        if !matches!(t, Term::A | Term::B) {
            return false;
        }
        if t == Term::A && ts.silent {
            return true;
        }
        let on_one = ts
            .one
            .as_ref()
            .is_some_and(|d| d.call_id == r.headers.call_id);
        let may_ignore = self.setup.silent_a && t == Term::A;
        // `t`'s own BYE answered: the server took it, so the receipt cannot cross
        // it there (a glare BYE still on its way is the race of
        // `UnansweredGlareBye`, whose mutant answers differently before and after
        // the server has `t`'s answer: kept apart).
        let own_answered = !ts.outstanding.iter().any(|q| q.method == Method::Bye);
        on_one && ts.bye_sent && own_answered && !may_ignore
    }

    /// Whether the server may send a BYE in the dialog the 2xx `r` creates at its
    /// caller before that 2xx arrives.
    fn bye_may_overtake(&self, r: &Response) -> bool {
        let s = &self.setup;
        r.headers.call_id.as_str() != crate::terminal::A_EXT_CALL || s.leavers > 0 || s.declines
    }

    /// Whether Mallory's attack (her INVITE's send) is taken alone where it is
    /// enabled (module docs, "The outsider's INVITE"): it reads A's 1-to-1 dialog,
    /// which nothing changes once A has it, and writes only Mallory's state and a
    /// packet towards the server.
    pub(crate) fn attack_alone(&self, st: &State) -> bool {
        self.por_setup()
            && self.setup.attacker
            && !st.term(Term::M).extended
            && st.term(Term::A).one.is_some()
    }

    /// Whether `t` may still send a chat message on the dialog `call` (its 1-to-1 or
    /// its group dialog): the server takes a message differently before and after it
    /// has the 2xx that answers `t`'s INVITE on that dialog.
    fn may_chat_on(&self, st: &State, t: Term, call: &cpmd_core::CallId) -> bool {
        let s = &self.setup;
        let ts = st.term(t);
        let on =
            |d: &Option<crate::terminal::Dialog>| d.as_ref().is_none_or(|d| d.call_id == *call);
        // Only the 1-to-1's parties chat on it: C's and Mallory's `one` stays empty.
        let party = matches!(t, Term::A | Term::B);
        let one = party && s.msgs > ts.sent_one && !ts.bye_sent && !ts.bye_received && on(&ts.one);
        let group = s.group_msgs > ts.sent_group && !ts.left_group && on(&ts.group);
        one || group
    }

    /// Whether A may still decide to be silent: a BYE (a retransmitted copy, once A
    /// answered the first) is on its way to A, who may ignore it. The seal's observer
    /// reads that decision (`Reached::SilentASealed`), so an answer that seals does
    /// not commute with it (the check found it over random walks of `combined`).
    fn may_turn_silent(&self, st: &State) -> bool {
        self.setup.silent_a
            && !st.term(Term::A).silent
            && st.net.iter().any(|q| {
                q.dst == Node::T(Term::A)
                    && matches!(&*q.msg, SipMessage::Request(r) if r.method == Method::Bye)
            })
    }

    /// Whether another input may still make the server take a store ticket before a
    /// safe answer to its BYE is taken: the answer may seal (a ticket), and two inputs
    /// that both take one do not commute (module docs, "Server-side receipts"). The
    /// inputs that take a ticket: a chat message (`handle_chat`'s `Persist`), the
    /// extension's INVITE (the group's info), a group message or a leave (a group's
    /// seal); and `replaced_bye_timeout`, which ends the 1-to-1 with new BYEs (so
    /// changes which answer seals). Each clause only ever turns false on a path
    /// (checked: `por_check` asserts the answer stays safe).
    fn may_mint(&self, st: &State) -> bool {
        let s = &self.setup;
        let a = st.term(Term::A);
        // Once the 1-to-1 ended at the server (a BYE arrived or it ended it itself)
        // a chat on it is refused without a ticket (`chat_recipients`: a leg is
        // closed), so it no longer mints.
        let ended = st.ghost.one_ended;
        let chats =
            |t: &super::TermState| t.sent_one < s.msgs && !t.bye_sent && !t.bye_received && !ended;
        // Inputs still to come from the terminals' own moves.
        let moves = (s.extend && !a.extended)
            || chats(a)
            || chats(st.term(Term::B))
            || s.group_msgs > 0
            || s.leavers > 0;
        // The extension's INVITE under way (its group info takes a ticket).
        let under_way = st.net.iter().any(|q| {
            q.dst == Node::Server
                && matches!(&*q.msg, SipMessage::Request(r)
                    if r.method == Method::Invite
                        && r.headers.call_id.as_str() == crate::terminal::A_EXT_CALL)
        });
        let timer = s.missing_bye
            && st
                .server
                .armed_timers()
                .any(|(t, _)| matches!(t, Timer::ReplacedBye(_)));
        moves || under_way || timer
    }

    /// Narrows `actions` (every enabled action of `st`) to the fate of the first
    /// packet whose receipt is safe, when the setup asks for the reduction.
    pub(crate) fn reduce(&self, st: &State, actions: &mut Vec<Action>) {
        if !self.setup.por {
            return;
        }
        let Some(i) = actions.iter().find_map(|a| {
            let Action::Deliver(i) = a else { return None };
            self.safe_receipt(st, *i).then_some(*i)
        }) else {
            if self.attack_alone(st) && actions.contains(&Action::Attack) {
                actions.retain(|a| *a == Action::Attack);
            }
            return;
        };
        let companion = self.companion(st, i);
        actions.retain(|a| on_packet(a) == Some(i) || Some(a) == companion.as_ref());
    }

    /// The outcome the observer records for `msg`: as the server gave it, except
    /// that with the canonical state a 1-to-1 message's failure is recorded as one
    /// value (module docs, "Session 15"): no property reads why a 1-to-1 message
    /// failed, and a chat after the 1-to-1 ended fails `RecipientGone` before the
    /// store confirms the seal and `NoSession` after, which kept two states apart
    /// for every order of a late chat and that confirmation.
    pub(super) fn recorded_outcome(&self, msg: super::Msg, outcome: ChatOutcome) -> ChatOutcome {
        if self.canonical() {
            canonical_outcome(msg, outcome)
        } else {
            outcome
        }
    }

    /// Where a terminal remembers a final answer: sorted by transaction when the
    /// state is canonical (the list is only searched), else appended.
    pub(super) fn answered_at(&self, answered: &[Response], resp: &Response) -> usize {
        if !self.canonical() {
            return answered.len();
        }
        let key = |r: &Response| {
            (
                r.headers.call_id.as_str().to_owned(),
                r.headers.cseq.seq,
                r.headers.cseq.method.to_string(),
                r.status.get(),
            )
        };
        let k = key(resp);
        answered.partition_point(|r| key(r) <= k)
    }

    /// Where a packet goes on a TCP network: sorted by connection (stable, so FIFO
    /// within each) when the state is canonical, else in global send order.
    pub(super) fn tcp_at(&self, net: &[Packet], p: &Packet) -> usize {
        if !self.canonical() {
            return net.len();
        }
        net.partition_point(|q| (q.src, q.dst) <= (p.src, p.dst))
    }

    /// The `por_check` property: at `st`, every safe receipt commutes with every
    /// other enabled action, is invisible to the `always` properties and lowers the
    /// C3 measure (module docs). The first failure is printed.
    pub fn por_sound_at(&self, st: &State) -> bool {
        match self.por_failure(st) {
            None => true,
            Some(why) => {
                eprintln!("por_check: {why}");
                false
            }
        }
    }

    fn por_failure(&self, st: &State) -> Option<String> {
        self.por_failure_of(st, &|st, i| self.safe_receipt(st, i), &|st, i| {
            self.companion(st, i)
        })
    }

    /// The first of the reduction's conditions that the deliveries `safe` picks
    /// break at `st` (a parameter so that a test can show the check fails on a
    /// classification that is wrong).
    pub(crate) fn por_failure_of(
        &self,
        st: &State,
        safe: &dyn Fn(&State, usize) -> bool,
        companion: &dyn Fn(&State, usize) -> Option<Action>,
    ) -> Option<String> {
        let mut all = Vec::new();
        self.enabled(st, &mut all);
        for a in &all {
            let i = if let Action::Deliver(i) = a {
                if !safe(st, *i) {
                    continue;
                }
                Some(*i)
            } else if *a == Action::Attack && self.attack_alone(st) {
                None
            } else {
                continue;
            };
            if let Some(why) = self.alone_failure(st, a, i, &all, safe, companion) {
                return Some(why);
            }
        }
        None
    }

    /// The first condition that taking `a` alone breaks at `st`: `a` the receipt of
    /// packet `i` (with its companion, if any), or with `i` `None` the attack.
    fn alone_failure(
        &self,
        st: &State,
        a: &Action,
        i: Option<usize>,
        all: &[Action],
        safe: &dyn Fn(&State, usize) -> bool,
        companion: &dyn Fn(&State, usize) -> Option<Action>,
    ) -> Option<String> {
        let after_a = self.step(st, a, &mut None);
        let what = i.map_or("Mallory's attack".to_owned(), |i| {
            super::describe(&st.net[i].msg)
        });
        if i.is_some_and(|i| st.net[i].dst == Node::Server) {
            // A server input writes the observer's own records (a leg's answer,
            // a seal); what must not change is any property's verdict.
            if let Some(name) = self.verdict_changed(st, &after_a) {
                return Some(format!("receipt of {what} changes the verdict of {name}"));
            }
        } else if !invisible(&st.ghost, &after_a.ghost) {
            return Some(format!("receipt of {what} changes the ghost"));
        }
        if measure(&after_a) >= measure(st) {
            return Some(format!("receipt of {what} does not lower the C3 measure"));
        }
        let c = i.and_then(|i| companion(st, i)).filter(|c| all.contains(c));
        let outside =
            |b: &&Action| *b != a && (i.is_none() || on_packet(b) != i) && Some(*b) != c.as_ref();
        if let Some(c) = &c {
            if let Some(why) = self.companion_failure(st, c, all, &outside) {
                return Some(format!("{why} (the companion of the receipt of {what})"));
            }
        }
        for b in all.iter().filter(outside) {
            let b2 = self.translate(st, b, &after_a);
            let after_b = self.step(st, b, &mut None);
            let Some(a2) = self.translate(st, a, &after_b) else {
                // `b` disables the receipt by taking it in itself: with `eager_acks`
                // an action that spends the last retransmission delivers every ACK
                // in flight (Mallory's too). Allowed when the receipt then `b` reach
                // the state `b` alone does (`b` *absorbs* it: on such a path the
                // receipt moves to the front and `b` stays where it was).
                let absorbed = b2
                    .as_ref()
                    .is_some_and(|b2| self.step(&after_a, b2, &mut None) == after_b);
                if absorbed {
                    continue;
                }
                return Some(format!("{b:?} disables the receipt of {what}"));
            };
            // Stability: the receipt stays safe on every path that leaves it in
            // flight (the attack stays taken alone while it is not sent), so each
            // action on such a path meets it in a checked state.
            let j = on_packet(&a2);
            let still = match (i, j) {
                (Some(_), Some(j)) => safe(&after_b, j),
                (None, None) => a2 == *a && self.attack_alone(&after_b),
                _ => false,
            };
            if !still {
                return Some(format!("{b:?} makes the step of {what} unsafe"));
            }
            // The companion too: while it is enabled it stays the receipt's, so
            // each action on the path meets it in a checked state.
            if let (Some(c), Some(j)) = (&c, j) {
                let kept = self.translate(st, c, &after_b);
                if kept.is_some() && companion(&after_b, j) != kept {
                    return Some(format!(
                        "{b:?} changes the companion of the receipt of {what}"
                    ));
                }
            }
            let ba = self.step(&after_b, &a2, &mut None);
            let Some(b2) = b2 else {
                // The receipt disables `b`: allowed only when `b` then the
                // receipt reach the state the receipt alone does (`b` is absorbed:
                // the server's answer that seals, against `bye_wait` firing, which
                // would have sealed the same way).
                if ba == after_a {
                    continue;
                }
                return Some(format!(
                    "receipt of {what} disables {b:?}, which it does not absorb: {}",
                    first_difference(&after_a, &ba)
                ));
            };
            let ab = self.step(&after_a, &b2, &mut None);
            if ab != ba {
                let other = on_packet(b).map(|j| super::describe(&st.net[j].msg));
                return Some(format!(
                    "receipt of {what} and {b:?} ({other:?}) do not commute: {}",
                    first_difference(&ab, &ba)
                ));
            }
        }
        None
    }

    /// The conditions for a companion `c` (a retransmission kept beside a receipt):
    /// it changes no property's verdict and lowers the C3 measure, and against each
    /// action `b` outside the reduced set: if `b` disables `c`, then for good (it
    /// spent the budget, which never grows back: no path of such actions ends with
    /// `c`); else `c` does not disable `b` unless `b` then `c` is `c` alone
    /// (absorbed), and both orders reach the same state.
    fn companion_failure(
        &self,
        st: &State,
        c: &Action,
        all: &[Action],
        outside: &dyn Fn(&&Action) -> bool,
    ) -> Option<String> {
        let after_c = self.step(st, c, &mut None);
        if let Some(name) = self.verdict_changed(st, &after_c) {
            return Some(format!("{c:?} changes the verdict of {name}"));
        }
        if measure(&after_c) >= measure(st) {
            return Some(format!("{c:?} does not lower the C3 measure"));
        }
        for b in all.iter().filter(outside) {
            let after_b = self.step(st, b, &mut None);
            let Some(c2) = self.translate(st, c, &after_b) else {
                if after_b.budget.retransmits == 0 {
                    continue;
                }
                return Some(format!("{b:?} disables {c:?} while the budget lasts"));
            };
            let bc = self.step(&after_b, &c2, &mut None);
            let Some(b2) = self.translate(st, b, &after_c) else {
                // Absorbed: with `eager_acks` spending the budget delivers the ACKs
                // in flight, so `b`, an ACK's delivery, then `c` is `c` alone.
                if bc == after_c {
                    continue;
                }
                // Simulated: `b` loses or duplicates an ACK that `c` would deliver
                // at once; `b` then `c` is `c` but for that ACK's delivery and the
                // fault budget `b` spent (module docs, "With `eager_acks`").
                if self.ack_fate_undone(st, b, &bc).as_ref() == Some(&after_c) {
                    continue;
                }
                return Some(format!(
                    "{c:?} disables {b:?}, which it neither absorbs nor simulates: {}",
                    first_difference(&after_c, &bc)
                ));
            };
            let cb = self.step(&after_c, &b2, &mut None);
            if bc != cb {
                return Some(format!(
                    "{c:?} and {b:?} do not commute: {}",
                    first_difference(&cb, &bc)
                ));
            }
        }
        None
    }

    /// `bc`, the state after `b` then a companion that spent the last retransmission,
    /// with `b` undone when `b` is the loss or the duplication of an ACK on its way to
    /// the server under `eager_acks`: its fault budget given back and a lost ACK
    /// delivered (as the companion alone delivers it). `None` for any other `b`.
    fn ack_fate_undone(&self, st: &State, b: &Action, bc: &State) -> Option<State> {
        let (Action::Drop(i) | Action::Duplicate(i)) = b else {
            return None;
        };
        let p = st.net.get(*i)?;
        let ack = matches!(&*p.msg, SipMessage::Request(r) if r.method == Method::Ack);
        if !self.setup.eager_acks || !ack || p.dst != Node::Server || bc.budget.retransmits > 0 {
            return None;
        }
        let mut z = bc.clone();
        if matches!(b, Action::Drop(_)) {
            z.budget.drops += 1;
            self.push(&mut z, p.clone());
            self.eager_acks(&mut z, &mut None);
            self.forget_spent_attack(&mut z, &mut None);
        } else {
            z.budget.dups += 1;
        }
        Some(z)
    }

    /// The first property (but the check's own) whose verdict `after` changes:
    /// an `always` property's either way, a `sometimes` property's from reached to
    /// not reached. Not judged when `after` is an end state (end states are
    /// reached exactly, and judged there).
    fn verdict_changed(&self, before: &State, after: &State) -> Option<&'static str> {
        use stateright::{Expectation, Model};
        if self.is_end(after) {
            return None;
        }
        self.properties().into_iter().find_map(|p| {
            if p.name == crate::properties::names::POR {
                return None;
            }
            let (was, is) = ((p.condition)(self, before), (p.condition)(self, after));
            let changed = match p.expectation {
                Expectation::Always | Expectation::Eventually => was != is,
                Expectation::Sometimes => was && !is,
            };
            changed.then_some(p.name)
        })
    }

    /// `action` of `from`, as the same action in `to` (a packet's index moves), if
    /// it is enabled there.
    fn translate(&self, from: &State, action: &Action, to: &State) -> Option<Action> {
        let moved = |i: usize| to.net.iter().position(|q| *q == from.net[i]);
        let a = match packet_of(action) {
            Some((i, on)) => on(moved(i)?),
            None => action.clone(),
        };
        let mut enabled = Vec::new();
        self.enabled(to, &mut enabled);
        enabled.contains(&a).then_some(a)
    }
}

/// A message's outcome as the canonical state records it: a 1-to-1 message's
/// failure, whatever its reason, as one value (`CpmModel::recorded_outcome`).
/// Acceptance and a group message's reasons stay as they are (MSG-1 and EXT-8
/// read acceptance; GRP-5 reads `NotAParty` of a group message, when it is given).
pub(crate) fn canonical_outcome(msg: super::Msg, outcome: ChatOutcome) -> ChatOutcome {
    match outcome {
        ChatOutcome::Failed(_) if msg.sess != super::Sess::Group => {
            ChatOutcome::Failed(ChatFailure::RecipientGone)
        }
        o @ (ChatOutcome::Accepted | ChatOutcome::Failed(_)) => o,
    }
}

/// Whether `r` (a 2xx to one of the server's INVITEs) is the first final answer to
/// its client transaction: the transaction's timeout (Timer B, then C) is armed until
/// one comes (`transaction.rs`, `receive_response`); a later copy (the answer to a
/// retransmitted INVITE) is taken differently while the session lasts and after.
fn first_answer(st: &State, r: &Response) -> bool {
    let Some(branch) = r.headers.via.first().and_then(|v| v.branch()) else {
        return false;
    };
    st.server.armed_timers().any(|(t, _)| {
        let Timer::Timeout(k) = t else { return false };
        k.is_client_of(&Method::Invite, branch)
    })
}

/// Whether `p` is an ACK of the server's refusal of an INVITE (Mallory's, the only
/// INVITE the server refuses itself here; module docs, "The outsider's INVITE"):
/// that INVITE's server transaction is Completed (its `Timeout` armed) or Confirmed
/// (its `Linger` armed).
fn acks_refusal(st: &State, p: &Packet) -> bool {
    let SipMessage::Request(r) = &*p.msg else {
        return false;
    };
    let Some(branch) = r.headers.via.first().and_then(|v| v.branch()) else {
        return false;
    };
    r.method == Method::Ack
        && st.server.armed_timers().any(|(t, _)| {
            matches!(t, Timer::Timeout(k) | Timer::Linger(k)
                if k.is_server_of(&Method::Invite, branch))
        })
}

/// Whether `p` is Mallory's INVITE and the server's answer to it can no longer
/// change (module docs, "The outsider's INVITE"): the store confirmed the seal of the
/// 1-to-1 it names, so the server has forgotten that session and its legs
/// (`termination.rs`, `on_sealed`; `one_to_one.rs`, `drop_session`) and answers 481
/// from then on (`extension.rs`, `session_by_replaces`: no leg under A's Call-ID
/// and the server's tag, which no later leg takes again).
fn refused_for_good(st: &State, p: &Packet) -> bool {
    p.src == Node::T(Term::M)
        && matches!(&*p.msg, SipMessage::Request(r) if r.method == Method::Invite)
        && st.ghost.seal_durable
}

/// The packet an action is the fate of (also the sleep sets' `sleep.rs`).
pub(crate) fn on_packet(a: &Action) -> Option<usize> {
    packet_of(a).map(|(i, _)| i)
}

/// Makes an action of one kind on packet `i`.
type OnPacket = fn(usize) -> Action;

/// The packet an action is the fate of, and the same kind of action on another
/// packet. Exhaustive, so a new action on a packet cannot be missed.
fn packet_of(a: &Action) -> Option<(usize, OnPacket)> {
    match a {
        Action::Deliver(i) => Some((*i, Action::Deliver)),
        Action::Drop(i) => Some((*i, Action::Drop)),
        Action::Duplicate(i) => Some((*i, Action::Duplicate)),
        Action::IgnoreBye(i) => Some((*i, Action::IgnoreBye)),
        Action::Decline(i) => Some((*i, Action::Decline)),
        Action::NoAnswer(i) => Some((*i, Action::NoAnswer)),
        Action::Fire(_)
        | Action::StoreOk(_)
        | Action::StoreFail(_)
        | Action::Chat(..)
        | Action::Extend
        | Action::Bye(_)
        | Action::Retransmit(_)
        | Action::Attack
        | Action::Leave(_)
        | Action::ChunkEnd(_)
        | Action::Abort(_)
        | Action::Refer(_)
        | Action::Race(_)
        | Action::Restart(_)
        | Action::Cancel
        | Action::WrongPath(_)
        | Action::MsrpBreak(_)
        | Action::MsrpRebind(_) => None,
    }
}

/// Whether `after` differs from `before` in nothing but added `Reached` flags.
fn invisible(before: &Ghost, after: &Ghost) -> bool {
    if !before.reached.iter().all(|r| after.reached.contains(r)) {
        return false;
    }
    let mut b = before.clone();
    let mut a = after.clone();
    b.reached.clear();
    a.reached.clear();
    a == b
}

/// C3's measure: retransmissions left (a companion spends one), duplications left,
/// whether Mallory's attack is still to be sent (the attack taken alone sends it),
/// then the packets on their way, weighted.
fn measure(st: &State) -> (u8, u8, bool, usize) {
    (
        st.budget.retransmits,
        st.budget.dups,
        !st.term(Term::M).extended,
        st.net.iter().map(weight).sum(),
    )
}

/// A packet's weight in C3's measure: more than the weights of the packets its
/// receipt may send, when that receipt is one the reduction takes.
fn weight(p: &Packet) -> usize {
    let invite = |m: &Method| *m == Method::Invite;
    match (&*p.msg, p.dst) {
        (SipMessage::Request(r), Node::T(_)) if invite(&r.method) => 9,
        (SipMessage::Request(r), _) if r.method == Method::Ack => 1,
        (SipMessage::Request(_), Node::T(_)) => 2,
        (SipMessage::Request(_), Node::Server) => 9,
        (SipMessage::Response(r), Node::Server)
            if invite(&r.headers.cseq.method) && r.status.is_success() =>
        {
            8
        }
        (SipMessage::Response(_), Node::T(_)) => 2,
        (SipMessage::Response(_), Node::Server) => 1,
    }
}

/// The first part in which two states differ, for the check's message.
fn first_difference(x: &State, y: &State) -> String {
    if x.server != y.server {
        return "server".into();
    }
    if x.net != y.net {
        return format!("network {:?} / {:?}", x.net, y.net);
    }
    if x.terms != y.terms {
        return format!("terminals {:?} / {:?}", x.terms, y.terms);
    }
    if x.ghost != y.ghost {
        return format!("ghost {:?} / {:?}", x.ghost, y.ghost);
    }
    "store, budget or races".into()
}
