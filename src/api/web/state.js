// The header: the agent state (available / idle with a reason / wrap-up),
// the microphone (mute, noise removal with its lock, R-NR-2), log out
// (refused while an offer is shown, R-OFFER-3), and the prompt a ring
// timeout brings (R-OFFER-2).

import { h, setText } from './dom.js';

export function initState(desk) {
  const agent = document.getElementById('agent');
  const label = h('label', { for: 'agent-state', text: 'State' });
  const select = h('select', { id: 'agent-state', 'aria-describedby': 'agent-summary' });
  const summary = h('span', { id: 'agent-summary', class: 'agent-summary' });
  agent.append(label, select, summary);
  select.addEventListener('change', async () => {
    const v = select.value;
    const cmd = v === 'available'
      ? { cmd: 'state', state: 'available' }
      : { cmd: 'state', state: 'idle', reason: v.slice('idle:'.length) };
    await desk.run(cmd);
    renderState(desk);
  });

  const mic = document.getElementById('mic');
  const mute = h('button', { id: 'mute', type: 'button', 'aria-pressed': 'false', text: 'Mute' });
  mute.addEventListener('click', () => desk.run({ cmd: 'mute', on: !desk.store.status.muted }));
  const noise = h('input', { id: 'noise', type: 'checkbox', 'aria-describedby': 'noise-lock' });
  noise.addEventListener('change', () => desk.run({ cmd: 'denoise', on: noise.checked }));
  const noiseLabel = h('label', { for: 'noise', text: 'Noise removal' });
  const lock = h('span', { id: 'noise-lock', class: 'lock' });
  mic.append(mute, h('span', { class: 'switch' }, noise, noiseLabel), lock);

  document.getElementById('logout').addEventListener('click', async () => {
    const reply = await desk.run({ cmd: 'logout' });
    if (!reply.error) {
      desk.stopping('Logged out: the desk is stopping.');
    }
  });
  desk.parts.state = { select, summary, mute, noise, lock };
}

function agentText(a) {
  if (a.state === 'available') return 'Available';
  if (a.state === 'idle') return `Idle: ${a.reason}`;
  return `Wrap-up (call ${a.call})`;
}

export function renderState(desk) {
  const { status } = desk.store;
  const { select, summary, mute, noise, lock } = desk.parts.state;
  const a = status.agent;
  const options = [['available', 'Available']];
  for (const r of status.idle_reasons || []) options.push([`idle:${r}`, `Idle: ${r}`]);
  if (a.state === 'idle' && !(status.idle_reasons || []).includes(a.reason)) {
    options.push([`idle:${a.reason}`, `Idle: ${a.reason}`]);
  }
  if (a.state === 'wrap-up') options.push(['wrap-up', 'Wrap-up']);
  const key = options.map((o) => o.join('=')).join('|');
  if (select.dataset.options !== key) {
    select.replaceChildren(...options.map(([v, t]) => h('option', { value: v, text: t })));
    select.dataset.options = key;
  }
  const current = a.state === 'idle' ? `idle:${a.reason}` : a.state;
  if (document.activeElement !== select || select.value !== current) select.value = current;
  for (const o of select.options) o.disabled = o.value === 'wrap-up';
  setText(summary, agentText(a));
  summary.dataset.state = a.state;
  document.body.dataset.agent = a.state;

  mute.setAttribute('aria-pressed', String(status.muted));
  setText(mute, status.muted ? 'Unmute' : 'Mute');
  noise.checked = status.denoise.inbound;
  // Locked on: the switch cannot turn it off, and says why (R-NR-2).
  const locked = status.denoise.locked && status.denoise.inbound;
  noise.disabled = locked;
  setText(lock, locked ? 'Locked on by the administrator (R-NR-2)' : '');
}

// After a ring timeout: the reason, and the choice available / idle.
export function promptAfterTimeout(desk, why) {
  const prompt = document.getElementById('prompt');
  const a = desk.store.status.agent;
  const stay = a.state === 'idle' ? `Stay idle (${a.reason})` : 'Stay idle';
  const close = () => {
    prompt.hidden = true;
    prompt.replaceChildren();
  };
  const available = h('button', {
    type: 'button',
    text: 'Become available',
    onclick: async () => {
      const reply = await desk.run({ cmd: 'state', state: 'available' });
      if (!reply.error) close();
    },
  });
  prompt.replaceChildren(
    h('p', { id: 'prompt-text' },
      h('strong', { text: 'Missed offer. ' }),
      `${why}. You are now ${agentText(a).toLowerCase()}.`),
    available,
    h('button', { type: 'button', text: stay, onclick: close }),
  );
  prompt.hidden = false;
  available.focus();
}

// An incoming REFER waiting for the agent (policy "ask").
export function promptRefer(desk, ev) {
  const prompt = document.getElementById('prompt');
  const answer = async (accept) => {
    const reply = await desk.run({ cmd: 'refer', refer: ev.refer, accept });
    if (!reply.error) {
      prompt.hidden = true;
      prompt.replaceChildren();
    }
  };
  prompt.replaceChildren(
    h('p', { id: 'prompt-text' }, `The far end of call ${ev.call} asks to transfer you to ${ev.target}.`),
    h('button', { type: 'button', text: 'Follow', onclick: () => answer(true) }),
    h('button', { type: 'button', text: 'Refuse', onclick: () => answer(false) }),
  );
  prompt.hidden = false;
}
