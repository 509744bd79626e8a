#!/usr/bin/env python3
"""A PJSIP user agent for the interop tests, driven through the `pjsua2` module of
the `pjsua2-python` wheel (PyPI). Loopback only, null audio device, no STUN, ICE
or SRTP.

One call: answer the first incoming one (`--answer`) or place one (`--call URI`).
What it sends: `--play FILE.wav` or `--tone HZ` (looped; silence without either).
What it hears: `--record FILE.wav`, connected for the whole call, through holds
and re-INVITEs (reconnected after every media change).

Transfers (RFC 3515, 3891): a REFER is accepted (`--refer accept`, PJSIP's
default) or refused with 603 (`--refer reject`); accepted, PJSIP places the
referred call (with Replaces when the Refer-To carries one), which carries the
source and the recording on. An INVITE with Replaces naming our call is taken
(PJSIP answers it 200 and ends the replaced call). The call placed with `--call`
can be blind-transferred (`--xfer-to URI --xfer-at S`), or a consultation call
placed (`--consult URI`, `--consult-at S`) and the first call transferred to it
with Replaces (`--xfer-replaces-at S`); on the final NOTIFY with 2xx we hang up
the transferred call (RFC 5589). Every call the script has is connected to the
source and the recorder, and the script ends once all of them have ended.

Stdout carries one flat JSON object per line (strings, numbers and booleans only),
flushed at once; everything PJSIP logs goes to stderr:

  {"event":"ready","port":P}
  {"event":"incoming","from":"<sip:...>","call_id":"..."}
  {"event":"state","state":"CONFIRMED","code":200,"reason":"OK","role":"main"}
                                     (every state of every call; `role`: main,
                                     consult, referred, replacing or refused)
  {"event":"media","status":"active|local_hold|remote_hold|none|error",
   "dir":"sendrecv|sendonly|recvonly|inactive|none","slot":N,"role":"main"}
  {"event":"connected","slot":N,"role":"main"}   (recorder and source (re)connected)
  {"event":"reinvite","direction":"sendonly"}   (every re-INVITE/UPDATE offer received)
  {"event":"hold_sent"} / {"event":"resume_sent"}
  {"event":"xfer_sent","to":"..."} / {"event":"consult_sent","to":"..."}
  {"event":"xfer_replaces_sent"}     (REFER sent, blind or with Replaces)
  {"event":"transfer_status","code":200,"reason":"OK","final":true}
                                     (every NOTIFY about our REFER)
  {"event":"transfer_request","to":"<sip:...>","code":202}   (REFER received)
  {"event":"replace_request"} / {"event":"replaced","new_call_id":N}
                                     (INVITE with Replaces received and taken)
  {"event":"timeout"} / {"event":"error","message":"..."}
  {"event":"ended","code":0,"confirmed":true}   (last line; the recording is final)

Exit status: 0 when the first call was confirmed and all calls ended (by either
side, --duration or a transfer), 1 when the call failed before it was confirmed, 2 on bad options or set-up errors,
3 on the --timeout. A SIGALRM with the default action kills the process if even the
shutdown hangs, and SIGTERM/SIGINT hang up and exit cleanly.
"""

import argparse
import gc
import json
import os
import signal
import sys
import time

# PJSIP writes a few lines to fd 1 before any log config applies: keep fd 1 for
# our JSON and send everything else that writes to fd 1 to stderr.
_json_out = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import pjsua2 as pj  # noqa: E402  (after the fd shuffle on purpose)

START = time.monotonic()


def emit(event, **fields):
    record = {"event": event}
    record.update(fields)
    record["t"] = round(time.monotonic() - START, 3)
    _json_out.write(json.dumps(record, separators=(",", ":")) + "\n")
    _json_out.flush()


def sdp_direction(sdp):
    """The direction attribute of the first audio m-line (else the session-level
    one, else sendrecv, the SDP default); `inactive` when the audio port is 0."""
    session_dir = None
    in_audio = False
    seen_audio = False
    audio_dir = None
    audio_port_zero = False
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if seen_audio:
                break
            in_audio = line.startswith("m=audio")
            if in_audio:
                seen_audio = True
                parts = line.split()
                audio_port_zero = len(parts) > 1 and parts[1] == "0"
            continue
        if line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            if in_audio:
                audio_dir = line[2:]
            elif not seen_audio:
                session_dir = line[2:]
    if audio_port_zero:
        return "inactive"
    return audio_dir or session_dir or "sendrecv"


MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}

MEDIA_DIR = {
    pj.PJMEDIA_DIR_NONE: "none",
    pj.PJMEDIA_DIR_ENCODING: "sendonly",
    pj.PJMEDIA_DIR_DECODING: "recvonly",
    pj.PJMEDIA_DIR_ENCODING_DECODING: "sendrecv",
}


class State:
    """What the main loop and the callbacks share."""

    def __init__(self, args):
        self.args = args
        self.call = None  # the first call (kept referenced: pjsua2 needs the object)
        self.extra_calls = []  # refused calls, kept referenced until exit
        self.acc = None
        # Every call besides the refused ones: the first, the consultation call,
        # referred and replacing calls. Kept referenced until exit.
        self.calls = []
        self.consult = None
        self.xfer_done = False
        self.consult_done = False
        self.xfer_replaces_done = False
        self.confirmed_at = None
        self.disconnected = False
        self.confirmed = False
        self.source = None  # AudioMediaPlayer or ToneGenerator
        self.recorder = None
        self.hold_done = False
        self.resume_done = False
        self.hangup_sent = False
        self.stop_requested = False


STATE = None


def guarded(fn):
    """pjsua2 swallows exceptions raised in callbacks: report them on stdout."""

    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except Exception as e:  # noqa: BLE001
            emit("error", message="%s: %s" % (fn.__name__, e))

    wrapper.__name__ = fn.__name__
    return wrapper


class StderrLog(pj.LogWriter):
    def write(self, entry):
        sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")


class PeerCall(pj.Call):
    def __init__(self, acc, call_id=pj.PJSUA_INVALID_ID, role="main"):
        pj.Call.__init__(self, acc, call_id)
        self.role = role
        self.call_confirmed = False
        self.call_disconnected = False

    @guarded
    def onCallState(self, prm):
        ci = self.getInfo()
        emit(
            "state",
            state=ci.stateText,
            code=int(ci.lastStatusCode),
            reason=ci.lastReason,
            role=self.role,
        )
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.call_confirmed = True
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.call_disconnected = True
        if self is not STATE.call:
            return
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not STATE.confirmed:
            STATE.confirmed = True
            STATE.confirmed_at = time.monotonic()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            STATE.disconnected = True

    @guarded
    def onCallTransferRequest(self, prm):
        # A REFER in this call. PJSIP answers 202 by default and places the
        # referred call; give it its own Call object so its events are told apart.
        accept = STATE.args.refer == "accept"
        if accept:
            new = PeerCall(STATE.acc, role="referred")
            STATE.calls.append(new)
            prm.newCall = new
        else:
            prm.statusCode = 603
        emit("transfer_request", to=prm.dstUri, code=int(prm.statusCode))

    @guarded
    def onCallTransferStatus(self, prm):
        # A NOTIFY about the REFER we sent in this call.
        code = int(prm.statusCode)
        final = bool(prm.finalNotify)
        emit("transfer_status", code=code, reason=prm.reason, final=final)
        if final and 200 <= code < 300 and not self.call_disconnected:
            # RFC 5589: the transferor ends the transferred call.
            try:
                self.hangup(pj.CallOpParam(True))
            except pj.Error as e:
                emit("error", message="hangup after transfer: %s" % e.info())

    @guarded
    def onCallReplaceRequest(self, prm):
        # An INVITE with Replaces naming this call: PJSIP accepts it unless told
        # otherwise; the new call gets its own Call object.
        new = PeerCall(STATE.acc, role="replacing")
        STATE.calls.append(new)
        prm.newCall = new
        emit("replace_request", code=int(prm.statusCode))

    @guarded
    def onCallReplaced(self, prm):
        emit("replaced", new_call_id=int(prm.newCallId))

    @guarded
    def onCallRxOffer(self, prm):
        # Called for offers in re-INVITEs and UPDATEs (not the initial INVITE).
        emit("reinvite", direction=sdp_direction(prm.offer.wholeSdp))

    @guarded
    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = MEDIA_STATUS.get(mi.status, str(mi.status))
            emit(
                "media",
                status=status,
                dir=MEDIA_DIR.get(mi.dir, str(mi.dir)),
                slot=int(mi.audioConfSlot),
                role=self.role,
            )
            if mi.status in (
                pj.PJSUA_CALL_MEDIA_ACTIVE,
                pj.PJSUA_CALL_MEDIA_LOCAL_HOLD,
                pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
            ) and mi.audioConfSlot >= 0:
                connect_media(self.getAudioMedia(i), self.role)
            break


