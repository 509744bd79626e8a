// The task list (R-OFFER-5): every incoming and active interaction, the
// agent's workload at a glance; picking one selects its panel.

import { h, clock, setText, show, syncList } from './dom.js';

const STATE_TEXT = {
  ringing: 'ringing',
  dialing: 'dialing',
  connected: 'connected',
  held: 'on hold',
  'consult-requested': 'consult ringing',
  consulting: 'consulting',
  'consult-held': 'consult on hold',
  conference: 'conference',
  'post-call': 'post-call',
  ended: 'ended',
};

export function stateText(state) {
  return STATE_TEXT[state] || state;
}

export function tasks(status) {
  return [
    ...status.offers.map((o) => ({ call: o.call, peer: o.caller, state: 'ringing', offer: true })),
    ...status.calls.map((c) => ({ call: c.call, peer: c.peer, state: c.state, offer: false })),
  ];
}

export function renderTasks(desk) {
  const list = document.getElementById('task-list');
  const items = tasks(desk.store.status);
  syncList(list, items, (t) => t.call, (t) => {
    const name = h('span', { class: 'task-peer' });
    const state = h('span', { class: 'task-state' });
    const timer = h('span', { class: 'task-timer' });
    const button = h('button', { type: 'button', class: 'task', onclick: () => desk.select(t.call, true) },
      name, state, timer);
    const el = h('li', {}, button);
    el.parts = { button, name, state, timer };
    return el;
  }, (el, t) => {
    const p = el.parts;
    setText(p.name, t.peer);
    setText(p.state, stateText(t.state));
    p.button.dataset.state = t.state;
    const started = desk.store.callStart.get(t.call);
    setText(p.timer, started ? clock(Date.now() - started) : '');
    const index = items.indexOf(t) + 1;
    p.button.setAttribute('aria-label', `Task ${index}: ${t.peer}, ${stateText(t.state)}`);
    if (desk.store.selected === t.call) p.button.setAttribute('aria-current', 'true');
    else p.button.removeAttribute('aria-current');
  });
  show(document.getElementById('tasks-empty'), items.length === 0);
}
