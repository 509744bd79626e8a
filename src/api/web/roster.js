// The conference roster: who is in each conference and who is talking now
// (from the quality events' level meters).

import { h, setText, syncList } from './dom.js';

export function renderRoster(desk) {
  const section = document.getElementById('roster');
  const { status, quality } = desk.store;
  const members = status.calls.filter((c) => c.state === 'conference' || (c.conference != null && c.state === 'post-call'));
  section.hidden = members.length === 0;
  if (section.hidden) return;
  if (!section.parts) {
    const list = h('ul', { class: 'roster-list' });
    section.append(h('h2', { id: 'roster-title', text: 'Conference' }), list);
    section.parts = { list };
  }
  const inConference = members.some((c) => c.state === 'conference' && c.active);
  const people = [
    ...(inConference ? [{ key: 'agent', name: 'You', talking: !status.muted ? null : false, agent: true }] : []),
    ...members.map((c) => ({
      key: c.call,
      name: c.peer,
      talking: Boolean(quality.get(c.call)?.ev?.talking),
      agent: false,
    })),
  ];
  syncList(section.parts.list, people, (p) => p.key, () => {
    const name = h('span', { class: 'who' });
    const talk = h('span', { class: 'talking' });
    const el = h('li', {}, name, talk);
    el.parts = { name, talk };
    return el;
  }, (el, p) => {
    setText(el.parts.name, p.name);
    setText(el.parts.talk, p.agent ? (status.muted ? 'muted' : '') : p.talking ? 'talking' : '');
    el.classList.toggle('is-talking', p.talking === true);
  });
}