def connect_media(aud, role="main"):
    """(Re)connects the call's conference slot to the recorder and the source.
    Connecting an already connected pair is a no-op in the conference bridge, so
    this runs after every media change (PJSIP may give the stream a new slot)."""
    slot = aud.getPortId()
    if STATE.recorder is None and STATE.args.record:
        STATE.recorder = pj.AudioMediaRecorder()
        STATE.recorder.createRecorder(STATE.args.record)
    if STATE.recorder is not None:
        aud.startTransmit(STATE.recorder)
    if STATE.source is not None:
        STATE.source.startTransmit(aud)
    emit("connected", slot=int(slot), role=role)


class PeerAccount(pj.Account):
    @guarded
    def onIncomingCall(self, prm):
        call = PeerCall(self, prm.callId)
        ci = call.getInfo()
        emit("incoming", **{"from": ci.remoteUri, "call_id": ci.callIdString})
        op = pj.CallOpParam()
        if STATE.args.answer and STATE.call is None:
            STATE.call = call
            STATE.calls.append(call)
            op.statusCode = 200
        else:
            call.role = "refused"
            STATE.extra_calls.append(call)
            op.statusCode = 486
        call.answer(op)


def make_source(args, clock_rate):
    if args.play:
        player = pj.AudioMediaPlayer()
        player.createPlayer(args.play, 0)  # 0: loop
        return player
    if args.tone:
        tone = pj.ToneGenerator()
        tone.createToneGenerator(clock_rate, 1)
        desc = pj.ToneDesc()
        desc.freq1 = int(args.tone)
        desc.freq2 = 0
        desc.on_msec = 10000
        desc.off_msec = 0
        desc.volume = 0  # PJSIP's default level
        tones = pj.ToneDescVector()
        tones.append(desc)
        tone.play(tones, True)
        return tone
    return None


def set_codecs(ep, preferred):
    wanted = {"pcmu": "PCMU/8000/1", "pcma": "PCMA/8000/1", "opus": "opus/48000/2"}[preferred]
    ids = [c.codecId for c in ep.codecEnum2()]
    if wanted not in ids:
        emit("error", message="codec %s is not in this pjsua2 build (has: %s)" % (preferred, ", ".join(ids)))
        return False
    for cid in ids:
        if cid == wanted:
            prio = 255
        elif cid in ("PCMU/8000/1", "PCMA/8000/1"):
            prio = 128
        else:
            prio = 0  # disabled: keep the offer small and predictable
        ep.codecSetPriority(cid, prio)
    return True


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="UDP SIP port on 127.0.0.1")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--answer", action="store_true", help="answer the first incoming call with 200")
    mode.add_argument("--call", metavar="URI", help="call URI")
    p.add_argument("--record", metavar="WAV", help="record what the call hears, for the whole call")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--play", metavar="WAV", help="send this WAV, looped")
    src.add_argument("--tone", metavar="HZ", type=float, help="send a sine tone")
    p.add_argument("--duration", type=float, help="hang up S seconds after the call is confirmed")
    p.add_argument("--codec", choices=["pcmu", "pcma", "opus"], default="pcmu")
    p.add_argument("--hold-at", type=float, help="put the far end on hold S seconds after confirm")
    p.add_argument("--resume-at", type=float, help="take it off hold S seconds after confirm")
    p.add_argument("--refer", choices=["accept", "reject"], default="accept",
                   help="what a REFER gets: 202 and the referred call (default, as PJSIP), or 603")
    p.add_argument("--xfer-to", metavar="URI", help="blind-transfer the --call call to URI (REFER)")
    p.add_argument("--xfer-at", type=float, default=2.0,
                   help="seconds after the confirm to send --xfer-to (default 2)")
    p.add_argument("--consult", metavar="URI", help="place a consultation call to URI (after the first call is confirmed)")
    p.add_argument("--consult-at", type=float, default=0.0,
                   help="seconds after the first confirm to place --consult (default 0)")
    p.add_argument("--xfer-replaces-at", type=float,
                   help="transfer the first call to the --consult call with Replaces, S seconds after the first confirm "
                        "(once the consultation call is confirmed)")
    p.add_argument("--srtp", choices=["off", "optional", "mandatory"], default="off",
                   help="SDES SRTP: optional offers RTP/AVP with a=crypto, mandatory RTP/SAVP")
    p.add_argument("--rtp-port", type=int, default=4000, help="first RTP port to try (default 4000)")
    p.add_argument("--clock-rate", type=int, default=8000, help="bridge and recording rate (default 8000)")
    p.add_argument("--timeout", type=float, default=60.0, help="give up and exit 3 after S seconds")
    p.add_argument("--log-level", type=int, default=1, help="PJSIP log level on stderr (default 1)")
    return p.parse_args()


