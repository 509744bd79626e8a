// Building DOM without innerHTML: callers, variables and reasons come off
// the wire, so text is only ever set as text.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// m:ss, or h:mm:ss past the hour.
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours > 0 ? `${hours}:${two(minutes)}:${two(s % 60)}` : `${minutes}:${two(s % 60)}`;
}

// Shows or hides without removing, keeping focus and form state.
export function show(el, visible) {
  el.hidden = !visible;
}

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// Keeps `container`'s children in the order and with the keys of `items`:
// new items get `create(item)`, every item gets `update(el, item)`, gone
// ones are removed. Elements persist, so a click, focus or half-typed text
// survives the many updates a live call brings.
export function syncList(container, items, keyOf, create, update) {
  const old = new Map();
  for (const el of container.children) old.set(el.dataset.key, el);
  let prev = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let el = old.get(key);
    if (!el) {
      el = create(item);
      el.dataset.key = key;
    }
    old.delete(key);
    update(el, item);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (want !== el) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of old.values()) el.remove();
}
