// The control API as the page uses it: sign-in for a session cookie, then
// one WebSocket for the event stream and the commands. The cookie rides on
// every request and on the WebSocket handshake; the token itself is only
// ever sent once, in the sign-in body.

export class Api {
  constructor({ onEvent, onConnection, onSignedOut }) {
    this.onEvent = onEvent;
    this.onConnection = onConnection;
    this.onSignedOut = onSignedOut;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.stopped = false;
  }

  // POST /api/v1/session with {"token"} or {"code"}; {ok, reason}.
  async signIn(body) {
    try {
      const resp = await fetch('/api/v1/session', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (resp.ok) return { ok: true };
      const err = await resp.json().catch(() => ({}));
      return { ok: false, status: resp.status, reason: err.reason || `HTTP ${resp.status}` };
    } catch (e) {
      return { ok: false, reason: `the desk does not answer (${e.message})` };
    }
  }

  async signOut() {
    await fetch('/api/v1/session', { method: 'DELETE' }).catch(() => {});
  }

  // GET an API route; {status, body}.
  async get(path) {
    const resp = await fetch(path, { headers: { Accept: 'application/json' } });
    const body = await resp.json().catch(() => null);
    return { status: resp.status, body };
  }

  // Whether the cookie is a live session.
  async signedIn() {
    try {
      return (await this.get('/api/v1/status')).status === 200;
    } catch {
      return false;
    }
  }

  connect() {
    this.stopped = false;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    this.ws = ws;
    ws.onopen = () => this.onConnection(true);
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if ('reply' in msg && this.pending.has(msg.id)) {
        this.pending.get(msg.id)(msg.reply);
        this.pending.delete(msg.id);
      } else if (msg.event) {
        this.onEvent(msg);
      }
    };
    ws.onclose = async () => {
      for (const resolve of this.pending.values()) {
        resolve({ error: 'unavailable', reason: 'the connection to the desk was lost' });
      }
      this.pending.clear();
      if (this.stopped) return;
      this.onConnection(false);
      // A handshake refused for a lost session looks like any close: ask.
      if (!(await this.signedIn())) {
        const probe = await this.get('/api/v1/status').catch(() => ({ status: 0 }));
        if (probe.status === 401) {
          this.onSignedOut();
          return;
        }
      }
      setTimeout(() => this.stopped || this.connect(), 1000);
    };
  }

  close() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }

  // One command; resolves with the API's reply body ({result} or {error, rule, reason}).
  send(cmd) {
    return new Promise((resolve) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        resolve({ error: 'unavailable', reason: 'not connected to the desk' });
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, ...cmd }));
    });
  }
}
