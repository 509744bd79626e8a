// A panel per interaction: the call timer with the held state next to it
// (R-HOLD-2), and only the controls the rules allow at that moment, from
// the desk's own `allowed` list (End disabled while held, R-HOLD-3;
// Transfer and Conference only once the consultee answered, R-CONS-5; Leave
// instead of Transfer in a conference, R-CONF-3; nothing but post-call
// actions in post-call, R-CONF-4). Also consult with its dial pad and the
// R-CONS-3 check as the agent types, DTMF, recording pause with its
// countdown (R-REC-2), and the wrap-up picker with search (R-END-2).

import { h, clock, setText, show, syncList } from './dom.js';
import { checkTarget } from './dial.js';
import { stateText } from './tasks.js';
import { createQuality, updateQuality } from './quality.js';

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const ANSWERED = ['consulting', 'consult-held'];

function button(text, onclick, extra = {}) {
  return h('button', { type: 'button', text, onclick, ...extra });
}

function createPanel(desk, call) {
  const id = call.call;
  const run = (cmd) => desk.run(cmd);
  const title = h('h3', { id: `panel-${id}-title` });
  const kind = h('span', { class: 'kind' });
  const state = h('span', { class: 'state' });
  const timer = h('span', { class: 'timer', role: 'timer', 'aria-label': 'Call timer' });
  const held = h('span', { class: 'held', hidden: true });
  const vars = h('dl', { class: 'vars' });

  const b = {
    hold: button('Hold', () => run({ cmd: 'hold', call: id })),
    resume: button('Resume', () => run({ cmd: 'resume', call: id })),
    end: button('End', () => run({ cmd: 'hangup', call: id }), { class: 'end' }),
    toggle: button('Toggle', () => run({ cmd: 'toggle' })),
    transfer: button('Transfer', () => {
      const p = el.parts;
      if (p.consultLeg) run({ cmd: 'transfer-consult', call: id });
      else run({ cmd: 'transfer-blind', call: id, target: checkTarget(p.target.value).target });
    }),
    conference: button('Conference', () => run({ cmd: 'conference', call: id })),
    leave: button('Leave', () => run({ cmd: 'leave', call: id })),
    remove: button('Remove', () => run({ cmd: 'remove', party: id })),
  };
  const toolbar = h('div', { class: 'buttons', role: 'toolbar', 'aria-label': 'Call controls' }, Object.values(b));

  const targetId = `target-${id}`;
  const target = h('input', {
    id: targetId,
    type: 'text',
    inputmode: 'tel',
    autocomplete: 'off',
    placeholder: 'number or sip:user@host',
    'aria-describedby': `${targetId}-check`,
  });
  const check = h('p', { id: `${targetId}-check`, class: 'check', 'aria-live': 'polite' });
  const consult = button('Consult', async () => {
    const t = checkTarget(target.value);
    const reply = await run({ cmd: 'consult', call: id, target: t.target });
    if (!reply.error) target.value = '';
    update();
  });
  const pad = h('div', { class: 'pad', role: 'group', 'aria-label': 'Dial pad' },
    KEYS.map((k) => button(k, () => {
      target.value += k;
      target.dispatchEvent(new Event('input'));
    }, { 'aria-label': `Dial ${k}` })));
  const consultBox = h('div', { class: 'consult' },
    h('label', { for: targetId, text: 'Consult or transfer to' }), target, check,
    h('details', {}, h('summary', { text: 'Dial pad' }), pad),
    h('div', { class: 'buttons' }, consult));
  const update = () => updatePanel(desk, el, el.parts.call);
  target.addEventListener('input', update);

  const record = button('Pause recording', () => {
    run({ cmd: 'record', call: id, pause: el.parts.call.recording !== 'paused' });
  });
  const recordLeft = h('span', { class: 'record-left', role: 'timer' });
  const recordBox = h('div', { class: 'record' }, record, recordLeft);

  const keypad = h('div', { class: 'pad', role: 'group', 'aria-label': 'DTMF keypad' },
    KEYS.map((k) => button(k, () => run({ cmd: 'dtmf', call: id, digits: k }), { 'aria-label': `Send DTMF ${k}` })));
  const dtmf = h('details', { class: 'dtmf' }, h('summary', { text: 'Keypad (DTMF)' }), keypad);

  const quality = createQuality();
  const el = h('article', {
    class: 'panel',
    tabindex: '-1',
    'data-call': id,
    'aria-labelledby': title.id,
    onfocusin: () => desk.select(id, false),
    onclick: () => desk.select(id, false),
  },
  h('header', {}, title, kind, h('span', { class: 'clock' }, state, timer, held)),
  vars, toolbar, consultBox, recordBox, dtmf, quality);
  el.parts = { call, title, kind, state, timer, held, vars, b, target, check, consult, consultBox, record, recordLeft, recordBox, dtmf, quality };
  return el;
}

