// Live call quality per leg, from the `quality` events agentphone run sends
// every 0.5 s: the far end's level, loss, jitter, round trip, and a warning
// once the leg has been degraded (loss above 5 % or jitter above 60 ms) for
// about 5 s, so one bad half-second does not cry wolf.

import { h, setText } from './dom.js';

const SAMPLES = 10; // 5 s of events
const WARN_AT = 8; // degraded samples of the last SAMPLES to warn
const CLEAR_BELOW = 3; // and to take the warning back

export function noteQuality(store, ev) {
  const q = store.quality.get(ev.call) || { ev: null, degraded: [], warning: false };
  q.ev = ev;
  q.degraded.push(Boolean(ev.degraded));
  if (q.degraded.length > SAMPLES) q.degraded.shift();
  const bad = q.degraded.filter(Boolean).length;
  if (!q.warning && q.degraded.length === SAMPLES && bad >= WARN_AT) q.warning = true;
  if (q.warning && bad < CLEAR_BELOW) q.warning = false;
  store.quality.set(ev.call, q);
}

export function createQuality() {
  const meter = h('meter', { min: -60, max: 0, low: -45, high: -6, optimum: -20, value: -60, 'aria-label': 'Far end level' });
  const loss = h('span', { class: 'q-loss' });
  const jitter = h('span', { class: 'q-jitter' });
  const rtt = h('span', { class: 'q-rtt' });
  const warning = h('p', { class: 'quality-warning', role: 'status', hidden: true });
  const el = h('div', { class: 'quality', role: 'group', 'aria-label': 'Call quality' },
    h('span', { class: 'q-level' }, 'Level ', meter), loss, jitter, rtt, warning);
  el.parts = { meter, loss, jitter, rtt, warning };
  return el;
}

export function updateQuality(el, q) {
  const p = el.parts;
  el.hidden = !q;
  if (!q) return;
  const e = q.ev;
  p.meter.value = Math.max(-60, Math.min(0, e.level_dbfs ?? -60));
  setText(p.loss, `Loss ${e.loss_pct.toFixed(1)} %`);
  setText(p.jitter, `Jitter ${Math.round(e.jitter_ms)} ms`);
  setText(p.rtt, e.rtt_ms == null ? 'Round trip –' : `Round trip ${Math.round(e.rtt_ms)} ms`);
  p.warning.hidden = !q.warning;
  el.classList.toggle('degraded', q.warning);
  if (q.warning) {
    setText(p.warning, `Poor connection on this leg: ${e.loss_pct.toFixed(1)} % loss, ${Math.round(e.jitter_ms)} ms jitter`);
  }
}
