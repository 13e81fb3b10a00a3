"""Where one call goes, as one transition table: no I/O.

::

    unrouted ─park: bot─▶ to_bot ─caller up─▶ bot
        │                   ├─caller ringing─▶ answering ─caller answered─▶ bot
        │                   └─no bot can take it─▶ refused (SIP 480, or the fallback)
        ├─park: extension─▶ ringing ─extension answered─▶ connecting ─▶ bridged
        │                     │                  └─notice due─▶ announcing ─▶ notice ─said─▶ bridged
        │                     └─no answer / extension failed, hung up or gone─▶ to_bot
        ├─park: extension, but none given─▶ to_bot
        └─park: unknown action─▶ refused
    any ─caller gone─▶ ending ─hangup complete / grace over─▶ finished
    any ─hangup complete / forced end─▶ finished

``to_bot``, ``connecting`` and ``announcing`` are left in the same
:meth:`RoutingMachine.feed`: the machine resolves them with the caller's answer state
(still ringing → answer it first) — and ``to_bot`` first with whether a bot can
take the call at all (the pipeline disabled or its models failed to load: never
answer a caller into silence), and ``connecting`` first with whether the caller
must hear the recording notice before the person comes on (``notice``: the
extension waits, parked, while it plays; if they hang up meanwhile, the bot takes
the call) — as
:class:`~callcontrol.dialog.machine.DialogMachine` resolves silences.
After a takeover (``answering``/``bot``) or once the caller is gone, a ring leg
that answers late is hung up.

The :class:`~callcontrol.calls.actor.CallActor` feeds :class:`Input` values (from
ESL events, its timers, its originate results) and performs the returned
:class:`Action`\\ s in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    UNROUTED = "unrouted"  # not (yet) handed to callcontrol by the dialplan
    TO_BOT = "to_bot"  # passing: resolved at once by the caller's answer state
    ANSWERING = "answering"  # the caller is being answered for the bot
    BOT = "bot"  # handed to the bot (or nothing left to do for it)
    RINGING = "ringing"  # an extension rings for the call; the no-answer timer runs
    CONNECTING = "connecting"  # passing: the extension answered
    ANNOUNCING = "announcing"  # passing: a recording notice is due before the bridge
    NOTICE = "notice"  # the caller hears the recording notice; the extension waits
    BRIDGED = "bridged"  # the extension answered and was bridged to the caller
    REFUSED = "refused"  # an action callcontrol does not know: the call is left alone
    ENDING = "ending"  # the caller hung up; waiting for CHANNEL_HANGUP_COMPLETE
    FINISHED = "finished"  # CDR written; nothing more happens to the call


class Input(StrEnum):
    PARK_BOT = "park_bot"  # parked with callcontrol_action=bot
    PARK_EXTENSION = "park_extension"  # parked with callcontrol_action=extension
    PARK_NO_EXTENSION = "park_no_extension"  # … but no callcontrol_extension
    PARK_UNKNOWN = "park_unknown"  # parked with an action we do not know
    CALLER_ANSWERED = "caller_answered"  # CHANNEL_ANSWER on the caller, or: caller is up
    CALLER_RINGING = "caller_ringing"  # resolving only: the caller is not answered yet
    BOT_UNAVAILABLE = "bot_unavailable"  # resolving only: no bot can take the call
    NOTICE_DUE = "notice_due"  # resolving only: the caller hears a notice before the bridge
    NOTICE_DONE = "notice_done"  # the recording notice has played (or could not)
    RING_ANSWERED = "ring_answered"  # CHANNEL_ANSWER on the ring leg
    RING_PROGRESS = "ring_progress"  # CHANNEL_PROGRESS on the ring leg
    RING_HUNG_UP = "ring_hung_up"  # the ring leg hung up
    RING_GONE = "ring_gone"  # the ring leg vanished while ESL was disconnected
    ORIGINATE_OK = "originate_ok"  # the ring leg's originate succeeded
    ORIGINATE_FAILED = "originate_failed"
    NO_ANSWER = "no_answer"  # the ring time ran out
    CALLER_GONE = "caller_gone"  # the caller's leg hung up
    HANGUP_COMPLETE = "hangup_complete"  # CHANNEL_HANGUP_COMPLETE on the caller
    FINISH_TIMER = "finish_timer"  # no HANGUP_COMPLETE within the grace period
    FORCE_END = "force_end"  # the call is gone without events (outage, failed originate)
    DISOWNED = "disowned"  # another worker owns the call


class Action(StrEnum):
    NOTE_ROUTE_BOT = "note_route_bot"
    REFUSE_ROUTE = "refuse_route"  # unknown action: note it, leave the call alone
    REFUSE_NO_EXTENSION = "refuse_no_extension"
    REFUSE_NO_BOT = "refuse_no_bot"  # SIP 480 (SUBSCRIBER_ABSENT), or the fallback
    ANSWER = "answer"  # answer the caller
    HAND_TO_BOT = "hand_to_bot"  # caller leg → bot, and start the bot
    RING_EXTENSION = "ring_extension"  # originate the ring leg; arm the no-answer timer
    DISARM_NO_ANSWER = "disarm_no_answer"
    NOTE_TAKEOVER = "note_takeover"  # the no-answer takeover, with its reason
    CANCEL_RING = "cancel_ring"  # hang up the ring leg if it is still up
    KILL_RING = "kill_ring"  # hang up the ring leg (its originate just succeeded)
    NOTE_EXTENSION_ANSWERED = "note_extension_answered"
    PLAY_NOTICE = "play_notice"  # say the recording notice to the caller, then NOTICE_DONE
    STOP_NOTICE = "stop_notice"  # stop it (the bot takes over instead)
    BRIDGE_EXTENSION = "bridge_extension"
    KILL_EXTENSION_LEGS = "kill_extension_legs"  # every live extension leg of the call
    ARM_FINISH = "arm_finish"
    FINISH = "finish"  # write the CDR, release the call


S, I, A = State, Input, Action  # noqa: E741 - keeps the table readable

PASSING = frozenset({S.TO_BOT, S.CONNECTING, S.ANNOUNCING})
"""States left in the same feed, by :data:`Input.CALLER_ANSWERED` or ``CALLER_RINGING``."""

_TAKEOVER = (A.DISARM_NO_ANSWER, A.NOTE_TAKEOVER, A.CANCEL_RING)

TABLE: dict[tuple[State, Input], tuple[State, tuple[Action, ...]]] = {
    (S.UNROUTED, I.PARK_BOT): (S.TO_BOT, (A.NOTE_ROUTE_BOT,)),
    (S.UNROUTED, I.PARK_EXTENSION): (S.RINGING, (A.RING_EXTENSION,)),
    (S.UNROUTED, I.PARK_NO_EXTENSION): (S.TO_BOT, (A.REFUSE_NO_EXTENSION, *_TAKEOVER)),
    (S.UNROUTED, I.PARK_UNKNOWN): (S.REFUSED, (A.REFUSE_ROUTE,)),
    (S.TO_BOT, I.CALLER_ANSWERED): (S.BOT, (A.HAND_TO_BOT,)),
    (S.TO_BOT, I.CALLER_RINGING): (S.ANSWERING, (A.ANSWER,)),
    (S.TO_BOT, I.BOT_UNAVAILABLE): (S.REFUSED, (A.REFUSE_NO_BOT,)),
    (S.ANSWERING, I.CALLER_ANSWERED): (S.BOT, (A.HAND_TO_BOT,)),
    (S.RINGING, I.RING_ANSWERED): (
        S.CONNECTING,
        (A.DISARM_NO_ANSWER, A.NOTE_EXTENSION_ANSWERED),
    ),
    (S.RINGING, I.RING_HUNG_UP): (S.TO_BOT, _TAKEOVER),
    (S.RINGING, I.RING_GONE): (S.TO_BOT, _TAKEOVER),
    (S.RINGING, I.ORIGINATE_FAILED): (S.TO_BOT, _TAKEOVER),
    (S.RINGING, I.NO_ANSWER): (S.TO_BOT, _TAKEOVER),
    (S.CONNECTING, I.CALLER_ANSWERED): (S.BRIDGED, (A.BRIDGE_EXTENSION,)),
    (S.CONNECTING, I.CALLER_RINGING): (S.BRIDGED, (A.ANSWER, A.BRIDGE_EXTENSION)),
    (S.CONNECTING, I.NOTICE_DUE): (S.ANNOUNCING, ()),
    (S.ANNOUNCING, I.CALLER_ANSWERED): (S.NOTICE, (A.PLAY_NOTICE,)),
    (S.ANNOUNCING, I.CALLER_RINGING): (S.NOTICE, (A.ANSWER, A.PLAY_NOTICE)),
    (S.NOTICE, I.NOTICE_DONE): (S.BRIDGED, (A.BRIDGE_EXTENSION,)),
    # The extension gave up while the caller heard the notice: the bot takes the call.
    (S.NOTICE, I.RING_HUNG_UP): (S.TO_BOT, (A.STOP_NOTICE, *_TAKEOVER)),
    (S.NOTICE, I.RING_GONE): (S.TO_BOT, (A.STOP_NOTICE, *_TAKEOVER)),
    (S.ENDING, I.FINISH_TIMER): (S.FINISHED, (A.FINISH,)),
    (S.FINISHED, I.ORIGINATE_OK): (S.FINISHED, (A.KILL_RING,)),
}
# After a takeover, once the caller is gone, or refused for want of a bot, a ring leg
# that comes up is hung up.
for _state in (S.ANSWERING, S.BOT, S.ENDING, S.REFUSED):
    TABLE[(_state, I.RING_ANSWERED)] = (_state, (A.CANCEL_RING,))
    TABLE[(_state, I.RING_PROGRESS)] = (_state, (A.CANCEL_RING,))
    TABLE[(_state, I.ORIGINATE_OK)] = (_state, (A.KILL_RING,))
# Whatever the state: the caller hung up, the call ended, or it is not ours.
for _state in State:
    if _state not in PASSING and _state is not S.FINISHED:
        if _state is not S.ENDING:
            TABLE[(_state, I.CALLER_GONE)] = (
                S.ENDING,
                (A.DISARM_NO_ANSWER, A.KILL_EXTENSION_LEGS, A.ARM_FINISH),
            )
        TABLE[(_state, I.HANGUP_COMPLETE)] = (S.FINISHED, (A.FINISH,))
        TABLE[(_state, I.FORCE_END)] = (S.FINISHED, (A.FINISH,))
        TABLE[(_state, I.DISOWNED)] = (S.FINISHED, ())

PARK_INPUTS: dict[str, Input] = {"bot": I.PARK_BOT, "extension": I.PARK_EXTENSION}


def park_input(action: str | None, extension: str | None) -> Input | None:
    """What a parked caller asks for, from its dialplan variables; ``None``: not ours."""
    if action is None:
        return None
    inp = PARK_INPUTS.get(action, I.PARK_UNKNOWN)
    if inp is I.PARK_EXTENSION and not extension:
        return I.PARK_NO_EXTENSION
    return inp


@dataclass(slots=True)
class RoutingMachine:
    """The routing state of one call."""

    state: State = State.UNROUTED
    history: list[tuple[State, Input, State]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state is State.FINISHED

    def feed(
        self,
        inp: Input,
        *,
        caller_ringing: bool = False,
        bot_available: bool = True,
        notice: bool = False,
    ) -> tuple[Action, ...]:
        """Apply ``inp``; returns the actions to perform (empty when it does not apply).

        ``caller_ringing``: the caller's leg is not answered yet (created or ringing);
        ``bot_available``: a bot would take the call; ``notice``: the caller must hear
        the recording notice before a person comes on. They decide how a passing state
        is left.
        """
        actions = self._step(inp)
        if self.state is S.TO_BOT and not bot_available:
            actions += self._step(I.BOT_UNAVAILABLE)
        if self.state is S.CONNECTING and notice:
            actions += self._step(I.NOTICE_DUE)
        if self.state in PASSING:
            actions += self._step(I.CALLER_RINGING if caller_ringing else I.CALLER_ANSWERED)
        return actions

    def _step(self, inp: Input) -> tuple[Action, ...]:
        entry = TABLE.get((self.state, inp))
        if entry is None:
            return ()
        new_state, actions = entry
        self.history.append((self.state, inp, new_state))
        self.state = new_state
        return actions