function updatePanel(desk, el, call) {
  const p = el.parts;
  p.call = call;
  const { calls } = desk.store.status;
  const allowed = new Set(call.allowed);
  const consultLeg = calls.find((c) => c.consult_of === call.call && c.state !== 'ended' && c.state !== 'conference');
  p.consultLeg = consultLeg;
  const isConsult = call.kind === 'consult' && call.state !== 'conference' && call.state !== 'post-call';
  const inConference = call.state === 'conference';
  const post = call.state === 'post-call';
  const primary = inConference && (call.conference == null || call.conference === call.call);

  setText(p.title, call.peer);
  setText(p.kind, call.kind);
  setText(p.state, stateText(call.state));
  p.state.dataset.state = call.state;
  el.dataset.state = call.state;
  const started = desk.store.callStart.get(call.call);
  setText(p.timer, started ? clock(Date.now() - started) : '–');
  const heldText = ['held', 'consult-held'].includes(call.state)
    ? 'On hold'
    : call.remote_held ? 'Held by the far end' : '';
  setText(p.held, heldText);
  p.held.hidden = heldText === '';
  const key = JSON.stringify(call.variables);
  if (p.vars.dataset.key !== key) {
    p.vars.replaceChildren(...call.variables.flatMap((v) => [h('dt', { text: v.label }), h('dd', { text: v.value })]));
    p.vars.dataset.key = key;
  }
  el.classList.toggle('selected', desk.store.selected === call.call);
  el.classList.toggle('active', call.active);

  const t = checkTarget(p.target.value);
  const b = p.b;
  const set = (btn, visible, enabled) => {
    btn.hidden = !visible;
    btn.disabled = !enabled;
  };
  set(b.hold, !post, allowed.has('hold'));
  set(b.resume, !post, allowed.has('resume'));
  setText(b.end, isConsult ? 'End consult' : 'End');
  set(b.end, !inConference || allowed.has('hangup'), allowed.has('hangup'));
  const pair = consultLeg || (isConsult ? call : null);
  set(b.toggle, !post && pair != null, pair != null && ANSWERED.includes(pair.state));
  // Transfer: to the consultee once it answered (R-CONS-5), else blind to the
  // typed target; in a conference Leave takes its place (R-CONF-3).
  setText(b.transfer, consultLeg ? 'Transfer to consultee' : 'Blind transfer');
  set(b.transfer, !post && !inConference && !isConsult,
    allowed.has('transfer') && (consultLeg ? ANSWERED.includes(consultLeg.state) : t.ok));
  set(b.conference, !post && consultLeg != null, allowed.has('conference'));
  set(b.leave, inConference && primary, allowed.has('leave'));
  set(b.remove, (inConference || post) && !primary && call.kind !== 'inbound', allowed.has('remove'));

  // A conference consults further from its primary call only (R-CONF-6).
  const party = inConference && !primary;
  show(p.consultBox, !post && !isConsult && !party && (allowed.has('consult') || allowed.has('transfer')) && !consultLeg);
  const typed = p.target.value.trim() !== '';
  setText(p.check, typed ? t.message : '');
  p.check.classList.toggle('bad', typed && !t.ok);
  p.target.setAttribute('aria-invalid', String(typed && !t.ok));
  p.consult.disabled = !(allowed.has('consult') && t.ok);

  show(p.recordBox, call.recording !== 'off');
  setText(p.record, call.recording === 'paused' ? 'Resume recording' : 'Pause recording');
  p.record.disabled = !allowed.has('record');
  const until = desk.store.recordingUntil.get(call.call);
  setText(p.recordLeft, call.recording === 'paused' && until ? `resumes by itself in ${clock(until - Date.now() + 999)}` : '');

  show(p.dtmf, !post && ['connected', 'consulting', 'conference'].includes(call.state));
  updateQuality(p.quality, desk.store.quality.get(call.call));
}

export function renderPanels(desk) {
  const container = document.getElementById('panels');
  syncList(container, desk.store.status.calls, (c) => c.call,
    (c) => createPanel(desk, c), (el, c) => updatePanel(desk, el, c));
}

// The wrap-up picker (R-END-2): the configured reasons, searchable, one
// submitted.
export function renderWrapup(desk) {
  const section = document.getElementById('wrapup');
  const a = desk.store.status.agent;
  const on = a.state === 'wrap-up';
  if (!on) {
    section.hidden = true;
    section.replaceChildren();
    section.parts = null;
    return;
  }
  if (!section.parts || section.parts.call !== a.call) {
    const search = h('input', { id: 'wrapup-search', type: 'search', autocomplete: 'off' });
    const list = h('ul', { class: 'reasons', role: 'radiogroup', 'aria-labelledby': 'wrapup-title' });
    const submit = button('Submit wrap-up', async () => {
      const chosen = list.querySelector('input:checked');
      if (!chosen) {
        desk.notice({ reason: 'Pick a wrap-up reason first (R-END-2).' });
        return;
      }
      await desk.run({ cmd: 'wrap-up', call: a.call, reason: chosen.value });
    }, { id: 'wrapup-submit' });
    const load = async () => {
      const q = encodeURIComponent(search.value.trim());
      const { status, body } = await desk.api.get(`/api/v1/wrapup-reasons?q=${q}`);
      if (status !== 200) {
        desk.notice(body || { reason: `wrap-up reasons: HTTP ${status}` });
        return;
      }
      const checked = list.querySelector('input:checked')?.value;
      list.replaceChildren(...body.map((r, i) => {
        const id = `reason-${i}`;
        return h('li', {}, h('input', { type: 'radio', name: 'wrapup', id, value: r, checked: r === checked }),
          h('label', { for: id, text: r }));
      }));
      if (body.length === 0) list.append(h('li', { class: 'empty', text: 'No reason matches.' }));
    };
    search.addEventListener('input', load);
    section.replaceChildren(
      h('h2', { id: 'wrapup-title', text: `Wrap-up for call ${a.call}` }),
      h('label', { for: 'wrapup-search', text: 'Search reasons' }), search, list, submit);
    section.parts = { call: a.call };
    load();
  }
  section.hidden = false;
}
