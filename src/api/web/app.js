// The agent's desk in the browser, on the control API only: sign-in, then
// the WebSocket's status snapshot and events keep `store` current, and
// every panel renders from it. Commands go over the same WebSocket; a
// refusal is shown with its rule's sentence, never swallowed.

import { Api } from './api.js';
import { h } from './dom.js';
import { initState, renderState, promptAfterTimeout, promptRefer } from './state.js';
import { initOffers, renderOffers } from './offers.js';
import { renderTasks, tasks } from './tasks.js';
import { renderPanels, renderWrapup } from './controls.js';
import { noteQuality } from './quality.js';
import { renderRoster } from './roster.js';

const store = {
  status: null,
  offerDeadline: new Map(),
  callStart: new Map(),
  quality: new Map(),
  recordingUntil: new Map(),
  selected: null,
};

const desk = {
  store,
  parts: {},
  api: null,
  run,
  notice,
  select,
  stopping: (text) => connection(text),
};

const $ = (id) => document.getElementById(id);

function connection(text) {
  const el = $('connection');
  el.textContent = text || '';
  el.hidden = !text;
}

function notice(reply) {
  const el = $('notice');
  if (!reply) {
    el.hidden = true;
    el.replaceChildren();
    delete el.dataset.rule;
    return;
  }
  const text = reply.rule ? `Refused (${reply.rule}): ${reply.reason}` : reply.reason;
  el.replaceChildren(h('span', { class: 'notice-text', text }),
    h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss', text: '×', onclick: () => notice(null) }));
  if (reply.rule) el.dataset.rule = reply.rule;
  else delete el.dataset.rule;
  el.hidden = false;
}

async function run(cmd) {
  const reply = await desk.api.send(cmd);
  if (reply.error) notice(reply);
  else notice(null);
  // Mute and noise removal change no call, so no event tells of them.
  if (!reply.error && (cmd.cmd === 'mute' || cmd.cmd === 'denoise')) await refresh();
  render();
  return reply;
}

async function refresh() {
  const { status, body } = await desk.api.get('/api/v1/status');
  if (status === 200) setStatus(body);
}

function select(call, focus) {
  store.selected = call;
  render();
  if (focus) {
    const panel = document.querySelector(`.panel[data-call="${call}"]`)
      || document.querySelector(`.offer[data-call="${call}"] .accept`);
    panel?.focus();
  }
}

function setStatus(s) {
  store.status = s;
  const now = Date.now();
  store.offerDeadline = new Map(s.offers.map((o) => [o.call, now + o.ring_remaining_ms]));
  for (const c of s.calls) noteCallStart(c, now);
}

// A call's view is sent again only when something but the timer changed,
// so one answered without a timer yet starts it from when it was seen up.
const UNANSWERED = ['ringing', 'dialing', 'consult-requested'];
function noteCallStart(c, now) {
  if (store.callStart.has(c.call)) return;
  if (c.connected_ms != null) store.callStart.set(c.call, now - c.connected_ms);
  else if (!UNANSWERED.includes(c.state)) store.callStart.set(c.call, now);
}

function forget(call) {
  const s = store.status;
  s.calls = s.calls.filter((c) => c.call !== call);
  store.callStart.delete(call);
  store.quality.delete(call);
  store.recordingUntil.delete(call);
  if (store.selected === call) store.selected = null;
}

function onEvent(ev) {
  if (ev.event === 'status') {
    setStatus(ev.status);
    render();
    return;
  }
  const s = store.status;
  if (!s) return;
  const now = Date.now();
  switch (ev.event) {
    case 'agent':
      s.agent = ev.agent;
      if (ev.why) promptAfterTimeout(desk, ev.why);
      break;
    case 'offer':
      s.offers = s.offers.filter((o) => o.call !== ev.offer.call);
      s.offers.push(ev.offer);
      s.offers.sort((a, b) => a.position - b.position || a.call - b.call);
      store.offerDeadline.set(ev.offer.call, now + ev.offer.ring_remaining_ms);
      break;
    case 'offer-gone':
      s.offers = s.offers.filter((o) => o.call !== ev.call);
      store.offerDeadline.delete(ev.call);
      break;
    case 'call':
      if (ev.call.state === 'ended') {
        forget(ev.call.call);
      } else {
        const i = s.calls.findIndex((c) => c.call === ev.call.call);
        if (i >= 0) s.calls[i] = ev.call;
        else s.calls.push(ev.call);
        noteCallStart(ev.call, now);
        if (ev.call.recording !== 'paused') store.recordingUntil.delete(ev.call.call);
      }
      break;
    case 'ended':
      forget(ev.call);
      break;
    case 'consult-failed':
      notice({ rule: 'R-CONS-7', reason: `the consult call failed (${ev.reason}); the customer is still on hold` });
      break;
    case 'transfer':
      if (ev.outcome === 'failed') notice({ reason: `Transfer of call ${ev.call} failed: ${ev.detail}` });
      break;
    case 'refer-ask':
      s.refers.push(ev.refer);
      promptRefer(desk, ev);
      break;
    case 'recording':
      if (ev.paused && ev.resumes_in_ms != null) store.recordingUntil.set(ev.call, now + ev.resumes_in_ms);
      else store.recordingUntil.delete(ev.call);
      break;
    case 'stopping':
      connection(`The desk is stopping (${ev.reason}).`);
      desk.api.close();
      break;
    case 'quality':
      noteQuality(store, ev);
      break;
    default:
      break;
  }
  render();
}

let queued = false;
function render() {
  if (queued || !store.status) return;
  queued = true;
  // Not requestAnimationFrame: a background or headless tab may hold frames
  // back, and the timers must keep running.
  setTimeout(() => {
    queued = false;
    renderNow();
  }, 0);
}

function renderNow() {
  const s = store.status;
  if (store.selected == null || !tasks(s).some((t) => t.call === store.selected)) {
    store.selected = (s.calls.find((c) => c.active) || s.calls[0] || {}).call ?? null;
  }
  renderState(desk);
  renderOffers(desk);
  renderTasks(desk);
  renderWrapup(desk);
  renderRoster(desk);
  renderPanels(desk);
}

// The call a shortcut acts on: the selected one, else the one talking.
function selectedCall() {
  const s = store.status;
  const c = s.calls.find((x) => x.call === store.selected) || s.calls.find((x) => x.active) || s.calls[0];
  return c;
}

function onKey(e) {
  if (!e.altKey || e.ctrlKey || e.metaKey || !store.status) return;
  const s = store.status;
  const c = selectedCall();
  let cmd = null;
  switch (e.code) {
    case 'KeyA':
      cmd = { cmd: 'answer', call: s.offers[0]?.call ?? null };
      break;
    case 'KeyD':
      cmd = { cmd: 'decline', call: s.offers[0]?.call ?? null };
      break;
    case 'KeyH':
      cmd = c && ['held', 'consult-held'].includes(c.state)
        ? { cmd: 'resume', call: c.call }
        : { cmd: 'hold', call: c?.call ?? null };
      break;
    case 'KeyE':
      // Sent even when End is disabled: the desk's refusal says why.
      cmd = { cmd: 'hangup', call: c?.call ?? null };
      break;
    case 'KeyM':
      cmd = { cmd: 'mute', on: !s.muted };
      break;
    default: {
      const n = /^Digit([1-9])$/.exec(e.code);
      if (n) {
        const t = tasks(s)[Number(n[1]) - 1];
        if (t) select(t.call, true);
        e.preventDefault();
      }
      return;
    }
  }
  e.preventDefault();
  run(cmd);
}

function showSignIn(message) {
  $('desk').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  $('token').focus();
}

function start() {
  $('signin').hidden = true;
  $('desk').hidden = false;
  desk.api.connect();
}

async function main() {
  desk.api = new Api({
    onEvent,
    onConnection: (up) => connection(up ? '' : 'Connection to the desk lost; reconnecting…'),
    onSignedOut: () => showSignIn('Your session ended: sign in again.'),
  });
  initState(desk);
  initOffers(desk);
  document.addEventListener('keydown', onKey);
  const keys = $('shortcuts-button');
  keys.addEventListener('click', () => {
    const open = $('shortcuts').hidden;
    $('shortcuts').hidden = !open;
    keys.setAttribute('aria-expanded', String(open));
  });
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const field = $('token');
    const r = await desk.api.signIn({ token: field.value.trim() });
    field.value = '';
    if (r.ok) start();
    else showSignIn(r.status === 401 ? 'Wrong token: check the token file and try again.' : `Cannot sign in: ${r.reason}`);
  });
  setInterval(render, 250);

  // The one-time code leaves the address bar (and history) before anything else.
  const login = /(?:^#|&)login=([0-9a-f]+)/.exec(location.hash);
  if (login) history.replaceState(null, '', location.pathname + location.search);
  let failed = '';
  if (login) {
    const r = await desk.api.signIn({ code: login[1] });
    if (r.ok) return start();
    failed = r.reason;
  }
  if (await desk.api.signedIn()) return start();
  showSignIn(failed);
}

main();
