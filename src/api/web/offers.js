// Offers (R-OFFER): stacked earliest on top, "1-5 of N" beyond five, each
// with the caller (already masked by the desk, R-OFFER-8), its variables
// (secure ones never reach the page), a ring countdown, Accept / Decline,
// and Accept all.

import { h, clock, setText, show, syncList } from './dom.js';

const SHOWN = 5;

export function initOffers(desk) {
  const section = document.getElementById('offers');
  const all = h('button', {
    id: 'accept-all',
    type: 'button',
    text: 'Accept all',
    onclick: () => desk.run({ cmd: 'answer-all' }),
  });
  section.querySelector('h2').after(all);
  desk.parts.offers = {
    all,
    list: document.getElementById('offer-list'),
    range: document.getElementById('offers-range'),
    empty: document.getElementById('offers-empty'),
  };
}

function createOffer(desk, offer) {
  const id = offer.call;
  const caller = h('strong', { class: 'caller' });
  const countdown = h('span', { class: 'countdown', role: 'timer', 'aria-label': 'Rings for' });
  const vars = h('dl', { class: 'vars' });
  const accept = h('button', {
    type: 'button',
    class: 'accept',
    text: 'Accept',
    onclick: () => desk.run({ cmd: 'answer', call: id }),
  });
  const decline = h('button', {
    type: 'button',
    class: 'decline',
    text: 'Decline',
    onclick: () => desk.run({ cmd: 'decline', call: id }),
  });
  const el = h('li', { class: 'offer', 'data-call': id },
    h('div', { class: 'offer-head' }, caller, countdown), vars,
    h('div', { class: 'buttons' }, accept, decline));
  el.parts = { caller, countdown, vars, accept, decline };
  return el;
}

function updateOffer(desk, el, offer) {
  const p = el.parts;
  setText(p.caller, offer.caller);
  el.setAttribute('aria-label', `Offer from ${offer.caller}`);
  p.accept.setAttribute('aria-label', `Accept the call from ${offer.caller}`);
  p.decline.setAttribute('aria-label', `Decline the call from ${offer.caller}`);
  const key = JSON.stringify(offer.variables);
  if (p.vars.dataset.key !== key) {
    p.vars.replaceChildren(...offer.variables.flatMap((v) => [
      h('dt', { text: v.label }), h('dd', { text: v.value })]));
    p.vars.dataset.key = key;
  }
  const left = (desk.store.offerDeadline.get(offer.call) || Date.now()) - Date.now();
  setText(p.countdown, clock(left + 999));
  p.countdown.classList.toggle('urgent', left < 5000);
}

export function renderOffers(desk) {
  const offers = desk.store.status.offers;
  const { list, range, empty, all } = desk.parts.offers;
  const shown = offers.slice(0, SHOWN);
  syncList(list, shown, (o) => o.call, (o) => createOffer(desk, o), (el, o) => updateOffer(desk, el, o));
  setText(range, offers.length > SHOWN ? `1-${SHOWN} of ${offers.length}` : '');
  show(range, offers.length > SHOWN);
  show(empty, offers.length === 0);
  show(all, offers.length > 0);
  document.getElementById('offers').classList.toggle('ringing', offers.length > 0);
}