def main():
    global STATE
    args = parse_args()
    STATE = State(args)

    # Last resort: if even the shutdown hangs, the kernel ends the process.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(int(args.timeout) + 15)

    def on_signal(signum, frame):
        STATE.stop_requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    log_writer = StderrLog()
    cfg.logConfig.writer = log_writer
    cfg.logConfig.level = args.log_level
    cfg.logConfig.consoleLevel = args.log_level
    cfg.logConfig.msgLogging = 1 if args.log_level >= 4 else 0
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "agentphone-test-pjsua"
    cfg.uaConfig.stunServer = pj.StringVector()
    cfg.medConfig.clockRate = args.clock_rate
    cfg.medConfig.sndClockRate = args.clock_rate
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()

    tcfg = pj.TransportConfig()
    tcfg.boundAddress = "127.0.0.1"
    tcfg.publicAddress = "127.0.0.1"
    tcfg.port = args.port
    try:
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    except pj.Error as e:
        emit("error", message="cannot bind SIP UDP 127.0.0.1:%d: %s" % (args.port, e.info()))
        emit("ended", code=2, confirmed=False)
        os._exit(2)
    ep.libStart()
    if not set_codecs(ep, args.codec):
        emit("ended", code=2, confirmed=False)
        os._exit(2)

    acfg = pj.AccountConfig()
    acfg.idUri = "sip:pjsua@127.0.0.1:%d" % args.port
    acfg.regConfig.registerOnAdd = False
    nat = acfg.natConfig
    nat.iceEnabled = False
    nat.turnEnabled = False
    nat.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    nat.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    nat.sdpNatRewriteUse = 0
    nat.contactRewriteUse = 0
    nat.viaRewriteUse = 0
    med = acfg.mediaConfig
    med.srtpUse = {
        "off": pj.PJMEDIA_SRTP_DISABLED,
        "optional": pj.PJMEDIA_SRTP_OPTIONAL,
        "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
    }[args.srtp]
    # Keys over plain UDP signalling on loopback: the test's choice, not TLS.
    med.srtpSecureSignaling = 0
    med.transportConfig.boundAddress = "127.0.0.1"
    med.transportConfig.publicAddress = "127.0.0.1"
    med.transportConfig.port = args.rtp_port
    med.transportConfig.portRange = 2000
    acc = PeerAccount()
    acc.create(acfg)
    STATE.acc = acc

    STATE.source = make_source(args, args.clock_rate)
    emit("ready", port=args.port)

    if args.call:
        call = PeerCall(acc)
        STATE.call = call
        STATE.calls.append(call)
        op = pj.CallOpParam(True)
        try:
            call.makeCall(args.call, op)
        except pj.Error as e:
            emit("error", message="makeCall: %s" % e.info())
            STATE.disconnected = True
            call.call_disconnected = True

    code = None
    disconnected_at = None
    while True:
        ep.libHandleEvents(10)
        now = time.monotonic()
        call = STATE.call
        # Every call (the first, consultation, referred, replacing) has ended.
        all_ended = all(c.call_disconnected for c in STATE.calls)
        if STATE.disconnected and call is not None and all_ended:
            # Let PJSIP finish the transaction (ACK/200 to BYE) before shutting down.
            if disconnected_at is None:
                disconnected_at = now
            if now - disconnected_at > 0.2:
                code = 0 if STATE.confirmed else 1
                break
        else:
            disconnected_at = None
        if now - START > args.timeout:
            emit("timeout", after=args.timeout)
            code = 3
            break
        if STATE.stop_requested:
            code = 0 if STATE.confirmed else 1
            break
        if call is None or STATE.confirmed_at is None or STATE.disconnected:
            continue
        since = now - STATE.confirmed_at
        if args.hold_at is not None and not STATE.hold_done and since >= args.hold_at:
            STATE.hold_done = True
            try:
                call.setHold(pj.CallOpParam(True))
                emit("hold_sent")
            except pj.Error as e:
                emit("error", message="setHold: %s" % e.info())
        if args.resume_at is not None and not STATE.resume_done and since >= args.resume_at:
            STATE.resume_done = True
            op = pj.CallOpParam(True)
            op.opt.flag = pj.PJSUA_CALL_UNHOLD
            try:
                call.reinvite(op)
                emit("resume_sent")
            except pj.Error as e:
                emit("error", message="reinvite(unhold): %s" % e.info())
        if args.consult and not STATE.consult_done and since >= args.consult_at:
            STATE.consult_done = True
            consult = PeerCall(STATE.acc, role="consult")
            STATE.consult = consult
            STATE.calls.append(consult)
            try:
                consult.makeCall(args.consult, pj.CallOpParam(True))
                emit("consult_sent", to=args.consult)
            except pj.Error as e:
                consult.call_disconnected = True
                emit("error", message="makeCall(consult): %s" % e.info())
        if args.xfer_to and not STATE.xfer_done and since >= args.xfer_at:
            STATE.xfer_done = True
            try:
                call.xfer(args.xfer_to, pj.CallOpParam(True))
                emit("xfer_sent", to=args.xfer_to)
            except pj.Error as e:
                emit("error", message="xfer: %s" % e.info())
        consult = STATE.consult
        if (
            args.xfer_replaces_at is not None
            and not STATE.xfer_replaces_done
            and since >= args.xfer_replaces_at
            and consult is not None
            and consult.call_confirmed
        ):
            STATE.xfer_replaces_done = True
            try:
                call.xferReplaces(consult, pj.CallOpParam(True))
                emit("xfer_replaces_sent")
            except pj.Error as e:
                emit("error", message="xferReplaces: %s" % e.info())
        if args.duration is not None and not STATE.hangup_sent and since >= args.duration:
            STATE.hangup_sent = True
            try:
                call.hangup(pj.CallOpParam(True))
            except pj.Error as e:
                emit("error", message="hangup: %s" % e.info())

    # Hang up what is still up, and give PJSIP up to 2 s to send it.
    live = [c for c in STATE.calls if not c.call_disconnected]
    if live:
        for c in live:
            try:
                c.hangup(pj.CallOpParam(True))
            except pj.Error:
                pass
        deadline = time.monotonic() + 2.0
        while not all(c.call_disconnected for c in live) and time.monotonic() < deadline:
            ep.libHandleEvents(10)
    # The WAV is complete only once PJSIP has destroyed the recorder's port,
    # which dropping our reference does not guarantee (its conference bridge
    # may still hold the port): destroy the library first, then say "ended".
    STATE.recorder = None
    STATE.source = None
    gc.collect()
    try:
        ep.libDestroy()
    except Exception:  # noqa: BLE001
        pass
    emit("ended", code=code, confirmed=STATE.confirmed)
    _json_out.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
